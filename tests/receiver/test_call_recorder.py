"""The live recorder: one picture per stream frame, nothing past the stream's end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codec.media import video_io
from receiver.call import Recorder


def test_frames_played_past_the_end_before_it_was_known_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "call.mp4"
    recorder = Recorder(path, fps=25.0, lag_frames=10)
    for index in range(60):  # 5 frames past a 55-frame stream, held while its end was unknown
        recorder.add_audio(np.full(640, 0.1, np.float32))
        recorder.add_frame(index, np.full((64, 64, 3), index * 4, np.uint8))
    assert recorder.close(frame_count=55) == 55
    info = video_io.probe(path)
    assert info.frame_count == 55 and info.has_audio
    speech = video_io.read_audio(path, sample_rate=16000)
    assert abs(len(speech) - 55 * 640) <= 1024  # the speech ends with the stream too (one AAC frame of slack)
    last = list(video_io.iter_frames(path))[-1]
    assert abs(float(last.mean()) - 54 * 4) < 6  # the last picture is the stream's last frame


def test_without_a_known_end_every_played_frame_is_recorded(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "call.mp4", fps=25.0, lag_frames=10)
    for index in range(30):
        recorder.add_frame(index, np.zeros((64, 64, 3), np.uint8))
    assert recorder.close() == 30
