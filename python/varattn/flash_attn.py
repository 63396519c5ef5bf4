# SPDX-License-Identifier: Apache-2.0
"""``flash_attn_varlen_func`` with flash-attn 2.x's signature, so that

    from varattn import flash_attn_varlen_func

replaces ``from flash_attn import flash_attn_varlen_func`` in existing code. What varattn does
not support raises NotImplementedError naming the argument; nothing is silently ignored.
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
                           return_attn_probs: bool = False):
    """flash-attn 2.x's varlen forward: q [total_q, heads_q, d], k and v [total_k, heads_kv,
    d], int32 cu_seqlens; causal is bottom-right aligned as in flash-attn >= 2.1. Returns out
    [total_q, heads_q, d].

    Supported: softmax_scale, causal, window_size = (left, right) (query i sees keys
    [i + len_k - len_q - left, i + len_k - len_q + right]; a negative side is unbounded, as in
    flash-attn), softcap (> 0: scores become softcap * tanh(score / softcap); 0 or less is
    off, as in flash-attn), GQA/MQA, max_seqlen_q (picks the tile height; a bound, as for
    flash-attn), deterministic (as in flash-attn: the backward's; True sums dq in a fixed
    order, bit-identical run to run; False, the default, with float32 atomics, whose last bits
    may differ run to run; torch.use_deterministic_algorithms(True) also selects the
    deterministic backward; the forward always is deterministic).
    Differentiable in q, k and v (varattn's backward through autograd).

    return_attn_probs=True returns (out, softmax_lse, S_dmask) as flash-attn 2.x does:
    softmax_lse the float32 logsumexp of each query row's scaled (and softcapped) scores,
    [heads_q, total_q]; S_dmask an empty tensor, which is also what flash-attn 2.x returns
    without dropout (it fills it only when dropout_p > 0). One difference: a row that sees no
    key (causal with len_q > len_k, a window past the keys, len_k = 0) has softmax_lse -inf
    here, the logsumexp of no scores, where flash-attn 2.x and 3 write +inf; both give that
    row zeros. (flash-attn 3's varlen function returns (out, softmax_lse), without S_dmask.)

    Not supported: dropout_p != 0, alibi_slopes: each raises NotImplementedError.
    """
    from . import varlen_attention  # the op is loaded by the package's __init__

    if dropout_p != 0.0:
        raise _unsupported("dropout_p", dropout_p, "varattn computes inference attention")
    if alibi_slopes is not None:
        raise _unsupported("alibi_slopes", "<tensor>", "ALiBi is not built")
    left, right = (max(int(side), -1) for side in window_size)  # flash-attn: < 0 is unbounded
    result = varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=causal,
                              scale=softmax_scale, max_seqlen_q=int(max_seqlen_q),
                              max_seqlen_k=int(max_seqlen_k), window_size=(left, right),
                              softcap=softcap if softcap and softcap > 0 else 0.0,
                              return_lse=bool(return_attn_probs),
                              deterministic=bool(deterministic))
    if not return_attn_probs:
        return result
    out, lse = result
    return out, lse, torch.empty((0,), dtype=q.dtype, device=q.device)
