"""PSNR per frame, through the project's one PSNR (:func:`codec.evaluation.psnr`)."""

from __future__ import annotations

import numpy as np

from benchmarks.metrics.frames import Frames, as_pair
from codec.evaluation import psnr, psnr_from_mse

__all__ = ["psnr", "psnr_from_mse", "psnr_frames"]


def psnr_frames(reference: Frames, decoded: Frames) -> np.ndarray:
    """PSNR (dB, RGB, peak 255) of each frame; ``inf`` for identical frames.

    Per frame, then averaged by the caller (as codec.evaluation does), rather than one PSNR of
    the clip's total MSE, which would let a few bad frames hide behind many good ones.
    """
    ref, dec = as_pair(reference, decoded)
    return np.array([psnr(r, d) for r, d in zip(ref, dec)], dtype=np.float64)
