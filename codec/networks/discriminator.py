"""Discriminator M_Disc (paper: conv stack, spectral or instance norm, LeakyReLU).

Layout follows FOMM's patch discriminator: 4x4 convs, instance norm after the first block,
LeakyReLU(0.2), average pooling between blocks, a 1x1 conv to a per-patch score map, spectral
norm on every conv when ``disc_spectral_norm``. Multi-scale (FOMM's MultiScaleDiscriminator)
when ``disc_scales`` lists more than one scale: one discriminator per scale on an
anti-aliased pyramid. Every block's activations are returned for FOMM's feature matching.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from codec.config import ModelConfig
from codec.networks.blocks import AntiAliasDownsample, apply_norm


class DiscBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, norm: bool, pool: bool, sn: bool) -> None:
        super().__init__()
        conv = nn.Conv2d(in_ch, out_ch, kernel_size=4)
        self.conv = spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(out_ch, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        return F.avg_pool2d(out, 2) if self.pool else out


class PatchDiscriminator(nn.Module):
    """One scale: image ``[B, 3, H, W]`` -> (features per block, score map ``[B, 1, h, w]``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        n, be, mx = cfg.disc_num_blocks, cfg.disc_block_expansion, cfg.disc_max_features

        def ch(i: int) -> int:
            return cfg.image_channels if i == 0 else min(mx, be * 2**i)

        self.blocks = nn.ModuleList(DiscBlock(ch(i), ch(i + 1), norm=i != 0, pool=i != n - 1, sn=cfg.disc_spectral_norm) for i in range(n))
        conv = nn.Conv2d(ch(n), 1, kernel_size=1)
        self.score = spectral_norm(conv) if cfg.disc_spectral_norm else conv

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features, self.score(x)


class Discriminator(nn.Module):
    """M_Disc: one :class:`PatchDiscriminator` per scale in ``cfg.disc_scales`` (FOMM's
    MultiScaleDiscriminator); ``forward`` returns ``{scale key: (features, score map)}``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.scales = [float(s) for s in cfg.disc_scales]
        self.discs = nn.ModuleDict({self.key(s): PatchDiscriminator(cfg) for s in self.scales})
        self.pyramid = nn.ModuleDict({self.key(s): AntiAliasDownsample(cfg.image_channels, s) for s in self.scales})
        apply_norm(self, cfg.norm)

    @staticmethod
    def key(scale: float) -> str:
        return f"scale_{scale:g}".replace(".", "_")

    def forward(self, image: torch.Tensor) -> dict[str, tuple[list[torch.Tensor], torch.Tensor]]:
        return {k: self.discs[k](self.pyramid[k](image)) for k in self.discs}
