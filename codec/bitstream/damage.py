"""What damage in the middle of a file costs: the frames held and the packets lost, per range.

`avfr info` (which renders nothing) and `avfr decode` (which renders) must name the same
frames for the same damage, so both take them from :func:`plan_damage`, which works on the
index of intact packets alone. A frame is held (shown as the last good picture) when the
decoder cannot rebuild it:

* its motion packet lay in the damage: which frames those were follows from the gap in frame
  indices between the intact motion packets around it (no more than the damaged bytes could
  have held, so a forged frame index cannot make the decoder invent frames);
* it is a predicted (compact, not self-contained) motion frame after a lost one: prediction
  needs every frame back to the last self-contained one, so frames are held up to the next;
* it comes after a keyframe that was lost: every frame is rendered from the latest keyframe,
  so frames are held up to the next intact one. A range whose records are still framed says
  whether it held a keyframe; one that is not (a damaged length field, garbage) is taken to
  have held one when it is at least half the size of the stream's smallest keyframe record
  (holding frames a keyframe never governed costs pictures; rendering them from the wrong
  face would show the wrong person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from codec.bitstream.container import DamagedRange
from codec.bitstream.index import IndexEntry

_KIND_NAMES = {"end_of_stream": "end-of-stream"}


@dataclass
class DamageCost:
    """One damaged range and what it cost."""

    damage: DamagedRange
    frames: list[int] = field(default_factory=list)  # frames held because of it, in order
    lost_frames: int = 0  # of these, the frames whose motion packets lay in the damage
    keyframe: bool = False  # it held a keyframe, or (contents unknown) may have

    @property
    def audio_packets(self) -> int | None:
        """Audio packets it held, when that is known (None: unknown)."""
        return self.damage.audio_packets

    def line(self) -> str:
        """One line for a user: where, why, what it held and which frames it cost."""
        d = self.damage
        return f"bytes {d.start}-{d.end - 1} are damaged ({d.reason}; {self._contents()}): {self._cost()}"

    def _contents(self) -> str:
        kinds = self.damage.kinds
        if kinds is None:
            return "contents unknown" + (", may have held a keyframe" if self.keyframe else "")
        counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
        held = ", ".join(f"{n} {_KIND_NAMES.get(k, k)}" for k, n in counts.items())
        runs = self.damage.runs and any(k in ("motion", "audio") for k in kinds)
        unit = "record" if runs else "packet"  # a motion or speech record of a file with runs may hold many
        return f"it held {held} {unit}{'s' if len(kinds) > 1 else ''}"

    def _cost(self) -> str:
        frames = f"frames {frame_ranges(self.frames)} held ({len(self.frames)})" if self.frames else "no frame lost"
        audio = self.audio_packets
        return frames + (f", {audio} audio packet{'s' if audio > 1 else ''} of speech silent" if audio else "")

    def to_dict(self) -> dict:
        d = self.damage
        return {"start": d.start, "end": d.end, "reason": d.reason, "kinds": list(d.kinds) if d.kinds is not None else None,
                "frames_held": frame_ranges(self.frames), "frames_held_count": len(self.frames),
                "lost_frames": self.lost_frames, "keyframe": self.keyframe, "audio_packets": self.audio_packets}  # fmt: skip


@dataclass
class DamagePlan:
    """Per range what it cost, and for the decoder which frames to hold."""

    costs: list[DamageCost] = field(default_factory=list)
    hold: set[int] = field(default_factory=set)  # record indices of intact motion packets to show held
    lost_before: dict[int, int] = field(default_factory=dict)  # record index -> frames lost just before it
    lost_at_end: int = 0  # frames lost between the last intact motion packet and the end of stream

    @property
    def frames_held(self) -> int:
        return sum(len(c.frames) for c in self.costs)

    @property
    def frames_lost(self) -> int:
        """Frames whose motion packets lay in the damage (the decoder puts held frames there)."""
        return sum(self.lost_before.values()) + self.lost_at_end

    def lines(self) -> list[str]:
        return [c.line() for c in self.costs]


def plan_damage(entries: Sequence[IndexEntry]) -> DamagePlan:
    """Walk the intact packets in order as the decoder will, charging each held frame to the
    damaged range that made it undecodable."""
    plan = DamagePlan()
    smallest_keyframe = min((e.size for e in entries if e.kind == "keyframe"), default=0)
    keyframe_cause: DamageCost | None = None  # why there is no usable keyframe (None: there is one, or none ever came)
    have_keyframe = False
    chain_cause: DamageCost | None = None  # why predicted motion cannot be decoded
    last_frame = -1
    since_motion: list[DamageCost] = []  # ranges since the last intact motion packet
    for e in entries:
        if e.damage_before is not None:
            cost = DamageCost(e.damage_before, keyframe=_may_hold_keyframe(e.damage_before, smallest_keyframe))
            plan.costs.append(cost)
            since_motion.append(cost)
            if cost.keyframe:
                keyframe_cause, have_keyframe = cost, False
        if e.kind == "keyframe":
            keyframe_cause, have_keyframe = None, True
        elif e.kind == "motion" and e.frame_index is not None:
            lost = _charge_lost(since_motion, last_frame, e.frame_index)
            if lost:
                plan.lost_before[e.index] = lost
                chain_cause = since_motion[0]
            if e.self_contained:
                chain_cause = None
            cause = keyframe_cause if not have_keyframe else chain_cause
            if cause is not None:
                plan.hold.add(e.index)
                cause.frames.append(e.frame_index)
            last_frame, since_motion = e.frame_index, []
        elif e.kind == "end_of_stream" and e.frame_index is not None:
            plan.lost_at_end = _charge_lost(since_motion, last_frame, e.frame_index)
            since_motion = []
    return plan


def _may_hold_keyframe(damage: DamagedRange, smallest_keyframe: int) -> bool:
    if damage.kinds is not None:
        return "keyframe" in damage.kinds
    return damage.size >= smallest_keyframe // 2


def _charge_lost(ranges: list[DamageCost], last_frame: int, next_frame: int) -> int:
    """Frames between two intact motion packets (or the last one and the end) that damage
    swallowed, charged to the first range between them; 0 when no damage lies between."""
    if not ranges:
        return 0
    capacity = sum(c.damage.size // c.damage.frame_bytes for c in ranges)
    lost = max(0, min(next_frame - last_frame - 1, capacity))
    ranges[0].frames.extend(range(last_frame + 1, last_frame + 1 + lost))
    ranges[0].lost_frames += lost
    return lost


def frame_ranges(frames: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    parts: list[str] = []
    start = prev = None
    for f in frames:
        if prev is not None and f == prev + 1:
            prev = f
            continue
        if start is not None:
            parts.append(f"{start}-{prev}" if prev != start else f"{start}")
        start = prev = f
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ", ".join(parts)
