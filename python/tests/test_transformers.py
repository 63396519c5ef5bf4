# SPDX-License-Identifier: Apache-2.0
"""varattn inside Hugging Face transformers: a tiny, randomly initialised Qwen2-VL vision
tower built from a config (no downloads) gives the same output with attn_implementation set
to varattn as with "sdpa" (within bf16 tolerance), with fewer host syncs. Prints both times.
Tiny Mistral (sliding window) and Gemma 2 (sliding window and attention-logit softcap) decoders
match "sdpa" and "eager"."""

from __future__ import annotations

import warnings

import pytest
import torch

from helpers import DEV, needs_head_dim, rel_l2, time_ms

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
transformers = pytest.importorskip("transformers")


VISION_HEAD_DIM = 80  # _vision_tower's: embed_dim 640 over 8 heads


def _vision_tower(attn_implementation):
    from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel
    # Qwen2-VL's layout at a small size: 4 layers, 8 heads of head dim 80.
    config = Qwen2VLVisionConfig(depth=4, embed_dim=640, hidden_size=256, num_heads=8)
    torch.manual_seed(0)
    model = Qwen2VisionTransformerPretrainedModel._from_config(
        config, attn_implementation=attn_implementation, dtype=torch.bfloat16)
    return model.to(DEV).eval()


def _syncs(fn):
    """Host syncs PyTorch sees while fn runs (its sync debug mode, as warnings)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message) for w in seen)


@needs_head_dim(VISION_HEAD_DIM)
def test_qwen2_vl_vision_tower_matches_sdpa_with_fewer_syncs(va, capsys):
    from varattn.integrations import transformers as va_hf
    name = va_hf.register()
    assert "flash" in name
    sdpa = _vision_tower("sdpa")
    ours = _vision_tower(name)  # the loading path: transformers checks and preloads the name
    ours.load_state_dict(sdpa.state_dict())
    assert ours.config._attn_implementation == name
    # Three images of 16x16, 8x12 and 32x20 patches (even sides: 2x2 merge), 992 patches.
    grid = torch.tensor([[1, 16, 16], [1, 8, 12], [1, 32, 20]], device=DEV)
    patches = int(grid.prod(-1).sum())
    pixels = torch.randn(patches, 3 * 2 * 14 * 14, device=DEV, dtype=torch.bfloat16)

    with torch.no_grad():
        want = sdpa(pixels, grid_thw=grid).last_hidden_state
        got = ours(pixels, grid_thw=grid).last_hidden_state
        assert got.shape == want.shape
        assert rel_l2(got, want.float()) <= 1e-2
        syncs_sdpa = _syncs(lambda: sdpa(pixels, grid_thw=grid))
        syncs_ours = _syncs(lambda: ours(pixels, grid_thw=grid))
        ms_sdpa = time_ms(lambda: sdpa(pixels, grid_thw=grid))
        ms_ours = time_ms(lambda: ours(pixels, grid_thw=grid))
    with capsys.disabled():
        print(f"\nQwen2-VL vision tower (4 layers, 8 heads, d 80, 3 images, {patches} patches, "
              f"bf16, {torch.cuda.get_device_name()}): sdpa {ms_sdpa:.3f} ms, {syncs_sdpa} host "
              f"syncs; {name} {ms_ours:.3f} ms, {syncs_ours} host syncs "
              f"({ms_sdpa / ms_ours:.2f}x)")
    assert syncs_ours < syncs_sdpa


@needs_head_dim(VISION_HEAD_DIM)
def test_set_attn_implementation_on_a_built_model(va):
    from varattn.integrations import transformers as va_hf
    name = va_hf.register()
    model = _vision_tower("sdpa")
    grid = torch.tensor([[1, 8, 8], [1, 4, 6]], device=DEV)
    pixels = torch.randn(int(grid.prod(-1).sum()), 3 * 2 * 14 * 14, device=DEV,
                         dtype=torch.bfloat16)
    with torch.no_grad():
        want = model(pixels, grid_thw=grid).last_hidden_state
        model.set_attn_implementation(name)
        got = model(pixels, grid_thw=grid).last_hidden_state
    assert rel_l2(got, want.float()) <= 1e-2


def test_register_needs_flash_in_the_name(va):
    from varattn.integrations import transformers as va_hf
    with pytest.raises(ValueError, match="must contain 'flash'"):
        va_hf.register("varattn")


def test_dense_batches_run_one_segment_per_row(va):
    from varattn.integrations.transformers import attention_forward
    gen = torch.Generator(device=DEV).manual_seed(2)
    q, k, v = (torch.randn(3, 4, 50, 64, device=DEV, dtype=torch.float16, generator=gen)
               for _ in range(3))
    module = torch.nn.Module()
    module.is_causal = True
    out, weights = attention_forward(module, q, k, v, None, scaling=None)
    assert weights is None
    want = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(),
                                                            is_causal=True).transpose(1, 2)
    assert rel_l2(out, want) <= 5e-3


def _decoder(kind, attn_implementation):
    """Two layers, 4 heads of d 64 over 2 kv heads, a 24-token sliding window: tiny, no
    downloads, the same weights for every implementation (seeded)."""
    common = dict(vocab_size=256, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                  max_position_embeddings=512, sliding_window=24)
    if kind == "mistral":
        from transformers import MistralConfig as Config, MistralModel as Model
        config = Config(**common)
    else:  # Gemma 2: alternating sliding and full layers, scores capped at 10
        from transformers import Gemma2Config as Config, Gemma2Model as Model
        config = Config(**common, query_pre_attn_scalar=64, attn_logit_softcapping=10.0,
                        layer_types=["sliding_attention", "full_attention"])
    torch.manual_seed(0)
    model = Model._from_config(config, attn_implementation=attn_implementation,
                               dtype=torch.bfloat16)
    return model.to(DEV).eval()


@pytest.mark.parametrize("kind, reference", [("mistral", "sdpa"), ("gemma2", "eager")])
def test_sliding_window_and_softcap_decoders(va, kind, reference):
    """A dense batch (no padding) of 96 tokens: the 24-token window bounds most rows, and
    Gemma 2's softcap (which transformers' SDPA path does not apply: eager is the reference)
    reaches the kernel. Then a padded batch (left padding in one row, right padding in
    another): transformers' flash-attention path unpads into varattn's varlen function."""
    from varattn.integrations import transformers as va_hf
    name = va_hf.register()
    want_model, ours = _decoder(kind, reference), _decoder(kind, name)
    ours.load_state_dict(want_model.state_dict())
    ids = torch.randint(0, 256, (3, 96), device=DEV, generator=torch.Generator(device=DEV)
                        .manual_seed(1))
    mask = torch.ones(3, 96, dtype=torch.long, device=DEV)
    mask[1, :30] = 0  # left padding
    mask[2, 70:] = 0  # right padding
    with torch.no_grad():
        want = want_model(input_ids=ids).last_hidden_state
        got = ours(input_ids=ids).last_hidden_state
        want_padded = want_model(input_ids=ids, attention_mask=mask).last_hidden_state
        got_padded = ours(input_ids=ids, attention_mask=mask).last_hidden_state
        want_model.config.sliding_window = 4096  # the window matters in this test
        unbounded = want_model(input_ids=ids).last_hidden_state
    assert got.shape == want.shape
    assert rel_l2(got, want.float()) <= 2e-2
    assert rel_l2(unbounded, want.float()) > 3 * rel_l2(got, want.float())
    real = mask.bool()  # padding positions' outputs are unspecified
    assert rel_l2(got_padded[real], want_padded[real].float()) <= 2e-2
