# SPDX-License-Identifier: Apache-2.0
"""The op's gradients (autograd through varattn's backward) against a per-segment autograd loop
in float32 (torch SDPA, with an explicit mask for windows and bottom-right causal; written out
for softcap, which SDPA lacks): every dtype and head dim, full / causal / window / softcap,
GQA and MQA, segments of length 0 and 1, q != k lengths; keyless rows get zero gradients; the
default backward (dq through float32 atomics) and the deterministic one (deterministic=True, or
torch.use_deterministic_algorithms(True)) agree, and the deterministic one gives identical bits
run to run; varattn's backward inside a CUDA graph and torch.compile; forward and backward
through the autograd engine captured in global mode with the plan cache missing during the
capture.

Skipped without a CUDA device (the reason shown by -rs), like the other tests here.
"""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from helpers import (DEV, DTYPES, built_head_dim, cu_tensor, head_dim_params, offsets,
                     rel_l2)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

GRAD_TOLERANCE = {torch.float16: 1e-2, torch.bfloat16: 2e-2}  # relative L2 against float32


def loop_reference(q, k, v, lengths_q, lengths_k, causal=False, window=(-1, -1), softcap=0.0,
                   scale=None):
    """out of the per-segment loop in float32, differentiable: SDPA (math) per segment and
    head group; softcap written out. Every row must see a key (SDPA gives NaN otherwise)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    off_q, off_k = offsets(lengths_q), offsets(lengths_k)
    group = q.shape[1] // k.shape[1]
    d = q.shape[2]
    scale = d ** -0.5 if scale is None else scale
    left, right = window
    if causal:
        right = 0 if right < 0 else min(right, 0)
    outs = []
    with sdpa_kernel(SDPBackend.MATH):
        for s in range(len(lengths_q)):
            a, b, c, e = off_q[s], off_q[s + 1], off_k[s], off_k[s + 1]
            lq, lk = b - a, e - c
            if lq == 0:
                continue
            if lk == 0:
                outs.append(torch.zeros(lq, q.shape[1], d, device=q.device))
                continue
            qs = q[a:b].float().transpose(0, 1)
            ks = k[c:e].float().repeat_interleave(group, dim=1).transpose(0, 1)
            vs = v[c:e].float().repeat_interleave(group, dim=1).transpose(0, 1)
            i = torch.arange(lq, device=q.device)[:, None]
            j = torch.arange(lk, device=q.device)[None, :]
            seen = torch.ones(lq, lk, dtype=torch.bool, device=q.device)
            if left >= 0:
                seen &= j >= i + lk - lq - left
            if right >= 0:
                seen &= j <= i + lk - lq + right
            assert bool(seen.any(dim=1).all()), "the reference needs a key for every row"
            if softcap > 0:
                scores = softcap * torch.tanh(scale * qs @ ks.transpose(1, 2) / softcap)
                probs = torch.softmax(scores.masked_fill(~seen, float("-inf")), dim=-1)
                o = probs @ vs
            else:
                o = F.scaled_dot_product_attention(qs[None], ks[None], vs[None], attn_mask=seen,
                                                   scale=scale)[0]
            outs.append(o.transpose(0, 1))
    return torch.cat(outs) if outs else torch.zeros(0, q.shape[1], d, device=q.device)


def make_leaves(total_q, total_k, heads_q, heads_kv, d, dtype, gen, q_gain=1.0):
    q = (q_gain * torch.randn(total_q, heads_q, d, device=DEV, generator=gen)).to(dtype)
    k = torch.randn(total_k, heads_kv, d, device=DEV, generator=gen).to(dtype)
    v = torch.randn(total_k, heads_kv, d, device=DEV, generator=gen).to(dtype)
    return [t.requires_grad_() for t in (q, k, v)]


def check_gradients(va, lengths_q, lengths_k, heads_q, heads_kv, d, dtype, seed, causal=False,
                    window=(-1, -1), softcap=0.0, q_gain=1.0, deterministic=False):
    gen = torch.Generator(device=DEV).manual_seed(seed)
    q, k, v = make_leaves(sum(lengths_q), sum(lengths_k), heads_q, heads_kv, d, dtype, gen, q_gain)
    d_out = torch.randn(q.shape, device=DEV, generator=gen).to(dtype)
    out = va.varlen_attention(q, k, v, cu_tensor(lengths_q), cu_tensor(lengths_k), causal=causal,
                              window_size=window, softcap=softcap, deterministic=deterministic)
    out.backward(d_out)
    # The reference from the same 16-bit values, in float32.
    rq, rk, rv = (t.detach().float().requires_grad_() for t in (q, k, v))
    ref = loop_reference(rq, rk, rv, lengths_q, lengths_k, causal, window, softcap)
    ref.backward(d_out.float())
    assert rel_l2(out.detach(), ref.detach()) <= {torch.float16: 5e-3, torch.bfloat16: 1e-2}[dtype]
    for name, got, want in (("dq", q.grad, rq.grad), ("dk", k.grad, rk.grad),
                            ("dv", v.grad, rv.grad)):
        assert got.dtype == dtype and got.shape == want.shape, name
        err = rel_l2(got, want)
        assert err <= GRAD_TOLERANCE[dtype], f"{name}: relative error {err}"
    return q.grad, k.grad, v.grad


# Lengths 0 (with and without keys) and 1, and around the tiles; q = k and q != k.
EQUAL = [1, 17, 0, 80, 130]
UNEQUAL_Q = [70, 33, 7, 0, 40]
UNEQUAL_K = [80, 64, 9, 20, 100]  # k >= q: every causal row sees a key


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("d", head_dim_params())
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_gradients_match_segment_loop(va, d, dtype, causal):
    check_gradients(va, EQUAL, EQUAL, 4, 4, d, dtype, seed=100 * d + causal, causal=causal)
    check_gradients(va, UNEQUAL_Q, UNEQUAL_K, 4, 4, d, dtype, seed=100 * d + causal + 7,
                    causal=causal)


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("case", ["gqa-causal", "mqa-window", "softcap-causal", "window-right"])
def test_gradients_options(va, dtype, case):
    d = built_head_dim(128)
    if case == "gqa-causal":  # 8 q heads on 2 kv heads: dk, dv sum over groups of 4
        check_gradients(va, EQUAL, EQUAL, 8, 2, d, dtype, seed=1, causal=True)
    elif case == "mqa-window":
        check_gradients(va, UNEQUAL_Q, UNEQUAL_K, 4, 1, d, dtype, seed=2, window=(16, 0))
    elif case == "softcap-causal":
        check_gradients(va, EQUAL, EQUAL, 2, 2, d, dtype, seed=3, causal=True, softcap=5.0,
                        q_gain=3.0)
    else:
        check_gradients(va, EQUAL, EQUAL, 2, 2, d, dtype, seed=4, window=(-1, 3))


def test_keyless_rows_and_unseen_keys_get_zero_gradients(va):
    # Causal with q longer than k: the first 5 rows of the segment see no key; segment 1 has
    # keys but no query; segment 2 queries but no key.
    lengths_q, lengths_k = [9, 0, 3], [4, 6, 0]
    gen = torch.Generator(device=DEV).manual_seed(5)
    q, k, v = make_leaves(12, 10, 2, 1, 64, torch.bfloat16, gen)
    out = va.varlen_attention(q, k, v, cu_tensor(lengths_q), cu_tensor(lengths_k), causal=True)
    out.float().square().sum().backward()
    assert bool(torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all())
    assert bool((q.grad[:5] == 0).all()) and bool((q.grad[9:] == 0).all())
    assert bool((k.grad[4:] == 0).all()) and bool((v.grad[4:] == 0).all())
    assert bool((q.grad[5:9] != 0).any())


def deterministic_case_gradients(va, runs, **kwargs):
    """The gradients of `runs` forward + backward calls on the same inputs (bf16, GQA 8 on 2,
    causal, 16 segments of 0-300 tokens), each a (dq, dk, dv) tuple; kwargs go to
    varlen_attention."""
    rng = random.Random(9)
    lengths = [rng.randint(0, 300) for _ in range(16)]
    d = built_head_dim(128)
    results = []
    for _ in range(runs):
        gen = torch.Generator(device=DEV).manual_seed(6)
        q, k, v = make_leaves(sum(lengths), sum(lengths), 8, 2, d, torch.bfloat16, gen)
        out = va.varlen_attention(q, k, v, cu_tensor(lengths), causal=True, **kwargs)
        out.backward(torch.ones_like(out))
        results.append((q.grad, k.grad, v.grad))
    return results


def test_backward_is_deterministic(va):
    first, second = deterministic_case_gradients(va, 2, deterministic=True)
    for a, b in zip(first, second):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("d", head_dim_params())
@pytest.mark.parametrize("case", ["gqa-causal", "mqa-window", "softcap-causal"])
def test_atomic_and_deterministic_backward_agree(va, d, dtype, case):
    """The default backward (dq summed over key tiles with float32 atomics) and the
    deterministic one (dq from its own kernel, in a fixed order) on the same inputs: each within
    the reference's tolerance (check_gradients), and within it of each other."""
    problem = {
        "gqa-causal": ((EQUAL, EQUAL, 8, 2), {"causal": True}),
        "mqa-window": ((UNEQUAL_Q, UNEQUAL_K, 4, 1), {"window": (16, 0)}),
        "softcap-causal": ((EQUAL, EQUAL, 2, 2), {"causal": True, "softcap": 5.0, "q_gain": 3.0}),
    }
    shape, options = problem[case]
    seed = 1000 + d
    atomic = check_gradients(va, *shape, d, dtype, seed, deterministic=False, **options)
    ordered = check_gradients(va, *shape, d, dtype, seed, deterministic=True, **options)
    for name, a, b in zip(("dq", "dk", "dv"), atomic, ordered):
        err = rel_l2(a, b.float())
        assert err <= GRAD_TOLERANCE[dtype], f"{name}: atomic vs deterministic, error {err}"


def test_global_deterministic_switch_selects_the_deterministic_backward(va):
    """torch.use_deterministic_algorithms(True) at the forward call selects the deterministic
    backward without deterministic=True: two runs give identical bits, the bits of
    deterministic=True. The switch is restored afterwards, whatever happens."""
    expected = deterministic_case_gradients(va, 1, deterministic=True)[0]
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        first, second = deterministic_case_gradients(va, 2)
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    assert torch.are_deterministic_algorithms_enabled() == enabled
    for a, b, c in zip(first, second, expected):
        assert torch.equal(a, b)
        assert torch.equal(a, c)
    # The default path on the same inputs, outside the switch: the reference tolerance of the
    # deterministic bits (whether its last bits differ is up to the atomics' order).
    default = deterministic_case_gradients(va, 1)[0]
    for a, c in zip(default, expected):
        assert rel_l2(a, c.float()) <= GRAD_TOLERANCE[torch.bfloat16]


def test_backward_op_directly_and_lse_requirement(va):
    gen = torch.Generator(device=DEV).manual_seed(7)
    lengths = [5, 40]
    cu = cu_tensor(lengths)
    q, k, v = make_leaves(45, 45, 2, 2, 64, torch.float16, gen)
    # The raw op without return_lse cannot be differentiated: a clear error, not wrong values.
    out, _ = torch.ops.varattn.varlen_attention(q, k, v, cu, cu, False, None, None, None, -1, -1,
                                                0.0, False)
    with pytest.raises(RuntimeError, match="return_lse=True"):
        out.sum().backward()
    with torch.no_grad():
        out, lse = va.varlen_attention(q, k, v, cu, return_lse=True)
        d_q, d_k, d_v = torch.ops.varattn.varlen_attention_backward(
            torch.ones_like(out), q, k, v, out, lse, cu, cu, False, None, None, -1, -1, 0.0)
    assert d_q.shape == q.shape and d_k.shape == k.shape and d_v.shape == v.shape
    with torch.no_grad():  # the new last argument, by name (and the default above: atomics)
        ordered = torch.ops.varattn.varlen_attention_backward(
            torch.ones_like(out), q, k, v, out, lse, cu, cu, False, None, None, -1, -1, 0.0,
            deterministic=True)
    for a, b in zip((d_q, d_k, d_v), ordered):
        assert rel_l2(a, b.float()) <= GRAD_TOLERANCE[torch.float16]
    with pytest.raises(RuntimeError, match="lse must be the forward's"):
        torch.ops.varattn.varlen_attention_backward(
            torch.ones_like(out), q, k, v, out, lse[:, :10], cu, cu, False, None, None, -1, -1, 0.0)


def test_backward_in_a_cuda_graph_and_under_compile(va):
    gen = torch.Generator(device=DEV).manual_seed(8)
    lengths = [3, 64, 0, 100]
    cu = cu_tensor(lengths)
    q, k, v = make_leaves(167, 167, 4, 2, 64, torch.bfloat16, gen)
    d_out = torch.randn(q.shape, device=DEV, generator=gen).to(torch.bfloat16)
    with torch.no_grad():
        out, lse = va.varlen_attention(q, k, v, cu, causal=True, return_lse=True)

    def step(deterministic):
        return torch.ops.varattn.varlen_attention_backward(d_out, q, k, v, out, lse, cu, cu, True,
                                                           None, None, -1, -1, 0.0, deterministic)

    # Both paths in one graph: the deterministic one replays the eager bits; the atomic one
    # (its accumulator zeroed in the graph, each replay) the eager values up to the atomics'
    # order.
    expected = {det: step(det) for det in (True, False)}
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for det in (True, False):
            step(det)  # warm-up outside the capture
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            captured = {det: step(det) for det in (True, False)}
    torch.cuda.current_stream().wait_stream(stream)
    for _ in range(2):
        graph.replay()
    torch.cuda.synchronize()
    for a, b in zip(expected[True], captured[True]):
        assert torch.equal(a, b)
    for a, b in zip(expected[False], captured[False]):
        assert rel_l2(a, b.float()) <= 1e-3

    def loss(q_, k_, v_):
        return va.varlen_attention(q_, k_, v_, cu, causal=True).float().square().sum()

    def loss_deterministic(q_, k_, v_):
        return va.varlen_attention(q_, k_, v_, cu, causal=True,
                                   deterministic=True).float().square().sum()

    for function in (loss, loss_deterministic):
        compiled = torch.compile(function, fullgraph=True)
        qc, kc, vc = (t.detach().clone().requires_grad_() for t in (q, k, v))
        compiled(qc, kc, vc).backward()
        qe, ke, ve = (t.detach().clone().requires_grad_() for t in (q, k, v))
        function(qe, ke, ve).backward()
        for a, b in ((qc.grad, qe.grad), (kc.grad, ke.grad), (vc.grad, ve.grad)):
            assert rel_l2(a, b.float()) <= 1e-3  # inductor may round the loss's gradient otherwise


def test_autograd_capture_with_plan_cache_misses(va):
    """The op's forward and its backward through autograd, captured in global mode on a stream
    the op has never run on (high priority: no other test takes one), so that the plan cache
    misses inside the capture: (1) forward + backward in one graph with no warm-up, the
    forward's miss on the calling thread (a workspace from the graph's pool and a pinned report
    made under the capture), the backward on the autograd engine's device thread, whose current
    stream the engine sets to the forward's; (2) the backward alone, its forward run eagerly on
    the capture stream and the cache cleared before the capture, so that the miss is on the
    device thread. The captures use leaf aliases no eager call has used (compare.py's
    Problem.capture_inputs): an AccumulateGrad node made on the default stream by an eager call
    and still alive would make the engine wait on the capture from the legacy stream, whatever
    the op. With deterministic=True (carried from the forward's arguments to the backward by
    the autograd kernel, csrc/autograd.cpp) replays give the eager gradients bit for bit."""
    d = built_head_dim(64)
    gen = torch.Generator(device=DEV).manual_seed(11)
    lengths = [70, 0, 1, 129, 33, 64]
    cu = cu_tensor(lengths)
    q, k, v = make_leaves(sum(lengths), sum(lengths), 8, 2, d, torch.bfloat16, gen)
    d_out = torch.randn(q.shape, device=DEV, generator=gen).to(torch.bfloat16)
    kwargs = {"causal": True, "max_seqlen_q": max(lengths), "deterministic": True}
    expected = torch.autograd.grad(va.varlen_attention(q, k, v, cu, **kwargs), (q, k, v), d_out)

    # (1) forward + backward in one graph, no warm-up.
    leaves = tuple(t.detach().requires_grad_() for t in (q, k, v))
    stream = torch.cuda.Stream(priority=-1)
    stream.wait_stream(torch.cuda.current_stream())
    before = va.plan_cache_stats()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="global"):
        captured = torch.autograd.grad(va.varlen_attention(*leaves, cu, **kwargs), leaves, d_out)
    after = va.plan_cache_stats()
    graph.replay()
    torch.cuda.synchronize()
    assert after["misses"] > before["misses"], (before, after)
    for a, b in zip(expected, captured):
        assert torch.equal(a, b)

    # (2) the backward alone; its forward eager on the capture stream.
    leaves = tuple(t.detach().requires_grad_() for t in (q, k, v))
    stream = torch.cuda.Stream(priority=-1)
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        out = va.varlen_attention(*leaves, cu, **kwargs)
    va.clear_plan_cache()  # the forward's workspace goes: the backward misses under capture
    before = va.plan_cache_stats()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="global"):
        captured = torch.autograd.grad(out, leaves, d_out, retain_graph=True)  # keeps lse
    after = va.plan_cache_stats()
    torch.cuda.current_stream().wait_stream(stream)
    graph.replay()
    torch.cuda.synchronize()
    assert after["misses"] > before["misses"], (before, after)
    for a, b in zip(expected, captured):
        assert torch.equal(a, b)
