"""Landmark flow: the MediaPipe mesh tells where each driving-frame face point came from.

Ours, not the paper's. The paper feeds the face mesh to its networks as a prior; FOMM learns
motion from the photometric loss alone, which takes far more steps than two CPU cores give
(our first run sat at "repeat the keyframe" for 900 steps). The prepared data holds the 468
MediaPipe landmarks of both frames of a pair, so for every landmark we know the answer the
backward deformation must give: at the driving frame's landmark position it must point to the
same landmark in the source frame. Penalising the difference trains the keypoint detector and
the dense motion network directly, through the deformation, while the keypoints themselves
stay unsupervised (any layout that produces the right flow is fine) and the stream is
unchanged. Background and hair get no landmark term and are left to the photometric losses.

MediaPipe's landmarks jitter by a pixel or two from frame to frame; on a head that barely
moves that is more than the real motion, and a flow that follows it is worse than no motion
(measured on a dev clip at step 800: source and driving pixels at corresponding landmarks
differed by 0.072 on average, against 0.036 at the same position). So errors up to
``tolerance`` pixels cost nothing: the landmarks correct gross motion, the photometric losses
the fine alignment.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def landmarks_to_grid(landmarks: torch.Tensor, image_size: int) -> torch.Tensor:
    """Landmarks as fractions of the image ``[B, N, 2]`` (x, y) -> grid coordinates in [-1, 1]
    with ``align_corners=True`` (the convention of the deformation, see ``make_coordinate_grid``)."""
    pixel_centres = landmarks * image_size - 0.5
    return pixel_centres * (2.0 / (image_size - 1)) - 1.0


def sample_deformation(deformation: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """The deformation ``[B, h, w, 2]`` read (bilinearly) at ``points`` ``[B, N, 2]`` -> ``[B, N, 2]``."""
    field = deformation.permute(0, 3, 1, 2)
    sampled = F.grid_sample(field, points[:, None], mode="bilinear", padding_mode="border", align_corners=True)
    return sampled[:, :, 0].permute(0, 2, 1)


def landmark_flow_loss(
    deformation: torch.Tensor,
    source_landmarks: torch.Tensor,
    driving_landmarks: torch.Tensor,
    image_size: int,
    tolerance_px: float = 0.0,
) -> torch.Tensor:
    """Mean L1 distance (grid units) between where the deformation sends each driving landmark
    and where that landmark is in the source, less ``tolerance_px`` (per coordinate)."""
    driving = landmarks_to_grid(driving_landmarks.to(deformation.dtype), image_size)
    source = landmarks_to_grid(source_landmarks.to(deformation.dtype), image_size)
    error = (sample_deformation(deformation, driving) - source).abs()
    return torch.relu(error - tolerance_px * 2.0 / (image_size - 1)).mean()


__all__ = ["landmark_flow_loss", "landmarks_to_grid", "sample_deformation"]
