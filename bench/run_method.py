#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs one of compare.py's methods (varattn_op, fa4, cudnn, fa2, ...) a few times on one
workload's tensors, made by compare.py's own code, and exits: a target for ncu, so that a
peer's kernel is profiled on exactly the tensors ours is.

    ncu --clock-control none --set full --kernel-name regex:FlashAttentionBackwardSm90 \
        --launch-skip 2 --launch-count 1 -o "$OUT/fa4_bwd" \
        python3 bench/run_method.py long-d128 fa4 [--pass fwdbwd|fwd] [--calls 5]

(FA4's and cuDNN's wheels through bench/install_anchors.sh and /tmp/anchors.env first.)
"""
import argparse
import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", help="a name in bench/workloads.json")
    ap.add_argument("method", help="a compare.py method (varattn_op, fa4, cudnn, fa2, ...)")
    ap.add_argument("--pass", dest="kind", choices=("fwd", "fwdbwd"), default="fwdbwd")
    ap.add_argument("--dtype", choices=("bf16", "fp16"), default="bf16")
    ap.add_argument("--calls", type=int, default=5)
    args = ap.parse_args(argv)
    spec = importlib.util.spec_from_file_location("varattn_compare", HERE / "compare.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    import torch
    dev = compare.Device(torch, "cuda", args.dtype, quick=True)
    workload = compare.select_workloads(compare.load_workloads(compare.DEFAULT_WORKLOADS),
                                        args.workload)[0]
    modules = compare.optional_modules(set(compare.METHODS) - {args.method}, print)
    if args.method in modules and modules[args.method][0] is None:
        print(f"{args.method}: not installed", file=sys.stderr)
        return 1
    problem = compare.Problem(dev, workload)
    with problem.pass_mode(args.kind):
        run = (compare.make_method(problem, args.method, {}, modules)[0] if args.kind == "fwd"
               else compare.make_fwdbwd(problem, args.method, {}, modules))
        for i in range(args.calls):
            run(i % len(problem.sets))
    torch.cuda.synchronize()
    print(f"{workload['name']} {args.kind} {args.method}: {args.calls} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
