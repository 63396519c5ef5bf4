# SPDX-License-Identifier: Apache-2.0
"""``flash_attn_varlen_func`` with flash-attn 2.x's signature, so that

    from varattn import flash_attn_varlen_func

replaces ``from flash_attn import flash_attn_varlen_func`` in existing code. What varattn does
not support yet raises NotImplementedError naming the argument; nothing is silently ignored.
"""

from __future__ import annotations

import torch


def _unsupported(argument: str, value, why: str) -> NotImplementedError:
    return NotImplementedError(
        f"varattn.flash_attn_varlen_func: {argument}={value!r} is not supported ({why})")


def flash_attn_varlen_func(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
                           max_seqlen_q: int, max_seqlen_k: int, dropout_p: float = 0.0,
                           softmax_scale: float | None = None, causal: bool = False,
                           window_size: tuple[int, int] = (-1, -1), softcap: float = 0.0,
                           alibi_slopes: torch.Tensor | None = None,
                           deterministic: bool = False,
                           return_attn_probs: bool = False) -> torch.Tensor:
    """flash-attn 2.x's varlen forward: q [total_q, heads_q, d], k and v [total_k, heads_kv,
    d], int32 cu_seqlens; causal is bottom-right aligned as in flash-attn >= 2.1. Returns out
    [total_q, heads_q, d].

    Supported: softmax_scale, causal, GQA/MQA, max_seqlen_q (picks the tile height; a bound,
    as for flash-attn), deterministic (varattn's forward is always deterministic). Not yet:
    dropout_p != 0, window_size != (-1, -1), softcap != 0, alibi_slopes, return_attn_probs:
    each raises NotImplementedError. Forward only: tensors that require grad raise too.
    """
    from . import varlen_attention  # the op is loaded by the package's __init__

    if dropout_p != 0.0:
        raise _unsupported("dropout_p", dropout_p, "varattn computes inference attention")
    if tuple(window_size) != (-1, -1):
        raise _unsupported("window_size", tuple(window_size), "sliding windows are not built yet")
    if softcap != 0.0:
        raise _unsupported("softcap", softcap, "score softcapping is not built yet")
    if alibi_slopes is not None:
        raise _unsupported("alibi_slopes", "<tensor>", "ALiBi is not built")
    if return_attn_probs:
        raise _unsupported("return_attn_probs", True, "varattn returns the output only")
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        raise NotImplementedError("varattn.flash_attn_varlen_func: q, k or v requires grad, "
                                  "but varattn has no backward pass yet (use torch.no_grad())")
    return varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=causal,
                            scale=softmax_scale, max_seqlen_q=int(max_seqlen_q),
                            max_seqlen_k=int(max_seqlen_k))
