"""The receiver's jitter buffer for motion frames: play each frame on time, against the audio clock.

Motion frames travel on an unordered, unreliable channel: they arrive late, out of order, twice
or never. Speech is the clock people notice, so frames are released by stream time, which
the receiver takes from its audio playout position (or a wall clock when there is no audio):
frame ``n`` is due at ``n / fps + delay_s``. At each tick :meth:`JitterBuffer.due` returns, in
order, every frame that is due: the frame itself if it arrived, or ``None`` for a frame that
did not arrive in time (the renderer then holds its last picture and the compact motion
decoder knows the chain is broken until the next self-contained frame).

Defined behaviour:
- a frame that arrives after it was due (late) is dropped and counted: showing it would
  make the picture run behind the speech;
- a duplicate (same frame index already held or played) is dropped and counted;
- memory is bounded: at most ``capacity`` frames are held; a frame further ahead than that
  (a sender restart, a clock jump) is dropped and counted rather than growing the buffer;
- if the clock jumps far ahead (the receiver stalled), the frames skipped are reported lost
  in one step, never more than ``capacity`` of them, and playback resumes at the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class JitterStats:
    received: int = 0
    played: int = 0
    lost: int = 0
    late: int = 0
    duplicate: int = 0
    too_far_ahead: int = 0


@dataclass
class JitterBuffer(Generic[T]):
    fps: float
    delay_s: float = 0.06
    capacity: int = 50
    stats: JitterStats = field(default_factory=JitterStats)

    def __post_init__(self) -> None:
        self._held: dict[int, T] = {}
        self._next = 0  # the next frame index to release

    @property
    def held(self) -> int:
        return len(self._held)

    def push(self, frame_index: int, item: T) -> bool:
        """Offer an arrived frame; False (and counted) when it is late, a duplicate or too far ahead."""
        self.stats.received += 1
        if frame_index < self._next:
            self.stats.late += 1
            return False
        if frame_index in self._held:
            self.stats.duplicate += 1
            return False
        if frame_index >= self._next + self.capacity:
            self.stats.too_far_ahead += 1
            return False
        self._held[frame_index] = item
        return True

    def due(self, stream_time_s: float) -> list[tuple[int, T | None]]:
        """Frames due by ``stream_time_s``, in order: ``(index, item)`` or ``(index, None)`` if lost."""
        last_due = math.floor((stream_time_s - self.delay_s) * self.fps + 1e-9)
        if last_due - self._next >= self.capacity:  # the clock jumped: resume at it
            skipped = last_due - self.capacity + 1 - self._next
            self.stats.lost += skipped
            self._held = {i: v for i, v in self._held.items() if i > last_due - self.capacity}
            self._next = last_due - self.capacity + 1
        out: list[tuple[int, T | None]] = []
        while self._next <= last_due:
            item = self._held.pop(self._next, None)
            if item is None:
                self.stats.lost += 1
            else:
                self.stats.played += 1
            out.append((self._next, item))
            self._next += 1
        return out


__all__ = ["JitterBuffer", "JitterStats"]
