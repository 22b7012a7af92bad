"""FOMM's relative motion: the source's own keypoints, moved as the driver moved."""

from __future__ import annotations

import torch

from codec.motion import relative_keypoints


def test_relative_motion_is_the_source_when_the_driver_has_not_moved() -> None:
    torch.manual_seed(0)
    kp_s, kp_d = torch.randn(2, 10, 6), torch.randn(2, 10, 6)
    assert torch.allclose(relative_keypoints(kp_s, kp_d, kp_d), kp_s, atol=1e-5)


def test_relative_motion_moves_by_the_drivers_displacement_and_composes_jacobians() -> None:
    torch.manual_seed(1)
    kp_s, kp_first = torch.randn(10, 6), torch.randn(10, 6)
    moved = kp_first.clone()
    moved[..., :2] += 0.1
    turn = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    moved[..., 2:] = (turn @ kp_first[..., 2:].reshape(10, 2, 2)).reshape(10, 4)  # the driver's Jacobians turned a quarter
    out = relative_keypoints(kp_s, moved, kp_first)
    assert torch.allclose(out[..., :2], kp_s[..., :2] + 0.1, atol=1e-5)
    assert torch.allclose(out[..., 2:].reshape(10, 2, 2), turn @ kp_s[..., 2:].reshape(10, 2, 2), atol=1e-4)
