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


__all__ = ["relative_keypoints"]
