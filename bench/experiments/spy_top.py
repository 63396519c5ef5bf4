#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where each host thread sits, from `py-spy record --native --threads --idle --format raw`
output (one collapsed stack a line, root first, the sample count last): per thread, its
samples (those of the main thread only under a frame named by --under, e.g. `spin` for
host_wait_probe.py --spin), then the innermost frames with a name (native frames without a
symbol are addresses: the innermost named one says whose call it is, e.g. a libcuda or
libtorch function, or the Python line), ranked by samples. Fifty-fifth session, host_gap.md.

  python3 bench/experiments/spy_top.py spy.txt [--under spin] [--top 12] [--depth 3]
"""
import argparse
import collections
import re
import sys

ADDRESS = re.compile(r"^0x[0-9a-f]+ \(")
PYTHON_LINE = re.compile(r"\.py:\d+\)$")
THREAD = re.compile(r"^thread \((\d+)\)")


def parse(lines):
    """[(thread, frames root first, count)] of a raw py-spy file."""
    out = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = stack.split(";")
        match = THREAD.match(frames[0])  # "thread (TID)" or "thread (TID): NAME"
        out.append((f"thread {match.group(1)}" if match else frames[0], frames[1:], n))
    return out


def named(frames, depth):
    """The `depth` innermost frames that have a name (a symbol or a Python line), inner last."""
    names = [f for f in frames if not ADDRESS.match(f)]
    return " <- ".join(reversed(names[-depth:])) if names else "(no named frame)"


def report(samples, under, top, depth, out=sys.stdout):
    by_thread = collections.defaultdict(collections.Counter)
    for thread, frames, n in samples:
        python_thread = any(PYTHON_LINE.search(f) for f in frames)
        if under and python_thread and not any(f.startswith(under + " (") for f in frames):
            continue  # a Python thread outside the section of interest
        by_thread[thread][named(frames, depth)] += n
    for thread, counter in sorted(by_thread.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(counter.values())
        print(f"{thread}: {total} samples", file=out)
        for where, n in counter.most_common(top):
            print(f"  {100.0 * n / total:5.1f}%  {where}", file=out)
    return by_thread


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw")
    parser.add_argument("--under", default="",
                        help="keep a Python thread's samples only under this function's frame")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--depth", type=int, default=3,
                        help="named frames a row shows, innermost first")
    args = parser.parse_args(argv)
    with open(args.raw) as f:
        report(parse(f), args.under, args.top, args.depth)


if __name__ == "__main__":
    main()
