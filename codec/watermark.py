"""The invisible mark in every picture an avfr receiver renders, and its readout.

Every avfr picture is synthesised, so viewers and downstream tools should be able to tell a
video that came out of a receiver, even once its metadata is gone. The mark is avfr's own,
chosen by measurement (``benchmarks/watermark.py``, ``benchmarks/results/watermark.md``, 21
dev clips): invisible-watermark from PyPI does not install beside MediaPipe (pip brings numpy
2 and a second OpenCV) and refuses pictures under 256x256 (the 128-px model's); its dwtDct
method is lost in H.264 at the decode's settings, and its dwtDctSvd survives but costs ~35 ms
a frame and 40 dB of PSNR, where this mark costs ~0.3 ms and 47 dB and is found in every video
after two re-encodings (not after a harsh CRF 28 one: 4 videos in 21).

The mark: a fixed pseudo-random sign (+-1) on every 8x8 DCT coefficient of the luma whose
frequency ``u + v`` is 2..5 (18 of 64: coarse enough to survive H.264 at the decode's
settings, fine enough to stay invisible), times ``AMPLITUDE``. The DCT is linear, so adding
it is adding one precomputed spatial pattern, rounded to whole levels, to R, G and B alike:
that changes luma only. The signs come from SHA-256 of ``KEY`` over a tile of
``TILE_BLOCKS`` x ``TILE_BLOCKS`` blocks repeated across the picture, so they are the same on
every machine and in every numpy version, and any picture size carries them (a video cut at
its right or bottom edge still does).

The readout: a video's frames are averaged (the mark stands still while the face moves, so
the average keeps the mark and loses much of the picture's own detail and of the coding
noise), then the signs of the average's marked coefficients are correlated with the mark's.
Without a mark that correlation is a sum of independent +-1 terms, whatever the video (the
mark's signs know nothing of it), so the score is a standard normal z and the threshold fixes
the false-positive rate: a score above ``THRESHOLD`` (5) happens by chance to fewer than 3 in
10 million unmarked videos.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KEY = b"avfr picture mark v1"
BLOCK = 8
BAND = (2, 5)  # the marked coefficients: BAND[0] <= u + v <= BAND[1]
AMPLITUDE = 2.0  # per marked coefficient, in luma levels of the orthonormal DCT
TILE_BLOCKS = 64  # the sign tile: 512 x 512 pixels
THRESHOLD = 5.0  # z above which a video carries the mark
READ_FRAMES = 250  # a video's first 10 s (at 25 fps) are read: many times what the mark needs
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601, as H.264 coding in FFmpeg converts RGB


def _dct_matrix(n: int = BLOCK) -> np.ndarray:
    """The orthonormal DCT-II matrix (rows: frequencies)."""
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


DCT = _dct_matrix()


def band_mask() -> np.ndarray:
    """[8, 8] 1.0 on the marked coefficients."""
    u, v = np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), indexing="ij")
    return ((u + v >= BAND[0]) & (u + v <= BAND[1])).astype(np.float64)


@functools.lru_cache(maxsize=1)
def _sign_tile() -> np.ndarray:
    """[TILE_BLOCKS, TILE_BLOCKS, 8, 8] signs, +-1 on the band and 0 elsewhere, from SHA-256."""
    count = TILE_BLOCKS * TILE_BLOCKS * BLOCK * BLOCK
    stream = b"".join(hashlib.sha256(KEY + i.to_bytes(4, "big")).digest() for i in range((count + 255) // 256))
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))[:count].astype(np.float64)
    return (2.0 * bits - 1.0).reshape(TILE_BLOCKS, TILE_BLOCKS, BLOCK, BLOCK) * band_mask()


def mark_signs(blocks_high: int, blocks_wide: int) -> np.ndarray:
    """The mark's signs for a picture of this many whole 8x8 blocks (the tile, repeated)."""
    tile = _sign_tile()
    reps = (-(-blocks_high // TILE_BLOCKS), -(-blocks_wide // TILE_BLOCKS), 1, 1)
    return np.tile(tile, reps)[:blocks_high, :blocks_wide]


@functools.lru_cache(maxsize=8)
def spatial_pattern(height: int, width: int) -> np.ndarray:
    """[height, width] int16: the mark in pixels, rounded to whole levels (pictures are whole
    levels, so adding the rounded pattern is what rounding after adding the exact one gives).
    Pixels past the last whole block stay unmarked."""
    bh, bw = height // BLOCK, width // BLOCK
    blocks = np.einsum("ui,abuv,vj->abij", DCT, AMPLITUDE * mark_signs(bh, bw), DCT)
    pattern = np.zeros((height, width), np.int16)
    pattern[: bh * BLOCK, : bw * BLOCK] = np.rint(blocks.transpose(0, 2, 1, 3).reshape(bh * BLOCK, bw * BLOCK))
    return pattern


def embed_mark(rgb: np.ndarray) -> np.ndarray:
    """The picture (HxWx3 uint8 RGB) with the mark added to its luma."""
    pattern = spatial_pattern(rgb.shape[0], rgb.shape[1])
    return np.clip(rgb.astype(np.int16) + pattern[:, :, None], 0, 255).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ LUMA


def block_dct(plane: np.ndarray) -> np.ndarray:
    """[H/8, W/8, 8, 8] DCT coefficients of a plane's whole 8x8 blocks."""
    bh, bw = plane.shape[0] // BLOCK, plane.shape[1] // BLOCK
    blocks = plane[: bh * BLOCK, : bw * BLOCK].reshape(bh, BLOCK, bw, BLOCK).transpose(0, 2, 1, 3)
    return np.einsum("ui,abij,vj->abuv", DCT, blocks.astype(np.float64), DCT)


def mark_score(plane: np.ndarray) -> float:
    """z of the mark in a luma plane (a frame's, or the mean of a video's): the sign
    correlation of its marked coefficients with the mark's, over the square root of how many
    there are. About 0 (standard normal) without the mark."""
    coefficients = block_dct(plane)
    signs = mark_signs(coefficients.shape[0], coefficients.shape[1])
    agree = np.sign(coefficients) * signs
    counted = np.count_nonzero(agree)
    return float(agree.sum() / np.sqrt(counted)) if counted else 0.0


class MarkReader:
    """Frames in, one score out: the running mean of their luma, scored once at the end."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.frames = 0

    def add(self, rgb: np.ndarray) -> None:
        y = luma(rgb).astype(np.float64)
        if self.total is not None and self.total.shape != y.shape:
            return  # a video keeps one size; a stray frame of another is not the video's
        self.total = y if self.total is None else self.total + y
        self.frames += 1

    def score(self) -> float:
        return mark_score(self.total / self.frames) if self.frames else 0.0


@dataclass(frozen=True)
class MarkReading:
    path: Path
    score: float
    frames: int

    @property
    def found(self) -> bool:
        return self.score > THRESHOLD


def read_mark(path: Path, max_frames: int | None = READ_FRAMES) -> MarkReading:
    """The mark's score over a video's first ``max_frames`` frames (None: all), at its own rate."""
    from codec.media import video_io

    fps = video_io.probe(path).fps or 25.0
    reader = MarkReader()
    for frame in video_io.iter_frames(path, fps=fps, max_frames=max_frames):
        reader.add(frame)
    return MarkReading(Path(path), reader.score(), reader.frames)


__all__ = ["AMPLITUDE", "READ_FRAMES", "THRESHOLD", "MarkReader", "MarkReading", "embed_mark", "mark_score", "read_mark", "spatial_pattern"]
