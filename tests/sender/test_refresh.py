"""Keyframe refresh: the policy on its own (the sender on a real scene cut: tests/sender/test_encoder.py)."""

from __future__ import annotations

import numpy as np

from sender.refresh import KeyframePolicy, RefreshConfig, colour_histogram, histogram_distance


def test_histogram_distance_is_zero_for_the_same_picture_and_large_for_another() -> None:
    rng = np.random.default_rng(0)
    warm = np.clip(rng.normal([180, 120, 90], 20, (64, 64, 3)), 0, 255).astype(np.uint8)
    cold = np.clip(rng.normal([60, 90, 170], 20, (64, 64, 3)), 0, 255).astype(np.uint8)
    assert histogram_distance(colour_histogram(warm), colour_histogram(warm)) == 0.0
    assert histogram_distance(colour_histogram(warm), colour_histogram(cold)) > 1.5


def test_quality_refresh_waits_for_the_minimum_interval() -> None:
    policy = KeyframePolicy(RefreshConfig(check_every=5, max_psnr_drop_db=6.0, min_interval_s=1.0), fps=25)
    frame = np.zeros((32, 32, 3), np.uint8)
    assert policy.reason(0, frame, False) == "first frame"
    policy.keyframe_sent(0)
    assert policy.wants_check(5) and not policy.wants_check(6)
    assert policy.after_check(5, 30.0) is None  # the baseline
    assert policy.after_check(10, 20.0) is None  # too soon after the keyframe
    assert "below its start" in policy.after_check(25, 20.0)
    assert policy.after_check(30, 27.0) is None  # within the allowed drop


def test_disabled_policy_only_asks_for_the_first_keyframe() -> None:
    policy = KeyframePolicy(RefreshConfig(enabled=False), fps=25)
    frame = np.zeros((32, 32, 3), np.uint8)
    assert policy.reason(0, frame, True) == "first frame"
    policy.keyframe_sent(0)
    assert policy.reason(1, np.full((32, 32, 3), 255, np.uint8), True) is None
    assert not policy.wants_check(10)


def test_frames_left_unanalysed_are_not_a_scene_cut() -> None:
    """A live sender that held frames compares its next crop with nothing: the change over the
    gap is head motion, and taking it for a cut made each slow keyframe cause the next."""
    policy = KeyframePolicy(RefreshConfig(), fps=25)
    before, after = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    policy.reason(0, before, False)
    policy.keyframe_sent(0)
    policy.frames_skipped()
    assert policy.reason(40, after, False) is None
    assert policy.reason(41, before, False) == "scene cut"  # consecutive frames are still judged
