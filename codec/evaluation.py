"""Frame-level quality between what the sender saw and what the receiver rebuilt.

Shared by the demo, the model card, the sender's self-check and the benchmarks, so that a PSNR
is computed one way everywhere: on uint8 RGB frames, averaged per frame then over the clip;
identical frames are infinite, and :data:`IDENTICAL_PSNR_DB` where a finite figure is needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from codec.media import video_io
from codec.model_input import resize_rgb

# What identical frames score wherever a finite figure is needed (a mean, a table): PSNR
# itself is infinite there, and one figure everywhere keeps tables comparable.
IDENTICAL_PSNR_DB = 99.0


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    """PSNR in dB from a mean squared error; inf when it is 0."""
    return float("inf") if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two same-shape uint8 (or float, with `peak`) images; inf when equal."""
    return psnr_from_mse(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)), peak)


def finite_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`psnr`, with identical frames at :data:`IDENTICAL_PSNR_DB` (for sums and means)."""
    return min(psnr(a, b), IDENTICAL_PSNR_DB)


def compare_videos(reference: Path, decoded: Path) -> dict[str, float]:
    """Mean PSNR of decoded vs reference, and of 'repeat the reference's first frame', over the
    frames after the first: the first is the keyframe itself, which repeating it would match
    exactly, so (as in the model card's protocol) only the driving frames are scored."""
    ref_frames = list(video_io.iter_frames(reference))
    dec_frames = list(video_io.iter_frames(decoded))
    n = min(len(ref_frames), len(dec_frames))
    if n < 2:
        raise ValueError(f"{n} frame(s) to compare: the first is the keyframe, at least one more is needed")
    first = ref_frames[0]
    ours = [finite_psnr(ref_frames[i], resize_rgb(dec_frames[i], ref_frames[i].shape[:2])) for i in range(1, n)]
    repeat = [finite_psnr(ref_frames[i], first) for i in range(1, n)]
    return {
        "frames_compared": n - 1,
        "reference_frames": len(ref_frames),
        "decoded_frames": len(dec_frames),
        "psnr_db": float(np.mean(ours)),
        "repeat_keyframe_psnr_db": float(np.mean(repeat)),
    }


def side_by_side(reference: Path, decoded: Path, video_out: Path, still_out: Path, stills: int = 5) -> None:
    """reference | decoded as a video, and a few frames of it as one PNG."""
    ref_frames = list(video_io.iter_frames(reference))
    dec_frames = list(video_io.iter_frames(decoded))
    n = min(len(ref_frames), len(dec_frames))
    pairs = [np.concatenate([ref_frames[i], resize_rgb(dec_frames[i], ref_frames[i].shape[:2])], axis=1) for i in range(n)]
    video_io.write_video(video_out, iter(pairs), fps=25.0)
    picks = np.linspace(0, n - 1, num=min(stills, n)).round().astype(int)
    Image.fromarray(np.concatenate([pairs[i] for i in picks], axis=0)).save(still_out)
