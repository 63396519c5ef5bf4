#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-sixth session: FA4's Hopper backward on the rows of s56's short-tile fit (NOTES s56
# item 3), the same cheap ncu metrics as dkdv_short_tile_call.sh (one launch, --clock-control
# none), on the very tensors compare.py makes (bench/run_method.py). The fit is by keys:
# every sweep row has 65,536 tokens, 16 heads and 8,192 128-key tiles, so SM active cycles =
# a x (the row's segment length) + c, and c x 132 / 8,192 is a 128-key tile's fixed cost
# whatever FA4's own tiles, steps or grid (a persistent grid too). Ours goes through the same
# fit beside it, from s56's ncu figures (bench/results/s56_dkdv_short_tile_h100/summary.txt:
# ~15,000 cycles a tile over the four rows, ~11,700 without s256). Run after
# `bash bench/install_anchors.sh install; . /tmp/anchors.env` on a warm machine; DEADLINE (epoch
# seconds) stops it in time:
#   bash bench/experiments/fa4_short_tile.sh OUTDIR
set -u
out=${1:?OUTDIR}
mkdir -p "$out"
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
python3 -c "import flash_attn.cute" 2>/dev/null || { echo "fa4: not importable (install the anchors first)"; exit 2; }
metrics=gpu__time_duration.sum,sm__cycles_active.avg,sm__cycles_elapsed.max,launch__grid_size,launch__block_size
rows=(sweep-d128-s256 sweep-d128-s1024 sweep-d128-s4096 sweep-d128-s16384 long-d128-window1024 long-d128-causal)
for row in "${rows[@]}"; do
  limit=$((${DEADLINE:-$(($(date +%s) + 600))} - $(date +%s)))
  ((limit > 15)) || { echo "fa4: out of time before $row"; break; }
  ((limit > 60)) && limit=60
  timeout $limit ncu --clock-control none -k "regex:FlashAttentionBackwardSm90" --metrics "$metrics" \
    --launch-skip 2 --launch-count 1 python3 bench/run_method.py "$row" fa4 --calls 3 \
    >"$out/fa4_ncu_$row.log" 2>&1
  echo "fa4 $row: exit $?, $(grep -E '^\s+(gpu__time|sm__cycles|launch__)' "$out/fa4_ncu_$row.log" |
    awk '{printf "%s %s %s; ", $1, $3, $2}')"
done
python3 - "$out" "${rows[@]}" <<'PY' | tee "$out/fa4_fit.txt"
import pathlib, re, sys
out, rows = pathlib.Path(sys.argv[1]), sys.argv[2:]
def metric(row, name):
    path = out / f"fa4_ncu_{row}.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    m = re.search(rf"^\s+{re.escape(name)}\s+(?:\S+\s+)?([\d.,]+)\s*$", text, re.M)
    return float(m.group(1).replace(",", "")) if m else None
# Ours (varattn's d128 dK/dV kernel): SM active cycles a SM, s56 (H100, dkdv_short_tile_call.sh).
ours = {256: 2045748.73, 1024: 3979513.52, 4096: 13903626.77, 16384: 53276738.51}
def fit(points):
    n = len(points); mx = sum(s for s, _ in points) / n; my = sum(a for _, a in points) / n
    a = sum((s - mx) * (y - my) for s, y in points) / sum((s - mx) ** 2 for s, _ in points)
    c = my - a * mx
    return a, c * 132 / 8192  # cycles a SM per key of length; fixed cycles a 128-key tile
pts = []
for row in rows:
    active, elapsed = metric(row, "sm__cycles_active.avg"), metric(row, "sm__cycles_elapsed.max")
    grid = metric(row, "launch__grid_size")
    if active is None or elapsed is None:
        print(f"{row}: no figures"); continue
    print(f"{row}: active {active:,.0f} cycles a SM, active / elapsed {active / elapsed:.3f}, "
          f"grid {grid or 0:,.0f}")
    m = re.match(r"sweep-d128-s(\d+)$", row)
    if m:
        pts.append((int(m.group(1)), active))
for label, keep in (("the sweep rows", lambda s: True), ("without s256", lambda s: s != 256)):
    p = [(s, a) for s, a in pts if keep(s)]
    q = [(s, a) for s, a in ours.items() if s in {s for s, _ in p}]
    if len(p) < 2:
        continue
    (a, tile), (oa, otile) = fit(p), fit(q)
    print(f"fit over {len(p)} rows ({label}: {', '.join(str(s) for s, _ in p)}): FA4 {a:,.1f} "
          f"cycles a SM a key of length, {tile:,.0f} fixed a 128-key tile; ours (s56) {oa:,.1f}, "
          f"{otile:,.0f}: FA4 / ours {a / oa:.3f} a key, {tile / otile:.2f} a tile")
PY
