"""Identity-aware generator (paper section 3, "Identity-Aware Generator").

Two encoders see the source image once per keyframe (their outputs are cached by
``AVFRModel.encode_source``):

* the motion encoder (FOMM's generator encoder: 7x7 same block + down blocks) whose ``h/4``
  output, warped by the dense motion and multiplied by the occlusion map as in FOMM, is
  Enc_motion;
* the identity encoder (paper: residual SPADE blocks, UNet encoder), whose per-scale
  features are the skips of the UNet. The paper does not say what conditions its SPADE
  layers; we condition the encoder on the source priors (mesh + mask) and the decoder on
  Enc_dec = concat(Enc_motion, Enc_aud, Enc_attn), the only driving-dependent signal.

The decoder starts from concat(Enc_dec, identity bottom) and goes up with one SPADE residual
block per scale, each fed the identity skip and (``gen_warp_skips``) the same skip warped by
the motion and occlusion-masked.

Design for little data and CPU training (ours, not the paper's): with ``gen_source_residual``
the output is ``sigmoid(logit(warped source RGB) + decoder)``, and the last conv starts at
zero, so the untrained generator already returns the warped keyframe (the deformation starts
close to the identity, so: the keyframe). Training then only has to learn a correction, and
the L1 gradient reaches the motion networks through the warp from the first step; the
unwarped identity skips let the decoder copy source detail cheaply while motion is poor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codec.config import ModelConfig
from codec.networks.blocks import (
    DownBlock2d,
    SameBlock2d,
    SPADEResBlock,
    UpBlock2d,
    condition_encoder,
    logit,
    warp,
)

PRIOR_CHANNELS = 2  # mesh drawing + face mask
RESIDUAL_EPS = 1e-2  # logit clamp: keeps the residual base within +-4.6 so it stays correctable


class MotionEncoder(nn.Module):
    """FOMM generator encoder: source RGB -> ``[B, c, h/4, w/4]`` (before warping)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.first = SameBlock2d(cfg.image_channels, cfg.gen_channels(0), 7)
        self.down = nn.Sequential(
            *(DownBlock2d(cfg.gen_channels(i), cfg.gen_channels(i + 1)) for i in range(cfg.gen_num_down_blocks))
        )

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.down(self.first(rgb))


class IdentityEncoder(nn.Module):
    """Source RGB -> skips ``[e_0 (h), e_1 (h/2), ..., e_N (h/2^N)]``, SPADE on the priors."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        n = cfg.gen_num_down_blocks
        self.first = SameBlock2d(cfg.image_channels, cfg.gen_channels(0), 7)
        self.down = nn.ModuleList(DownBlock2d(cfg.gen_channels(i), cfg.gen_channels(i + 1)) for i in range(n))
        self.prior_encoder = condition_encoder(PRIOR_CHANNELS, cfg.spade_hidden)
        self.res = nn.ModuleList(
            SPADEResBlock(cfg.gen_channels(i + 1), cfg.gen_channels(i + 1), cfg.spade_hidden, cfg.spade_norm)
            for i in range(n)
        )

    def forward(self, rgb: torch.Tensor, priors: torch.Tensor) -> list[torch.Tensor]:
        cond = self.prior_encoder(priors)
        skips = [self.first(rgb)]
        for down, res in zip(self.down, self.res):
            skips.append(res(down(skips[-1]), cond))
        return skips


class Generator(nn.Module):
    """Decodes a driving frame from the cached source encoding, motion and audio features."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        n = cfg.gen_num_down_blocks
        self.cfg = cfg
        self.motion_encoder = MotionEncoder(cfg)
        self.identity_encoder = IdentityEncoder(cfg)
        c = cfg.motion_channels
        cond = c + cfg.audio_channels + 1
        self.cond_channels = cond
        hidden, norm = cfg.spade_hidden, cfg.spade_norm
        self.bottom = SameBlock2d(cond + cfg.gen_channels(n), c, 3)
        self.cond_encoder = condition_encoder(cond, hidden)
        self.bottleneck = nn.ModuleList(SPADEResBlock(c, c, hidden, norm) for _ in range(cfg.gen_num_bottleneck_blocks))
        skip_mult = 2 if cfg.gen_warp_skips else 1
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in reversed(range(n)):
            ch = cfg.gen_channels(i)
            self.up.append(UpBlock2d(cfg.gen_channels(i + 1), ch))
            self.fuse.append(SPADEResBlock(ch * (1 + skip_mult), ch, hidden, norm))
        self.final = nn.Conv2d(cfg.gen_channels(0), cfg.image_channels, 7, padding=3)
        if cfg.gen_source_residual:
            nn.init.zeros_(self.final.weight)
            nn.init.zeros_(self.final.bias)

    def encode(self, source5: torch.Tensor) -> dict[str, object]:
        """Everything that depends on the source only (paid once per keyframe)."""
        rgb = source5[:, : self.cfg.image_channels]
        priors = F.interpolate(source5[:, self.cfg.image_channels :], size=(self.cfg.feature_size,) * 2, mode="area")
        return {"rgb": rgb, "motion": self.motion_encoder(rgb), "identity": self.identity_encoder(rgb, priors)}

    @staticmethod
    def masked_warp(features: torch.Tensor, deformation: torch.Tensor, occlusion: torch.Tensor) -> torch.Tensor:
        """FOMM: warp then multiply by the occlusion map (resized to the features)."""
        out = warp(features, deformation)
        occ = occlusion
        if occ.shape[-2:] != out.shape[-2:]:
            occ = F.interpolate(occ, size=out.shape[-2:], mode="bilinear", align_corners=False)
        return out * occ

    def motion_features(self, encoded: dict[str, object], deformation: torch.Tensor, occlusion: torch.Tensor) -> torch.Tensor:
        """Enc_motion: ``[B, c, h/4, w/4]``."""
        return self.masked_warp(encoded["motion"], deformation, occlusion)

    def forward(
        self,
        encoded: dict[str, object],
        enc_motion: torch.Tensor,
        enc_aud: torch.Tensor,
        attention: torch.Tensor,
        deformation: torch.Tensor,
        occlusion: torch.Tensor,
    ) -> torch.Tensor:
        """Prediction ``[B, 3, H, W]`` in [0, 1]."""
        skips: list[torch.Tensor] = list(encoded["identity"])  # type: ignore[arg-type]
        enc_dec = torch.cat([enc_motion, enc_aud, attention], dim=1)
        x = self.bottom(torch.cat([enc_dec, skips[-1]], dim=1))
        cond = self.cond_encoder(enc_dec)
        for block in self.bottleneck:
            x = block(x, cond)
        for up, fuse, skip in zip(self.up, self.fuse, reversed(skips[:-1])):
            parts = [up(x), skip]
            if self.cfg.gen_warp_skips:
                parts.append(self.masked_warp(skip, deformation, occlusion))
            x = fuse(torch.cat(parts, dim=1), cond)
        out = self.final(x)
        if self.cfg.gen_source_residual:
            out = out + logit(warp(encoded["rgb"], deformation), RESIDUAL_EPS)  # type: ignore[arg-type]
        return torch.sigmoid(out)
