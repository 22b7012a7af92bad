"""What `avfr receive` keeps of a call: the recording (one picture per stream frame, nothing
past the stream's end) and the saved stream (in stream order, late frames kept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codec.bitstream.container import AvfrReader
from codec.media import video_io
from receiver.recording import CallRecording, Recorder, StreamSaver
from tests.codec.bitstream.test_container import eos, header, keyframe, motion


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


def test_the_saved_stream_is_in_stream_order_and_keeps_frames_that_came_late(tmp_path: Path) -> None:
    path = tmp_path / "received.avfr"
    saver = StreamSaver(path, header(), lag_frames=3)
    for packet in (motion(1), keyframe(0), motion(0), motion(3)):
        saver.add(packet)
    saver.advance(3)  # nothing is 3 frames behind play-out yet
    saver.add(motion(2))  # too late to show, not too late to keep
    saver.advance(5)  # frames 0 and 1 go out, the keyframe before the motion of its frame
    saver.add(motion(0))  # after its place was written: left out
    saver.add(motion(4))
    saver.close(eos(5))
    got = [(p.WhichOneof("body"), p.keyframe.frame_index or p.motion.frame_index) for p in AvfrReader(path)]
    assert got == [("header", 0), ("keyframe", 0), ("motion", 0), ("motion", 1), ("motion", 2), ("motion", 3), ("motion", 4), ("end_of_stream", 0)]


def test_a_call_recording_writes_only_what_was_asked_for(tmp_path: Path) -> None:
    picture = np.zeros((64, 64, 3), np.uint8)
    nothing = CallRecording(None, None)
    nothing.start(header(), 25.0, {})
    nothing.add_picture(0, picture)
    nothing.close(1)
    assert nothing.recorded_frames is None and not list(tmp_path.iterdir())
    both = CallRecording(tmp_path / "call.mp4", tmp_path / "call.avfr")
    both.start(header(), 25.0, {})
    for index in range(5):
        both.add_packet(motion(index))
        both.add_picture(index, picture)
    both.end_of_stream = eos(5)
    both.close(5)
    assert both.recorded_frames == 5 == video_io.probe(tmp_path / "call.mp4").frame_count
    assert [p.WhichOneof("body") for p in AvfrReader(tmp_path / "call.avfr")] == ["header"] + ["motion"] * 5 + ["end_of_stream"]
