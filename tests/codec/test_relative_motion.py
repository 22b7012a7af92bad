"""FOMM's relative motion: the source's own keypoints, moved as the driver moved."""

from __future__ import annotations

import pytest
import torch

from codec.motion import head_moved_mouth, relative_keypoints, scale_mouth_motion


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


def test_mouth_motion_is_scaled_about_the_head_moved_keyframe_mouth() -> None:
    """Gain 1 sends the keypoints as they are; a head that moves without the mouth moving is
    left alone at any gain; the mouth's own motion is scaled, nothing else is touched."""
    torch.manual_seed(0)
    mouth = [1, 3]
    kp_source = torch.randn(1, 5, 6)
    head = torch.tensor([0.1, -0.05])
    head_only = kp_source.clone()
    head_only[..., :2] += head
    assert torch.allclose(head_moved_mouth(kp_source, head_only, mouth), head_only[:, mouth, :2])
    assert torch.allclose(scale_mouth_motion(kp_source, head_only, mouth, 2.0), head_only)
    talking = head_only.clone()
    talking[:, 1, 1] += 0.04  # the lower lip drops
    assert torch.equal(scale_mouth_motion(kp_source, talking, mouth, 1.0), talking)
    scaled = scale_mouth_motion(kp_source, talking, mouth, 1.5)
    others = [0, 2, 4]
    assert torch.equal(scaled[:, others], talking[:, others]) and torch.equal(scaled[..., 2:], talking[..., 2:])
    assert scaled[0, 1, 1] - head_only[0, 1, 1] == pytest.approx(1.5 * 0.04, abs=1e-6)
