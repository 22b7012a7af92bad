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

Output above the UNet's size (``core_size < image_size``, ours): the UNet runs on the
keyframe downscaled to ``core_size`` and its correction (in logit space) is upsampled onto
the full-size keyframe warped by the same deformation, then refined by a small full-size
:class:`DetailStage` that sees the UNet's last features and the keyframe's full-size features
warped likewise. Sharp detail thus comes from the 256-px keyframe through the warp, and the
per-frame cost stays close to the core's; the stage's last conv starts at zero, so a model
whose core was trained at 128 px starts as "its 128-px correction on a sharp 256-px keyframe".

A painted mouth (``gen_mouth_inpaint``, ours): with the warped keyframe as the residual base, the
keyframe's mouth survives wherever the deformation does not open or close it, and the speech has
nothing left to add (light-256 step 12000: the decoded mouth opened 0.56 times as far as the real
one, and silence in place of the speech changed nothing). So inside a soft ellipse around the
driving frame's lip keypoints the base is the warped keyframe blurred: skin and lip colours
stay, the keyframe's opening does not, and the decoder paints the mouth from the lip keypoints'
motion and the speech. A sender's keypoints place the ellipse, so a receiver draws the same one.
With ``gen_audio_at_mouth`` the same ellipse, at feature size, gates Enc_aud: the speech then
reaches the decoder at the mouth only (without it light-256's speech changed the picture as much
away from the mouth as on it).
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
    make_coordinate_grid,
    warp,
)

PRIOR_CHANNELS = 2  # mesh drawing + face mask
RESIDUAL_EPS = 1e-2  # logit clamp: keeps the residual base within +-4.6 so it stays correctable
MOUTH_BLUR_SIDE = 16  # the blurred base is the warped keyframe at 16x16: a 256-px mouth becomes a few cells of colour
MOUTH_HALF_WIDTH = 0.65  # ellipse half-width / corner-to-corner distance: the corners and a little cheek
MOUTH_HALF_HEIGHT = 0.35  # ellipse half-height beyond half the inner-lip gap / mouth width: both lips and some chin
MOUTH_EDGE = 0.15  # softness of the ellipse's edge, in units of its radius


class MotionEncoder(nn.Module):
    """FOMM generator encoder: source RGB -> ``[B, c, h/4, w/4]`` (before warping)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.first = SameBlock2d(cfg.image_channels, cfg.gen_channels(0), 7)
        self.down = nn.Sequential(*(DownBlock2d(cfg.gen_channels(i), cfg.gen_channels(i + 1)) for i in range(cfg.gen_num_down_blocks)))

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
        self.res = nn.ModuleList(SPADEResBlock(cfg.gen_channels(i + 1), cfg.gen_channels(i + 1), cfg.spade_hidden, cfg.spade_norm) for i in range(n))

    def forward(self, rgb: torch.Tensor, priors: torch.Tensor) -> list[torch.Tensor]:
        cond = self.prior_encoder(priors)
        skips = [self.first(rgb)]
        for down, res in zip(self.down, self.res):
            skips.append(res(down(skips[-1]), cond))
        return skips


class DetailStage(nn.Module):
    """Full-size refinement: (upsampled core features, warped keyframe detail) -> logit residual."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.detail_channels
        self.scale = cfg.image_size // cfg.core_image_size
        self.encoder = SameBlock2d(cfg.image_channels, c, 3)  # keyframe detail, once per keyframe
        self.fuse = SameBlock2d(cfg.gen_channels(0) + c, c, 3)
        self.refine = SameBlock2d(c, c, 3)
        self.final = nn.Conv2d(c, cfg.image_channels, 3, padding=1)
        nn.init.zeros_(self.final.weight)
        nn.init.zeros_(self.final.bias)

    def forward(self, core_features: torch.Tensor, warped_detail: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(core_features, scale_factor=float(self.scale), mode="bilinear", align_corners=False)
        x = self.fuse(torch.cat([up, warped_detail], dim=1))
        return self.final(self.refine(x))


def mouth_mask(kp_driving: torch.Tensor, slots: list[int], size: int) -> torch.Tensor:
    """``[B, 1, size, size]`` in (0, 1): a soft ellipse around the mouth, from the keypoints
    ``slots`` = (upper inner lip, lower inner lip, corner, corner) in grid units (x, y in
    [-1, 1]); it grows with the opening so an open jaw stays inside."""
    upper, lower, left, right = (kp_driving[:, k, :2] for k in slots)
    centre = (upper + lower + left + right) / 4
    width = (left - right).norm(dim=-1).clamp(min=0.05)
    gap = (upper - lower).norm(dim=-1)
    half_w = MOUTH_HALF_WIDTH * width
    half_h = 0.5 * gap + MOUTH_HALF_HEIGHT * width
    grid = make_coordinate_grid(size, size, kp_driving.dtype, kp_driving.device)[None]
    dx = (grid[..., 0] - centre[:, None, None, 0]) / half_w[:, None, None]
    dy = (grid[..., 1] - centre[:, None, None, 1]) / half_h[:, None, None]
    radius = torch.sqrt(dx * dx + dy * dy + 1e-8)
    return torch.sigmoid((1.0 - radius) / MOUTH_EDGE).unsqueeze(1)


def downscale_rgb(rgb: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bicubic, the closest torch resize to the PIL bicubic the crops are made with."""
    if rgb.shape[-1] == size:
        return rgb
    return F.interpolate(rgb, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0.0, 1.0)


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
        self.detail = DetailStage(cfg) if cfg.has_detail_stage else None

    def encode(self, source5: torch.Tensor) -> dict[str, object]:
        """Everything that depends on the source only (paid once per keyframe)."""
        rgb = source5[:, : self.cfg.image_channels]
        priors = F.interpolate(source5[:, self.cfg.image_channels :], size=(self.cfg.feature_size,) * 2, mode="area")
        core = downscale_rgb(rgb, self.cfg.core_image_size)
        encoded = {"rgb": rgb, "motion": self.motion_encoder(core), "identity": self.identity_encoder(core, priors)}
        if self.detail is not None:
            encoded["detail"] = self.detail.encoder(rgb)
        return encoded

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
        kp_driving: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Prediction ``[B, 3, H, W]`` in [0, 1]; ``kp_driving`` places the painted mouth and the
        speech (needed with ``gen_mouth_inpaint`` or ``gen_audio_at_mouth``)."""
        skips: list[torch.Tensor] = list(encoded["identity"])  # type: ignore[arg-type]
        if self.cfg.gen_audio_at_mouth:
            enc_aud = enc_aud * self.mouth_region(kp_driving, enc_aud.shape[-1]).to(enc_aud.dtype)
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
        if self.detail is not None:
            scale = float(self.detail.scale)
            out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
            out = out + self.detail(x, self.masked_warp(encoded["detail"], deformation, occlusion))  # type: ignore[arg-type]
        if self.cfg.gen_source_residual:
            out = out + self.residual_base(encoded["rgb"], deformation, kp_driving)  # type: ignore[arg-type]
        return torch.sigmoid(out)

    def residual_base(self, rgb: torch.Tensor, deformation: torch.Tensor, kp_driving: torch.Tensor | None) -> torch.Tensor:
        """The logit of the warped keyframe, blurred inside the mouth with ``gen_mouth_inpaint``."""
        warped = warp(rgb, deformation, self.cfg.source_residual_padding)
        base = logit(warped, RESIDUAL_EPS)
        if not self.cfg.gen_mouth_inpaint:
            return base
        blurred = F.interpolate(F.adaptive_avg_pool2d(warped, MOUTH_BLUR_SIDE), size=base.shape[-2:], mode="bilinear", align_corners=False)
        mask = self.mouth_region(kp_driving, base.shape[-1]).to(base.dtype)
        return base + mask * (logit(blurred, RESIDUAL_EPS) - base)

    def mouth_region(self, kp_driving: torch.Tensor | None, size: int) -> torch.Tensor:
        if kp_driving is None:
            raise ValueError("a model with gen_mouth_inpaint or gen_audio_at_mouth needs the driving keypoints to place the mouth")
        return mouth_mask(kp_driving, self.cfg.mouth_keypoint_slots(), size)
