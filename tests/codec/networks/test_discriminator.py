import dataclasses

import torch

from codec.config import ModelConfig, load_config
from codec.networks.discriminator import Discriminator


def test_single_scale(tiny_config: ModelConfig) -> None:
    out = Discriminator(tiny_config)(torch.rand(2, 3, 64, 64))
    ((feats, score),) = out.values()
    assert len(feats) == tiny_config.disc_num_blocks
    assert score.shape[:2] == (2, 1)


def test_multi_scale_light() -> None:
    cfg = dataclasses.replace(load_config("light-128"), disc_scales=[1.0, 0.5])
    out = Discriminator(cfg)(torch.rand(1, 3, 128, 128))
    assert len(out) == 2
    sizes = [score.shape[-1] for _, score in out.values()]
    assert sizes[0] > sizes[1]


def test_spectral_norm_bounds_weights(tiny_config: ModelConfig) -> None:
    disc = Discriminator(tiny_config)
    names = [n for n, _ in disc.named_parameters()]
    assert any("parametrizations" in n for n in names)
