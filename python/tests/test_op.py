# SPDX-License-Identifier: Apache-2.0
"""Tests of the varattn op through the package. On a GPU machine, after
`pip install --no-build-isolation ./python`:

    cd /tmp && python3 -m pytest -q -rs <repo>/python/tests    # test_speed prints its timings

Without a CUDA device every test is skipped, with the reason shown by -rs.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from helpers import (DEV, DTYPES, HEAD_DIMS, TOLERANCE, attention_reference,  # noqa: F401
                     built_head_dim, check_lse, cu_tensor, head_dim_params, make_qkv,
                     needs_head_dim, random_lengths, reference, rel_l2, time_ms)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


# ---------------------------------------------------------------------------------------------
# Drop-in equality with the per-segment loop

@pytest.mark.parametrize("layout", ["contiguous", "fused_qkv"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("d", head_dim_params())
def test_matches_segment_loop(va, d, dtype, causal, layout):
    rng = random.Random(1000 * d + 10 * causal + (layout == "fused_qkv"))
    gen = torch.Generator(device=DEV).manual_seed(rng.randrange(1 << 30))
    lengths = random_lengths(rng, 12)
    cu = cu_tensor(lengths)
    q, k, v = make_qkv(sum(lengths), 4, 4, d, dtype, layout == "fused_qkv", gen)
    if layout == "fused_qkv":
        assert not q.is_contiguous() and q.stride(0) == 3 * 4 * d
    # max_seqlen_q given (as FlashAttention callers do) in one layout, left out in the other.
    max_q = max(lengths) if layout == "fused_qkv" else None
    out = va.varlen_attention(q, k, v, cu, causal=causal, max_seqlen_q=max_q)
    assert out.dtype == dtype and out.shape == q.shape and out.is_contiguous()
    assert rel_l2(out, reference(q, k, v, cu, cu, causal)) <= TOLERANCE[dtype]


@pytest.mark.parametrize("heads_kv", [2, 1], ids=["gqa", "mqa"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_gqa_matches_repeat_interleave_loop(va, dtype, causal, heads_kv):
    rng = random.Random(7 + heads_kv + 2 * causal)
    gen = torch.Generator(device=DEV).manual_seed(11)
    lengths = random_lengths(rng, 10, high=300)
    cu = cu_tensor(lengths)
    q, k, v = make_qkv(sum(lengths), 8, heads_kv, 128, dtype, False, gen)
    out = va.varlen_attention(q, k, v, cu, cu, causal=causal)
    assert rel_l2(out, reference(q, k, v, cu, cu, causal)) <= TOLERANCE[dtype]


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_separate_q_and_k_tables_and_scale(va, causal):
    rng = random.Random(5)
    gen = torch.Generator(device=DEV).manual_seed(5)
    lq = random_lengths(rng, 9, high=150)
    lk = [n + rng.randint(0, 90) for n in lq]  # k at least as long: every causal row sees a key
    lk[3] = 0  # no key at all: zeros
    cu_q, cu_k = cu_tensor(lq), cu_tensor(lk)
    d = built_head_dim(96)
    q = torch.randn(sum(lq), 4, d, device=DEV, dtype=torch.bfloat16, generator=gen)
    k = torch.randn(sum(lk), 4, d, device=DEV, dtype=torch.bfloat16, generator=gen)
    v = torch.randn(sum(lk), 4, d, device=DEV, dtype=torch.bfloat16, generator=gen)
    out = va.varlen_attention(q, k, v, cu_q, cu_k, causal=causal, scale=0.07)
    assert rel_l2(out, reference(q, k, v, cu_q, cu_k, causal, scale=0.07)) <= 1e-2


def test_max_seqlen_q_is_only_a_hint(va):
    """Short tiles (max_seqlen_q <= 64) on long segments: slower, still right."""
    gen = torch.Generator(device=DEV).manual_seed(3)
    lengths = [300, 0, 1, 129, 64, 65]
    cu = cu_tensor(lengths)
    q, k, v = make_qkv(sum(lengths), 4, 4, 64, torch.float16, True, gen)
    ref = reference(q, k, v, cu, cu, True)
    for hint in (None, 1, 64, 300):
        out = va.varlen_attention(q, k, v, cu, causal=True, max_seqlen_q=hint)
        assert rel_l2(out, ref) <= TOLERANCE[torch.float16], hint


def test_new_offsets_same_shape_are_never_stale(va):
    rng = random.Random(9)
    gen = torch.Generator(device=DEV).manual_seed(9)
    first = random_lengths(rng, 16)
    total = sum(first)
    q, k, v = make_qkv(total, 4, 4, built_head_dim(80), torch.bfloat16, True, gen)
    va.varlen_attention(q, k, v, cu_tensor(first), causal=True)
    plans = va.plan_cache_size()
    for _ in range(3):
        cu = cu_tensor(random_lengths(rng, 16, total=total))
        out = va.varlen_attention(q, k, v, cu, causal=True)
        assert rel_l2(out, reference(q, k, v, cu, cu, True)) <= 1e-2
    assert va.plan_cache_size() == plans  # one plan, rebuilt on the device each call


def test_layers_share_one_list_and_every_change_rebuilds(va):
    """The op skips its list build when the workspace holds the list of these very offsets and
    options (a model's layers after the first); the offsets rewritten in place (same tensor,
    same address) or other options on the same workspace must rebuild it, never serve the
    old list. Every element checked: finite, and against the float64 reference. The mask
    alone only reorders a list (a stale one would still give right numbers); the
    max_seqlen_q hints change the tile (16: decode tiles), hence the items themselves, on the
    same workspace (asserted), so a build skipped for them would drop or repeat rows."""
    rng = random.Random(11)
    gen = torch.Generator(device=DEV).manual_seed(11)
    first = random_lengths(rng, 12)
    total = sum(first)
    second = random_lengths(rng, 12, total=total)
    d = built_head_dim(128)
    q, k, v = make_qkv(total, 4, 2, d, torch.bfloat16, False, gen)
    cu = cu_tensor(first)
    va.varlen_attention(q, k, v, cu, causal=True)
    entries = va.plan_cache_size()
    for step, lengths in enumerate((first, first, second, second, first)):
        cu.copy_(cu_tensor(lengths))
        for causal, window, max_q in ((True, (-1, -1), None), (True, (-1, -1), None),
                                      (True, (-1, -1), 16), (True, (-1, -1), 16),
                                      (False, (-1, -1), 64), (False, (20, 5), None),
                                      (True, (-1, -1), None)):
            out = va.varlen_attention(q, k, v, cu, causal=causal, window_size=window,
                                      max_seqlen_q=max_q)
            ref, _ = attention_reference(q, k, v, cu, cu, causal, window_size=window)
            hint = f"step {step}, causal {causal}, window {window}, max_seqlen_q {max_q}"
            assert bool(torch.isfinite(out).all()), hint
            assert rel_l2(out, ref) <= TOLERANCE[torch.bfloat16], hint
    assert va.plan_cache_size() == entries  # one workspace served every call


def test_empty_inputs(va):
    q = torch.randn(0, 4, 64, device=DEV, dtype=torch.float16)
    for lengths in ([], [0], [0, 0, 0]):
        out = va.varlen_attention(q, q, q, cu_tensor(lengths), causal=True)
        assert out.shape == (0, 4, 64)
    torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------
# Sliding windows, softcap and the logsumexp, against the float64 reference (helpers.py)

def _windowed_problem(seed, dtype, d, heads_q, heads_kv, score_gain=1.0):
    """Segments with q shorter than k, longer than k, equal, and empty on either side."""
    rng = random.Random(seed)
    gen = torch.Generator(device=DEV).manual_seed(seed)
    lengths_q = [0, 1, 5, 63, 64, 65, 130, 200, 17, 3, 90]
    lengths_k = [4, 0, 1, 63, 130, 20, 130, 90, 17, 100, 90]
    order = list(range(len(lengths_q)))
    rng.shuffle(order)
    lengths_q, lengths_k = [lengths_q[i] for i in order], [lengths_k[i] for i in order]
    cu_q, cu_k = cu_tensor(lengths_q), cu_tensor(lengths_k)
    q = score_gain * torch.randn(sum(lengths_q), heads_q, d, device=DEV, generator=gen)
    k = torch.randn(sum(lengths_k), heads_kv, d, device=DEV, generator=gen)
    v = torch.randn(sum(lengths_k), heads_kv, d, device=DEV, generator=gen)
    return q.to(dtype), k.to(dtype), v.to(dtype), cu_q, cu_k, max(lengths_q)


WINDOWS = [(16, 16), (0, 0), (40, -1), (-1, 8), (7, 0), (0, 3), (-1, -1)]


@pytest.mark.parametrize("window", WINDOWS, ids=[f"w{a}_{b}" for a, b in WINDOWS])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_window_matches_reference(va, window, causal, dtype):
    d = 128 if window[0] % 2 else 64
    q, k, v, cu_q, cu_k, max_q = _windowed_problem(100 + window[0] + 7 * window[1] + causal,
                                                   dtype, d, 8, 2)
    out, lse = va.varlen_attention(q, k, v, cu_q, cu_k, causal=causal, max_seqlen_q=max_q,
                                   window_size=window, return_lse=True)
    ref, ref_lse = attention_reference(q, k, v, cu_q, cu_k, causal, window_size=window)
    assert out.dtype == dtype and out.shape == q.shape and out.is_contiguous()
    assert rel_l2(out, ref) <= TOLERANCE[dtype]
    check_lse(lse, ref_lse)
    empty = torch.isneginf(ref_lse).transpose(0, 1)  # [total_q, heads_q]: rows that see no key
    assert bool((out[empty] == 0).all())


@pytest.mark.parametrize("softcap", [2.0, 30.0])
@pytest.mark.parametrize("causal, window", [(False, (-1, -1)), (True, (-1, -1)), (True, (31, 0)),
                                            (False, (20, 5))])
@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
def test_softcap_matches_reference(va, softcap, causal, window, dtype):
    # Scores of a few units (q scaled up), so that a cap of 2 changes them a lot.
    q, k, v, cu_q, cu_k, max_q = _windowed_problem(7 + int(softcap) + causal + window[0], dtype,
                                                   built_head_dim(80), 6, 6,
                                                   score_gain=4.0)
    out, lse = va.varlen_attention(q, k, v, cu_q, cu_k, causal=causal, max_seqlen_q=max_q,
                                   window_size=window, softcap=softcap, return_lse=True)
    ref, ref_lse = attention_reference(q, k, v, cu_q, cu_k, causal, window_size=window,
                                       softcap=softcap)
    assert rel_l2(out, ref) <= 2 * TOLERANCE[dtype]
    check_lse(lse, ref_lse, softcap)
    uncapped, _ = attention_reference(q, k, v, cu_q, cu_k, causal, window_size=window)
    assert rel_l2(out, uncapped) > 2 * rel_l2(out, ref)  # nearer the capped result


@pytest.mark.parametrize("d", head_dim_params())
def test_lse_every_head_dim_and_scale(va, d):
    q, k, v, cu_q, cu_k, max_q = _windowed_problem(d, torch.bfloat16, d, 4, 4)
    out, lse = va.varlen_attention(q, k, v, cu_q, cu_k, causal=True, scale=0.3 / d ** 0.5,
                                   return_lse=True)
    ref, ref_lse = attention_reference(q, k, v, cu_q, cu_k, True, scale=0.3 / d ** 0.5)
    assert rel_l2(out, ref) <= TOLERANCE[torch.bfloat16]
    check_lse(lse, ref_lse)
    assert lse.shape == (4, q.shape[0])


def test_return_lse_changes_nothing_else(va):
    q, k, v, cu_q, cu_k, max_q = _windowed_problem(3, torch.float16, 64, 4, 2)
    plain = va.varlen_attention(q, k, v, cu_q, cu_k, causal=True, window_size=(9, 0))
    assert isinstance(plain, torch.Tensor)
    out, lse = va.varlen_attention(q, k, v, cu_q, cu_k, causal=True, window_size=(9, 0),
                                   return_lse=True)
    assert torch.equal(out, plain)
    # A window longer than every segment bounds nothing: the op runs it unbounded.
    huge = va.varlen_attention(q, k, v, cu_q, cu_k, window_size=(10 ** 12, 10 ** 12))
    assert torch.equal(huge, va.varlen_attention(q, k, v, cu_q, cu_k))
    # causal is right = 0: the same attention either way.
    assert rel_l2(va.varlen_attention(q, k, v, cu_q, cu_k, causal=True),
                  va.varlen_attention(q, k, v, cu_q, cu_k, window_size=(-1, 0)).float()) <= 1e-3
    empty = torch.zeros(0, 4, 64, device=DEV, dtype=torch.float16)
    out, lse = va.varlen_attention(empty, empty[:, :2], empty[:, :2], cu_tensor([0, 0]),
                                   return_lse=True)
    assert out.shape == (0, 4, 64) and lse.shape == (4, 0) and lse.dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# Bad input: the op's or varattn's message

def test_bad_input_raises_with_a_message(va):
    gen = torch.Generator(device=DEV).manual_seed(0)
    lengths = [5, 70, 0, 33]
    cu = cu_tensor(lengths)
    q, k, v = make_qkv(sum(lengths), 4, 4, 64, torch.bfloat16, False, gen)
    op = va.varlen_attention

    with pytest.raises(RuntimeError, match="q must be float16 or bfloat16, got Float"):
        op(q.float(), k.float(), v.float(), cu)
    with pytest.raises(RuntimeError, match="q, k and v must have one dtype"):
        op(q, k.half(), v, cu)
    with pytest.raises(RuntimeError, match="q must be a CUDA tensor, got a tensor on cpu"):
        op(q.cpu(), k.cpu(), v.cpu(), cu.cpu())
    with pytest.raises(RuntimeError, match="k must be a CUDA tensor"):
        op(q, k.cpu(), v, cu)
    with pytest.raises(RuntimeError, match="cu_seqlens_q must be a CUDA tensor"):
        op(q, k, v, cu.cpu())
    with pytest.raises(RuntimeError, match=r"cu_seqlens_q must be int32.*\(int64\)"):
        op(q, k, v, cu.long())
    with pytest.raises(RuntimeError, match="q has head_dim 64 but k and v have 128"):
        op(q, k.repeat(1, 1, 2), v.repeat(1, 1, 2), cu)
    with pytest.raises(RuntimeError, match="must have one shape"):
        op(q, k, v[:, :2], cu)
    with pytest.raises(RuntimeError, match="not a multiple of k and v's 3 heads"):
        op(q, k[:, :3], v[:, :3], cu)
    with pytest.raises(RuntimeError, match="cu_seqlens_q has 5 offsets but cu_seqlens_k has 4"):
        op(q, k, v, cu, cu[:4])
    with pytest.raises(RuntimeError, match=r"must be \[tokens, heads, head_dim\]"):
        op(q.flatten(1), k, v, cu)
    with pytest.raises(RuntimeError, match="contiguous last dim"):
        op(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), cu)

    # varattn's own messages (varattn::error, rethrown as RuntimeError)
    # (the list it names is the one varattn.head_dims() reports)
    missing = next(d for d in range(32, 257, 8) if d not in HEAD_DIMS)
    q_missing = torch.randn(sum(lengths), 4, missing, device=DEV, dtype=torch.bfloat16)
    available = ", ".join(str(d) for d in va.head_dims())
    expected = rf"head_dim = {missing} is not instantiated \(available: {available}\)"
    with pytest.raises(RuntimeError, match=expected):
        op(q_missing, q_missing, q_missing, cu)
    base = torch.randn(sum(lengths), 4, 72, device=DEV, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="is not 16-byte aligned"):
        op(base[:, :, 4:68], k, v, cu)
    one_head = torch.randn(sum(lengths), 1, 68, device=DEV, dtype=torch.bfloat16)[:, :, :64]
    with pytest.raises(RuntimeError, match="token_stride = 68 must be a positive multiple of 8"):
        op(one_head, one_head, one_head, cu)
    with pytest.raises(RuntimeError, match="scale = -1 must be positive and finite"):
        op(q, k, v, cu, scale=-1.0)
    with pytest.raises(RuntimeError, match=r"window_left = -2 must be -1 \(unbounded\) or >= 0"):
        op(q, k, v, cu, window_size=(-2, 0))
    with pytest.raises(RuntimeError, match=r"window_right = -5 must be -1 \(unbounded\) or >= 0"):
        op(q, k, v, cu, window_size=(3, -5))
    with pytest.raises(RuntimeError, match=r"softcap = -1 must be 0 \(off\) or positive and finite"):
        op(q, k, v, cu, softcap=-1.0)
    with pytest.raises(RuntimeError, match=r"softcap = .* must be 0 \(off\) or positive and finite"):
        op(q, k, v, cu, softcap=float("nan"))
    with pytest.raises(ValueError, match=r"window_size must be \(left, right\)"):
        op(q, k, v, cu, window_size=8)
    # The op still works after all of that.
    assert rel_l2(op(q, k, v, cu), reference(q, k, v, cu, cu, False)) <= 1e-2


def test_invalid_offsets_raise_in_checking_mode(va):
    """Offsets are checked on the device; VARATTN_TORCH_CHECK_OFFSETS=1 waits and raises."""
    code = (
        "import torch, varattn as va\n"
        "q = torch.randn(100, 2, 64, device='cuda', dtype=torch.float16)\n"
        "cu = torch.tensor([0, 60, 40, 100], dtype=torch.int32, device='cuda')\n"
        "try:\n"
        "    va.varlen_attention(q, q, q, cu)\n"
        "except RuntimeError as e:\n"
        "    print(e)\n")
    env = dict(os.environ, VARATTN_TORCH_CHECK_OFFSETS="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600)
    assert "cu_seqlens_q[2] = 40 < cu_seqlens_q[1] = 60" in done.stdout, done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# No host sync, CUDA graphs, torch.compile

def test_no_host_sync(va):
    gen = torch.Generator(device=DEV).manual_seed(1)
    lengths = random_lengths(random.Random(1), 20)
    cu = cu_tensor(lengths)
    q, k, v = make_qkv(sum(lengths), 8, 8, 128, torch.bfloat16, True, gen)
    va.varlen_attention(q, k, v, cu, causal=True)  # warm-up: reserves the plan
    torch.cuda.synchronize()
    try:
        torch.cuda.set_sync_debug_mode("error")
        with pytest.raises(RuntimeError):  # the detector works: a loop bound read syncs
            q[cu[1]:cu[2]]
        for _ in range(3):
            out = va.varlen_attention(q, k, v, cu, causal=True)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert rel_l2(out, reference(q, k, v, cu, cu, True)) <= 1e-2


@pytest.mark.parametrize("warmup", ["side_stream", "capture_stream"])
def test_cuda_graph_replay_with_new_data_and_offsets(va, warmup):
    """warmup=side_stream is PyTorch's documented pattern: the capture then runs on another
    stream and reserves its plan during capture. capture_stream warms up on it: no reservation
    during capture."""
    rng = random.Random(21)
    gen = torch.Generator(device=DEV).manual_seed(21)
    lengths = random_lengths(rng, 24)
    total = sum(lengths)
    cu = cu_tensor(lengths)
    q = torch.randn(total, 8, 128, device=DEV, dtype=torch.float16, generator=gen)
    k = torch.randn(total, 2, 128, device=DEV, dtype=torch.float16, generator=gen)
    v = torch.randn(total, 2, 128, device=DEV, dtype=torch.float16, generator=gen)
    max_q = 300  # an upper bound for the replays' lengths too

    def step():
        return va.varlen_attention(q, k, v, cu, cu, causal=True, max_seqlen_q=max_q)

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, stream=s if warmup == "capture_stream" else None):
        out = step()

    for seed in range(3):
        new_lengths = random_lengths(random.Random(100 + seed), 24, total=total, high=max_q)
        assert max(new_lengths) <= max_q
        q.copy_(torch.randn(q.shape, device=DEV, dtype=q.dtype, generator=gen))
        k.copy_(torch.randn(k.shape, device=DEV, dtype=k.dtype, generator=gen))
        v.copy_(torch.randn(v.shape, device=DEV, dtype=v.dtype, generator=gen))
        cu.copy_(cu_tensor(new_lengths))
        g.replay()
        eager = step()
        torch.cuda.synchronize()
        assert (out.float() - eager.float()).abs().max().item() <= 1e-6
        assert rel_l2(out, reference(q, k, v, cu, cu, True)) <= TOLERANCE[torch.float16]


def _has_triton():
    try:
        import triton  # noqa: F401
        return True
    except ImportError:
        return False


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_fullgraph(va, backend):
    if backend == "inductor" and not _has_triton():
        pytest.skip("inductor needs triton")
    import torch._dynamo
    torch._dynamo.reset()
    gen = torch.Generator(device=DEV).manual_seed(4)
    lengths = random_lengths(random.Random(4), 10)
    cu = cu_tensor(lengths)
    w = torch.randn(3 * 4 * 64, 256, device=DEV, dtype=torch.bfloat16, generator=gen) / 16
    x = torch.randn(sum(lengths), 256, device=DEV, dtype=torch.bfloat16, generator=gen)

    def block(x, cu):  # qkv projection, varlen attention, a pointwise tail
        q, k, v = (x @ w.t()).view(x.shape[0], 3, 4, 64).unbind(1)
        o = va.varlen_attention(q, k, v, cu, cu, causal=True, max_seqlen_q=200)
        return o.flatten(1) * 2 + 1

    compiled = torch.compile(block, fullgraph=True, backend=backend)
    got, want = compiled(x, cu), block(x, cu)
    assert got.shape == want.shape
    assert rel_l2(got, want.float()) <= 1e-2  # inductor's mm and fused tail round differently

    def windowed(x, cu):  # window, softcap and the logsumexp: a tuple through the graph
        q, k, v = (x @ w.t()).view(x.shape[0], 3, 4, 64).unbind(1)
        o, lse = va.varlen_attention(q, k, v, cu, cu, causal=True, max_seqlen_q=200,
                                     window_size=(15, 0), softcap=20.0, return_lse=True)
        return o.flatten(1) * 2 + 1, lse.exp().sum(0)

    torch._dynamo.reset()
    (got, got_lse), (want, want_lse) = torch.compile(windowed, fullgraph=True,
                                                     backend=backend)(x, cu), windowed(x, cu)
    assert got.shape == want.shape and got_lse.shape == want_lse.shape == (x.shape[0],)
    assert rel_l2(got, want.float()) <= 1e-2
    assert rel_l2(got_lse, want_lse.float()) <= 1e-2


def test_opcheck(va):
    gen = torch.Generator(device=DEV).manual_seed(6)
    lengths = [17, 0, 90, 1]
    cu = cu_tensor(lengths)
    q, k, v = make_qkv(sum(lengths), 4, 2, 64, torch.float16, False, gen)
    for args in [(q, k, v, cu, cu, True, None, 90),
                 (q, k, v, cu, cu, True, None, 90, None, 16, 0, 30.0, True),
                 (q, k, v, cu, cu, False, 0.1, None, None, 5, 7, 0.0, False)]:
        torch.library.opcheck(torch.ops.varattn.varlen_attention.default, args,
                              test_utils=("test_schema", "test_faketensor"))


# ---------------------------------------------------------------------------------------------
# Speed: prints, asserts only that the op beats the loop that syncs per bound


WORKLOADS = {
    # name: (lengths, heads, head_dim, causal)
    "vl-window-d80": ([64] * 256, 16, 80, False),
    "llm-like-d128": (random.Random(2026).choices(range(128, 4097), k=16), 32, 128, True),
}


@pytest.mark.parametrize("name", [pytest.param(name, marks=needs_head_dim(w[2]))
                                  for name, w in WORKLOADS.items()])
def test_speed(va, name, capsys):
    lengths, heads, d, causal = WORKLOADS[name]
    dtype = torch.bfloat16
    gen = torch.Generator(device=DEV).manual_seed(8)
    total, max_len = sum(lengths), max(lengths)
    cu = cu_tensor(lengths)
    q, k, v = make_qkv(total, heads, heads, d, dtype, False, gen)
    q4, k4, v4 = (t.transpose(0, 1).unsqueeze(0) for t in (q, k, v))  # [1, heads, total, d]

    def op():
        return va.varlen_attention(q, k, v, cu, causal=causal, max_seqlen_q=max_len)

    def loop_sync_per_bound():  # every bound a 0-d device tensor: a host sync per use
        outs = [F.scaled_dot_product_attention(q4[:, :, cu[s - 1]:cu[s]], k4[:, :, cu[s - 1]:cu[s]],
                                               v4[:, :, cu[s - 1]:cu[s]], is_causal=causal)
                for s in range(1, len(lengths) + 1)]
        return torch.cat(outs, dim=2)

    def loop_tolist_split():  # one sync, then the loop (the Qwen2-VL pattern)
        split = (cu[1:] - cu[:-1]).tolist()
        parts = zip(*(torch.split(t, split, dim=2) for t in (q4, k4, v4)))
        return torch.cat([F.scaled_dot_product_attention(a, b, c, is_causal=causal)
                          for a, b, c in parts], dim=2)

    def fa2():
        return torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, max_len, max_len, 0.0,
                                                       causal, False)[0]

    expected = loop_tolist_split()[0].transpose(0, 1)
    assert rel_l2(op(), expected.float()) <= 1e-2
    timings = {"varattn op": time_ms(op),
               "loop, sync per bound": time_ms(loop_sync_per_bound),
               "loop, .tolist() + split": time_ms(loop_tolist_split)}
    try:
        timings["FA2 varlen (aten)"] = time_ms(fa2)
    except RuntimeError as e:  # a build without FlashAttention
        timings["FA2 varlen (aten)"] = float("nan")
        fa2_error = str(e).splitlines()[0]
    else:
        fa2_error = None
    with capsys.disabled():
        print(f"\n{name}: {len(lengths)} segments, {total} tokens, {heads} heads, d {d}, "
              f"{'causal' if causal else 'full'}, bf16, {torch.cuda.get_device_name()}")
        base = timings["varattn op"]
        for label, ms in timings.items():
            print(f"  {label:26s} {ms:9.3f} ms   {ms / base:7.2f}x the op")
        if fa2_error:
            print(f"  (FA2 varlen unavailable: {fa2_error})")
    assert timings["varattn op"] < timings["loop, sync per bound"]
