import pytest
import torch

from codec.config import ModelConfig
from codec.errors import ModelError
from codec.networks.blocks import make_coordinate_grid
from codec.networks.generator import Generator, mouth_mask


def run(gen: Generator, cfg: ModelConfig, source5: torch.Tensor) -> torch.Tensor:
    b, f = source5.shape[0], cfg.feature_size
    encoded = gen.encode(source5)
    deformation = make_coordinate_grid(32, 32).expand(b, 32, 32, 2)
    occlusion = torch.ones(b, 1, 32, 32)
    enc_motion = gen.motion_features(encoded, deformation, occlusion)
    assert enc_motion.shape == (b, cfg.motion_channels, f, f)
    enc_aud = torch.randn(b, cfg.audio_channels, f, f)
    attention = torch.rand(b, 1, f, f)
    return gen(encoded, enc_motion, enc_aud, attention, deformation, occlusion)


def test_shape_and_range(tiny_config: ModelConfig) -> None:
    gen = Generator(tiny_config)
    torch.nn.init.normal_(gen.final.weight, std=1.0)
    out = run(gen, tiny_config, torch.rand(2, 5, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    assert out.min() >= 0 and out.max() <= 1


def test_untrained_generator_copies_the_warped_source(tiny_config: ModelConfig) -> None:
    """Zero-initialised residual: step 0 already reproduces the keyframe under identity motion."""
    gen = Generator(tiny_config).eval()
    source = torch.rand(2, 5, 64, 64) * 0.9 + 0.05
    out = run(gen, tiny_config, source)
    assert torch.allclose(out, source[:, :3], atol=1e-5)


def test_identity_encoder_skips(tiny_config: ModelConfig) -> None:
    gen = Generator(tiny_config)
    skips = gen.encode(torch.rand(1, 5, 64, 64))["identity"]
    assert [tuple(s.shape[-2:]) for s in skips] == [(64, 64), (32, 32), (16, 16)]


def with_detail_stage(cfg: ModelConfig) -> ModelConfig:
    """The tiny config with a 32-px core under a 64-px output (as light-256: 128 under 256)."""
    return ModelConfig.from_dict({**cfg.to_dict(), "core_size": 32})


def test_detail_stage_outputs_the_full_size(tiny_config: ModelConfig) -> None:
    cfg = with_detail_stage(tiny_config)
    gen = Generator(cfg)
    encoded = gen.encode(torch.rand(2, 5, 64, 64))
    assert [tuple(s.shape[-2:]) for s in encoded["identity"]] == [(32, 32), (16, 16), (8, 8)]
    assert encoded["detail"].shape[-2:] == (64, 64)
    torch.nn.init.normal_(gen.detail.final.weight, std=1.0)
    out = run(gen, cfg, torch.rand(2, 5, 64, 64))
    assert out.shape == (2, 3, 64, 64) and out.min() >= 0 and out.max() <= 1


def test_untrained_detail_stage_keeps_the_full_size_keyframe_sharp(tiny_config: ModelConfig) -> None:
    """The core works at half size, but under identity motion the output is the full-size
    keyframe itself, not an upsampled half-size one."""
    gen = Generator(with_detail_stage(tiny_config)).eval()
    source = torch.rand(2, 5, 64, 64) * 0.9 + 0.05
    out = run(gen, with_detail_stage(tiny_config), source)
    assert torch.allclose(out, source[:, :3], atol=1e-5)


def with_painted_mouth(cfg: ModelConfig) -> ModelConfig:
    return ModelConfig.from_dict({**cfg.to_dict(), "keypoint_landmarks": [13, 14, 61, 291], "gen_mouth_inpaint": True})


def mouth_keypoints(batch: int, gap: float) -> torch.Tensor:
    """Ten keypoints, the first four on the lips (13, 14, 61, 291) of a mouth below the centre."""
    kp = torch.zeros(batch, 10, 6)
    kp[:, :4, :2] = torch.tensor([[0.0, 0.4 - gap / 2], [0.0, 0.4 + gap / 2], [-0.3, 0.4], [0.3, 0.4]])
    kp[:, :, 2] = kp[:, :, 5] = 1.0
    return kp


def test_mouth_mask_covers_the_lips_and_grows_with_the_opening() -> None:
    closed = mouth_mask(mouth_keypoints(1, 0.0), [0, 1, 2, 3], 64)[0, 0]
    opened = mouth_mask(mouth_keypoints(1, 0.3), [0, 1, 2, 3], 64)[0, 0]
    grid = make_coordinate_grid(64, 64)
    centre = (grid - torch.tensor([0.0, 0.4])).norm(dim=-1).argmin()
    assert closed.flatten()[centre] > 0.99 and closed[:20].max() < 0.01  # the lips in, the eyes out
    assert opened.sum() > closed.sum() * 1.2


def test_painted_mouth_blurs_the_keyframe_inside_the_ellipse_only(tiny_config: ModelConfig) -> None:
    """Untrained, with identity motion: the keyframe everywhere but the mouth, where the base is
    its blurred copy, so a keyframe's mouth cannot pass through."""
    cfg = with_painted_mouth(tiny_config)
    gen = Generator(cfg).eval()
    source = torch.rand(1, 5, 64, 64) * 0.9 + 0.05
    encoded = gen.encode(source)
    deformation = make_coordinate_grid(32, 32)[None]
    kp = mouth_keypoints(1, 0.1)
    out = torch.sigmoid(gen.residual_base(encoded["rgb"], deformation, kp))
    mask = mouth_mask(kp, cfg.mouth_keypoint_slots(), 64)
    far = mask < 1e-5
    assert torch.allclose(out[far.expand_as(out)], source[:, :3][far.expand_as(out)], atol=1e-4)
    inside = mask > 0.99
    assert (out - source[:, :3]).abs()[inside.expand_as(out)].mean() > 0.1  # random pixels averaged away


def test_painted_mouth_needs_the_lip_keypoints(tiny_config: ModelConfig) -> None:
    with pytest.raises(ModelError, match="gen_mouth_inpaint"):
        ModelConfig.from_dict({**tiny_config.to_dict(), "gen_mouth_inpaint": True})


def test_speech_at_the_mouth_cannot_change_the_picture_through_the_rest(tiny_config: ModelConfig) -> None:
    """With ``gen_audio_at_mouth``, Enc_aud values away from the mouth are multiplied away: two
    audio maps that differ only there give the same frame; a difference at the mouth shows."""
    cfg = ModelConfig.from_dict({**with_painted_mouth(tiny_config).to_dict(), "gen_audio_at_mouth": True})
    torch.manual_seed(0)
    gen = Generator(cfg).eval()
    torch.nn.init.normal_(gen.final.weight, std=0.05)  # a decoder that passes its inputs on
    source = torch.rand(1, 5, 64, 64)
    encoded = gen.encode(source)
    f = cfg.feature_size
    deformation = make_coordinate_grid(32, 32)[None]
    occlusion = torch.ones(1, 1, 32, 32)
    enc_motion = gen.motion_features(encoded, deformation, occlusion)
    attention = torch.full((1, 1, f, f), 0.5)
    kp = mouth_keypoints(1, 0.1)
    outside = mouth_mask(kp, cfg.mouth_keypoint_slots(), f) < 1e-7
    audio = torch.randn(1, cfg.audio_channels, f, f)

    def render(enc_aud: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return gen(encoded, enc_motion, enc_aud, attention, deformation, occlusion, kp)

    away = torch.where(outside, audio + 5.0, audio)
    at_mouth = torch.where(outside, audio, audio + 5.0)
    assert torch.allclose(render(audio), render(away), atol=1e-6)
    assert (render(audio) - render(at_mouth)).abs().max() > 1e-3
