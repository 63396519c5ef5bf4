# SPDX-License-Identifier: Apache-2.0
"""varattn as a Hugging Face transformers attention implementation.

    import varattn.integrations.transformers as va_hf
    name = va_hf.register()                      # "varattn_flash"
    model = AutoModel.from_pretrained(..., attn_implementation=name)
    # or, on a model already built: model.set_attn_implementation(name)

Models whose attention passes ``cu_seq_lens_q`` (vision towers such as Qwen2-VL, Qwen2.5-VL,
GLM-4V; packed-sequence prefill) then run one varattn call per layer instead of a
``.tolist()`` + split loop: transformers takes that varlen path only when the implementation's
name contains "flash", hence the default name. Dense batches without a padding mask run as
one segment per batch row. A padding mask (register() gives the name transformers'
flash-attention masks: a [batch, keys] mask, only when some token is padding) runs through
transformers' own flash-attention path with varattn's flash_attn_varlen_func: unpad (a host
sync, as with flash-attn), one varattn call, pad. A prepared 4-D mask falls back to
transformers' SDPA implementation.
Sliding windows (Mistral, Qwen2, Gemma 2's local layers) and attention-logit softcapping
(Gemma 2) run in the kernel, mapped as transformers' flash-attention integration maps them.
"""

from __future__ import annotations

import torch

import varattn

DEFAULT_NAME = "varattn_flash"


def _unsupported(argument: str, value) -> NotImplementedError:
    return NotImplementedError(f"varattn attention for transformers: {argument}={value!r} is "
                               "not supported yet")


def attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                      value: torch.Tensor, attention_mask: torch.Tensor | None,
                      scaling: float | None = None, dropout: float = 0.0,
                      cu_seq_lens_q: torch.Tensor | None = None,
                      cu_seq_lens_k: torch.Tensor | None = None,
                      max_length_q: int | None = None, max_length_k: int | None = None,
                      is_causal: bool | None = None, sliding_window: int | None = None,
                      softcap: float | None = None, **kwargs):
    """transformers' attention-function protocol: query/key/value [batch, heads, tokens, d];
    returns (out [batch, tokens, heads, d], None).

    sliding_window = w maps to window_size = (w - 1, w - 1) when the keys are longer than w,
    as transformers' flash-attention path does (with causal: the w most recent tokens, the
    query's own included); softcap (Gemma 2's attn_logit_softcapping) passes through."""
    if dropout and module.training:
        raise _unsupported("dropout", dropout)
    if kwargs.get("output_attentions"):
        raise _unsupported("output_attentions", True)
    if kwargs.get("s_aux") is not None:
        raise _unsupported("s_aux (attention sinks)", "<tensor>")
    causal = bool(getattr(module, "is_causal", False) if is_causal is None else is_causal)
    batch, heads_q, tokens_q, head_dim = query.shape
    tokens_k = key.shape[2]
    # transformers' _process_flash_attention_kwargs: inclusive bounds, and only when the window
    # is shorter than the keys (otherwise it bounds nothing).
    window = (sliding_window - 1, sliding_window - 1) \
        if sliding_window is not None and tokens_k > sliding_window else (-1, -1)
    if cu_seq_lens_q is None:
        if attention_mask is not None and attention_mask.dim() == 2:  # padding
            return _padded(module, query, key, value, attention_mask, scaling=scaling,
                           dropout=dropout, is_causal=is_causal, sliding_window=sliding_window,
                           softcap=softcap, **kwargs)
        if attention_mask is not None:  # a prepared 4-D mask: transformers' SDPA path
            if softcap:  # the SDPA path has no softcap
                raise _unsupported("softcap with a padding mask", softcap)
            from transformers.integrations.sdpa_attention import sdpa_attention_forward
            return sdpa_attention_forward(module, query, key, value, attention_mask,
                                          scaling=scaling, dropout=dropout, is_causal=is_causal,
                                          **kwargs)
        # A dense batch: each row one segment (arange: no host wait).
        cu_seq_lens_q = torch.arange(0, (batch + 1) * tokens_q, tokens_q, dtype=torch.int32,
                                     device=query.device)
        cu_seq_lens_k = torch.arange(0, (batch + 1) * tokens_k, tokens_k, dtype=torch.int32,
                                     device=query.device)
        max_length_q = tokens_q
    elif batch != 1:
        raise ValueError(f"varattn attention: packed input (cu_seq_lens_q given) must have batch 1, "
                         f"got {batch}")
    if cu_seq_lens_k is None:
        cu_seq_lens_k = cu_seq_lens_q
    # [batch, heads, tokens, d] -> [batch * tokens, heads, d]: a strided view for batch 1
    # (varattn takes head-major strides), a copy otherwise.
    q, k, v = (t.transpose(1, 2).reshape(-1, t.shape[1], head_dim) for t in (query, key, value))
    out = varattn.varlen_attention(
        q, k, v, cu_seq_lens_q.to(torch.int32), cu_seq_lens_k.to(torch.int32), causal=causal,
        scale=scaling, max_seqlen_q=max_length_q if isinstance(max_length_q, int) else None,
        window_size=window, softcap=softcap or 0.0)
    return out.view(batch, tokens_q, heads_q, head_dim), None


def _padded(module, query, key, value, attention_mask, **kwargs):
    """A [batch, keys] padding mask: transformers' flash-attention path unpads q, k and v,
    calls the preloaded varlen function (varattn's flash_attn_varlen_func, with the window and
    softcap mapped by transformers) and pads the output back."""
    from transformers import modeling_flash_attention_utils as fa
    from transformers.integrations.flash_attention import flash_attention_forward

    name = module.config._attn_implementation
    if getattr(fa, "_loaded_implementation", None) != name or \
            getattr(fa, "_flash_varlen_fn", None) is not varattn.flash_attn_varlen_func:
        _preload_for_model_loading(name)  # another flash implementation was loaded since
    if getattr(fa, "_flash_varlen_fn", None) is not varattn.flash_attn_varlen_func:
        raise NotImplementedError("varattn attention for transformers: a padding mask needs "
                                  "transformers' flash-attention loader (transformers >= 5)")
    return flash_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _preload_for_model_loading(name: str) -> None:
    """transformers preloads "flash" implementations by name when a model is loaded with one
    (modeling_flash_attention_utils.lazy_import_flash_attention), which for an unknown name
    looks for a hub kernel. Seed that loader with varattn's varlen function instead."""
    try:
        from transformers import modeling_flash_attention_utils as fa
    except ImportError:
        return
    needed = ("_loaded_implementation", "_pad_input", "_unpad_input",
              "_lazy_define_process_function")
    if not all(hasattr(fa, n) for n in needed):
        return  # another transformers version: set config._attn_implementation instead
    fa._loaded_implementation = name
    fa._flash_fn = None
    fa._flash_varlen_fn = varattn.flash_attn_varlen_func
    fa._flash_with_kvcache_fn = None
    fa._pad_fn, fa._unpad_fn = fa._pad_input, fa._unpad_input
    fa._process_flash_kwargs_fn = fa._lazy_define_process_function(varattn.flash_attn_varlen_func)


def register(name: str = DEFAULT_NAME) -> str:
    """Registers varattn with transformers' AttentionInterface under `name` (which must contain
    "flash": only then do vision towers pass cu_seqlens) and returns the name, for
    ``attn_implementation=name`` or ``model.set_attn_implementation(name)``."""
    if "flash" not in name:
        raise ValueError(f"register(name={name!r}): the name must contain 'flash', or transformers' "
                         "vision towers take their .tolist() + split loop instead of cu_seqlens")
    from transformers import AttentionInterface

    AttentionInterface.register(name, attention_forward)
    try:  # masks as for flash-attention: none without padding, else [batch, keys]
        from transformers.masking_utils import AttentionMaskInterface, flash_attention_mask
    except ImportError:  # an older transformers: models build their masks by name
        pass
    else:
        AttentionMaskInterface.register(name, flash_attention_mask)
    _preload_for_model_loading(name)
    return name
