# SPDX-License-Identifier: Apache-2.0
"""varattn.flash_attn_varlen_func: flash-attn 2.x's signature and results (window_size, softcap,
and return_attn_probs's (out, softmax_lse, S_dmask)), against PyTorch's FlashAttention-2 varlen
kernel (aten._flash_attention_forward) and the float64 reference on random varlen inputs; what
it does not support raises NotImplementedError naming the argument."""

from __future__ import annotations

import inspect
import random

import pytest
import torch

from helpers import (DEV, TOLERANCE, attention_reference, check_lse, cu_tensor, needs_head_dim,
                     random_lengths, reference, rel_l2)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

FLASH_ATTN_2_PARAMETERS = [  # flash_attn.flash_attn_varlen_func, flash-attn 2.6-2.8
    "q", "k", "v", "cu_seqlens_q", "cu_seqlens_k", "max_seqlen_q", "max_seqlen_k", "dropout_p",
    "softmax_scale", "causal", "window_size", "softcap", "alibi_slopes", "deterministic",
    "return_attn_probs"]


def test_signature_is_flash_attn_2s():
    from varattn import flash_attn_varlen_func
    assert list(inspect.signature(flash_attn_varlen_func).parameters) == FLASH_ATTN_2_PARAMETERS


def _fa2(q, k, v, cu_q, cu_k, max_q, max_k, causal, scale, window=(-1, -1), lse=False):
    out = torch.ops.aten._flash_attention_forward(
        q, k, v, cu_q, cu_k, max_q, max_k, 0.0, causal, False, scale=scale,
        window_size_left=window[0], window_size_right=window[1])
    return (out[0], out[1]) if lse else out[0]


SHAPES = [(64, 8, 8), (128, 16, 4), (80, 6, 2)]  # head dim, q heads, kv heads


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("d, heads_q, heads_kv",
                         [pytest.param(*shape, marks=needs_head_dim(shape[0])) for shape in SHAPES])
def test_matches_pytorch_flash_attention_2(va, seed, causal, dtype, d, heads_q, heads_kv):
    rng = random.Random(seed)
    gen = torch.Generator(device=DEV).manual_seed(seed)
    count = rng.randint(1, 24)
    lengths_q = random_lengths(rng, count, high=700)
    lengths_k = [n if not causal or rng.random() < 0.5 else rng.randint(0, 700) for n in lengths_q]
    cu_q, cu_k = cu_tensor(lengths_q), cu_tensor(lengths_k)
    q = torch.randn(sum(lengths_q), heads_q, d, device=DEV, dtype=dtype, generator=gen)
    k = torch.randn(sum(lengths_k), heads_kv, d, device=DEV, dtype=dtype, generator=gen)
    v = torch.randn(sum(lengths_k), heads_kv, d, device=DEV, dtype=dtype, generator=gen)
    max_q, max_k = max(lengths_q), max(lengths_k)
    scale = 0.5 / d ** 0.5 if seed == 3 else None
    out = va.flash_attn_varlen_func(q, k, v, cu_q, cu_k, max_q, max_k, causal=causal,
                                    softmax_scale=scale)
    ref = reference(q, k, v, cu_q, cu_k, causal, scale)
    assert rel_l2(out, ref) <= TOLERANCE[dtype]
    if 0 in lengths_q or 0 in lengths_k or (causal and any(
            lq > lk for lq, lk in zip(lengths_q, lengths_k))):
        return  # empty segments and rows that see no key: the reference covers them alone
    try:
        want = _fa2(q, k, v, cu_q, cu_k, max_q, max_k, causal, scale)
    except RuntimeError as e:
        pytest.skip(f"aten._flash_attention_forward unavailable here: {str(e).splitlines()[0]}")
    # Both within bf16/fp16 rounding of the float32 reference, hence of each other.
    assert rel_l2(out, want.float()) <= 2 * TOLERANCE[dtype]


WINDOWS = [(-1, -1), (32, 0), (100, 17), (0, 0)]


@pytest.mark.parametrize("window", WINDOWS, ids=[f"w{a}_{b}" for a, b in WINDOWS])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_window_and_lse_match_pytorch_flash_attention_2(va, window, causal, dtype):
    """return_attn_probs: (out, softmax_lse [heads_q, total_q] float32, empty S_dmask), as
    flash-attn 2.x without dropout. Rows that see no key: -inf here, +inf in flash-attn."""
    rng = random.Random(window[0] + 3 * window[1] + causal)
    gen = torch.Generator(device=DEV).manual_seed(7)

    def length():  # no empty segment: flash-attn gets those from the reference test above
        return rng.choice([1, 63, 64, 65, 129]) if rng.random() < 0.4 else rng.randint(1, 400)

    lengths_q = [length() for _ in range(12)]
    lengths_k = [n if rng.random() < 0.5 else length() for n in lengths_q]
    cu_q, cu_k = cu_tensor(lengths_q), cu_tensor(lengths_k)
    d, heads_q, heads_kv = 128, 8, 2
    q = torch.randn(sum(lengths_q), heads_q, d, device=DEV, dtype=dtype, generator=gen)
    k = torch.randn(sum(lengths_k), heads_kv, d, device=DEV, dtype=dtype, generator=gen)
    v = torch.randn(sum(lengths_k), heads_kv, d, device=DEV, dtype=dtype, generator=gen)
    max_q, max_k = max(lengths_q), max(lengths_k)
    out, lse, s_dmask = va.flash_attn_varlen_func(q, k, v, cu_q, cu_k, max_q, max_k,
                                                  causal=causal, window_size=window,
                                                  return_attn_probs=True)
    assert s_dmask.numel() == 0
    assert lse.shape == (heads_q, q.shape[0]) and lse.dtype == torch.float32
    ref, ref_lse = attention_reference(q, k, v, cu_q, cu_k, causal, window_size=window)
    assert rel_l2(out, ref) <= TOLERANCE[dtype]
    check_lse(lse, ref_lse)
    try:
        want, want_lse = _fa2(q, k, v, cu_q, cu_k, max_q, max_k, causal, None, window, lse=True)
    except RuntimeError as e:
        pytest.skip(f"aten._flash_attention_forward unavailable here: {str(e).splitlines()[0]}")
    # Both within bf16/fp16 rounding of the float64 reference, hence of each other; rows that
    # see no key are zeros in both.
    assert rel_l2(out, want.float()) <= 2 * TOLERANCE[dtype]
    if want_lse.shape == lse.shape:  # [heads, total_q]: flash-attn's varlen layout since 2.4
        seen = ~torch.isneginf(ref_lse)
        assert bool(torch.isposinf(want_lse[~seen]).all())  # flash-attn's +inf, our -inf
        assert (lse[seen] - want_lse[seen]).abs().max().item() <= 2e-3


@pytest.mark.parametrize("softcap", [0.0, 5.0, -1.0])
def test_softcap_and_window_pass_through(va, softcap):
    """softcap <= 0 is off, and a negative window side unbounded, as in flash-attn."""
    gen = torch.Generator(device=DEV).manual_seed(3)
    lengths_q, lengths_k = [40, 0, 130, 7], [40, 9, 100, 70]
    cu_q, cu_k = cu_tensor(lengths_q), cu_tensor(lengths_k)
    q = 3 * torch.randn(sum(lengths_q), 4, 64, device=DEV, generator=gen)
    k = torch.randn(sum(lengths_k), 4, 64, device=DEV, generator=gen)
    v = torch.randn(sum(lengths_k), 4, 64, device=DEV, generator=gen)
    q, k, v = q.half(), k.half(), v.half()
    out, lse, _ = va.flash_attn_varlen_func(q, k, v, cu_q, cu_k, 130, 100, causal=True,
                                            window_size=(20, -7), softcap=softcap,
                                            return_attn_probs=True)
    ref, ref_lse = attention_reference(q, k, v, cu_q, cu_k, True, window_size=(20, -1),
                                       softcap=max(softcap, 0.0))
    assert rel_l2(out, ref) <= 2 * TOLERANCE[torch.float16]
    check_lse(lse, ref_lse, max(softcap, 0.0))


@pytest.mark.parametrize("argument, value", [("dropout_p", 0.1), ("alibi_slopes", "tensor")])
def test_unsupported_arguments_raise_by_name(va, argument, value):
    q = torch.randn(10, 2, 64, device=DEV, dtype=torch.float16)
    cu = cu_tensor([4, 6])
    if value == "tensor":
        value = torch.ones(2, device=DEV)
    with pytest.raises(NotImplementedError, match=f"{argument}="):
        va.flash_attn_varlen_func(q, q, q, cu, cu, 6, 6, **{argument: value})


def test_deterministic_backward_and_grad_flow(va):
    """deterministic, flash-attn's meaning: a deterministic backward. The forward is the same
    either way; with deterministic=True the gradients are bit-identical run to run, and are
    those of varlen_attention(deterministic=True) (the flag passes through); the default
    (dq through float32 atomics) agrees with them to rounding. Several key tiles a segment, so
    that the atomic path really sums dq over tiles."""
    lengths = [4, 300, 0, 129, 6]
    cu = cu_tensor(lengths)
    max_len = max(lengths)
    gen = torch.Generator(device=DEV).manual_seed(4)
    q = torch.randn(sum(lengths), 2, 64, device=DEV, dtype=torch.float16, generator=gen)
    a = va.flash_attn_varlen_func(q, q, q, cu, cu, max_len, max_len, deterministic=True)
    b = va.flash_attn_varlen_func(q, q, q, cu, cu, max_len, max_len)
    assert torch.equal(a, b)

    def grad(function, **kwargs):
        # q as q, k and v sums the three gradients (python/tests/test_backward.py checks the
        # values against a reference).
        x = q.detach().clone().requires_grad_()
        function(x, **kwargs).float().sum().backward()
        assert x.grad.shape == q.shape and bool(torch.isfinite(x.grad).all())
        return x.grad

    def flash(x, **kwargs):
        return va.flash_attn_varlen_func(x, x, x, cu, cu, max_len, max_len, **kwargs)

    def direct(x, **kwargs):
        return va.varlen_attention(x, x, x, cu, cu, max_seqlen_q=max_len, **kwargs)

    ordered = [grad(flash, deterministic=True) for _ in range(2)]
    assert torch.equal(ordered[0], ordered[1])
    assert torch.equal(ordered[0], grad(direct, deterministic=True))
    atomic = grad(flash)
    assert rel_l2(atomic, ordered[0].float()) <= 1e-2
