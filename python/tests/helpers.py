# SPDX-License-Identifier: Apache-2.0
"""Helpers of the package's tests: random varlen problems and the per-segment SDPA reference."""

from __future__ import annotations

import statistics

import pytest
import torch
import torch.nn.functional as F

DEV = "cuda"
# The head dims a default build compiles (include/varattn/head_dims.hpp's default list); a
# build may list others (any multiple of 8 from 32 to 256).
DEFAULT_HEAD_DIMS = [64, 72, 80, 96, 128, 256]


def _compiled_head_dims() -> list[int]:
    """The head dims the installed op was compiled for, as it reports them; the default list
    without a CUDA device (every test skips) or where the op does not load (the `va` fixture
    then reports the load's error in each test that needs it, not one collection error)."""
    if not torch.cuda.is_available():
        return list(DEFAULT_HEAD_DIMS)
    try:
        import varattn
        return varattn.head_dims()
    except Exception:
        return list(DEFAULT_HEAD_DIMS)


HEAD_DIMS = _compiled_head_dims()


def needs_head_dim(d: int):
    """The mark of a test (or a parameter) at head dim d: skipped where this build lacks it,
    with the reason shown (-rs), so that a partial build's run says what it left out."""
    return pytest.mark.skipif(
        d not in HEAD_DIMS, reason=f"head dim {d} not compiled in (varattn.head_dims() = "
                                   f"{HEAD_DIMS})")


def head_dim_params() -> list:
    """pytest parameters for a test over head dims: the default ones and any other this build
    has (needs_head_dim)."""
    return [pytest.param(d, marks=needs_head_dim(d))
            for d in sorted(set(DEFAULT_HEAD_DIMS) | set(HEAD_DIMS))]


def built_head_dim(preferred: int) -> int:
    """preferred when the op is built for it, else the first built head dim (tests that need a
    head dim but not a particular one; the rest of the suite assumes 64 is built)."""
    return preferred if preferred in HEAD_DIMS else HEAD_DIMS[0]


DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
TOLERANCE = {torch.float16: 5e-3, torch.bfloat16: 1e-2}  # relative L2 against float32


# ---------------------------------------------------------------------------------------------
# Helpers

def offsets(lengths):
    out = [0]
    for n in lengths:
        out.append(out[-1] + n)
    return out


def cu_tensor(lengths):
    return torch.tensor(offsets(lengths), dtype=torch.int32, device=DEV)


def random_lengths(rng, count, total=None, high=200):
    """Segment lengths with empty, length-1 and lengths around multiples of 64."""
    special = [0, 1, 63, 64, 65, 127, 129, 0, 1]
    lengths = [rng.choice(special) if rng.random() < 0.5 else rng.randint(0, high)
               for _ in range(count)]
    if total is not None:  # rescale to a given total, same count
        assert count * high >= total
        while sum(lengths) != total:
            i = rng.randrange(count)
            if sum(lengths) < total:
                lengths[i] += lengths[i] < high
            elif lengths[i] > 0:
                lengths[i] -= 1
    return lengths


def reference(q, k, v, cu_q, cu_k, causal, scale=None):
    """The per-segment SDPA loop, in float32 ([1, heads, len, head_dim] per segment)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    off_q, off_k = cu_q.tolist(), cu_k.tolist()
    group = q.shape[1] // k.shape[1]
    out = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    with sdpa_kernel(SDPBackend.MATH):
        for s in range(len(off_q) - 1):
            a, b, c, d = off_q[s], off_q[s + 1], off_k[s], off_k[s + 1]
            if b == a or d == c:  # no query, or no key: varattn writes zeros
                continue
            qs = q[a:b].float().transpose(0, 1).unsqueeze(0)
            ks = k[c:d].float().repeat_interleave(group, dim=1).transpose(0, 1).unsqueeze(0)
            vs = v[c:d].float().repeat_interleave(group, dim=1).transpose(0, 1).unsqueeze(0)
            if causal and b - a != d - c:  # bottom-right aligned, as FlashAttention 2.1+
                i = torch.arange(b - a, device=q.device)[:, None]
                j = torch.arange(d - c, device=q.device)[None, :]
                o = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=j <= i + (d - c) - (b - a),
                                                   scale=scale)
            else:
                o = F.scaled_dot_product_attention(qs, ks, vs, is_causal=causal, scale=scale)
            out[a:b] = o[0].transpose(0, 1)
    return out


def attention_reference(q, k, v, cu_q, cu_k, causal=False, scale=None, window_size=(-1, -1),
                        softcap=0.0):
    """Every option of the op in float64, written out (no SDPA): returns (out [total_q, heads_q,
    d], lse [heads_q, total_q]), both float64. In a segment with lq queries and lk keys, query i
    sees key j iff i + lk - lq - left <= j <= i + lk - lq + right (-1: unbounded; causal:
    right = min(right, 0)); softcap > 0 maps each score s to softcap * tanh(s / softcap); rows
    that see no key get zeros and lse -inf."""
    off_q, off_k = cu_q.tolist(), cu_k.tolist()
    heads_q, d = q.shape[1], q.shape[2]
    group = heads_q // k.shape[1]
    scale = d ** -0.5 if scale is None else scale
    left, right = window_size
    if causal:
        right = 0  # min(right, 0), with -1 as unbounded
    out = torch.zeros(q.shape, dtype=torch.float64, device=q.device)
    lse = torch.full((heads_q, q.shape[0]), float("-inf"), dtype=torch.float64, device=q.device)
    for s in range(len(off_q) - 1):
        a, b, c, e = off_q[s], off_q[s + 1], off_k[s], off_k[s + 1]
        lq, lk = b - a, e - c
        if lq == 0 or lk == 0:
            continue
        qs = q[a:b].double().transpose(0, 1)                                   # [h, lq, d]
        ks = k[c:e].double().repeat_interleave(group, dim=1).transpose(0, 1)   # [h, lk, d]
        vs = v[c:e].double().repeat_interleave(group, dim=1).transpose(0, 1)
        scores = scale * qs @ ks.transpose(1, 2)                                # [h, lq, lk]
        if softcap > 0:
            scores = softcap * torch.tanh(scores / softcap)
        i = torch.arange(lq, device=q.device)[:, None]
        j = torch.arange(lk, device=q.device)[None, :]
        diagonal = i + lk - lq
        seen = torch.ones(lq, lk, dtype=torch.bool, device=q.device)
        if left >= 0:
            seen &= j >= diagonal - left
        if right >= 0:
            seen &= j <= diagonal + right
        scores = scores.masked_fill(~seen, float("-inf"))
        row_lse = torch.logsumexp(scores, dim=-1)                               # [h, lq]
        probs = torch.exp(scores - row_lse[..., None]).nan_to_num(0.0)  # no key: -inf - -inf
        out[a:b] = (probs @ vs).transpose(0, 1)
        lse[:, a:b] = row_lse
    return out, lse


def check_lse(lse, ref_lse, softcap=0.0):
    """lse (float32) against the float64 reference: the same rows at -inf, the others within
    2e-3 (+ 1e-3 x softcap: the kernels may take tanh.approx, ~2^-11 relative)."""
    assert lse.dtype == torch.float32 and lse.shape == ref_lse.shape and lse.is_contiguous()
    empty = torch.isneginf(ref_lse)
    assert torch.equal(torch.isneginf(lse), empty), "rows that see no key must be -inf, only they"
    assert bool(torch.isfinite(lse[~empty]).all())
    if bool((~empty).any()):
        err = (lse[~empty].double() - ref_lse[~empty]).abs().max().item()
        assert err <= 2e-3 + 1e-3 * softcap, err


def rel_l2(out, ref):
    assert out.shape == ref.shape
    assert bool(torch.isfinite(out).all())
    den = ref.norm().item()
    return (out.float() - ref).norm().item() / (den if den > 0 else 1.0)


def make_qkv(total, heads_q, heads_kv, d, dtype, fused, gen):
    if fused:  # one qkv projection [total, 3, heads, d]: q, k, v are strided views
        assert heads_q == heads_kv
        qkv = torch.randn(total, 3, heads_q, d, device=DEV, dtype=dtype, generator=gen)
        return qkv.unbind(1)
    q = torch.randn(total, heads_q, d, device=DEV, dtype=dtype, generator=gen)
    k = torch.randn(total, heads_kv, d, device=DEV, dtype=dtype, generator=gen)
    v = torch.randn(total, heads_kv, d, device=DEV, dtype=dtype, generator=gen)
    return q, k, v


def time_ms(fn, reps=20, warmup=3):
    """Median milliseconds of fn on the current stream (CUDA events), after a warm-up."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    events = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        events.append((start, end))
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in events)
