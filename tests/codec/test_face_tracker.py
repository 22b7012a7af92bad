"""The live crop is steady on a real face, and reports a lost face after N frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codec.face_tracker import CropConfig, FaceCropper, ShotConfig, find_shot_box, fit_to_frame, split_shots
from codec.media import video_io


@pytest.mark.data
def test_crop_box_is_steady_on_a_real_clip(dev_clip: Path) -> None:
    frames = video_io.read_frames(dev_clip, max_frames=60)
    with FaceCropper(out_size=256) as cropper:
        results = [cropper.update(f) for f in frames]
    assert all(r.face_found and not r.face_lost for r in results)
    assert all(r.crop.shape == (256, 256, 3) and r.crop.dtype == np.uint8 for r in results)
    assert sum(r.shot_changed for r in results) == 1  # the first face only
    boxes = np.array([r.box for r in results], float)
    moves = np.abs(np.diff(boxes, axis=0)).max(axis=1)
    side = float(np.median(boxes[:, 2] - boxes[:, 0]))
    assert np.median(moves) == 0.0, "the crop holds still most of the time"
    assert moves.max() <= 0.05 * side, "and never jumps"
    face = np.array(results[-1].face_box)
    x0, y0, x1, y1 = results[-1].box
    assert x0 <= face[0] and y0 <= face[1] and face[2] <= x1 and face[3] <= y1, "the face is inside the crop"


def test_no_face_clip_reports_lost_after_n_frames() -> None:
    rng = np.random.default_rng(0)
    base = np.zeros((120, 160, 3), np.uint8)
    base[..., 2] = np.linspace(0, 255, 160)[None]
    frames = [np.clip(base + rng.integers(0, 8, base.shape), 0, 255).astype(np.uint8) for _ in range(9)]
    with FaceCropper(out_size=64, lost_after=5) as cropper:
        results = [cropper.update(f) for f in frames]
    assert not any(r.face_found for r in results)
    assert [r.face_lost for r in results] == [False] * 5 + [True] * 4
    assert results[0].box == (20, 0, 140, 120)  # the centred square until a face shows up
    assert results[0].crop.shape == (64, 64, 3)


def test_split_shots_cuts_at_jumps_and_long_gaps() -> None:
    face = (100.0, 100.0, 150.0, 150.0)
    moved = (300.0, 100.0, 350.0, 150.0)
    faces = [face] * 20 + [None] * 3 + [face] * 10 + [moved] * 20 + [None] * 10 + [face] * 5
    shots = split_shots(faces, ShotConfig(max_gap=5, min_frames=12))
    assert [(s.start, s.end) for s in shots] == [(0, 33), (33, 53)]  # the 5-frame tail is too short


def test_shot_box_covers_every_face_and_fits_the_frame() -> None:
    faces = [(100.0 + i, 120.0, 160.0 + i, 180.0) for i in range(30)] + [None]
    x0, y0, x1, y1 = find_shot_box(faces, (480, 640), CropConfig())
    assert x1 - x0 == y1 - y0 >= 1.7 * 60 - 1
    assert x0 <= 100 and y0 <= 120 and x1 >= 189 and y1 >= 180
    # a face too big for the frame: shrink towards min_scale, then pad (box reaches outside)
    box = fit_to_frame(np.array([50.0, 50.0, 170.0]), (100, 100), CropConfig())
    assert box[2] - box[0] == 140 and box[0] < 0
