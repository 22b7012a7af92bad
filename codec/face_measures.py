"""Does the decoded face talk and blink like the real one? Mouth and eye opening, measured.

Whole-picture LPIPS and PSNR hardly notice a mouth that stays shut while the speaker talks:
the mouth is a few percent of the picture. These measures look at it directly, the same way
in the model card, ``benchmarks.rd``, ``benchmarks.lookahead`` and the training curves:

- **mouth opening** per frame: the inner-lip gap |L13 - L14| over the eye-corner distance
  |L33 - L263| (MediaPipe face-mesh indices), so that it does not depend on the face's size;
- **eye opening** per frame: the eyelid gap over the same distance, left |L159 - L145| and
  right |L386 - L374|, and their mean (blinks);
- per clip, between the real series and the decoded one: Pearson **correlation** (does the
  decoded mouth open when the real one does?) and **amplitude ratio** std(decoded) /
  std(real) (does it open as far?);
- **mouth-region LPIPS**: the box around the real frame's lips, a quarter larger each side,
  cut from both pictures and scaled to 64 px.

Landmark source: both series go through identical MediaPipe processing, one
:class:`codec.priors.FacePriors` session in tracking mode over the clip's frames in order,
each picture first resized to 256 px when smaller (``codec.model_input.resize_rgb``: where
the mesh is reliable, as the codec itself analyses faces). The prepared data's stored
landmarks come from the 256 px crops, not from the model-size pictures the model is judged
against; using them for the real side only would mix two sources (and two sharpnesses), so
they are not used here. The mouth box comes from the real frame's tracked landmarks, the
same box for both pictures.

Degenerate clips: frames where MediaPipe finds no face on either side are dropped from both
series (and counted). A clip with fewer than ``min_frames`` usable frames, or whose real
series is constant (std below ``min_std``), has no correlation or ratio (None): there is
nothing to follow. A decoded series that hardly moves (std below ``still_ratio`` of the real
one's, e.g. "repeat the keyframe") scores correlation 0: its Pearson would only correlate
MediaPipe's jitter, and leaving such clips out of a mean would flatter a still mouth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from codec.face_mesh_topology import LIP_LANDMARKS

MOUTH_GAP = (13, 14)  # inner upper lip, inner lower lip
EYE_CORNERS = (33, 263)  # outer eye corners: the face's scale
LEFT_EYELIDS = (159, 145)  # upper, lower lid of the eye on the picture's left (the subject's right eye)
RIGHT_EYELIDS = (386, 374)  # the eye on the picture's right
SERIES = ("mouth", "eye", "eye_left", "eye_right")


@dataclass(frozen=True)
class FaceMeasureConfig:
    """The measures' settings, one place for every caller."""

    analysis_size: int = 256  # pictures smaller than this are resized up before MediaPipe
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_frames: int = 3  # usable frames a clip needs for a correlation
    min_std: float = 1e-6  # opening std (fraction of the eye-corner distance) below which a real series is constant
    still_ratio: float = 0.01  # a decoded series whose std is below this fraction of the real one's does not move
    mouth_px: int = 64  # mouth crops are scaled to this square for LPIPS
    mouth_margin: float = 0.25  # the lip box grows by this fraction of its size on each side
    lpips_batch: int = 32


DEFAULT = FaceMeasureConfig()


# --------------------------------------------------------------------------- landmarks and openings


def track_landmarks(frames: Iterable[np.ndarray], config: FaceMeasureConfig = DEFAULT) -> np.ndarray:
    """[N, 468, 2] landmarks in fractions of the picture (x, y), NaN where no face was found.

    One tracking session per call: pass one clip's pictures in time order."""
    from codec.model_input import resize_rgb
    from codec.priors import NUM_LANDMARKS, FacePriors

    out = []
    with FacePriors(
        static_image_mode=False,
        min_detection_confidence=config.min_detection_confidence,
        min_tracking_confidence=config.min_tracking_confidence,
    ) as mesh:
        for frame in frames:
            size = max(config.analysis_size, frame.shape[0])
            lm = mesh.landmarks(resize_rgb(np.ascontiguousarray(frame), size))
            out.append(np.full((NUM_LANDMARKS, 2), np.nan, np.float32) if lm is None else lm / np.float32(size))
    return np.stack(out) if out else np.zeros((0, NUM_LANDMARKS, 2), np.float32)


def _gap(landmarks: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    return np.linalg.norm(landmarks[:, pair[0]] - landmarks[:, pair[1]], axis=-1)


def openings(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame openings (``SERIES``) in units of the eye-corner distance; NaN where no face."""
    lm = np.asarray(landmarks, np.float64)
    scale = np.maximum(_gap(lm, EYE_CORNERS), 1e-9)
    left, right = _gap(lm, LEFT_EYELIDS) / scale, _gap(lm, RIGHT_EYELIDS) / scale
    return {"mouth": _gap(lm, MOUTH_GAP) / scale, "eye": (left + right) / 2, "eye_left": left, "eye_right": right}


@dataclass
class FaceTrack:
    """One picture series as MediaPipe saw it: landmarks and the openings read from them."""

    landmarks: np.ndarray  # [N, 468, 2] fractions, NaN rows where no face
    openings: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.openings = openings(self.landmarks)

    @property
    def found(self) -> np.ndarray:
        return np.isfinite(self.landmarks).all(axis=(1, 2))

    def __len__(self) -> int:
        return len(self.landmarks)


def track(frames: Sequence[np.ndarray], config: FaceMeasureConfig = DEFAULT) -> FaceTrack:
    return FaceTrack(track_landmarks(frames, config))


# --------------------------------------------------------------------------- agreement of two series


@dataclass(frozen=True)
class Agreement:
    """How a decoded opening series follows the real one over one clip."""

    corr: float | None  # Pearson; None: undefined (see the module doc)
    amplitude_ratio: float | None  # std(decoded) / std(real)
    frames: int  # frames used (a face on both sides)
    dropped: int  # frames left out: no face on one side or both
    real_std: float | None
    decoded_std: float | None


def agreement(real: np.ndarray, decoded: np.ndarray, config: FaceMeasureConfig = DEFAULT) -> Agreement:
    """Correlation and amplitude ratio of two per-frame series; NaN frames drop from both."""
    real, decoded = np.asarray(real, np.float64), np.asarray(decoded, np.float64)
    if real.shape != decoded.shape:
        raise ValueError(f"series of {real.shape} and {decoded.shape} frames: measure the same frames on both sides")
    keep = np.isfinite(real) & np.isfinite(decoded)
    r, d = real[keep], decoded[keep]
    n, dropped = int(keep.sum()), int((~keep).sum())
    if n < config.min_frames:
        return Agreement(None, None, n, dropped, None, None)
    sr, sd = float(r.std()), float(d.std())
    if sr < config.min_std:
        return Agreement(None, None, n, dropped, sr, sd)
    if sd < max(config.min_std, config.still_ratio * sr):
        return Agreement(0.0, sd / sr, n, dropped, sr, sd)
    corr = float(np.mean((r - r.mean()) * (d - d.mean())) / (sr * sd))
    return Agreement(corr, sd / sr, n, dropped, sr, sd)


# --------------------------------------------------------------------------- the mouth region


def lip_indices() -> np.ndarray:
    """Every landmark of MediaPipe's lip contours (outer and inner)."""
    return np.array(LIP_LANDMARKS, np.int64)


Box = tuple[int, int, int, int]  # y0, y1, x0, x1 in pixels


def mouth_boxes(landmarks: np.ndarray, size: int, lips: np.ndarray | None = None, config: FaceMeasureConfig = DEFAULT) -> list[Box | None]:
    """Per frame: the lips' bounding box, enlarged (more below and above: the chin and the
    upper lip move with the mouth), clipped to the picture; None where no face."""
    lips = lip_indices() if lips is None else lips
    boxes: list[Box | None] = []
    for lm in np.asarray(landmarks):
        pts = lm[lips] * size
        if not np.isfinite(pts).all():
            boxes.append(None)
            continue
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        m = config.mouth_margin
        mx, my = m * (x1 - x0), m * (y1 - y0) + m * (x1 - x0) / 2
        y0i, y1i = max(int(y0 - my), 0), min(int(np.ceil(y1 + my)), size)
        x0i, x1i = max(int(x0 - mx), 0), min(int(np.ceil(x1 + mx)), size)
        boxes.append((y0i, y1i, x0i, x1i) if y1i > y0i and x1i > x0i else None)
    return boxes


def crop_mouths(pictures: torch.Tensor, boxes: Sequence[Box], px: int = DEFAULT.mouth_px) -> torch.Tensor:
    """[N, C, px, px]: each picture's box, scaled (bilinear) to a common size."""
    crops = [pictures[i : i + 1, :, y0:y1, x0:x1] for i, (y0, y1, x0, x1) in enumerate(boxes)]
    return torch.cat([F.interpolate(c, size=(px, px), mode="bilinear", align_corners=False) for c in crops])


def picture_size(frames: np.ndarray | torch.Tensor) -> int:
    return int(frames.shape[-1] if isinstance(frames, torch.Tensor) else frames.shape[2])


@torch.no_grad()
def mouth_lpips(
    lpips: torch.nn.Module,
    real: np.ndarray | torch.Tensor,
    decoded: np.ndarray | torch.Tensor,
    boxes: Sequence[Box | None],
    config: FaceMeasureConfig = DEFAULT,
) -> np.ndarray:
    """Per-frame LPIPS of the mouth crops (``lpips`` takes [N, 3, H, W] in [0, 1]); NaN without
    a box. ``decoded`` is resized (bicubic) to the real pictures' size, where the boxes are.
    Converted a batch at a time: a 250-frame clip at 256 px is 200 MB as float."""
    from codec.model_input import to_pictures

    out = np.full(len(boxes), np.nan)
    idx = [i for i, b in enumerate(boxes) if b is not None]
    for s in range(0, len(idx), config.lpips_batch):
        chunk = idx[s : s + config.lpips_batch]
        a, b = to_pictures(real[chunk]), to_pictures(decoded[chunk])
        if b.shape[-2:] != a.shape[-2:]:
            b = F.interpolate(b, size=a.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
        bx = [boxes[i] for i in chunk]
        out[chunk] = lpips(crop_mouths(b, bx, config.mouth_px), crop_mouths(a, bx, config.mouth_px)).double().cpu().numpy()
    return out


# --------------------------------------------------------------------------- one clip, one rendering


@dataclass
class FaceComparison:
    """A rendering of one clip against the real frames: every measure, and the series behind them."""

    real: FaceTrack
    decoded: FaceTrack
    agreements: dict[str, Agreement]  # per SERIES name
    boxes: list[Box | None]  # the mouth box per frame, in the real pictures' pixels
    mouth_lpips: np.ndarray  # per frame, NaN where the real frame has no face

    def summary(self) -> dict[str, float | int | None]:
        """The flat per-clip record the reports store (JSON-ready)."""
        out: dict[str, float | int | None] = {}
        for name, a in self.agreements.items():
            out[f"{name}_corr"] = a.corr
            out[f"{name}_amplitude_ratio"] = a.amplitude_ratio
        lp = self.mouth_lpips[np.isfinite(self.mouth_lpips)]
        out["mouth_lpips"] = float(lp.mean()) if lp.size else None
        out["face_frames"] = self.agreements["mouth"].frames
        out["no_face_real"] = int((~self.real.found).sum())
        out["no_face_decoded"] = int((~self.decoded.found).sum())
        return out


class FaceMeasures:
    """Holds the LPIPS network; measures renderings of a clip against its real frames.

    Track the real frames once per clip (:meth:`track`) and compare every rendering of that
    clip with it (:meth:`compare`): the real side is the same for speech, silence and every
    codec point."""

    def __init__(self, lpips: torch.nn.Module | None = None, config: FaceMeasureConfig = DEFAULT) -> None:
        if lpips is None:
            from codec.losses.lpips import LPIPS

            lpips = LPIPS("alex").eval()
        self.lpips, self.config = lpips, config
        self._lips = lip_indices()

    def track(self, frames: np.ndarray | torch.Tensor) -> FaceTrack:
        """``frames``: uint8 NxHxWx3, or [N, C, H, W] pictures in [0, 1]."""
        from codec.model_input import to_uint8_rgb

        return track(to_uint8_rgb(frames) if isinstance(frames, torch.Tensor) else frames, self.config)

    def compare(self, real: np.ndarray | torch.Tensor, real_track: FaceTrack, decoded: np.ndarray | torch.Tensor) -> FaceComparison:
        """``real`` and ``decoded``: uint8 NxHxWx3 frames or [N, C, H, W] pictures in [0, 1], of
        any sizes (each is analysed at >= 256 px; for the mouth crops ``decoded`` is resized to
        the real pictures' size, where the box is)."""
        if len(real) != len(decoded) or len(real) != len(real_track):
            raise ValueError(f"{len(real)} real frames, {len(decoded)} decoded, {len(real_track)} tracked: measure the same frames")
        dec_track = self.track(decoded)
        agreements = {k: agreement(real_track.openings[k], dec_track.openings[k], self.config) for k in SERIES}
        boxes = mouth_boxes(real_track.landmarks, picture_size(real), self._lips, self.config)
        return FaceComparison(real_track, dec_track, agreements, boxes, mouth_lpips(self.lpips, real, decoded, boxes, self.config))


# --------------------------------------------------------------------------- over clips


FACE_KEYS = ("mouth_corr", "mouth_amplitude_ratio", "eye_corr", "eye_amplitude_ratio", "eye_left_corr", "eye_right_corr", "mouth_lpips")


def mean_over_clips(records: Iterable[dict], keys: Sequence[str] = FACE_KEYS, suffix: str = "") -> dict[str, float | int | None]:
    """Unweighted mean over clips of each ``key + suffix`` that a clip has (None values skipped:
    a clip with a constant real series has nothing to say about following it), and how many
    clips each mean is over (``<key>_clips``)."""
    records = list(records)
    out: dict[str, float | int | None] = {}
    for k in keys:
        vals = [r[k + suffix] for r in records if r.get(k + suffix) is not None]
        out[k + suffix] = float(np.mean(vals)) if vals else None
        out[f"{k}{suffix}_clips"] = len(vals)
    return out


__all__ = [
    "FaceMeasureConfig",
    "FaceMeasures",
    "FaceComparison",
    "FaceTrack",
    "Agreement",
    "agreement",
    "openings",
    "track",
    "track_landmarks",
    "mouth_boxes",
    "crop_mouths",
    "mouth_lpips",
    "lip_indices",
    "mean_over_clips",
    "FACE_KEYS",
    "SERIES",
]
