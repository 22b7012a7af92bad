"""Motion of one face applied to another: FOMM's relative mode, one home for the sender's
avatar mode and the model card's cross-identity pictures.

Absolute keypoints of a driver would force the driver's face shape onto the source (its eye
distance, jaw width, where its head sits in the crop). Relative motion moves the source's own
keypoints by the driver's displacement since its first frame and composes the Jacobians the
same way, so the source keeps its proportions and only the motion is the driver's.
"""

from __future__ import annotations

import torch

from codec.networks.blocks import inverse_2x2, join_keypoints, split_keypoints


def relative_keypoints(kp_source: torch.Tensor, kp_driving: torch.Tensor, kp_driving_first: torch.Tensor) -> torch.Tensor:
    """``[..., K, 6]`` keypoints of the source moved as the driver moved from its first frame:
    positions ``source + (driving - first)``, Jacobians ``driving @ first^-1 @ source``. When the
    driver has not moved the result is the source itself."""
    v_s, j_s = split_keypoints(kp_source)
    v_d, j_d = split_keypoints(kp_driving)
    v_0, j_0 = split_keypoints(kp_driving_first)
    value = v_s + (v_d - v_0)
    jac = torch.matmul(torch.matmul(j_d, inverse_2x2(j_0)), j_s)
    return join_keypoints(value, jac)


def head_moved_mouth(kp_source: torch.Tensor, kp_driving: torch.Tensor, mouth: list[int]) -> torch.Tensor:
    """``[B, len(mouth), 2]``: where the keyframe's mouth keypoints would be had only the head
    moved (shifted by the mean motion of the other keypoints). The reference for what the
    mouth itself does: training withholds the mouth's motion by putting its keypoints here."""
    others = [k for k in range(kp_driving.shape[1]) if k not in mouth]
    head_motion = (kp_driving[:, others, :2] - kp_source[:, others, :2]).mean(dim=1, keepdim=True)
    return kp_source[:, mouth, :2] + head_motion


def scale_mouth_motion(kp_source: torch.Tensor, kp_driving: torch.Tensor, mouth: list[int], gain: float) -> torch.Tensor:
    """The mouth keypoints' own motion (about :func:`head_moved_mouth`) times ``gain``, the rest
    as sent. An analysis knob (``codec.training.evaluate --mouth-gain``): it asks whether the
    decoder opens the mouth too little because it under-responds to the lip keypoints."""
    base = head_moved_mouth(kp_source, kp_driving, mouth)
    out = kp_driving.clone()
    out[:, mouth, :2] = base + gain * (kp_driving[:, mouth, :2] - base)
    return out


__all__ = ["head_moved_mouth", "relative_keypoints", "scale_mouth_motion"]
