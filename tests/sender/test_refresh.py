"""Keyframe refresh: the policy on its own, and the sender on a real scene cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codec.bitstream.container import AvfrReader
from codec.media import video_io
from receiver.decoder import DecodeOptions, decode_file
from sender.encoder import EncodeOptions, encode_file
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


def _spliced(first: Path, second: Path, out: Path, frames_each: int) -> Path:
    """Two clips of different people back to back (a hard cut at frame ``frames_each``)."""
    writer = video_io.VideoWriter(out, fps=25)
    size = None
    for clip in (first, second):
        for i, frame in enumerate(video_io.iter_frames(clip, fps=25)):
            if i == frames_each:
                break
            size = size or frame.shape[1::-1]
            writer.write(np.asarray(Image.fromarray(frame).resize(size, Image.BICUBIC)))
    writer.close()
    return out


@pytest.mark.data
def test_a_scene_cut_triggers_a_keyframe(talking_heads: Path, tmp_path: Path) -> None:
    dev = talking_heads / "dev"
    video = _spliced(dev / "OpenTalker__SadTalker__WDA_KatieHill_000.mp4", dev / "wyhsirius__LIA__vox_driving1.mp4", tmp_path / "cut.mp4", 30)
    report = encode_file(video, tmp_path / "cut.avfr", EncodeOptions(), progress=False)
    keyframes = [p.keyframe.frame_index for p in AvfrReader(tmp_path / "cut.avfr") if p.HasField("keyframe")]
    assert keyframes[0] == 0
    assert any(30 <= k <= 32 for k in keyframes[1:]), (keyframes, report.keyframes)
    # the motion frame that goes with a refresh is self-contained (a receiver can start there)
    motion = {p.motion.frame_index: p.motion for p in AvfrReader(tmp_path / "cut.avfr") if p.HasField("motion")}
    assert all(motion[k].self_contained for k in keyframes)
    decoded = decode_file(tmp_path / "cut.avfr", tmp_path / "cut_decoded.mp4", DecodeOptions(), progress=False)
    assert decoded.frames == report.frames and decoded.stopped_at is None
    no_refresh = encode_file(video, tmp_path / "one.avfr", EncodeOptions(refresh=RefreshConfig(enabled=False)), progress=False)
    assert len(no_refresh.keyframes) == 1
