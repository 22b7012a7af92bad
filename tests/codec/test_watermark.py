"""The invisible mark: invisible, read from a picture and from a video, absent from videos that
never went through an avfr receiver, and still there after H.264 re-encoding at the decode's
settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codec.evaluation import psnr
from codec.media import video_io
from codec.media.public_face import public_photo, synthetic_clip
from codec.model_input import resize_rgb
from codec.watermark import THRESHOLD, embed_mark, luma, mark_score, read_mark, spatial_pattern

SIZES = (128, 256)  # the shipped models' pictures


@pytest.mark.parametrize("size", SIZES)
def test_mark_is_invisible_and_read_from_one_picture(size: int) -> None:
    picture = resize_rgb(public_photo(), size)
    marked = embed_mark(picture)
    assert psnr(marked, picture) > 46.0
    assert np.abs(marked.astype(int) - picture.astype(int)).max() <= 8
    assert mark_score(luma(marked)) > 3 * THRESHOLD
    assert abs(mark_score(luma(picture))) < THRESHOLD


def test_mark_changes_luma_only_and_is_the_same_everywhere() -> None:
    grey = np.full((64, 80, 3), 128, np.uint8)
    marked = embed_mark(grey).astype(int)
    assert np.array_equal(marked[..., 0], marked[..., 1]) and np.array_equal(marked[..., 1], marked[..., 2])
    assert np.array_equal(spatial_pattern(64, 80), spatial_pattern(128, 128)[:64, :80])  # one tile, cut to the picture


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """The demo's astronaut clip (public domain), 2 s at 128 px."""
    path = synthetic_clip(tmp_path_factory.mktemp("clip") / "astronaut.mp4", frames=50, size=128)
    return video_io.read_frames(path)


def reencode(frames: list[np.ndarray], path: Path) -> Path:
    """The decode's own settings (video_io's defaults: H.264 CRF 18, preset medium)."""
    video_io.write_video(path, frames, fps=25.0)
    return path


def test_mark_survives_reencoding_at_the_decodes_settings(moving_clip: list[np.ndarray], tmp_path: Path) -> None:
    decoded = reencode([embed_mark(f) for f in moving_clip], tmp_path / "decoded.mp4")  # as avfr decode writes it
    again = reencode(video_io.read_frames(decoded), tmp_path / "again.mp4")
    twice = reencode(video_io.read_frames(again), tmp_path / "twice.mp4")
    for path in (decoded, again, twice):
        reading = read_mark(path)
        assert reading.found and reading.frames == len(moving_clip), (path.name, reading)
    unmarked = read_mark(reencode(moving_clip, tmp_path / "unmarked.mp4"))
    assert not unmarked.found and abs(unmarked.score) < THRESHOLD


@pytest.mark.data
def test_no_dev_clip_carries_the_mark(talking_heads: Path) -> None:
    """The false-positive rate over every dev clip, at its own size and cropped and coded as a
    receiver's picture would be: none may read as marked."""
    clips = sorted((talking_heads / "dev").iterdir())
    scores = {}
    for clip in clips:
        scores[clip.name] = read_mark(clip).score
        frames = [resize_rgb(_centre_square(f), SIZES[0]) for f in video_io.read_frames(clip, max_frames=50)]
        with_mark = [embed_mark(f) for f in frames]
        scores[clip.name + " (as a picture)"] = _score_after_coding(frames)
        assert _score_after_coding(with_mark) > THRESHOLD, clip.name  # and the same frames marked do read as marked
    false_positives = [name for name, score in scores.items() if score > THRESHOLD]
    print(f"false positives: {len(false_positives)} of {len(scores)} unmarked videos; largest score {max(scores.values()):.2f}")
    assert len(clips) >= 20 and not false_positives, false_positives


def _centre_square(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    s = min(h, w)
    return np.ascontiguousarray(frame[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s])


def _score_after_coding(frames: list[np.ndarray]) -> float:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return read_mark(reencode(frames, Path(tmp) / "coded.mp4")).score
