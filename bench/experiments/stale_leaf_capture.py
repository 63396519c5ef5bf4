# SPDX-License-Identifier: Apache-2.0
"""Why compare.py's forward + backward CUDA-graph captures of the varattn op and of cuDNN failed
with "operation would make the legacy stream depend on a capturing blocking stream"
(cudaErrorStreamCaptureImplicit) on most workloads of the 2026-11-30 H200 run, and what
compare.py now does about it. Needs a CUDA device; run it with the anchors' environment, e.g.

    python3 bench/experiments/stale_leaf_capture.py

1. Which methods keep an eager call's autograd graph alive after the call returned: one
   forward + torch.autograd.grad(out, (q, k, v), d_out) as compare.py's fwdbwd runner does, on
   the default stream; q's AccumulateGrad node gets a sentinel pre-hook, and the script prints
   whether the node is still alive after every reference the caller holds is gone, and after
   gc.collect(). A leaf holds its AccumulateGrad only weakly: a node still alive means someone
   (the library, or a reference cycle until the collector runs) holds that call's graph, and
   the next forward on q reuses the node, with the stream it was made on.
2. The failure, made on purpose with the varattn op: an eager forward on the default stream
   whose output is kept (standing in for such a holder), then compare.py's capture (two
   warm-up calls and the capture on a side stream, global mode) of forward + backward on the
   same leaves: expected to fail with cudaErrorStreamCaptureImplicit (the engine makes the
   legacy default stream, the node's, wait on the capture), with PyTorch's warning "The
   AccumulateGrad node's stream does not match ...". Then the same capture on fresh leaf
   aliases (compare.py's Problem.capture_inputs), and on leaves without a holder: expected
   to capture, replay and match the eager gradients bit for bit.

Prints one line per check; exits 0 when every expectation of part 2 holds.
"""

from __future__ import annotations

import gc
import math
import sys
import warnings
import weakref

import torch

DEV = "cuda"
LENGTHS = [5, 300, 0, 129, 64]
HQ, HKV, D = 8, 2, 128


def cu_tensor(lengths):
    out = [0]
    for n in lengths:
        out.append(out[-1] + n)
    return torch.tensor(out, dtype=torch.int32, device=DEV)


def leaves(seed):
    gen = torch.Generator(device=DEV).manual_seed(seed)
    total = sum(LENGTHS)
    q = torch.randn(total, HQ, D, device=DEV, generator=gen, dtype=torch.bfloat16)
    k = torch.randn(total, HKV, D, device=DEV, generator=gen, dtype=torch.bfloat16)
    v = torch.randn(total, HKV, D, device=DEV, generator=gen, dtype=torch.bfloat16)
    d_out = torch.randn(total, HQ, D, device=DEV, generator=gen, dtype=torch.bfloat16)
    return [t.requires_grad_(True) for t in (q, k, v)], d_out


def methods():
    """{name: forward(q, k, v, cu) -> out} for the installed methods."""
    found = {}
    try:
        import varattn
        found["varattn_op"] = lambda q, k, v, cu: varattn.varlen_attention(
            q, k, v, cu, cu, causal=True, max_seqlen_q=max(LENGTHS), max_seqlen_k=max(LENGTHS))
    except Exception as e:  # noqa: BLE001
        print(f"varattn_op: not available ({type(e).__name__}: {e})")
    try:
        import cudnn.sdpa.fwd.torch_op  # noqa: F401 (registers torch.ops.cudnn.sdpa_fwd)
        found["cudnn"] = lambda q, k, v, cu: torch.ops.cudnn.sdpa_fwd(
            q, k, v, 1.0 / math.sqrt(D), is_causal=True, cu_seqlens_q=cu, cu_seqlens_kv=cu,
            max_seqlen_q=max(LENGTHS), max_seqlen_kv=max(LENGTHS), return_lse=True)[0]
    except Exception as e:  # noqa: BLE001
        print(f"cudnn: not available ({type(e).__name__}: {e})")
    try:
        from flash_attn.cute import flash_attn_varlen_func
        found["fa4"] = lambda q, k, v, cu: flash_attn_varlen_func(
            q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=max(LENGTHS),
            max_seqlen_k=max(LENGTHS), causal=True)[0]
    except Exception as e:  # noqa: BLE001
        print(f"fa4: not available ({type(e).__name__}: {e})")
    return found


class Sentinel:
    pass


def node_lifetime(name, forward, seed):
    """One eager forward + backward; is q's AccumulateGrad still alive afterwards?"""
    (q, k, v), d_out = leaves(seed)
    cu = cu_tensor(LENGTHS)
    sentinel = Sentinel()
    alive = weakref.ref(sentinel)

    def call():
        out = forward(q, k, v, cu)
        node = torch.autograd.graph.get_gradient_edge(q).node  # the one the forward used
        node.register_prehook(lambda grads, s=sentinel: None)
        del node
        return torch.autograd.grad(out, (q, k, v), d_out)

    for _ in range(3):  # the first call may compile or build
        grads = call()
        del grads
    del sentinel
    torch.cuda.synchronize()
    after_call = alive() is not None
    gc.collect()
    after_gc = alive() is not None
    print(f"{name:<11} q's AccumulateGrad alive after the calls returned: {after_call}; "
          f"after gc.collect(): {after_gc}")
    return after_call, after_gc


def capture(forward, q, k, v, cu, d_out, sets=None):
    """compare.py's capture of forward + backward (warm-up x2 and capture on a side stream,
    global mode); sets: the leaves to capture on (default q, k, v). Returns (grads of the
    replay, None) or (None, the error)."""
    leaves_ = sets or (q, k, v)

    def step():
        return torch.autograd.grad(forward(*leaves_, cu), leaves_, d_out)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.stream(side):
            for _ in range(2):
                step()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph, stream=side, capture_error_mode="global"):
            grads = step()
        graph.replay()
        torch.cuda.synchronize()
        return [g.clone() for g in grads], None
    except Exception as e:  # noqa: BLE001
        return None, e


def main():
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 2
    found = methods()
    print("== 1. who keeps an eager call's graph (and so q's AccumulateGrad) alive")
    for i, (name, forward) in enumerate(found.items()):
        try:
            node_lifetime(name, forward, 100 + i)
        except Exception as e:  # noqa: BLE001
            print(f"{name:<11} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    if "varattn_op" not in found:
        print("== 2. skipped: the varattn op is not installed")
        return 2
    forward = found["varattn_op"]
    cu = cu_tensor(LENGTHS)
    ok = True
    print("== 2. compare.py's capture with the varattn op")
    (q, k, v), d_out = leaves(7)
    expected = [g.clone() for g in torch.autograd.grad(forward(q, k, v, cu), (q, k, v), d_out)]

    got, err = capture(forward, q, k, v, cu, d_out)
    same = got is not None and all(torch.equal(a, b) for a, b in zip(got, expected))
    print(f"no holder:               {'captured, replay equal' if same else f'FAILED: {err}'}")
    ok &= same

    (q, k, v), d_out = leaves(7)
    held = forward(q, k, v, cu)  # an eager graph kept alive: q's AccumulateGrad on stream 0
    aliases = tuple(t.detach().requires_grad_(True) for t in (q, k, v))
    got, err = capture(forward, q, k, v, cu, d_out, sets=aliases)
    same = got is not None and all(torch.equal(a, b) for a, b in zip(got, expected))
    print(f"holder, fresh aliases:   {'captured, replay equal' if same else f'FAILED: {err}'}")
    ok &= same

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, err = capture(forward, q, k, v, cu, d_out)  # last: a failed capture may leave
    mismatch = any("AccumulateGrad node's stream" in str(w.message) for w in caught)
    chain = []  # torch.cuda.graph's __exit__ raises again (capture_end): the first is __context__
    while err is not None:
        chain.append(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        err = err.__context__
    text = " <- ".join(reversed(chain)) if chain else "captured"
    print(f"holder, the same leaves: {text} (stream-mismatch warning: {mismatch})")
    ok &= any("legacy stream" in c for c in chain)
    del held
    print("expectations of part 2:", "all held" if ok else "NOT all held")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
