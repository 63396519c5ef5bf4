"""varattn from PyTorch: ``varlen_attention``, one op in place of the per-segment loop.

    from varattn_torch import varlen_attention
    out = varlen_attention(q, k, v, cu_seqlens)  # q, k, v [total, heads, head_dim]

The first import JIT-compiles ``varattn_op.cu`` against the headers in ``<repo>/include`` with
``torch.utils.cpp_extension.load`` (cached in ``~/.cache/torch_extensions``; later imports
load the cached library). Settings, read at import:

    VARATTN_CUDA_ARCH    architectures to compile, e.g. "80;90a" (default: the current GPU's,
                         sm_90a on Hopper; "80;90a" without a GPU); when unset and
                         TORCH_CUDA_ARCH_LIST is set, PyTorch's own arch flags apply
    VARATTN_HEAD_DIMS    head dims to instantiate, e.g. "64,128" (default: 64,80,96,128,256)
    VARATTN_TORCH_VERBOSE=1          show the build
    VARATTN_TORCH_CHECK_OFFSETS=1    (read by the op on every call) wait after each call and
                                     raise if cu_seqlens were invalid; a host sync per call

Invalid cu_seqlens (read only on the device) make every element of that call's output NaN;
the next call on the same stream raises the reason by name ("cu_seqlens_q[2] = 30 <
cu_seqlens_q[1] = 70"), and so does ``check_errors()``.
"""

from __future__ import annotations

import os
import pathlib
import re

import torch
from torch.utils import cpp_extension

__all__ = ["varlen_attention", "check_errors", "plan_cache_size", "plan_cache_stats",
           "set_plan_cache_limit", "clear_plan_cache", "load"]

_HERE = pathlib.Path(__file__).resolve().parent
_INCLUDE = _HERE.parent.parent / "include"
_loaded = None


def _archs() -> list[str]:
    env = os.environ.get("VARATTN_CUDA_ARCH", "").strip()
    if env:
        return [a for a in re.split(r"[;, ]+", env) if a]
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        return []  # let PyTorch turn TORCH_CUDA_ARCH_LIST into -gencode flags
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        if major < 8:
            raise RuntimeError(f"varattn needs sm_80 or newer; this GPU is sm_{major}{minor}")
        # sm_90a: Hopper's architecture-specific target (varattn's default architectures).
        return ["90a" if (major, minor) == (9, 0) else f"{major}{minor}"]
    return ["80", "90a"]


def load(verbose: bool | None = None) -> str:
    """Builds (first time) and loads the extension; returns the library's path."""
    global _loaded
    if _loaded is not None:
        return _loaded
    if verbose is None:
        verbose = os.environ.get("VARATTN_TORCH_VERBOSE", "0") not in ("", "0")
    archs = _archs()
    flags = ["-O3", "-std=c++17"]
    flags += [f"--generate-code=arch=compute_{a},code=sm_{a}" for a in archs]
    name = "varattn_torch_ext"
    if archs:
        name += "_sm" + "_".join(archs)
    dims = os.environ.get("VARATTN_HEAD_DIMS", "").strip()
    if dims:
        dims = ",".join(d for d in re.split(r"[;, ]+", dims) if d)
        flags.append(f"-DVARATTN_HEAD_DIMS={dims}")
        name += "_d" + dims.replace(",", "_")
    _loaded = cpp_extension.load(
        name=name,
        sources=[str(_HERE / "varattn_op.cu")],
        extra_include_paths=[str(_INCLUDE)],
        extra_cflags=["-O3", "-std=c++17"],
        extra_cuda_cflags=flags,
        is_python_module=False,  # the op registers itself with TORCH_LIBRARY; no pybind11
        verbose=verbose,
    )
    return _loaded


load()


@torch.library.register_fake("varattn::varlen_attention")
def _(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, scale=None, max_seqlen_q=None):
    # Shapes only (torch.compile traces with fake tensors): the output is q's shape, dense.
    torch._check(q.dim() == 3, lambda: "varattn::varlen_attention: q must be [tokens, heads, "
                                       "head_dim]")
    return q.new_empty(q.shape)


def varlen_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor | None = None,
                     causal: bool = False, scale: float | None = None,
                     max_seqlen_q: int | None = None) -> torch.Tensor:
    """Attention within each packed segment: softmax(scale * q_s k_s^T [causal]) v_s.

    q: [total_q, heads_q, head_dim]; k, v: [total_k, heads_kv, head_dim] (heads_q a multiple
    of heads_kv: GQA/MQA). float16 or bfloat16 on one CUDA device; any token/head strides with
    a contiguous last dim, 16-byte aligned (slices of a fused qkv tensor work as they are).
    cu_seqlens_q / cu_seqlens_k: int32 CUDA offsets [0, l0, l0+l1, ..., total], one count;
    cu_seqlens_k defaults to cu_seqlens_q. causal: bottom-right aligned, as FlashAttention 2.1+
    (the same as SDPA's is_causal when a segment's q and k lengths agree). scale: default
    1/sqrt(head_dim). max_seqlen_q: an upper bound on the segments' query lengths (as for
    FlashAttention); it only picks the tile height (<= 64: short tiles), so a wrong value
    costs speed, never correctness; default total_q. Returns a new dense
    [total_q, heads_q, head_dim] tensor. No host sync, capturable in CUDA graphs and traced
    by torch.compile; forward only (no autograd).
    """
    if cu_seqlens_k is None:
        cu_seqlens_k = cu_seqlens_q
    return torch.ops.varattn.varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal,
                                              scale, max_seqlen_q)


def check_errors(synchronize: bool = True) -> None:
    """Raises RuntimeError naming the first invalid offset (array, index, values) that any
    earlier call's device-side check found. With ``synchronize`` (default) it first waits for
    the streams the op ran on, so every call made so far is checked; without, it reports what
    the device has written by now and never waits."""
    torch.ops.varattn.check_errors(synchronize)


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
