"""The mouth and eye measures: openings from landmarks, agreement of two series, the mouth box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from codec import face_mesh_topology
from codec.face_measures import (
    EYE_CORNERS,
    LEFT_EYELIDS,
    MOUTH_GAP,
    RIGHT_EYELIDS,
    FaceMeasures,
    agreement,
    crop_mouths,
    mean_over_clips,
    mouth_boxes,
    openings,
    track,
)


def synthetic_landmarks(mouth: np.ndarray, eye_left: np.ndarray, eye_right: np.ndarray, corners: float = 0.4) -> np.ndarray:
    """[N, 468, 2] with the eye corners ``corners`` apart and the given gaps in those units."""
    n = len(mouth)
    lm = np.full((n, 468, 2), 0.5, np.float32)
    lm[:, EYE_CORNERS[0]] = [0.5 - corners / 2, 0.4]
    lm[:, EYE_CORNERS[1]] = [0.5 + corners / 2, 0.4]
    for pair, gap in ((MOUTH_GAP, mouth), (LEFT_EYELIDS, eye_left), (RIGHT_EYELIDS, eye_right)):
        lm[:, pair[0], 1] = 0.5
        lm[:, pair[1], 1] = 0.5 + gap * corners
    return lm


def test_openings_are_gaps_in_units_of_the_eye_corner_distance_whatever_the_face_size() -> None:
    mouth, left, right = np.array([0.0, 0.1, 0.3]), np.array([0.2, 0.1, 0.0]), np.array([0.2, 0.05, 0.0])
    for corners in (0.2, 0.5):
        o = openings(synthetic_landmarks(mouth, left, right, corners))
        assert np.allclose(o["mouth"], mouth, atol=1e-5) and np.allclose(o["eye_left"], left, atol=1e-5)
        assert np.allclose(o["eye_right"], right, atol=1e-5) and np.allclose(o["eye"], (left + right) / 2, atol=1e-5)


def test_a_missing_face_is_nan_in_every_series() -> None:
    lm = synthetic_landmarks(np.full(3, 0.1), np.full(3, 0.1), np.full(3, 0.1))
    lm[1] = np.nan
    assert all(np.isnan(v[1]) and np.isfinite(v[[0, 2]]).all() for v in openings(lm).values())


def test_a_scaled_and_shifted_copy_correlates_fully_and_its_ratio_is_the_scale() -> None:
    real = np.random.default_rng(0).uniform(0.0, 0.3, 200)
    a = agreement(real, 0.25 * real + 0.05)
    assert a.corr == pytest.approx(1.0) and a.amplitude_ratio == pytest.approx(0.25) and (a.frames, a.dropped) == (200, 0)
    assert agreement(real, -real).corr == pytest.approx(-1.0)


def test_correlation_of_a_noisy_copy_is_the_known_one() -> None:
    rng = np.random.default_rng(1)
    real = rng.standard_normal(20000)
    decoded = 0.6 * real + 0.8 * rng.standard_normal(20000)  # corr 0.6, std 1.0
    a = agreement(real, decoded)
    assert a.corr == pytest.approx(0.6, abs=0.02) and a.amplitude_ratio == pytest.approx(1.0, abs=0.02)


def test_frames_without_a_face_drop_from_both_series_and_are_counted() -> None:
    real = np.sin(np.linspace(0, 6, 50))
    decoded = real.copy()
    real[3], decoded[10], decoded[11] = np.nan, np.nan, 99.0  # 99: a wild value on a frame that stays
    a = agreement(real, decoded)
    assert (a.frames, a.dropped) == (48, 2) and a.corr < 0.99
    decoded[11] = real[11]
    assert agreement(real, decoded).corr == pytest.approx(1.0)


def test_degenerate_clips_say_so_instead_of_inventing_a_number() -> None:
    moving = np.sin(np.linspace(0, 6, 50))
    still = np.full(50, 0.1)
    assert agreement(still, moving).corr is None and agreement(still, moving).amplitude_ratio is None  # nothing to follow
    follows_nothing = agreement(moving, still)
    assert follows_nothing.corr == 0.0 and follows_nothing.amplitude_ratio == pytest.approx(0.0)  # a still mouth is not left out
    jitter = still + 1e-4 * np.random.default_rng(2).standard_normal(50)  # MediaPipe's jitter on a repeated picture
    assert agreement(moving, jitter).corr == 0.0 and 0.0 < agreement(moving, jitter).amplitude_ratio < 0.01
    few = np.full(50, np.nan)
    few[:2] = [0.1, 0.2]
    assert agreement(few, few).corr is None and agreement(few, few).frames == 2
    with pytest.raises(ValueError):
        agreement(moving, moving[:-1])


def test_means_over_clips_skip_undefined_values_and_count_the_rest() -> None:
    clips = [{"mouth_corr": 0.5, "mouth_lpips": 0.1}, {"mouth_corr": None, "mouth_lpips": 0.3}, {"mouth_corr": 0.7, "mouth_lpips": 0.2}]
    m = mean_over_clips(clips, ("mouth_corr", "mouth_lpips"))
    assert m["mouth_corr"] == pytest.approx(0.6) and m["mouth_corr_clips"] == 2
    assert m["mouth_lpips"] == pytest.approx(0.2) and m["mouth_lpips_clips"] == 3
    assert mean_over_clips([{"mouth_corr_without_speech": 0.4}], ("mouth_corr",), suffix="_without_speech")["mouth_corr_without_speech"] == 0.4
    assert mean_over_clips([], ("mouth_corr",))["mouth_corr"] is None


def test_mouth_boxes_hold_the_lips_and_stay_inside_the_picture() -> None:
    size = 128
    lips = np.array([0, 1, 2, 3])
    lm = np.zeros((3, 468, 2), np.float32)
    lm[0, lips] = [[0.4, 0.7], [0.6, 0.7], [0.5, 0.65], [0.5, 0.75]]
    lm[1, lips] = [[0.9, 0.95], [1.0, 0.95], [0.95, 0.9], [0.95, 1.0]]  # at the corner: clipped
    lm[2] = np.nan  # no face: no box
    boxes = mouth_boxes(lm, size, lips)
    y0, y1, x0, x1 = boxes[0]
    assert y0 < 0.65 * size and y1 > 0.75 * size and x0 < 0.4 * size and x1 > 0.6 * size
    assert boxes[2] is None and all(0 <= b[0] < b[1] <= size and 0 <= b[2] < b[3] <= size for b in boxes[:2])
    crops = crop_mouths(torch.rand(2, 3, size, size), boxes[:2])
    assert crops.shape == (2, 3, 64, 64)


def _first_frames(clip: Path, n: int) -> np.ndarray:
    import av

    with av.open(str(clip)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for _, f in zip(range(n), container.decode(video=0))])


@pytest.mark.data
def test_real_mediapipe_reads_plausible_openings_and_a_clip_matches_itself(dev_clip: Path, lpips_weights: None) -> None:
    from codec.model_input import resize_rgb

    frames = np.stack([resize_rgb(f[: min(f.shape[:2]), : min(f.shape[:2])], 128) for f in _first_frames(dev_clip, 12)])
    t = track(frames)  # 128 px pictures are analysed at 256, as decoded frames are
    assert t.found.all()
    assert (0.0 <= t.openings["mouth"]).all() and (t.openings["mouth"] < 0.8).all()
    assert (0.02 < t.openings["eye"]).all() and (t.openings["eye"] < 0.4).all()
    measures = FaceMeasures()
    same = measures.compare(frames, t, frames).summary()
    assert same["mouth_lpips"] == pytest.approx(0.0, abs=1e-6) and same["face_frames"] == 12
    assert same["mouth_corr"] == pytest.approx(1.0, abs=1e-6) and same["mouth_amplitude_ratio"] == pytest.approx(1.0, abs=1e-6)
    still = measures.compare(frames, t, np.repeat(frames[:1], len(frames), axis=0)).summary()
    assert still["mouth_lpips"] > 0.0 and still["mouth_amplitude_ratio"] < 0.5


def test_the_written_out_lip_and_eye_contours_are_mediapipes() -> None:
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_LEFT_EYE, FACEMESH_LIPS, FACEMESH_RIGHT_EYE

    points = lambda edges: sorted({i for edge in edges for i in edge})  # noqa: E731
    assert list(face_mesh_topology.LIP_LANDMARKS) == points(FACEMESH_LIPS)
    assert list(face_mesh_topology.EYE_LANDMARKS) == points(FACEMESH_LEFT_EYE | FACEMESH_RIGHT_EYE)
