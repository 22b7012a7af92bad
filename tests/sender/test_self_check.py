"""The sender's self-check: it renders what the receiver will show and scores it against the camera."""

from __future__ import annotations

import numpy as np
import pytest

from codec.media.keyframe import KeyframeConfig, encode_keyframe
from codec.model import AVFRModel
from codec.model_input import resize_rgb
from sender.self_check import ShadowReceiver


@pytest.fixture(scope="module")
def shadow(tiny_model: AVFRModel, face: np.ndarray) -> ShadowReceiver:
    config = KeyframeConfig.default()
    shadow = ShadowReceiver(tiny_model)
    assert shadow.on_keyframe(encode_keyframe(resize_rgb(face, shadow.size), config), config.proto_codec)  # its landmarks were found
    return shadow


def test_the_keyframes_own_pose_renders_the_keyframe_and_another_pose_scores_far_lower(shadow: ShadowReceiver, face: np.ndarray) -> None:
    at_rest = shadow.source_keypoints().numpy()
    moved = at_rest.copy()
    moved[:, :2] += 0.3
    same = shadow.render_psnr(at_rest, face)
    assert same > 30.0  # the decoded keyframe itself, up to its coding
    assert shadow.render_psnr(moved, face) < same - 10.0


def test_the_render_is_scored_against_the_cameras_crop_not_the_keyframe(shadow: ShadowReceiver, face: np.ndarray) -> None:
    at_rest = shadow.source_keypoints().numpy()
    camera_moved_on = np.roll(face, 30, axis=1)  # the face went elsewhere, the keypoints sent did not follow
    assert shadow.render_psnr(at_rest, camera_moved_on) < shadow.render_psnr(at_rest, face) - 10.0
