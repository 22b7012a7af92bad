"""The mouth region, cut out and enlarged, so reconstruction losses see it at full weight.

Ours. At 256 px the lips cover ~2% of the picture, so the whole-image L1 and LPIPS barely
notice a closed mouth where an open one should be, although it is the first thing a viewer
sees. The box is a square around the lips of the driving frame (from its MediaPipe
landmarks), sampled with the same grid from prediction and target, so both crops are
pixel-aligned and the gradient flows back through the sampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LIP_CORNERS = (61, 291)
LIP_TOP_BOTTOM = (0, 17)
BOX_SCALE = 1.6  # box side / mouth width: room for an open jaw and the corners of a smile
CROP_SIZE = 64


def mouth_grid(landmarks: torch.Tensor, size: int = CROP_SIZE) -> torch.Tensor:
    """Sampling grid ``[B, size, size, 2]`` over the square mouth box of each frame's landmarks
    (fractions of the image, ``[B, 468, 2]``)."""
    lm = landmarks.float() * 2.0 - 1.0  # fractions -> [-1, 1] (align_corners=False units)
    points = lm[:, list(LIP_CORNERS + LIP_TOP_BOTTOM)]
    centre = points.mean(dim=1)
    width = (lm[:, LIP_CORNERS[0]] - lm[:, LIP_CORNERS[1]]).norm(dim=-1)
    half = (BOX_SCALE * width / 2).clamp(min=0.05, max=1.0)
    theta = torch.zeros(landmarks.shape[0], 2, 3, device=landmarks.device)
    theta[:, 0, 0] = half
    theta[:, 1, 1] = half
    theta[:, :, 2] = centre
    return F.affine_grid(theta, [landmarks.shape[0], 1, size, size], align_corners=False)


def crop_mouth(images: torch.Tensor, landmarks: torch.Tensor, size: int = CROP_SIZE) -> torch.Tensor:
    grid = mouth_grid(landmarks, size).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


__all__ = ["crop_mouth", "mouth_grid"]
