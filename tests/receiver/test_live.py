"""The live receiver's timing: clock, speech features from a ring, play-out order."""

from __future__ import annotations

import numpy as np

from codec.audio_features import log_mel, mel_window
from proto import avfr_pb2
from receiver.live import LiveAudio, Playout, PlayoutClock, PlayoutConfig


def test_clock_follows_the_earliest_arrival_and_prefers_audio() -> None:
    clock = PlayoutClock()
    clock.observe(0.04, 100.10, "motion")
    assert abs(clock.stream_time(100.20) - 0.14) < 1e-9
    clock.observe(0.02, 100.05, "audio")  # audio takes over
    clock.observe(0.04, 100.50, "motion")  # ignored from now on
    clock.observe(0.06, 100.12, "audio")  # later than the fastest: the offset stays
    assert abs(clock.stream_time(101.0) - (101.0 - 100.03)) < 1e-9


def test_live_window_equals_the_offline_window() -> None:
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32)
    offline = log_mel(wave)
    live = LiveAudio(keep_s=4.0)
    for start in range(0, len(wave), 320):  # 20 ms packets
        live.add_pcm(wave[start : start + 320])
    for frame in (0, 1, 30, 60):  # the stream's start, and frames well inside it
        assert np.allclose(live.window(frame, 25.0), mel_window(offline, frame, 25.0), atol=1e-5)


def test_ring_is_bounded() -> None:
    live = LiveAudio(keep_s=1.0)
    for _ in range(200):
        live.add_pcm(np.zeros(320, np.float32))
    assert len(live.ring) == 16000 and live.end_sample == 200 * 320


def motion(index: int) -> avfr_pb2.MotionFrame:
    m = avfr_pb2.MotionFrame()
    m.frame_index = index
    return m


def test_playout_hands_out_every_frame_once_in_order_with_gaps_as_none() -> None:
    playout = Playout(25.0, PlayoutConfig(delay_s=0.1, capacity_frames=10))
    for i in (0, 1, 3):
        playout.on_motion(motion(i))
    due = playout.due(0.1 + 3 / 25)
    assert [(i, m is not None) for i, m in due] == [(0, True), (1, True), (2, False), (3, True)]
    assert playout.due(0.1 + 3 / 25) == []
    playout.on_motion(motion(2))  # too late now
    assert playout.jitter.stats.late == 1
    stalled = playout.due(10.0)  # the receiver stalled: frames come back contiguous, as lost
    assert [i for i, _ in stalled] == list(range(4, int(9.9 * 25) + 1))
    assert all(m is None for _, m in stalled)


def test_newest_waiting_keyframe_applies_and_older_ones_are_dropped() -> None:
    playout = Playout(25.0)
    for index in (0, 30, 60):
        k = avfr_pb2.Keyframe()
        k.frame_index = index
        playout.on_keyframe(k)
    assert playout.keyframe_for(40).frame_index == 30
    assert playout.keyframe_for(59) is None
    assert playout.keyframe_for(60).frame_index == 60 and not playout.keyframes
