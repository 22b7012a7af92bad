import torch

from codec.config import ModelConfig
from codec.networks.blocks import make_coordinate_grid
from codec.networks.generator import Generator


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
