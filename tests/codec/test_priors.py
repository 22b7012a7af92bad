"""The two prior channels cover the face on a real frame, and are zero without a face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from codec.errors import InputError
from codec.face_mesh_topology import FACE_OVAL, TESSELLATION_EDGES
from codec.media import video_io
from codec.priors import FacePriors, face_oval_mask, priors_from_landmarks, render_mesh, to_model_input


@pytest.fixture(scope="module")
def face_frame(dev_clip: Path) -> np.ndarray:
    return video_io.read_frames(dev_clip, max_frames=1)[0]


@pytest.mark.data
def test_mesh_and_mask_cover_the_face(face_frame: np.ndarray) -> None:
    with FacePriors(static_image_mode=True) as fp:
        priors = fp.compute(face_frame)
    h, w = face_frame.shape[:2]
    assert priors.found and priors.landmarks.shape == (468, 2) and priors.landmarks.dtype == np.float32
    assert priors.mesh.shape == priors.mask.shape == (h, w)
    hull = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(priors.landmarks).astype(np.int32)), 1)
    inside = hull.astype(bool)
    assert priors.mask[inside].mean() > 0.9, "the mask fills the face"
    assert priors.mask[~inside].sum() < 0.02 * inside.sum(), "and stays on it"
    x0, y0 = np.floor(priors.landmarks.min(0)).astype(int) - 2
    x1, y1 = np.ceil(priors.landmarks.max(0)).astype(int) + 2
    box = np.zeros((h, w), bool)
    box[max(y0, 0) : y1, max(x0, 0) : x1] = True
    assert priors.mesh[~box].max() == 0.0, "mesh pixels lie within the face box"
    assert (priors.mesh[box] > 0.5).mean() > 0.15, "and the mesh is drawn densely"


@pytest.mark.data
def test_priors_redraw_from_landmarks_at_any_size(face_frame: np.ndarray) -> None:
    with FacePriors(static_image_mode=True) as fp:
        priors = fp.compute(face_frame)
    small = priors.landmarks * (128 / face_frame.shape[0])
    again = priors_from_landmarks(small, 128)
    assert again.mesh.shape == (128, 128) and again.mask.sum() > 0.1 * 128 * 128
    x = to_model_input(np.ascontiguousarray(face_frame), priors)
    assert x.shape == (5, *face_frame.shape[:2]) and x.dtype.is_floating_point
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_no_face_gives_found_false_and_zero_channels() -> None:
    gradient = np.zeros((192, 256, 3), np.uint8)
    gradient[..., 0] = np.linspace(0, 255, 256)[None]
    gradient[..., 1] = np.linspace(0, 255, 192)[:, None]
    for static in (True, False):
        with FacePriors(static_image_mode=static) as fp:
            priors = fp.compute(gradient)
        assert not priors.found and priors.landmarks is None
        assert priors.mesh.shape == (192, 256) and not priors.mesh.any() and not priors.mask.any()
    assert to_model_input(gradient, priors)[3:].abs().sum() == 0


def test_drawing_from_synthetic_landmarks_and_bad_input() -> None:
    angle = np.linspace(0, 2 * np.pi, 468, endpoint=False)
    landmarks = np.stack([64 + 30 * np.cos(angle), 64 + 40 * np.sin(angle)], 1).astype(np.float32)
    mesh, mask = render_mesh(landmarks, 128), face_oval_mask(landmarks, 128)
    assert mesh.dtype == mask.dtype == np.float32 and 0 < mesh.max() <= 1 and 0 < mask.max() <= 1
    with pytest.raises(InputError):
        to_model_input(np.zeros((8, 8), np.float32), priors_from_landmarks(None, 8))


def test_the_written_out_topology_is_mediapipes() -> None:
    """Priors are drawn without MediaPipe (training on a GPU machine has none): from a copy of its topology."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_FACE_OVAL, FACEMESH_TESSELATION

    assert list(TESSELLATION_EDGES) == sorted({tuple(sorted(e)) for e in FACEMESH_TESSELATION})
    following = dict(FACEMESH_FACE_OVAL)
    order = [min(following)]
    while following[order[-1]] != order[0]:
        order.append(following[order[-1]])
    assert list(FACE_OVAL) == order and len(order) == len(FACEMESH_FACE_OVAL)
