"""Keypoint detector M_kp (paper eq. 1): FOMM's hourglass on the 5-channel input.

The mesh drawing and face mask channels are the paper's structural priors; everything else
is FOMM: anti-aliased downscaling to ``kp_scale_factor``, a hourglass, a softmax heatmap per
keypoint with temperature 0.1, (x, y) as the heatmap-weighted mean of the coordinate grid,
and a 2x2 Jacobian per keypoint as the heatmap-weighted mean of 4 regressed maps, initialised
to the identity so motion starts as pure translation. One difference from FOMM: the heatmap
conv is padded ('same'), so the heatmap covers the whole image and a keypoint can reach the
border values -1 and +1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codec.config import ModelConfig
from codec.networks.blocks import AntiAliasDownsample, Hourglass, join_keypoints, make_coordinate_grid


class KeypointDetector(nn.Module):
    """``[B, 5, H, W]`` -> ``[B, K, 6]`` = (x, y, j00, j01, j10, j11) per keypoint."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.num_kp = cfg.num_kp
        self.temperature = cfg.kp_temperature
        self.estimate_jacobian = cfg.kp_estimate_jacobian
        self.down = AntiAliasDownsample(cfg.in_channels, cfg.kp_scale_factor)
        self.predictor = Hourglass(cfg.kp_block_expansion, cfg.in_channels, cfg.kp_num_blocks, cfg.kp_max_features)
        feat = self.predictor.out_channels
        self.heatmap = nn.Conv2d(feat, cfg.num_kp, 7, padding=3)
        self.jacobian: nn.Conv2d | None = None
        if self.estimate_jacobian:
            self.jacobian = nn.Conv2d(feat, 4 * cfg.num_kp, 7, padding=3)
            nn.init.zeros_(self.jacobian.weight)
            self.jacobian.bias.data.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(cfg.num_kp))

    def heatmaps(self, features: torch.Tensor) -> torch.Tensor:
        """Softmax over pixels per keypoint: ``[B, K, h, w]`` summing to 1."""
        logits = self.heatmap(features)
        b, k, h, w = logits.shape
        return F.softmax(logits.view(b, k, -1) / self.temperature, dim=-1).view(b, k, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.predictor(self.down(x))
        heat = self.heatmaps(features)
        b, k, h, w = heat.shape
        grid = make_coordinate_grid(h, w, heat.dtype, heat.device).view(1, 1, h, w, 2)
        value = (heat.unsqueeze(-1) * grid).sum(dim=(2, 3))
        if self.jacobian is None:
            jac = torch.eye(2, dtype=x.dtype, device=x.device).expand(b, k, 2, 2)
        else:
            maps = self.jacobian(features).view(b, k, 4, h, w)
            jac = (maps * heat.unsqueeze(2)).sum(dim=(3, 4)).view(b, k, 2, 2)
        return join_keypoints(value, jac)
