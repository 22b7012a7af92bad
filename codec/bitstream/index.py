"""Where every packet of an .avfr file is: one resyncing scan, for seeking and for damage.

The file has no index or trailer (``codec/bitstream/container.py`` says why), so one is built
by scanning, which is fast at these sizes and works on a file cut anywhere. What damage in the
middle costs is planned from it (``codec/bitstream/damage.py``: `avfr info` and `avfr decode`),
and :meth:`StreamIndex.seek_frame` starts decoding at any frame from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from codec.bitstream.container import AvfrReader, DamagedRange
from codec.errors import StreamError
from proto import avfr_pb2


@dataclass(frozen=True)
class IndexEntry:
    index: int
    offset: int
    kind: str | None
    frame_index: int | None  # motion and keyframes: their frame; end of stream: the frame count
    # A motion frame decodable without earlier motion frames (raw, or compact self-contained).
    self_contained: bool = False
    size: int = 0  # bytes of the whole record
    damage_before: DamagedRange | None = None


@dataclass
class StreamIndex:
    """Every intact packet of a file, past any damage in the middle. Damage that no intact
    packet follows ends it (``tail_damage`` says where and why)."""

    reader: AvfrReader
    entries: list[IndexEntry]
    tail_damage: str | None = None

    @classmethod
    def scan(cls, reader: AvfrReader) -> StreamIndex:
        """One resyncing pass over ``reader``'s records; a file whose preamble cannot be read
        raises its StreamError."""
        entries: list[IndexEntry] = []
        try:
            for r in reader.records(resync=True):
                entries.append(IndexEntry(r.index, r.offset, r.kind, _frame_of(r.packet), _self_contained(r.packet), r.size, r.damage_before))
        except StreamError as err:
            if reader.version is None:
                raise
            return cls(reader, entries, str(err))
        return cls(reader, entries)

    def damaged_ranges(self) -> list[DamagedRange]:
        """Every damaged range in the middle of the file (the tail's damage is tail_damage)."""
        return [e.damage_before for e in self.entries if e.damage_before is not None]

    def seek_frame(self, frame_index: int) -> Iterator[avfr_pb2.Packet]:
        """Packets for decoding from frame ``frame_index`` on.

        Yields the latest keyframe at or before that frame first (what a receiver needs to
        start there), then every packet from the motion packet a decoder can start at to the
        end: that frame's own, or in a compact stream the latest self-contained motion frame at
        or before it (the caller renders from there and drops the frames before its target).
        """
        entries, name = self.entries, self.reader.name
        target = next((e for e in entries if e.kind == "motion" and e.frame_index == frame_index), None)
        if target is None:
            frames = sum(e.kind == "motion" for e in entries)
            raise StreamError(f"frame {frame_index} is not in {name} (it holds {frames} intact motion frames)")
        motion = next((e for e in reversed(entries[: target.index + 1]) if e.kind == "motion" and e.self_contained), None)
        if motion is None:
            raise StreamError(f"no self-contained motion frame precedes frame {frame_index} in {name}: the stream is damaged")
        key = next((e for e in reversed(entries[: motion.index]) if e.kind == "keyframe"), None)
        if key is None:
            raise StreamError(f"no keyframe precedes frame {frame_index} in {name}: the stream is damaged")
        return self._from(key, motion)

    def _from(self, key: IndexEntry, motion: IndexEntry) -> Iterator[avfr_pb2.Packet]:
        yield next(self.reader.records(key.offset, key.index)).packet
        for record in self.reader.records(motion.offset, motion.index):
            yield record.packet


def _frame_of(packet: avfr_pb2.Packet) -> int | None:
    kind = packet.WhichOneof("body")
    if kind == "motion":
        return packet.motion.frame_index
    if kind == "keyframe":
        return packet.keyframe.frame_index
    if kind == "end_of_stream":
        return packet.end_of_stream.frame_count
    return None


def _self_contained(packet: avfr_pb2.Packet) -> bool:
    """A motion frame that needs no earlier one: raw FP16, or compact and self-contained."""
    return packet.WhichOneof("body") == "motion" and (packet.motion.self_contained or packet.motion.coding == avfr_pb2.MOTION_CODING_RAW_FP16)
