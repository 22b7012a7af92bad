"""A steady square face crop from a video: causal for the live sender, one box per shot offline.

Why steady: the codec sends motion keypoints relative to the keyframe. A crop that follows
every detector wobble adds a global jitter to every keypoint, which the receiver renders as
the whole picture (background included) shaking. So the crop moves only when the face has
really moved.

Box from a detection: the detector's face box (MediaPipe face detection, full-range model,
short-range as fallback for faces too close for it) is made square, enlarged ``scale`` times
(1.7: the whole head with some margin, like FOMM's VoxCeleb crops) and lifted by ``shift_up``
face heights to include hair. The crop is shifted to stay inside the frame; when the frame is
too small it first shrinks towards ``min_scale`` and only then pads with edge pixels.

Causal tracking (:class:`FaceCropper`), frame by frame:
- detections are smoothed exponentially (``detection_smoothing``);
- hysteresis: the crop box stays put while the smoothed face stays within ``move_margin``
  (centre, in crop sides) and ``size_margin`` (relative size) of it; beyond that the box eases
  towards the face (``follow`` per frame) until it is within ``settle_margin``, then stops;
- a jump (centre moved more than ``jump`` crop sides, or size changed more than ``jump_size``
  times), the first face, or a face found again after it was lost snaps the box at once and
  reports ``shot_changed`` (a new keyframe is due);
- no face: the last box is kept; after ``lost_after`` frames without a face, ``face_lost``
  is reported (the sender decides: hold the last keypoints, send a keyframe when it returns).
  Before any face is seen the crop is the centred square of the frame and counts as lost
  after ``lost_after`` frames too.

Offline (:func:`find_shot_box`, :func:`split_shots`): the box of a shot covers the union of
its face boxes, at least ``scale`` times their median size: the crop never moves in a shot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import cv2
import numpy as np

from codec.errors import InputError

FaceBox = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
CropBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, square; may reach outside the frame


@dataclass
class CropConfig:
    """Framing, smoothing and loss settings shared by the live tracker and the offline crops."""

    out_size: int = 256
    scale: float = 1.7
    min_scale: float = 1.4
    shift_up: float = 0.1
    detection_smoothing: float = 0.5
    move_margin: float = 0.08
    size_margin: float = 0.12
    settle_margin: float = 0.015
    follow: float = 0.25
    jump: float = 0.5
    jump_size: float = 1.6
    lost_after: int = 25
    min_detection_confidence: float = 0.5


@dataclass
class CropResult:
    """One tracked frame: the crop and what the tracker knows about the face."""

    crop: np.ndarray  # out_size x out_size x 3 uint8 RGB
    box: CropBox
    face_found: bool
    face_lost: bool
    shot_changed: bool
    face_box: FaceBox | None = None


class FaceDetector:
    """MediaPipe face detection: full-range model first, short-range when it finds nothing.

    Full range finds small faces in wide shots (the short-range model misses faces under
    ~15% of the frame); the short-range model finds the very close faces of pre-cropped
    datasets that the full-range one sometimes misses.
    """

    def __init__(self, min_confidence: float = 0.5) -> None:
        import mediapipe as mp

        fd = mp.solutions.face_detection
        self._models = [
            fd.FaceDetection(model_selection=1, min_detection_confidence=min_confidence),
            fd.FaceDetection(model_selection=0, min_detection_confidence=min_confidence),
        ]

    def detect(self, rgb: np.ndarray) -> list[tuple[FaceBox, float]]:
        """Face boxes in pixels with their scores (empty when there is no face)."""
        rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        for model in self._models:
            result = model.process(rgb)
            if result.detections:
                out = []
                for d in result.detections:
                    b = d.location_data.relative_bounding_box
                    box = (b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h)
                    out.append((box, float(d.score[0])))
                return out
        return []

    def close(self) -> None:
        for m in self._models:
            m.close()
        self._models = []

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- geometry ------------------------------------------------------------------------------


def _face_side(face: FaceBox) -> float:
    return max(face[2] - face[0], face[3] - face[1])


def crop_square_for_face(face: FaceBox, cfg: CropConfig) -> np.ndarray:
    """(cx, cy, side) of the wanted crop for one face box, before fitting it to the frame."""
    side = _face_side(face)
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2 - cfg.shift_up * side
    return np.array([cx, cy, cfg.scale * side], np.float64)


def fit_to_frame(square: np.ndarray, frame_hw: tuple[int, int], cfg: CropConfig) -> CropBox:
    """Integer square box: shrunk towards min_scale if the frame is too small, shifted inside it."""
    h, w = frame_hw
    cx, cy, side = (float(v) for v in square)
    short = min(h, w)
    if side > short:
        side = max(short, side * cfg.min_scale / cfg.scale)
    side_i = max(int(round(side)), 2)
    x0, y0 = int(round(cx - side_i / 2)), int(round(cy - side_i / 2))
    if side_i <= w:
        x0 = min(max(x0, 0), w - side_i)
    else:
        x0 = (w - side_i) // 2
    if side_i <= h:
        y0 = min(max(y0, 0), h - side_i)
    else:
        y0 = (h - side_i) // 2
    return (x0, y0, x0 + side_i, y0 + side_i)


def centre_box(frame_hw: tuple[int, int]) -> CropBox:
    """The centred square of the frame: the crop before any face is seen."""
    h, w = frame_hw
    s = min(h, w)
    x0, y0 = (w - s) // 2, (h - s) // 2
    return (x0, y0, x0 + s, y0 + s)


def crop_box(frame: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """The box's pixels resized to out_size (area filter down, cubic up); edge pixels outside."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = box
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    patch = frame[y0:y1, x0:x1]
    if patch.shape[0] == out_size:
        return np.ascontiguousarray(patch)
    interp = cv2.INTER_AREA if patch.shape[0] > out_size else cv2.INTER_CUBIC
    return cv2.resize(patch, (out_size, out_size), interpolation=interp)


def _pick(detections: list[tuple[FaceBox, float]], near: np.ndarray | None) -> FaceBox | None:
    """The face to follow: the one nearest the current crop, else the largest confident one."""
    if not detections:
        return None
    if near is not None:
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b, _ in detections]
        d = [np.hypot(c[0] - near[0], c[1] - near[1]) for c in centres]
        return detections[int(np.argmin(d))][0]
    return max(detections, key=lambda bs: bs[1] * _face_side(bs[0]))[0]


# ---- live tracker --------------------------------------------------------------------------


@dataclass
class _TrackState:
    box: np.ndarray | None = None  # (cx, cy, side) the crop currently uses
    target: np.ndarray | None = None  # smoothed wanted crop
    moving: bool = False
    since_face: int = 0
    ever_found: bool = False
    frame_hw: tuple[int, int] | None = None


class FaceCropper:
    """Causal face crop for a live sender; see the module doc for the behaviour.

    ``update(frame)`` must be called on consecutive frames of one stream. Use as a context
    manager or call :meth:`close` to free the MediaPipe sessions.
    """

    def __init__(self, out_size: int = 256, config: CropConfig | None = None, detector: FaceDetector | None = None, **overrides: float) -> None:
        cfg = config or CropConfig()
        self.config = CropConfig(**{**cfg.__dict__, "out_size": out_size, **overrides})
        self.detector = detector or FaceDetector(self.config.min_detection_confidence)
        self.state = _TrackState()

    def update(self, frame_rgb: np.ndarray) -> CropResult:
        if not isinstance(frame_rgb, np.ndarray) or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
            raise InputError("the face tracker needs HxWx3 RGB frames: convert the frame first")
        hw = frame_rgb.shape[:2]
        if self.state.frame_hw != hw:
            self.state = _TrackState(frame_hw=hw)
        s, cfg = self.state, self.config
        face = _pick(self.detector.detect(frame_rgb), s.box[:2] if s.box is not None else None)
        shot_changed = False
        if face is not None:
            shot_changed = self._follow(crop_square_for_face(face, cfg))
            s.since_face, s.ever_found = 0, True
        else:
            s.since_face += 1
        box = fit_to_frame(s.box, hw, cfg) if s.box is not None else centre_box(hw)
        return CropResult(
            crop=crop_box(frame_rgb, box, cfg.out_size),
            box=box,
            face_found=face is not None,
            face_lost=face is None and s.since_face > cfg.lost_after,
            shot_changed=shot_changed,
            face_box=face,
        )

    def _follow(self, wanted: np.ndarray) -> bool:
        """Move the box towards a new wanted crop; True when it snapped (a new shot)."""
        s, cfg = self.state, self.config
        reacquired = s.since_face > cfg.lost_after
        if s.box is None or reacquired or _is_jump(s.box, wanted, cfg):
            s.box, s.target, s.moving = wanted.copy(), wanted.copy(), False
            return True
        s.target += cfg.detection_smoothing * (wanted - s.target)
        off_centre = np.hypot(*(s.target[:2] - s.box[:2])) / s.box[2]
        off_size = abs(np.log(s.target[2] / s.box[2]))
        if off_centre > cfg.move_margin or off_size > np.log1p(cfg.size_margin):
            s.moving = True
        if s.moving:
            s.box += cfg.follow * (s.target - s.box)
            if off_centre < cfg.settle_margin and off_size < np.log1p(cfg.settle_margin):
                s.moving = False
        return False

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> "FaceCropper":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_jump(box: np.ndarray, wanted: np.ndarray, cfg: CropConfig) -> bool:
    moved = np.hypot(*(wanted[:2] - box[:2])) / box[2]
    ratio = max(wanted[2] / box[2], box[2] / wanted[2])
    return moved > cfg.jump or ratio > cfg.jump_size


# ---- offline: one box per shot -------------------------------------------------------------


@dataclass
class ShotConfig:
    """How :func:`split_shots` cuts a clip: gaps, jumps, and how far a face may wander in a shot."""

    max_gap: int = 5  # frames without a face bridged inside a shot
    jump: float = 0.5  # centre move between face frames, in face sides, that starts a new shot
    jump_size: float = 1.4
    max_extent: float = 1.5  # union of face boxes may reach this many median face sides
    min_frames: int = 12  # shorter shots are dropped (not enough motion to learn from)


@dataclass
class Shot:
    start: int  # first frame (inclusive)
    end: int  # last frame + 1
    faces: list[FaceBox | None] = field(default_factory=list)

    @property
    def length(self) -> int:
        return self.end - self.start


def detect_faces(frames: Iterable[np.ndarray], detector: FaceDetector | None = None) -> list[FaceBox | None]:
    """One face box per frame (None where there is none): the face nearest the previous one, so
    a second person in the picture does not make the track hop between faces."""
    own = detector is None
    detector = detector or FaceDetector()
    out: list[FaceBox | None] = []
    previous: FaceBox | None = None
    try:
        for frame in frames:
            near = None if previous is None else np.array([(previous[0] + previous[2]) / 2, (previous[1] + previous[3]) / 2])
            out.append(_pick(detector.detect(frame), near))
            previous = out[-1] or previous
        return out
    finally:
        if own:
            detector.close()


def split_shots(faces: Sequence[FaceBox | None], cfg: ShotConfig | None = None) -> list[Shot]:
    """Cut a clip's per-frame face boxes into shots where the face is lost, jumps, or wanders off."""
    cfg = cfg or ShotConfig()
    shots: list[Shot] = []
    current: _OpenShot | None = None
    for i, face in enumerate(faces):
        if current is not None and (i - current.last > cfg.max_gap or (face is not None and current.breaks(face, cfg))):
            shots.append(current.close(faces))
            current = None
        if face is None:
            continue
        if current is None:
            current = _OpenShot(start=i, last=i)
        current.add(i, face)
    if current is not None:
        shots.append(current.close(faces))
    return [s for s in shots if s.length >= cfg.min_frames]


@dataclass
class _OpenShot:
    """A shot being grown: its last face frame, face sides and the union of its face boxes."""

    start: int
    last: int
    sides: list[float] = field(default_factory=list)
    union: list[float] | None = None
    prev: FaceBox | None = None

    def add(self, index: int, face: FaceBox) -> None:
        self.last, self.prev = index, face
        self.sides.append(_face_side(face))
        u = self.union
        self.union = list(face) if u is None else [min(u[0], face[0]), min(u[1], face[1]), max(u[2], face[2]), max(u[3], face[3])]

    def breaks(self, face: FaceBox, cfg: ShotConfig) -> bool:
        prev, u = self.prev, self.union
        assert prev is not None and u is not None
        side = _face_side(prev)
        moved = np.hypot((face[0] + face[2] - prev[0] - prev[2]) / 2, (face[1] + face[3] - prev[1] - prev[3]) / 2) / side
        ratio = max(_face_side(face) / side, side / _face_side(face))
        if moved > cfg.jump or ratio > cfg.jump_size:
            return True
        extent = max(max(u[2], face[2]) - min(u[0], face[0]), max(u[3], face[3]) - min(u[1], face[1]))
        return extent > cfg.max_extent * float(np.median(self.sides))

    def close(self, faces: Sequence[FaceBox | None]) -> Shot:
        return Shot(start=self.start, end=self.last + 1, faces=list(faces[self.start : self.last + 1]))


def find_shot_box(faces: Sequence[FaceBox | None] | Sequence[np.ndarray], frame_hw: tuple[int, int] | None = None, config: CropConfig | None = None) -> CropBox:
    """One crop box for a whole shot (FOMM crop-script style): no motion of the crop at all.

    Accepts the shot's face boxes (None where no face) with `frame_hw`, or the frames
    themselves (faces are detected). The box is square, centred on the union of the face
    boxes (lifted by ``shift_up``), with side max(scale x median face side, 1.15 x union extent),
    then fitted to the frame like the live crop.
    """
    cfg = config or CropConfig()
    if len(faces) and isinstance(faces[0], np.ndarray) and faces[0].ndim == 3:
        frame_hw = faces[0].shape[:2]
        faces = detect_faces(faces)  # type: ignore[arg-type]
    if frame_hw is None:
        raise InputError("find_shot_box needs the frame size with face boxes: pass frame_hw=(height, width)")
    known = np.array([f for f in faces if f is not None], np.float64)
    if len(known) == 0:
        return centre_box(frame_hw)
    sides = np.maximum(known[:, 2] - known[:, 0], known[:, 3] - known[:, 1])
    median_side = float(np.median(sides))
    ux0, uy0, ux1, uy1 = known[:, 0].min(), known[:, 1].min(), known[:, 2].max(), known[:, 3].max()
    side = max(cfg.scale * median_side, 1.15 * max(ux1 - ux0, uy1 - uy0))
    square = np.array([(ux0 + ux1) / 2, (uy0 + uy1) / 2 - cfg.shift_up * median_side, side])
    return fit_to_frame(square, frame_hw, cfg)


__all__ = [
    "CropConfig",
    "CropResult",
    "CropBox",
    "FaceBox",
    "FaceDetector",
    "FaceCropper",
    "ShotConfig",
    "Shot",
    "crop_box",
    "crop_square_for_face",
    "fit_to_frame",
    "centre_box",
    "detect_faces",
    "split_shots",
    "find_shot_box",
]
