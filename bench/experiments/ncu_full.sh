# SPDX-License-Identifier: Apache-2.0
# Sourced by the thirty-second session's profile scripts: one kernel launch under
# ncu --set full (clocks left alone), kept as its details page, raw metrics and SASS source page
# (bench/sass_stalls.py reads the last), the report itself deleted (too large to bring back).
#   ncu_full DIR NAME KERNEL_REGEX LAUNCH_SKIP COMMAND...
ncu_full() {
  local dir=$1 name=$2 kernel=$3 skip=$4
  shift 4
  ncu --clock-control none --set full --import-source yes --kernel-name "regex:$kernel" \
    --launch-skip "$skip" --launch-count 1 -f -o "$dir/$name" "$@" >"$dir/$name.log" 2>&1
  ncu --import "$dir/$name.ncu-rep" --page details >"$dir/$name.txt"
  ncu --import "$dir/$name.ncu-rep" --page raw --csv | gzip >"$dir/$name.raw.csv.gz"
  ncu --import "$dir/$name.ncu-rep" --page source --print-source sass --csv | gzip >"$dir/$name.sass.csv.gz"
  rm -f "$dir/$name.ncu-rep"
}
