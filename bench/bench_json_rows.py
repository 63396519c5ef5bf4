#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints one line a row of a varattn_bench JSON report, "[LABEL] NAME MS ms" (or the row's
error): the console rounds to three digits (1 us at 0.058 ms), the CSV report aborts on the
encoder benchmarks' other counters, and a run cut short keeps the rows it finished (read back
one object at a time). bench/ab_on_gpu.sh and the call scripts' interleaved rounds use it.
    python3 bench/bench_json_rows.py REPORT.json [LABEL]"""
import json
import re
import sys


def main(path, label=None):
    text = open(path).read()
    rows = []
    if "{" in text:
        try:
            rows = json.loads(text[text.find("{"):])["benchmarks"]
        except json.JSONDecodeError:  # cut short: the rows written before
            rows = [json.loads(m) for m in re.findall(r'\{\s*"name"[^{}]*\}', text)]
    prefix = [] if label is None else [label]
    for b in rows:
        name = re.sub("/min_time:[0-9.]*/manual_time", "", b["name"])
        if b.get("error_occurred"):
            print(*prefix, name, "error:", b.get("error_message"))
        else:
            print(*prefix, name, "%.4f" % b["real_time"], b["time_unit"])


if __name__ == "__main__":
    main(*sys.argv[1:3])
