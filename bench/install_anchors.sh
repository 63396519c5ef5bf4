#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs FlashAttention-4 (flash_attn.cute) and cuDNN's frontend on the GPU machine from the
# wheels bench/prepare_anchors.sh laid out, in two device calls, because the wheels and the
# project do not fit the device tool's 64 MiB a call together (../shared/ANCHORS.md):
#
#   call 1, carry [build/anchors/big], early in its command:
#       bash bench/install_anchors.sh unpack
#     starts untarring the .tar.xz (the dsl_packages/ part of nvidia-cutlass-dsl-libs-cu13's
#     nvidia_cutlass_dsl/ tree) into /tmp/fa4site in its own process session (setsid), so that it runs on while the call
#     builds and tests, and on after the call returns; it writes /tmp/fa4site.done when
#     finished (/tmp/fa4site.failed and /tmp/fa4site.log if not).
#   call 2, carry [build/anchors/small], started within the 30 s the machine stays warm:
#       bash bench/install_anchors.sh install && . /tmp/anchors.env
#     pip-installs the other wheels into /tmp/site, waits for the unpack, copies
#     /tmp/fa4site/nvidia_cutlass_dsl/. into /tmp/site/nvidia_cutlass_dsl/, untars small/'s
#     .tar.xz (the same tree's cu13/ part, which does not fit call 1 beside the rest) there, writes
#     /tmp/anchors.env (the PYTHONPATH line, also printed) and smoke-imports both anchors.
#
# PYTHONPATH, not a .pth: the nvidia_cutlass_dsl_packages.pth that puts dsl_packages on
# sys.path is not read from a --target folder, so dsl_packages is named explicitly.
# A cold second call (a fresh machine: /tmp empty) has no unpacked tree; then, if the tarball
# is in this tree after all, install unpacks it in the foreground; otherwise it installs the
# rest, so cuDNN still imports, and exits 1 because FA4 does not (bench/compare.py then shows
# fa4 as "not installed").
#
#   bash bench/install_anchors.sh unpack | wait | install
# Environment: ANCHORS_DIR (default build/anchors of this checkout), ANCHORS_SITE (/tmp/site),
# ANCHORS_FA4SITE (/tmp/fa4site), ANCHORS_ENV (/tmp/anchors.env), ANCHORS_WAIT_S (how long
# install waits for the unpack; 300), PYTHON (python3).
set -eu -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
anchors=${ANCHORS_DIR:-$root/build/anchors}
site=${ANCHORS_SITE:-/tmp/site}
fa4site=${ANCHORS_FA4SITE:-/tmp/fa4site}
envfile=${ANCHORS_ENV:-/tmp/anchors.env}
wait_s=${ANCHORS_WAIT_S:-300}
python=${PYTHON:-python3}
started=$fa4site.started done_marker=$fa4site.done failed_marker=$fa4site.failed
pidfile=$fa4site.pid log=$fa4site.log

tarball() {  # the one .tar.xz in big/, or nothing
  local found
  found=$(find "$anchors/big" -maxdepth 1 -name '*.tar.xz' 2>/dev/null | sort)
  if [ "$(printf '%s\n' "$found" | grep -c .)" -gt 1 ]; then
    echo "error: more than one .tar.xz in $anchors/big" >&2
    return 1
  fi
  printf '%s' "$found"
}

# Untars one .tar.xz into a folder: xz where installed (multithreaded where its blocks allow),
# else Python's lzma, so that a machine without xz-utils still works.
untar_xz() {  # tarball folder
  if command -v xz >/dev/null; then
    xz -dc -T0 "$1" | tar xf - -C "$2"
  else
    # filter="tar" where Python has extraction filters (3.12+: no DeprecationWarning; 3.14
    # changes the default): members stay as archived, absolute paths refused.
    "$python" -c 'import sys, tarfile
extra = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2], **extra)' "$1" "$2"
  fi
}

# The background unpack: untar_xz into a fresh folder; writes exactly one marker.
# Arguments: tarball, folder, python, done marker, failed marker, pid file.
# shellcheck disable=SC2016  # expanded by the bash -c that runs it
unpack_cmd="$(declare -f untar_xz)"'
  set -o pipefail
  echo $$ >"$6"
  python=$3
  rm -rf "$2" && mkdir -p "$2" && untar_xz "$1" "$2" && touch "$4" || { touch "$5"; exit 1; }'

# Started and not finished, and its process alive (or not yet past writing its pid).
unpack_running() {
  [ -e "$started" ] && [ ! -e "$done_marker" ] && [ ! -e "$failed_marker" ] &&
    { [ ! -s "$pidfile" ] || kill -0 "$(cat "$pidfile")" 2>/dev/null; }
}

# Waits for the background unpack; 0 when the tree is there, 1 when it failed or never began.
wait_unpack() {
  local waited=0
  while [ ! -e "$done_marker" ] && [ ! -e "$failed_marker" ] && unpack_running; do
    if [ "$waited" -ge "$wait_s" ]; then
      echo "error: the unpack into $fa4site is still running after ${wait_s} s" >&2
      return 1
    fi
    [ $((waited % 15)) = 0 ] && echo "   waiting for the unpack into $fa4site ($waited s)"
    sleep 1
    waited=$((waited + 1))
  done
  if [ -e "$done_marker" ]; then
    echo "== unpack done ($(du -sh "$fa4site" | cut -f1) in $fa4site)"
    return 0
  fi
  if [ -e "$failed_marker" ]; then
    echo "error: the unpack into $fa4site failed; its log:" >&2
    cat "$log" >&2 2>/dev/null || true
  else
    echo "error: no unpack ran on this machine (a cold machine: /tmp is empty; call 1 with" \
      "build/anchors/big carried and 'install_anchors.sh unpack' must come first)" >&2
  fi
  return 1
}

phase=${1:-}
case "$phase" in
unpack)
  tb=$(tarball)
  if [ -z "$tb" ]; then
    echo "error: no .tar.xz in $anchors/big (carry build/anchors/big; bench/prepare_anchors.sh makes it)" >&2
    exit 1
  fi
  if unpack_running; then
    echo "== an unpack is already running (pid $(cat "$pidfile" 2>/dev/null))"
    exit 0
  fi
  rm -f "$done_marker" "$failed_marker" "$pidfile"
  touch "$started"
  # setsid: the device tool ends a command's leftover processes when it returns, except those
  # in a new process session; this one must outlive call 1 if the call ends first.
  setsid bash -c "$unpack_cmd" unpack "$tb" "$fa4site" "$python" "$done_marker" "$failed_marker" \
    "$pidfile" </dev/null >"$log" 2>&1 &
  echo "== unpacking $(basename "$tb") into $fa4site in the background (marker $done_marker)"
  ;;
wait)
  wait_unpack
  ;;
install)
  shopt -s nullglob
  wheels=("$anchors"/small/*.whl)
  if [ ${#wheels[@]} = 0 ]; then
    echo "error: no wheels in $anchors/small (carry build/anchors/small)" >&2
    exit 1
  fi
  echo "== pip install ${#wheels[@]} wheels into $site"
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "${wheels[@]}"
  status=0
  # A cold machine that has the tarball in this call after all: unpack it here and now.
  if [ ! -e "$done_marker" ] && ! unpack_running && [ -n "$(tarball)" ]; then
    echo "== no unpack on this machine yet; unpacking in the foreground"
    rm -f "$failed_marker" "$pidfile"
    touch "$started"
    bash -c "$unpack_cmd" unpack "$(tarball)" "$fa4site" "$python" "$done_marker" "$failed_marker" \
      "$pidfile" >"$log" 2>&1 || true
  fi
  if wait_unpack; then
    # After pip: pip --upgrade replaces the nvidia_cutlass_dsl/ folder that libs-base and
    # libs-core install, so the cu13 libraries are merged in afterwards (they share no files).
    mkdir -p "$site/nvidia_cutlass_dsl"
    cp -a "$fa4site/nvidia_cutlass_dsl/." "$site/nvidia_cutlass_dsl/"
    for part in "$anchors"/small/*.tar.xz; do
      echo "== untarring $(basename "$part") into $site"
      untar_xz "$part" "$site" || { echo "error: untarring $part failed" >&2; status=1; }
    done
    if [ ! -d "$site/nvidia_cutlass_dsl/cu13" ]; then
      echo "error: no nvidia_cutlass_dsl/cu13/ in $site (small/ lacks its .tar.xz:" \
        "bench/prepare_anchors.sh makes it)" >&2
      status=1
    fi
  else
    echo "warning: FA4 will not import (no cu13 CUTLASS DSL libraries); cuDNN's frontend is installed" >&2
    status=1
  fi
  line="export PYTHONPATH=$site:$site/nvidia_cutlass_dsl/dsl_packages\${PYTHONPATH:+:\$PYTHONPATH}"
  echo "$line" >"$envfile"
  echo "== wrote $envfile (source it):"
  echo "$line"
  # The smoke test bench/compare.py relies on (it imports flash_attn.cute's varlen function);
  # cudnn.sdpa.fwd.torch_op (torch.ops.cudnn.sdpa_fwd) is tried too, for information only.
  echo "== smoke import"
  # shellcheck disable=SC1090
  if (. "$envfile" && "$python" -c 'from flash_attn.cute import flash_attn_varlen_func; import cudnn'); then
    echo "   ok: from flash_attn.cute import flash_attn_varlen_func; import cudnn"
  else
    echo "error: the smoke import failed" >&2
    (. "$envfile" && "$python" -c 'import cudnn' 2>/dev/null) && echo "   (import cudnn alone works)"
    status=1
  fi
  # shellcheck disable=SC1090
  (. "$envfile" && "$python" -c 'import cudnn, cudnn.sdpa.fwd.torch_op, torch
print("   cudnn frontend", getattr(cudnn, "__version__", "?"), "backend", cudnn.backend_version(),
      "; torch.ops.cudnn.sdpa_fwd:", hasattr(torch.ops.cudnn, "sdpa_fwd"))' 2>&1) \
    || echo "   (cudnn.sdpa.fwd.torch_op did not import: see above)"
  exit "$status"
  ;;
*)
  echo "usage: bash bench/install_anchors.sh unpack|wait|install (see the comments at its top)" >&2
  exit 2
  ;;
esac
