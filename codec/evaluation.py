"""Frame-level quality between what the sender saw and what the receiver rebuilt.

Shared by the demo, the model card and the benchmarks, so that a PSNR is computed one way
everywhere: on uint8 RGB frames, averaged per frame then over the clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from codec.media import video_io


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two same-shape uint8 (or float, with `peak`) images; inf when equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def _resize_to(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if frame.shape == shape:
        return frame
    return np.asarray(Image.fromarray(frame).resize((shape[1], shape[0]), Image.BICUBIC))


def compare_videos(reference: Path, decoded: Path) -> dict[str, float]:
    """Mean PSNR of decoded vs reference, and of 'repeat the reference's first frame'."""
    ref_frames = list(video_io.iter_frames(reference))
    dec_frames = list(video_io.iter_frames(decoded))
    n = min(len(ref_frames), len(dec_frames))
    if n == 0:
        raise ValueError("no frames to compare")
    first = ref_frames[0]
    ours = [psnr(ref_frames[i], _resize_to(dec_frames[i], ref_frames[i].shape)) for i in range(n)]
    repeat = [psnr(ref_frames[i], first) for i in range(n)]
    finite = lambda xs: [x for x in xs if np.isfinite(x)] or [99.0]  # noqa: E731
    return {
        "frames_compared": n,
        "reference_frames": len(ref_frames),
        "decoded_frames": len(dec_frames),
        "psnr_db": float(np.mean(finite(ours))),
        "repeat_keyframe_psnr_db": float(np.mean(finite(repeat))),
    }


def side_by_side(reference: Path, decoded: Path, video_out: Path, still_out: Path, stills: int = 5) -> None:
    """reference | decoded as a video, and a few frames of it as one PNG."""
    ref_frames = list(video_io.iter_frames(reference))
    dec_frames = list(video_io.iter_frames(decoded))
    n = min(len(ref_frames), len(dec_frames))
    pairs = [np.concatenate([ref_frames[i], _resize_to(dec_frames[i], ref_frames[i].shape)], axis=1) for i in range(n)]
    video_io.write_video(video_out, iter(pairs), fps=25.0)
    picks = np.linspace(0, n - 1, num=min(stills, n)).round().astype(int)
    Image.fromarray(np.concatenate([pairs[i] for i in picks], axis=0)).save(still_out)
