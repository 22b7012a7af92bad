"""Facial-landmark distance: where the decoded face's features are, against the reference.

MediaPipe face mesh (468 points, the same model as :mod:`codec.priors`) runs on the reference
and the decoded frame independently, each as a still image (``static_image_mode``: no tracking
state carried from frame to frame, so one bad frame does not bias the next). The distance is
the mean Euclidean distance over the 468 points divided by the reference's inter-ocular
distance (outer eye corners, mesh points 33 and 263): the usual "NME, inter-ocular" of face
alignment, independent of crop size. Multiply by 100 for the percentage usually quoted.
Frames where either face is not found give NaN (and are counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.metrics.frames import FrameMemo, Frames, as_pair
from codec.priors import FacePriors

OUTER_EYE_CORNERS = (33, 263)  # right eye outer corner, left eye outer corner (subject's)
NORMALISATION = "inter-ocular distance (outer eye corners 33-263) of the reference face"


@dataclass
class LandmarkResult:
    nme: np.ndarray  # per frame, NaN where a face is missing
    reference_missing: int
    decoded_missing: int


@dataclass(frozen=True)
class LandmarkConfig:
    min_detection_confidence: float = 0.5


class LandmarkDistance:
    """Holds one MediaPipe face-mesh session; use as a context manager or call :meth:`close`."""

    def __init__(self, config: LandmarkConfig = LandmarkConfig()) -> None:
        self.config = config
        self.mesh = FacePriors(static_image_mode=True, min_detection_confidence=config.min_detection_confidence)
        self._reference = FrameMemo()  # the reference frames' landmarks, computed once per frame

    def compare(self, reference: Frames, decoded: Frames) -> LandmarkResult:
        ref, dec = as_pair(reference, decoded)
        nme, ref_missing, dec_missing = np.full(len(ref), np.nan), 0, 0
        for i, (r, d) in enumerate(zip(ref, dec)):
            lm_r = self._reference.get(r, self.mesh.landmarks)
            lm_d = self.mesh.landmarks(d) if lm_r is not None else None
            ref_missing += lm_r is None
            dec_missing += lm_r is not None and lm_d is None
            if lm_r is None or lm_d is None:
                continue
            iod = float(np.linalg.norm(lm_r[OUTER_EYE_CORNERS[0]] - lm_r[OUTER_EYE_CORNERS[1]]))
            nme[i] = float(np.linalg.norm(lm_r - lm_d, axis=1).mean()) / max(iod, 1e-6)
        return LandmarkResult(nme=nme, reference_missing=ref_missing, decoded_missing=dec_missing)

    def __call__(self, reference: Frames, decoded: Frames) -> np.ndarray:
        """Normalised mean landmark error per frame (0: same landmarks); NaN where a face is missing."""
        return self.compare(reference, decoded).nme

    def close(self) -> None:
        self.mesh.close()

    def __enter__(self) -> "LandmarkDistance":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
