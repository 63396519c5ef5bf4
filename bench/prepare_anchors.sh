#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepares, on a machine with network access to PyPI, the wheels for the two strongest
# anchors varattn is measured against on the GPU machine: FlashAttention-4 (flash_attn.cute)
# and cuDNN's varlen SDPA (nvidia-cudnn-frontend). The GPU machine has no registry, so the
# wheels travel with the working tree through the device tool's `carry`, whose limit is
# 64 MiB a call (tree included). ../shared/ANCHORS.md has the background.
#
#   bash bench/prepare_anchors.sh          # then see bench/install_anchors.sh
#
# Why two folders: nvidia-cutlass-dsl-libs-cu13 is a 92 MB wheel (two shared libraries,
# 193 MB + 44 MB unpacked); its unzipped tree compressed with xz -9e is ~58.4 MiB, which beside
# the project's files (~5.6 MiB and growing) no longer fits one call. So the tree travels in
# two parts, one a call:
#   build/anchors/big/    dsl_packages/ of that wheel (the 193 MB MLIR library), xz -9e
#                         (carried by call 1, which unpacks it in the background),
#   build/anchors/small/  every other wheel (~22 MB) and the wheel's cu13/ part (its 44 MB
#                         runtime library, xz -9e) (carried by call 2, which installs the
#                         wheels and merges both parts in).
# build/ is git-ignored, which is what `carry` needs. Downloads are kept in
# build/anchors/download/ (never carried) and reused; the .tar.xz files are rebuilt only when
# missing or with FORCE=1 (about 4 minutes of xz on 2 cores).
#
# Environment: PYTHON (default python3), FORCE=1 (recompress).
set -eu -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
anchors=$root/build/anchors
dl=$anchors/download
big=$anchors/big
small=$anchors/small
python=${PYTHON:-python3}

# The versions measured on the H200 (ANCHORS.md). The GPU machine already has what they need
# beyond these (cuda-bindings, einops, protobuf, typing-extensions, cuDNN), hence --no-deps.
big_wheel_spec=nvidia-cutlass-dsl-libs-cu13==4.8.1
small_wheel_specs=(
  flash-attn-4==4.0.0b36
  nvidia-cutlass-dsl==4.8.1
  nvidia-cutlass-dsl-libs-base==4.8.1
  nvidia-cutlass-dsl-libs-core==4.8.1
  apache-tvm-ffi==0.1.15.post2
  quack-kernels==0.6.5
  torch-c-dlpack-ext==0.1.5
  nvidia-cudnn-frontend==1.32.0
)
tarball_name=nvidia_cutlass_dsl_libs_cu13-4.8.1.tar.xz          # big/: dsl_packages/
runtime_tarball_name=nvidia_cutlass_dsl_libs_cu13-4.8.1.cu13.tar.xz  # small/: cu13/

# The GPU machine runs CPython 3.12 on x86-64 (glibc manylinux); this is the device README's
# download line. pip matches manylinux_2_N tags exactly, so several are named.
mkdir -p "$dl" "$big" "$small"
echo "== downloading into $dl"
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$dl" "$big_wheel_spec" "${small_wheel_specs[@]}"

# One file per spec: the wheel's name is the project name with -, . normalised to _.
wheel_of() {  # spec -> path of its wheel in $dl (exactly one, or fail)
  local name=${1%%==*} version=${1#*==} found
  name=$(echo "$name" | tr -- '-.' '__')
  found=$(find "$dl" -maxdepth 1 -iname "${name}-${version}-*.whl" | sort)
  if [ "$(printf '%s\n' "$found" | grep -c .)" != 1 ]; then
    echo "error: expected one wheel for $1 in $dl, found: ${found:-none}" >&2
    return 1
  fi
  printf '%s\n' "$found"
}

# --- small: every wheel but libs-cu13 (and no stale versions: pip would fail with two
# versions of one project); the wheel's cu13/ part is added below ------------------------------
rm -f "$small"/*.whl
for spec in "${small_wheel_specs[@]}"; do
  cp "$(wheel_of "$spec")" "$small/"
done

# --- the libs-cu13 wheel's nvidia_cutlass_dsl/ tree in two tarballs: dsl_packages/ (big/) and
# cu13/ (small/). Only that tree: its dist-info is not needed (nothing reads the libs-cu13
# distribution's metadata; the .pth that would add dsl_packages to sys.path comes from
# nvidia-cutlass-dsl and is replaced by PYTHONPATH, since pip --target folders' .pth files are
# not read). One xz stream each, -9e single-threaded: threads split the input into blocks and
# compress worse, and every KiB counts against the limit. ----------------------------------------
cu13_wheel=$(wheel_of "$big_wheel_spec")
tarball=$big/$tarball_name
runtime_tarball=$small/$runtime_tarball_name
# Only the tarball in big/: anything else there would travel too and eat into the 64 MiB.
find "$big" -mindepth 1 -maxdepth 1 ! -name "$tarball_name" -exec rm -rf {} +
find "$small" -mindepth 1 -maxdepth 1 ! -name '*.whl' ! -name "$runtime_tarball_name" -exec rm -rf {} +
if [ -s "$tarball" ] && [ -s "$runtime_tarball" ] && [ "${FORCE:-0}" != 1 ] &&
   [ "$tarball" -nt "$cu13_wheel" ] && [ "$runtime_tarball" -nt "$cu13_wheel" ]; then
  echo "== $tarball and $runtime_tarball exist (FORCE=1 rebuilds them)"
else
  work=$(mktemp -d "$anchors/unzip.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "== unzipping $(basename "$cu13_wheel")"
  unzip -q "$cu13_wheel" 'nvidia_cutlass_dsl/*' -d "$work"
  if [ -n "$(find "$work/nvidia_cutlass_dsl" -mindepth 1 -maxdepth 1 ! -name dsl_packages ! -name cu13)" ]; then
    echo "error: $(basename "$cu13_wheel") has more than dsl_packages/ and cu13/ under nvidia_cutlass_dsl/" >&2
    exit 1
  fi
  echo "== tar | xz -9e, both parts side by side (several minutes)"
  start=$SECONDS
  # --sort/--owner/--group: the same bytes on every run, whoever runs it.
  pack() {  # subtree of nvidia_cutlass_dsl/ -> tarball
    (cd "$work" && tar cf - --sort=name --owner=0 --group=0 --numeric-owner "nvidia_cutlass_dsl/$1" \
       | xz -9e -T1 >"$2.partial") && xz -t "$2.partial" && mv "$2.partial" "$2"
  }
  # Neither tarball may survive from an earlier run: a half-failed run would otherwise leave
  # one stale part that the check above then keeps.
  rm -f "$tarball" "$runtime_tarball"
  # Job control: each part in its own process group, so that an interrupt or a failing part
  # stops the tar and xz of both (background jobs of a script ignore Ctrl-C otherwise).
  set -m
  pack dsl_packages "$tarball" & pid_big=$!
  pack cu13 "$runtime_tarball" & pid_small=$!
  set +m
  # shellcheck disable=SC2317  # called from the traps
  stop_packs() { kill -- -"$pid_big" -"$pid_small" 2>/dev/null || true; }
  trap 'stop_packs; rm -rf "$work"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  status=0
  for _ in 1 2; do  # whichever part ends first; a failure stops the other (EXIT trap)
    wait -n || { status=$?; break; }
  done
  if [ "$status" != 0 ]; then
    echo "error: packing the tarballs failed (status $status)" >&2
    exit "$status"
  fi
  trap - EXIT INT TERM
  rm -rf "$work"
  echo "   took $((SECONDS - start)) s"
fi

# --- sizes against the device tool's 64 MiB a call (the tree that travels = tracked files,
# untracked files git does not ignore, shared/ if the checkout has one, and the carried paths)
limit=$((64 * 1024 * 1024))
tree_bytes=$(cd "$root" && { git ls-files -z; git ls-files -z -o --exclude-standard; } \
  | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}')
if [ -d "$root/shared" ]; then
  tree_bytes=$((tree_bytes + $(du -sb "$root/shared" | cut -f1)))
fi
big_bytes=$(du -sb "$big" | cut -f1)
small_bytes=$(du -sb "$small" | cut -f1)
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB (%d bytes)", b / 1048576, b}'; }
echo "== sizes"
echo "   tree (tracked + untracked, not ignored): $(mib "$tree_bytes")"
echo "   build/anchors/big:   $(mib "$big_bytes")   -> call 1 total $(mib $((tree_bytes + big_bytes)))"
echo "   build/anchors/small: $(mib "$small_bytes")   -> call 2 total $(mib $((tree_bytes + small_bytes)))"
ls -l "$big" "$small"
status=0
if [ $((tree_bytes + big_bytes)) -gt "$limit" ]; then
  echo "error: call 1 (tree + big) exceeds 64 MiB by $(mib $((tree_bytes + big_bytes - limit)))" >&2
  status=1
fi
if [ $((tree_bytes + small_bytes)) -gt "$limit" ]; then
  echo "error: call 2 (tree + small) exceeds 64 MiB" >&2
  status=1
fi
[ "$status" = 0 ] && echo "== ready: call 1 carries build/anchors/big, call 2 build/anchors/small" \
  "(bench/install_anchors.sh)"
exit "$status"
