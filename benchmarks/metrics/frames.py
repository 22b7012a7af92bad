"""Frame batches as every metric takes them: uint8 RGB, HxWx3 or NxHxWx3 or a list of HxWx3.

One place checks shapes, so that a metric never silently compares a BGR or a float frame, or
two clips of different lengths.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterator, Sequence, Union

import numpy as np

Frames = Union[np.ndarray, Sequence[np.ndarray]]


def as_batch(frames: Frames) -> np.ndarray:
    """NxHxWx3 uint8 view of ``frames``; a single HxWx3 frame becomes a batch of one."""
    batch = np.asarray(frames) if isinstance(frames, np.ndarray) else np.stack([np.asarray(f) for f in frames])
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB HxWx3 (or NxHxWx3), got {batch.dtype} {batch.shape}")
    return batch


def as_pair(reference: Frames, decoded: Frames) -> tuple[np.ndarray, np.ndarray]:
    """Both batches, checked to be comparable frame by frame."""
    ref, dec = as_batch(reference), as_batch(decoded)
    if ref.shape != dec.shape:
        raise ValueError(f"reference {ref.shape} and decoded {dec.shape} frames differ in shape; resize or trim first")
    return ref, dec


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices of ``range(n)`` of at most ``size``: bounds memory for long clips."""
    for start in range(0, n, max(1, size)):
        yield slice(start, min(n, start + max(1, size)))


class FrameMemo:
    """Per-frame results keyed by the frame's bytes, for the reference side of a metric.

    A benchmark scores ten codec points against the same reference frames; the face detector,
    embedding and landmarks of a reference frame are the same every time, so they are computed
    once. Keyed by content (not by index) so that a wrong pairing cannot be served from the
    memo; bounded so that a long run's memory stays flat.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._store: dict[bytes, object] = {}

    def get(self, frame: np.ndarray, compute: Callable[[np.ndarray], object]) -> object:
        key = hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16).digest() + bytes(str(frame.shape), "ascii")
        if key not in self._store:
            if len(self._store) >= self.max_entries:
                self._store.pop(next(iter(self._store)))
            self._store[key] = compute(frame)
        return self._store[key]
