"""Dense motion network (FOMM), as the paper prescribes ("following FOMM").

From source and driving keypoints it builds K+1 sparse motions (K local first-order
approximations around each keypoint, plus the identity for the background), warps the
downscaled source by each, and lets a hourglass pick, per pixel, which motion applies
(softmax masks) and where the source is occluded (sigmoid map). Departure from FOMM: the
source given to the hourglass is the 5-channel input (RGB + mesh + mask) rather than RGB, so
the motion network sees the same structural priors as the keypoint detector.

Second departure (ours): the mask logit of the identity (background) motion starts at
``dm_background_bias`` (4: ~85% of the weight with K = 10). Untrained keypoints of two frames
differ a lot, especially under train-mode BatchNorm, and FOMM's uniform initial masks then
average them into a large spurious shift; with the bias the untrained model starts near
"repeat the keyframe" and moves away from it only where motion pays off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codec.config import ModelConfig
from codec.networks.blocks import (
    AntiAliasDownsample,
    Hourglass,
    inverse_2x2,
    kp_to_gaussian,
    make_coordinate_grid,
    split_keypoints,
)


class DenseMotion(nn.Module):
    """Keypoints -> deformation grid ``[B, h, w, 2]`` and occlusion ``[B, 1, h, w]`` at the
    motion resolution (``image_size * dm_scale_factor``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.num_kp = cfg.num_kp
        self.kp_variance = cfg.dm_kp_variance
        self.channels = cfg.in_channels
        self.down = AntiAliasDownsample(cfg.in_channels, cfg.dm_scale_factor)
        in_features = (cfg.num_kp + 1) * (cfg.in_channels + 1)
        self.hourglass = Hourglass(cfg.dm_block_expansion, in_features, cfg.dm_num_blocks, cfg.dm_max_features)
        feat = self.hourglass.out_channels
        self.mask = nn.Conv2d(feat, cfg.num_kp + 1, 7, padding=3)
        with torch.no_grad():
            self.mask.bias[0] += cfg.dm_background_bias
        self.occlusion = nn.Conv2d(feat, 1, 7, padding=3)

    def downscale(self, source5: torch.Tensor) -> torch.Tensor:
        """The source at motion resolution; cached per keyframe by the model."""
        return self.down(source5)

    def heatmap_representation(self, kp_source: torch.Tensor, kp_driving: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Driving minus source gaussians, zero channel first for the background: ``[B, K+1, 1, h, w]``."""
        heat = kp_to_gaussian(kp_driving[..., :2], size, self.kp_variance) - kp_to_gaussian(kp_source[..., :2], size, self.kp_variance)
        zeros = torch.zeros_like(heat[:, :1])
        return torch.cat([zeros, heat], dim=1).unsqueeze(2)

    def sparse_motions(self, kp_source: torch.Tensor, kp_driving: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``[B, K+1, h, w, 2]``: T_{s<-d}(z) ~ kp_s + J_s J_d^-1 (z - kp_d) per keypoint, identity first."""
        b = kp_source.shape[0]
        h, w = size
        identity = make_coordinate_grid(h, w, kp_source.dtype, kp_source.device).view(1, 1, h, w, 2)
        vs, js = split_keypoints(kp_source)
        vd, jd = split_keypoints(kp_driving)
        rel = identity - vd.view(b, self.num_kp, 1, 1, 2)
        jac = torch.matmul(js, inverse_2x2(jd)).view(b, self.num_kp, 1, 1, 2, 2)
        rel = torch.matmul(jac, rel.unsqueeze(-1)).squeeze(-1)
        motion = rel + vs.view(b, self.num_kp, 1, 1, 2)
        return torch.cat([identity.expand(b, 1, h, w, 2), motion], dim=1)

    def deformed_sources(self, source_small: torch.Tensor, motions: torch.Tensor) -> torch.Tensor:
        """Source warped by each sparse motion: ``[B, K+1, C, h, w]``."""
        b, n, h, w, _ = motions.shape
        rep = source_small.unsqueeze(1).expand(b, n, *source_small.shape[1:]).reshape(b * n, -1, h, w)
        out = F.grid_sample(rep, motions.reshape(b * n, h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=True)
        return out.view(b, n, -1, h, w)

    def forward(self, source_small: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> dict[str, torch.Tensor]:
        """``source_small`` is :meth:`downscale` of the 5-channel source."""
        b, _, h, w = source_small.shape
        heat = self.heatmap_representation(kp_source, kp_driving, (h, w))
        motions = self.sparse_motions(kp_source, kp_driving, (h, w))
        deformed = self.deformed_sources(source_small, motions)
        features = self.hourglass(torch.cat([heat, deformed], dim=2).view(b, -1, h, w))
        mask = F.softmax(self.mask(features), dim=1)
        deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)
        return {
            "deformation": deformation,
            "occlusion": torch.sigmoid(self.occlusion(features)),
            "mask": mask,
        }
