"""Round trips through the mp4 writer and the constant-rate reader, and the errors users see."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codec.errors import InputError
from codec.media import video_io

RATE = 16000


def _clip(path: Path, frames: int = 30, fps: float = 25.0, audio: bool = True) -> np.ndarray | None:
    """A clip whose frame k has brightness 8k, and a click at 0.6 s (frame 15) in the audio."""
    pictures = [np.full((48, 64, 3), 8 * k, np.uint8) for k in range(frames)]
    wave = None
    if audio:
        wave = np.zeros(int(frames / fps * RATE), np.float32)
        wave[int(0.6 * RATE)] = 0.9
    video_io.write_video(path, iter(pictures), fps=fps, audio=wave, sample_rate=RATE)
    return wave


def test_write_then_read_keeps_count_rate_and_audio(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    wave = _clip(path)
    info = video_io.probe(path)
    assert info.has_video and info.has_audio
    assert info.fps == pytest.approx(25.0)
    assert info.size == (64, 48)
    assert info.frame_count == 30
    assert info.duration == pytest.approx(1.2, abs=0.05)
    frames = video_io.read_frames(path, fps=25.0)
    assert len(frames) == 30
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    levels = [float(f.mean()) for f in frames]
    assert np.all(np.diff(levels) > 0), "frames come back in order, none dropped or repeated"
    audio = video_io.read_audio(path, sample_rate=RATE)
    assert audio is not None and audio.dtype == np.float32 and audio.ndim == 1
    assert len(wave) <= len(audio) <= len(wave) + 2048  # AAC pads the last packet only
    assert np.argmax(np.abs(audio)) / RATE == pytest.approx(0.6, abs=0.002), "audio stays in sync"


def test_constant_rate_resampling_drops_and_repeats_by_time(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _clip(path, audio=False)
    assert len(video_io.read_frames(path, fps=10.0)) == 12
    assert len(video_io.read_frames(path, fps=50.0)) == 60
    later = video_io.read_frames(path, fps=25.0, start=0.4)
    assert len(later) == 20
    assert abs(float(later[0].mean()) - 80) < 6  # frame 10 of the source


def test_no_audio_track_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    _clip(path, audio=False)
    assert not video_io.probe(path).has_audio
    assert video_io.read_audio(path) is None


def test_unreadable_and_missing_files_raise_input_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputError):
        video_io.probe(junk)
    with pytest.raises(InputError):
        list(video_io.iter_frames(junk))
    with pytest.raises(InputError, match="does not exist"):
        video_io.probe(tmp_path / "nowhere.mp4")


def test_odd_frame_sizes_are_padded_to_even(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    video_io.write_video(path, iter([np.zeros((31, 45, 3), np.uint8)] * 3), fps=25.0)
    assert video_io.read_frames(path)[0].shape == (32, 46, 3)


def test_a_frame_rate_has_one_fraction_for_the_header_and_the_mp4() -> None:
    from fractions import Fraction

    assert video_io.fps_fraction(25.0) == 25 and video_io.fps_fraction(12.5) == Fraction(25, 2)
    assert video_io.fps_fraction(29.97) == video_io.fps_fraction(30000 / 1001) == Fraction(30000, 1001)  # however NTSC was rounded
    assert video_io.fps_fraction(23.976) == Fraction(24000, 1001)
