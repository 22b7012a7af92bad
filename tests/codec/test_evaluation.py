"""The one PSNR convention, and the demo's video comparison built on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codec.evaluation import IDENTICAL_PSNR_DB, compare_videos, finite_psnr, psnr
from codec.media import video_io


def _moving_square(n: int, size: int = 64) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = np.full((size, size, 3), 40, np.uint8)
        f[10:30, 5 + 3 * i : 25 + 3 * i] = 220
        frames.append(f)
    return frames


def test_identical_frames_are_infinite_or_capped_and_noise_is_finite() -> None:
    a = _moving_square(1)[0]
    assert psnr(a, a) == float("inf") and finite_psnr(a, a) == IDENTICAL_PSNR_DB
    b = a.copy()
    b[0, 0, 0] += 1
    assert 60.0 < finite_psnr(a, b) < IDENTICAL_PSNR_DB


def test_compare_videos_scores_the_driving_frames_only(tmp_path: Path) -> None:
    """The first frame is the keyframe: repeating it would score it as identical, so it is left
    out for both figures (as in the model card's protocol)."""
    path = tmp_path / "clip.mp4"
    video_io.write_video(path, _moving_square(6))
    same = compare_videos(path, path)
    assert same["frames_compared"] == 5 and same["psnr_db"] == IDENTICAL_PSNR_DB
    assert same["repeat_keyframe_psnr_db"] < 30.0  # the square moved away from where the keyframe has it


def test_compare_videos_needs_a_frame_after_the_keyframe(tmp_path: Path) -> None:
    path = tmp_path / "one.mp4"
    video_io.write_video(path, _moving_square(1))
    with pytest.raises(ValueError, match="at least one more"):
        compare_videos(path, path)
