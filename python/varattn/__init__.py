# SPDX-License-Identifier: Apache-2.0
"""varattn: variable-length (packed) attention for PyTorch on NVIDIA GPUs.

    import varattn
    out = varattn.varlen_attention(q, k, v, cu_seqlens, causal=True)
    from varattn import flash_attn_varlen_func  # flash-attn 2.x's signature

q, k, v are ``[total, heads, head_dim]`` (fp16/bf16, CUDA, any token/head strides), segments
delimited by int32 ``cu_seqlens``; no host wait, CUDA-graph capturable, traced by
``torch.compile``. See README.md beside this package.
"""

from __future__ import annotations

import torch

from . import _ops

try:
    from ._version import __version__  # written by setup.py from CMakeLists.txt's project()
except ImportError:  # a source checkout that was never built
    __version__ = _ops.source_version()

_ops.load()

from .flash_attn import flash_attn_varlen_func  # noqa: E402 (needs the op loaded)

__all__ = ["__version__", "varlen_attention", "flash_attn_varlen_func", "check_errors",
           "head_dims", "plan_cache_size", "plan_cache_stats", "set_plan_cache_limit",
           "clear_plan_cache", "library_path"]


@torch.library.register_fake("varattn::varlen_attention")
def _(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, scale=None, max_seqlen_q=None,
      max_seqlen_k=None, window_left=-1, window_right=-1, softcap=0.0, return_lse=False,
      deterministic=False):
    # Shapes only (torch.compile traces with fake tensors): the output is q's shape, dense; the
    # logsumexp [heads_q, total_q] float32 when asked for, else an empty float32 tensor.
    torch._check(q.dim() == 3,
                 lambda: "varattn::varlen_attention: q must be [tokens, heads, head_dim]")
    lse_shape = (q.shape[1], q.shape[0]) if return_lse else (0,)
    return q.new_empty(q.shape), q.new_empty(lse_shape, dtype=torch.float32)


@torch.library.register_fake("varattn::varlen_attention_backward")
def _(d_out, q, k, v, out, lse, cu_seqlens_q, cu_seqlens_k, causal=False, scale=None,
      max_seqlen_q=None, window_left=-1, window_right=-1, softcap=0.0, deterministic=False):
    # Shapes only: the gradients are dense tensors of q's, k's and v's shapes.
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


# Autograd for varattn::varlen_attention is registered in C++ (csrc/autograd.cpp).


def library_path() -> str:
    """The op library in use (built with the package, or JIT-compiled)."""
    return _ops.load()


def varlen_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor | None = None,
                     causal: bool = False, scale: float | None = None,
                     max_seqlen_q: int | None = None, max_seqlen_k: int | None = None,
                     window_size: tuple[int, int] = (-1, -1), softcap: float = 0.0,
                     return_lse: bool = False, deterministic: bool = False):
    """Attention within each packed segment: softmax(scale * q_s k_s^T [masked]) v_s.

    q: [total_q, heads_q, head_dim]; k, v: [total_k, heads_kv, head_dim] (heads_q a multiple
    of heads_kv: GQA/MQA). float16 or bfloat16 on one CUDA device; any token/head strides with
    a contiguous last dim, 16-byte aligned (slices of a fused qkv tensor work as they are).
    cu_seqlens_q / cu_seqlens_k: int32 CUDA offsets [0, l0, l0+l1, ..., total], one count;
    cu_seqlens_k defaults to cu_seqlens_q. scale: default 1/sqrt(head_dim).

    Masking, as FlashAttention: in a segment with len_q queries and len_k keys, query i's
    diagonal is key i + len_k - len_q (bottom-right aligned), and with
    window_size = (left, right) it sees keys [diagonal - left, diagonal + right] (-1: unbounded
    on that side; (w - 1, 0) with causal is a w-token sliding window, Mistral's). causal
    is right = min(right, 0) (the same as SDPA's is_causal when len_q == len_k). softcap > 0
    replaces each score s = scale * q.k by softcap * tanh(s / softcap) (Gemma 2); 0 is off.
    A query row that sees no key gets zeros.

    max_seqlen_q: an upper bound on the segments' query lengths (as for FlashAttention); it
    only picks the tile height (<= 64: short tiles), so a wrong value costs speed, never
    correctness; default total_q. max_seqlen_k: accepted, not needed.

    Returns a new dense [total_q, heads_q, head_dim] tensor; with return_lse, the tuple
    (out, lse), lse the float32 natural-log logsumexp of each query row's scores (after scale
    and softcap) as a contiguous [heads_q, total_q] tensor (FlashAttention's varlen layout),
    -inf for rows that see no key. No host sync, capturable in CUDA graphs and traced by
    torch.compile.

    Differentiable in q, k and v (autograd runs varattn's backward; lse is not
    differentiable). When a gradient is needed the forward also computes the logsumexp, which
    the backward reads. dk and dv are always summed in a fixed order; dq by default with
    float32 atomics, as FlashAttention (faster; its last bits may differ run to run).
    deterministic=True, or PyTorch's global switch torch.use_deterministic_algorithms(True) at
    the time of this (forward) call, selects the deterministic backward: dq from a separate
    kernel in a fixed order, bit-identical run to run, at some cost in speed. The forward is
    always bit-identical run to run; deterministic changes only the backward.

    Invalid offsets (only the device reads them) make every element of the output (and of
    lse) NaN; the next call on the same stream, or check_errors(), raises the reason by name.
    """
    if cu_seqlens_k is None:
        cu_seqlens_k = cu_seqlens_q
    left, right = _window(window_size)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    # The backward runs later, maybe on the autograd engine's thread: the global switch is read
    # here and travels with the forward's arguments (torch.compile guards on it).
    deterministic = bool(deterministic) or torch.are_deterministic_algorithms_enabled()
    out, lse = torch.ops.varattn.varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal,
                                                  scale, max_seqlen_q, max_seqlen_k, left, right,
                                                  float(softcap), return_lse or needs_grad,
                                                  deterministic)
    return (out, lse) if return_lse else out


def _window(window_size) -> tuple[int, int]:
    try:
        left, right = window_size
    except (TypeError, ValueError):
        raise ValueError(f"varattn: window_size must be (left, right), got {window_size!r}") \
            from None
    return int(left), int(right)


def check_errors(synchronize: bool = True) -> None:
    """Raises RuntimeError naming the first invalid offset (array, index, values) that any
    earlier call's device-side check found. With ``synchronize`` (default) it first waits for
    the streams the op ran on, so every call made so far is checked; without, it reports what
    the device has written by now and never waits."""
    torch.ops.varattn.check_errors(synchronize)


def head_dims() -> list[int]:
    """The head dims this build of the op was compiled for: VARATTN_HEAD_DIMS when the package
    was built (e.g. ``VARATTN_HEAD_DIMS=64,128 pip install ./python``), else the default list
    64, 72, 80, 96, 128, 256. A call with any other head dim raises "head_dim = N is not
    instantiated"."""
    return list(torch.ops.varattn.head_dims())


def plan_cache_size() -> int:
    """Workspaces cached: one per (device, stream, power-of-two size class) in use."""
    return torch.ops.varattn.plan_cache_size()


def plan_cache_stats() -> dict:
    """The plan cache's figures: entries, captured (kept for CUDA graphs), hits, misses,
    evictions, bytes (device workspace bytes held), limit."""
    keys = ("entries", "captured", "hits", "misses", "evictions", "bytes", "limit")
    return dict(zip(keys, torch.ops.varattn.plan_cache_stats()))


def set_plan_cache_limit(limit: int) -> int:
    """Sets how many workspaces the cache keeps (least recently used go first; those a CUDA
    graph captured always stay). Returns the previous limit (default 64)."""
    return torch.ops.varattn.set_plan_cache_limit(limit)


def clear_plan_cache() -> int:
    """Drops the workspaces no CUDA graph captured (no wait: their memory returns to PyTorch's
    caching allocator, ordered after the work on their stream). Returns the count."""
    return torch.ops.varattn.clear_plan_cache()
