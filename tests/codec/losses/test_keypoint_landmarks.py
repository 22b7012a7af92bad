"""Keypoints pulled onto lips and eyelids: targets follow the face through mirroring."""

from __future__ import annotations

import torch

from codec.losses.keypoint_landmarks import MIRROR, keypoint_landmark_loss, mouth_keypoints, oriented_targets
from codec.losses.landmark_flow import landmarks_to_grid

INDICES = [13, 14, 61, 291, 159, 145, 386, 374]


def face(seed: int = 0) -> torch.Tensor:
    """468 landmarks with the person's right eye corner (33) on the image's left."""
    lm = torch.rand(1, 468, 2, generator=torch.Generator().manual_seed(seed)) * 0.5 + 0.25
    lm[0, 33, 0], lm[0, 263, 0] = 0.3, 0.7
    return lm


def test_mirror_map_is_an_involution() -> None:
    assert all(MIRROR[MIRROR[i]] == i for i in MIRROR)


def test_targets_are_the_landmarks_on_an_unmirrored_face() -> None:
    lm = face()
    assert torch.equal(oriented_targets(lm, INDICES), lm[:, INDICES])


def test_a_mirrored_face_gives_the_mirrored_targets() -> None:
    lm = face()
    flipped = torch.stack([1 - lm[..., 0], lm[..., 1]], dim=-1)
    targets = oriented_targets(flipped, INDICES)
    # keypoint 2 is the mouth corner on the image's left: landmark 61 unmirrored, 291 mirrored
    expected = flipped[:, [MIRROR[i] for i in INDICES]]
    assert torch.equal(targets, expected)
    assert float(targets[0, 2, 0]) == float(1 - lm[0, 291, 0])


def test_loss_is_zero_on_target_and_grows_with_distance() -> None:
    lm = face()
    targets = landmarks_to_grid(lm[:, INDICES], 256)
    kp = torch.zeros(1, 10, 6)
    kp[:, : len(INDICES), :2] = targets
    assert float(keypoint_landmark_loss(kp, lm, INDICES, 256)) < 1e-6
    kp[:, 0, 0] += 0.1
    assert abs(float(keypoint_landmark_loss(kp, lm, INDICES, 256)) - 0.1 / (2 * len(INDICES))) < 1e-5
    kp[:, 9, :2] += 5.0  # free keypoints are not judged
    assert abs(float(keypoint_landmark_loss(kp, lm, INDICES, 256)) - 0.1 / (2 * len(INDICES))) < 1e-5


def test_mouth_keypoints_are_the_lip_ones() -> None:
    assert mouth_keypoints(INDICES) == [0, 1, 2, 3]


def test_slots_choose_which_keypoints_are_pulled() -> None:
    lm = face()
    mouth = [13, 14, 61, 291]
    slots = [8, 4, 9, 6]
    kp = torch.zeros(1, 10, 6) + 3.0  # every keypoint far off
    kp[0, slots, :2] = landmarks_to_grid(lm[:, mouth], 256)[0]
    assert float(keypoint_landmark_loss(kp, lm, mouth, 256, slots)) < 1e-6
    assert float(keypoint_landmark_loss(kp, lm, mouth, 256)) > 1.0  # the first four are not on target
    assert mouth_keypoints(mouth, slots) == slots
    assert mouth_keypoints(INDICES, [9, 8, 7, 6, 5, 4, 3, 2]) == [9, 8, 7, 6]
