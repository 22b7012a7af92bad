"""How the prepared set stores landmarks: quantised, delta-coded int16 (``meta.npz``).

Apart from :mod:`codec.training.prepare` (the writer) so that the reader
(:mod:`codec.training.dataset`) needs neither PyAV nor MediaPipe: training runs on machines
that have neither (a lent GPU machine).
"""

from __future__ import annotations

import numpy as np

LANDMARK_SCALE = 2048  # landmarks stored as round(x / crop_size * LANDMARK_SCALE): 1/8 px at 256


def encode_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(N, 468, 2) normalised float -> int16 first frame + frame-to-frame deltas (deflates well)."""
    q = np.clip(np.round(landmarks * LANDMARK_SCALE), -32000, 32000).astype(np.int32)
    d = np.diff(q, axis=0, prepend=np.zeros_like(q[:1]))
    return np.clip(d, -32768, 32767).astype(np.int16)


def decode_landmarks(coded: np.ndarray, scale: int = LANDMARK_SCALE) -> np.ndarray:
    """Inverse of encode_landmarks: (N, 468, 2) float32 in crop units (0..1 across the crop)."""
    return np.cumsum(coded.astype(np.int32), axis=0).astype(np.float32) / scale


__all__ = ["LANDMARK_SCALE", "encode_landmarks", "decode_landmarks"]
