# SPDX-License-Identifier: Apache-2.0
"""varattn.flash_attn_varlen_func: flash-attn 2.x's signature and results, against PyTorch's
FlashAttention-2 varlen kernel (aten._flash_attention_forward) on random varlen inputs; what it
does not support raises NotImplementedError naming the argument."""

from __future__ import annotations

import inspect
import random

import pytest
import torch

from helpers import DEV, TOLERANCE, cu_tensor, random_lengths, reference, rel_l2

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

FLASH_ATTN_2_PARAMETERS = [  # flash_attn.flash_attn_varlen_func, flash-attn 2.6-2.8
    "q", "k", "v", "cu_seqlens_q", "cu_seqlens_k", "max_seqlen_q", "max_seqlen_k", "dropout_p",
    "softmax_scale", "causal", "window_size", "softcap", "alibi_slopes", "deterministic",
    "return_attn_probs"]


def test_signature_is_flash_attn_2s():
    from varattn import flash_attn_varlen_func
    assert list(inspect.signature(flash_attn_varlen_func).parameters) == FLASH_ATTN_2_PARAMETERS


def _fa2(q, k, v, cu_q, cu_k, max_q, max_k, causal, scale):
    return torch.ops.aten._flash_attention_forward(q, k, v, cu_q, cu_k, max_q, max_k, 0.0, causal,
                                                   False, scale=scale)[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("d, heads_q, heads_kv", [(64, 8, 8), (128, 16, 4), (80, 6, 2)])
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


@pytest.mark.parametrize("argument, value", [
    ("dropout_p", 0.1), ("window_size", (128, 0)), ("softcap", 30.0),
    ("alibi_slopes", "tensor"), ("return_attn_probs", True)])
def test_unsupported_arguments_raise_by_name(va, argument, value):
    q = torch.randn(10, 2, 64, device=DEV, dtype=torch.float16)
    cu = cu_tensor([4, 6])
    if value == "tensor":
        value = torch.ones(2, device=DEV)
    with pytest.raises(NotImplementedError, match=f"{argument}="):
        va.flash_attn_varlen_func(q, q, q, cu, cu, 6, 6, **{argument: value})


def test_deterministic_is_accepted_and_grad_is_refused(va):
    q = torch.randn(10, 2, 64, device=DEV, dtype=torch.float16)
    cu = cu_tensor([4, 6])
    a = va.flash_attn_varlen_func(q, q, q, cu, cu, 6, 6, deterministic=True)
    b = va.flash_attn_varlen_func(q, q, q, cu, cu, 6, 6)
    assert torch.equal(a, b)
    with pytest.raises(NotImplementedError, match="no backward pass"):
        va.flash_attn_varlen_func(q.requires_grad_(), q, q, cu, cu, 6, 6)
