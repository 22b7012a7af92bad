"""Keypoints on the lips and eyelids: some of the 10 learned keypoints are pulled onto MediaPipe
landmarks, so that mouth opening and blinks travel in the stream.

Ours, not the paper's. Unsupervised keypoints (FOMM) settle where the photometric loss pays
most, which on talking heads is head pose: after 4000 CPU steps our 128-px model moved the
head but barely opened the mouth (decoded mouth opening varied a quarter as much as the
real one). Giving keypoint ``i`` the target "MediaPipe landmark ``keypoint_landmarks[i]``"
(inner lips, mouth corners, upper and lower eyelids) makes the sender measure exactly the
motions a viewer reads, and the dense motion then has a keypoint pair that opens and closes
with the mouth. Only positions are supervised; the Jacobians stay free (equivariance only), and
keypoints without a landmark stay unsupervised for pose, hair and shoulders.

Horizontal flips: training mirrors frames, and a mirrored face's anatomical left corner is on
the image's right. A CNN cannot tell a mirrored face from a real one, so the target of each
keypoint is defined in image terms: on a mirrored face (right eye corner right of the left
one) each landmark is swapped for its mirror partner.
"""

from __future__ import annotations

import torch

from codec.losses.landmark_flow import landmarks_to_grid

# MediaPipe face-mesh symmetry for the landmarks a keypoint may be assigned (midline points map to themselves).
MIRROR = {13: 13, 14: 14, 0: 0, 17: 17, 61: 291, 291: 61, 159: 386, 386: 159, 145: 374, 374: 145, 33: 263, 263: 33, 133: 362, 362: 133}
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263  # the person's right eye is on the image's left in an unmirrored frame
MOUTH_LANDMARKS = frozenset({13, 14, 0, 17, 61, 291})


def check_assignable(indices: list[int]) -> None:
    unknown = sorted(set(indices) - set(MIRROR))
    if unknown:
        raise ValueError(f"landmarks {unknown} have no known mirror partner; use some of {sorted(MIRROR)}")


def oriented_targets(landmarks: torch.Tensor, indices: list[int]) -> torch.Tensor:
    """``[B, 468, 2]`` landmarks -> ``[B, len(indices), 2]`` targets, mirror-swapped on mirrored faces."""
    check_assignable(indices)
    direct = torch.as_tensor(indices, device=landmarks.device)
    swapped = torch.as_tensor([MIRROR[i] for i in indices], device=landmarks.device)
    mirrored = landmarks[:, RIGHT_EYE_OUTER, 0] > landmarks[:, LEFT_EYE_OUTER, 0]
    pick = torch.where(mirrored[:, None], swapped[None], direct[None])
    return torch.gather(landmarks, 1, pick[..., None].expand(-1, -1, 2))


def keypoint_landmark_loss(
    keypoints: torch.Tensor, landmarks: torch.Tensor, indices: list[int], image_size: int, slots: list[int] | None = None
) -> torch.Tensor:
    """Mean L1 (grid units) between keypoints ``slots`` (default the first ``len(indices)``) and
    their landmarks."""
    slots = list(slots) if slots else list(range(len(indices)))
    targets = landmarks_to_grid(oriented_targets(landmarks.to(keypoints.dtype), indices), image_size)
    return (keypoints[:, slots, :2] - targets).abs().mean()


def mouth_keypoints(indices: list[int], slots: list[int] | None = None) -> list[int]:
    """Which keypoints carry the mouth (those assigned to lip landmarks)."""
    slots = list(slots) if slots else list(range(len(indices)))
    return [slots[k] for k, i in enumerate(indices) if i in MOUTH_LANDMARKS]


__all__ = ["keypoint_landmark_loss", "mouth_keypoints", "oriented_targets", "MIRROR", "MOUTH_LANDMARKS"]
