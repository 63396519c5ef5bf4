# SPDX-License-Identifier: Apache-2.0
"""varattn inside Hugging Face transformers: a tiny, randomly initialised Qwen2-VL vision
tower built from a config (no downloads) gives the same output with attn_implementation set
to varattn as with "sdpa" (within bf16 tolerance), with fewer host syncs. Prints both times."""

from __future__ import annotations

import warnings

import pytest
import torch

from helpers import DEV, rel_l2, time_ms

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
transformers = pytest.importorskip("transformers")


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
