"""The two structural prior channels of AVFR-GAN: a face-mesh drawing and a face mask.

Both channels are drawn from the 468 MediaPipe face-mesh landmarks alone
(:func:`render_mesh`, :func:`face_oval_mask`), so the training set stores landmarks (a few
bytes per frame) and re-draws the channels at load time at any size, and the sender, the
receiver and training all see pixel-identical priors for the same landmarks.

The mask: the filled face-oval polygon of the mesh (``FACEMESH_FACE_OVAL``: forehead to chin,
ear to ear), anti-aliased. The paper uses a face-segmentation mask; MediaPipe's selfie
segmentation masks the whole person (hair, neck, shoulders), and restricted to the face
oval it is 1 almost everywhere: on our dev frames the oval alone and selfie x oval agree to
IoU 0.99 or more. Multiplying by the selfie mask would cost a second network per frame and
break the train/inference identity above (the training set stores landmarks, not person
masks), so it is off by default (``FacePriors(use_segmentation=True)`` turns it on for
experiments; then the mask is no longer reproducible from landmarks).

No face: ``Priors(found=False, landmarks=None, mesh=zeros, mask=zeros)``. Zero channels
are what the model sees for "no structure known"; the caller decides what to do with the
frame (the sender holds the last pose, the receiver refuses a keyframe without a face,
training preparation drops the frame from source/driving sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from codec.errors import InputError
from codec.face_mesh_topology import FACE_OVAL, TESSELLATION_EDGES

NUM_LANDMARKS = 468
_AA_SHIFT = 4  # cv2 fixed-point bits: sub-pixel line and polygon positions (1/16 px)


@dataclass
class Priors:
    """Face-mesh landmarks (pixels of the analysed image) and the two prior channels."""

    found: bool
    landmarks: np.ndarray | None  # (468, 2) float32, x then y, pixels
    mesh: np.ndarray  # HxW float32 in [0, 1]
    mask: np.ndarray  # HxW float32 in [0, 1]


@lru_cache(maxsize=1)
def tessellation_edges() -> np.ndarray:
    """(E, 2) int32 landmark index pairs of MediaPipe's face-mesh tessellation (unique edges)."""
    return np.array(TESSELLATION_EDGES, np.int32)


@lru_cache(maxsize=1)
def face_oval_indices() -> np.ndarray:
    """Landmark indices of the face oval, in order around the face (a closed polygon)."""
    return np.array(FACE_OVAL, np.int32)


def _size_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _fixed_point(landmarks: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(landmarks, np.float64) * (1 << _AA_SHIFT)).astype(np.int32)


def render_mesh(landmarks: np.ndarray, size: int | tuple[int, int], thickness: int = 1) -> np.ndarray:
    """HxW float32 drawing of the tessellation edges (anti-aliased, 1 px) from pixel landmarks.

    `size` is an int (square) or (height, width). Lines are drawn at 1 px whatever the size,
    so the drawing is as sharp at 128 px as at 256 px (denser, not thicker).
    """
    h, w = _size_hw(size)
    canvas = np.zeros((h, w), np.uint8)
    pts = _fixed_point(landmarks)
    edges = tessellation_edges()
    lines = np.stack([pts[edges[:, 0]], pts[edges[:, 1]]], axis=1)
    cv2.polylines(canvas, list(lines), isClosed=False, color=255, thickness=thickness, lineType=cv2.LINE_AA, shift=_AA_SHIFT)
    return canvas.astype(np.float32) * (1.0 / 255.0)


def face_oval_mask(landmarks: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """HxW float32 filled face oval (anti-aliased edge) from pixel landmarks: the face mask."""
    h, w = _size_hw(size)
    canvas = np.zeros((h, w), np.uint8)
    polygon = _fixed_point(landmarks)[face_oval_indices()]
    cv2.fillPoly(canvas, [polygon], color=255, lineType=cv2.LINE_AA, shift=_AA_SHIFT)
    return canvas.astype(np.float32) * (1.0 / 255.0)


def empty_priors(height: int, width: int) -> Priors:
    """The no-face result: zero channels, no landmarks."""
    zeros = np.zeros((height, width), np.float32)
    return Priors(found=False, landmarks=None, mesh=zeros, mask=zeros.copy())


def priors_from_landmarks(landmarks: np.ndarray | None, size: int | tuple[int, int]) -> Priors:
    """Priors re-drawn from stored landmarks (pixels at `size`); None gives the no-face result."""
    h, w = _size_hw(size)
    if landmarks is None:
        return empty_priors(h, w)
    lm = np.asarray(landmarks, np.float32)
    return Priors(found=True, landmarks=lm, mesh=render_mesh(lm, (h, w)), mask=face_oval_mask(lm, (h, w)))


class FacePriors:
    """A MediaPipe face-mesh session that turns RGB frames into :class:`Priors`.

    ``static_image_mode=False`` (video) runs the face detector only until a face is found and
    then tracks it from frame to frame: faster and temporally steadier, for the sender and
    training preparation. ``True`` detects afresh on every image: for keyframes and stills,
    where the previous frame says nothing. Use one instance per stream (tracking state), as a
    context manager or with :meth:`close`.
    """

    def __init__(
        self,
        static_image_mode: bool = False,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        use_segmentation: bool = False,
    ) -> None:
        import mediapipe as mp

        self.static_image_mode = static_image_mode
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static_image_mode,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) if use_segmentation else None

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """(468, 2) float32 pixel landmarks of the most prominent face, or None."""
        rgb = _check_rgb(rgb)
        result = self._mesh.process(rgb)
        if not result.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        points = result.multi_face_landmarks[0].landmark
        lm = np.array([(p.x, p.y) for p in points[:NUM_LANDMARKS]], np.float32)
        return lm * np.array([w, h], np.float32)

    def compute(self, rgb: np.ndarray) -> Priors:
        """Landmarks and the two channels at the image's size; see the module doc for no face."""
        rgb = _check_rgb(rgb)
        lm = self.landmarks(rgb)
        priors = priors_from_landmarks(lm, rgb.shape[:2])
        if priors.found and self._segmenter is not None:
            person = self._segmenter.process(rgb).segmentation_mask.astype(np.float32)
            priors.mask = priors.mask * np.clip(person, 0.0, 1.0)
        return priors

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None

    def __enter__(self) -> "FacePriors":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InputError(f"face priors need an HxWx3 uint8 RGB image, got {got}: convert the frame first")
    return np.ascontiguousarray(rgb)


def to_model_input(rgb_uint8: np.ndarray, priors: Priors) -> torch.Tensor:
    """[5, H, W] float32 in [0, 1]: RGB, mesh, mask (the ARCHITECTURE.md channel order)."""
    rgb = _check_rgb(rgb_uint8)
    if priors.mesh.shape != rgb.shape[:2] or priors.mask.shape != rgb.shape[:2]:
        raise InputError(f"priors are {priors.mesh.shape}, the image {rgb.shape[:2]}: compute priors at the image size")
    planes = np.empty((5,) + rgb.shape[:2], np.float32)
    planes[:3] = rgb.transpose(2, 0, 1) * np.float32(1.0 / 255.0)
    planes[3] = priors.mesh
    planes[4] = priors.mask
    return torch.from_numpy(planes)


__all__ = [
    "NUM_LANDMARKS",
    "Priors",
    "FacePriors",
    "render_mesh",
    "face_oval_mask",
    "priors_from_landmarks",
    "empty_priors",
    "tessellation_edges",
    "face_oval_indices",
    "to_model_input",
]
