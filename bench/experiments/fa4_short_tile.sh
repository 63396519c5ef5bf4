#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-sixth session: FA4's Hopper backward on the rows of s56's short-tile fit (NOTES s56
# item 3), the same cheap ncu metrics as dkdv_short_tile_call.sh (one launch, --clock-control
# none), on the very tensors compare.py makes (bench/run_method.py). The fit is by keys:
# every sweep row has 65,536 tokens, 16 heads and 8,192 128-key tiles, so SM active cycles =
# a x (the row's segment length) + c, and c x 132 / 8,192 is a 128-key tile's fixed cost
# whatever FA4's own tiles, steps or grid (a persistent grid too). Ours, by the same fit on
# s56's figures: ~12,500 cycles a tile (8,200-9,600 without s256). Sourced or run after
# `bash bench/install_anchors.sh install; . /tmp/anchors.env` on a warm machine:
#   bash bench/experiments/fa4_short_tile.sh OUTDIR
set -u
out=${1:?OUTDIR}
mkdir -p "$out"
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
python3 -c "import flash_attn.cute" 2>/dev/null || { echo "fa4: not importable (install the anchors first)"; exit 2; }
metrics=gpu__time_duration.sum,sm__cycles_active.avg,sm__cycles_elapsed.max,launch__grid_size,launch__block_size
rows=(sweep-d128-s256 sweep-d128-s1024 sweep-d128-s4096 sweep-d128-s16384 long-d128-window1024 long-d128-causal)
for row in "${rows[@]}"; do
  timeout 60 ncu --clock-control none -k "regex:FlashAttentionBackwardSm90" --metrics "$metrics" \
    --launch-skip 2 --launch-count 1 python3 bench/run_method.py "$row" fa4 --calls 3 \
    >"$out/fa4_ncu_$row.log" 2>&1
  echo "fa4 $row: exit $?, $(grep -E '^\s+(gpu__time|sm__cycles|launch__)' "$out/fa4_ncu_$row.log" |
    awk '{printf "%s %s %s; ", $1, $3, $2}')"
done
python3 - "$out" "${rows[@]}" <<'PY' | tee "$out/fa4_fit.txt"
import pathlib, re, sys
out, rows = pathlib.Path(sys.argv[1]), sys.argv[2:]
def metric(row, name):
    text = (out / f"fa4_ncu_{row}.log").read_text(errors="replace")
    m = re.search(rf"^\s+{re.escape(name)}\s+(?:\S+\s+)?([\d.,]+)\s*$", text, re.M)
    return float(m.group(1).replace(",", "")) if m else None
pts = []
for row in rows:
    active, elapsed = metric(row, "sm__cycles_active.avg"), metric(row, "sm__cycles_elapsed.max")
    grid = metric(row, "launch__grid_size")
    if active is None:
        print(f"{row}: no figures"); continue
    print(f"{row}: active {active:,.0f} cycles a SM, active / elapsed {active / elapsed:.3f}, grid {grid:,.0f}")
    m = re.match(r"sweep-d128-s(\d+)$", row)
    if m:
        pts.append((int(m.group(1)), active))
for skip in (0, 1):
    p = pts[skip:]
    if len(p) < 2:
        continue
    n = len(p); mx = sum(s for s, _ in p) / n; my = sum(a for _, a in p) / n
    a = sum((s - mx) * (y - my) for s, y in p) / sum((s - mx) ** 2 for s, _ in p)
    c = my - a * mx
    per_tile = c * 132 / 8192
    print(f"fit over {n} sweep rows{' (without s256)' if skip else ''}: {a:,.1f} cycles a SM per key "
          f"of segment length, fixed {per_tile:,.0f} cycles a 128-key tile "
          f"({per_tile / (a * 132 / 8192 * 80):.2f} of our 80-query steps' worth)")
PY
