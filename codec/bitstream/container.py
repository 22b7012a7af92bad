"""The .avfr file: a preamble, then length-delimited, CRC-checked protobuf packets.

Byte layout (all integers little-endian)::

    preamble   8 bytes   b"AVFR" | u16 format version (3; 1 and 2 are still read) | u16 flags (0; reserved)
    record*    varint N  length of the serialized Packet (protobuf base-128 varint, 1-4 bytes)
               N bytes   avfr_pb2.Packet, serialized
               4 bytes   u32 CRC-32 (zlib/IEEE) over the varint bytes and the N packet bytes

Why this shape: a sender can append packet by packet and flush (a live call recorded to disk,
a crash) and whatever reached the disk stays readable up to the last complete record; the CRC
covers the length too, so a damaged length is caught instead of sending the reader astray; a
varint keeps the framing at 5-6 bytes per packet (75 packets/s at 25 fps with 20 ms audio).
There is no index or trailer: ``codec/bitstream/index.py`` builds one by scanning, which is
fast at these sizes and works on a file cut anywhere.

Version 3 gathers consecutive predicted motion frames, and consecutive 20 ms speech packets,
into runs: one record each, ~2 bytes a further frame instead of a record's ~12
(``codec/bitstream/runs.py`` says what may join a run and why). The reader expands a run back
into the packets that were gathered, so what it yields is what the sender sent; a run's
records sit after the packets written while it was open.

Resync (``AvfrReader(..., resync=True)``): damage in the middle of a file (a flipped byte, a
broken length field, a run of garbage) costs only the records it hit. The reader scans on from
the damaged record for the next offset where a whole record checks out (its length fits, its
first byte is a Packet body tag, the body's own length matches, the CRC-32 matches and it
parses) and goes on from there; the skipped bytes are reported as a :class:`DamagedRange`.
No record marker is needed for this: the CRC that every record already carries is the check
(a false match needs a 32-bit CRC collision on top of the structural tests). A marker would
cost its size on every record: measured on the demo's file (379 records in 5 s, 28.8 kbit/s),
2 bytes a record are 1.21 kbit/s (4.2% of the file) and 4 bytes 2.43 kbit/s.

Nothing read from a file is trusted: a length above :data:`MAX_PACKET_BYTES` is rejected
before any allocation, and payloads are read in bounded chunks so a length that is merely
larger than what is left costs only the bytes actually present.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Iterator

from google.protobuf.message import DecodeError

from codec.bitstream.runs import MIN_RUN_MEMBER_BYTES, RunGatherer, expand, has_run, run_problem
from codec.errors import OutputExistsError, StreamError
from proto import avfr_pb2

MAGIC = b"AVFR"
# 2: audio packets may leave their timing implied (proto/avfr.proto, AudioPacket); 3: runs
FORMAT_VERSION = 3
RUNLESS_VERSION = 2  # what a writer without runs writes (readable by avfr before runs)
SUPPORTED_VERSIONS = frozenset({1, 2, 3})
_PREAMBLE = struct.Struct("<4sHH")
PREAMBLE_BYTES = _PREAMBLE.size  # 8
CRC_BYTES = 4
MAX_PACKET_BYTES = 4 * 1024 * 1024  # far above a 256x256 keyframe; bounds what a reader allocates
_MAX_VARINT_BYTES = 4  # 7 * 4 = 28 bits > MAX_PACKET_BYTES
_READ_CHUNK = 64 * 1024

# The Packet body tags (field number << 3 | length-delimited), as the proto defines them: a
# serialized Packet starts with one of these bytes, which is what a resync scan looks for.
BODY_TAGS = {(f.number << 3) | 2: f.name for f in avfr_pb2.Packet.DESCRIPTOR.oneofs_by_name["body"].fields}
MIN_RECORD_BYTES = 1 + 2 + CRC_BYTES  # length, body tag + body length (an empty body), CRC
# Where a record could start: a 1-4 byte varint followed by a body tag (overlapping matches).
_RECORD_START = re.compile(b"(?=[\x80-\xff]{0,3}[\x00-\x7f][" + re.escape(bytes(sorted(BODY_TAGS))) + b"])")
_SCAN_WINDOW = 64 * 1024
_SCAN_LOOKAHEAD = 2 * _MAX_VARINT_BYTES + 1  # bytes past a candidate the quick test reads
_MAX_FRAMED_RECORDS = 4096  # a damaged range walked further than this is reported as unknown

Source = str | os.PathLike | BinaryIO


# --------------------------------------------------------------------------- framing


def preamble(version: int = FORMAT_VERSION) -> bytes:
    return _PREAMBLE.pack(MAGIC, version, 0)


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes, pos: int = 0) -> tuple[int, int] | None:
    """(value, bytes used) of the varint at ``buf[pos:]``; None if it is cut or over 4 bytes."""
    value = 0
    for n in range(_MAX_VARINT_BYTES):
        if pos + n >= len(buf):
            return None
        byte = buf[pos + n]
        value |= (byte & 0x7F) << (7 * n)
        if not byte & 0x80:
            return value, n + 1
    return None


def encode_record(packet: avfr_pb2.Packet, max_packet_bytes: int = MAX_PACKET_BYTES) -> bytes:
    """One framed record: what :class:`AvfrWriter` appends for a packet."""
    if packet.WhichOneof("body") is None:
        raise ValueError("refusing to write a Packet with no body set")
    payload = packet.SerializeToString()
    if len(payload) > max_packet_bytes:
        raise ValueError(f"packet of {len(payload)} bytes exceeds the {max_packet_bytes}-byte limit")
    return frame_payload(payload)


def record_size(packet: avfr_pb2.Packet) -> int:
    """The bytes :func:`encode_record` frames ``packet`` into, from its size alone: what the
    sender's rate control counts for every packet, without serialising it a second time."""
    n = packet.ByteSize()
    return len(encode_varint(n)) + n + CRC_BYTES


def frame_payload(payload: bytes) -> bytes:
    """Length, bytes, CRC: the framing of one record around any payload (the fuzzer frames
    forged ones with it, so that they reach the protobuf parser)."""
    head = encode_varint(len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + payload + struct.pack("<I", crc)


def parse_packet(data: bytes, where: str = "packet") -> avfr_pb2.Packet:
    """Bytes -> Packet, or a StreamError (also for a live peer's data-channel messages)."""
    packet = avfr_pb2.Packet()
    try:
        packet.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise StreamError(f"{where} is not a valid avfr packet ({err}): the stream was written by an incompatible tool") from None
    return packet


# --------------------------------------------------------------------------- writer


class AvfrWriter:
    """Appends packets to an .avfr file, one flushed record at a time.

    Memory stays at one packet, or with ``runs`` (the default: format version 3) at the open
    runs (``codec/bitstream/runs.py``: at most 2 s of motion and 1 s of speech), which reach
    the file when they close or at :meth:`close`. ``runs=False`` writes version 2, one record
    per packet, for readers from before runs. Refuses an existing path unless ``overwrite``;
    a ``with`` block that raises removes the partial file (pass ``keep_partial=True`` to keep
    it, e.g. when recording a live call where the part up to a crash is worth having).
    """

    def __init__(
        self,
        target: Source,
        overwrite: bool = False,
        keep_partial: bool = False,
        max_packet_bytes: int = MAX_PACKET_BYTES,
        runs: bool = True,
    ) -> None:
        self.max_packet_bytes = max_packet_bytes
        self.keep_partial = keep_partial
        self.path: Path | None = None
        self.packets_written = 0
        self.bytes_written = 0
        self._runs = RunGatherer() if runs else None
        self._file = self._open(target, overwrite)
        self._put(preamble(FORMAT_VERSION if runs else RUNLESS_VERSION))

    def _open(self, target: Source, overwrite: bool) -> BinaryIO:
        if hasattr(target, "write"):
            return target  # type: ignore[return-value]
        self.path = Path(target)
        try:
            return open(self.path, "wb" if overwrite else "xb")
        except FileExistsError:
            raise OutputExistsError(f"{self.path} already exists: remove it or pass --force to overwrite") from None
        except OSError as err:
            raise OutputExistsError(f"cannot create {self.path}: {err.strerror}") from None

    def _put(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()
        self.bytes_written += len(data)

    def write(self, packet: avfr_pb2.Packet) -> int:
        """Append one packet; returns the bytes written now (framing included): with runs,
        0 for a packet that joined an open run, and a closed run's whole record with the
        packet that closed it."""
        if self._file is None:
            raise ValueError("write to a closed AvfrWriter")
        if packet.WhichOneof("body") is None:
            raise ValueError("refusing to write a Packet with no body set")
        ready = self._runs.add(packet) if self._runs is not None else [packet]
        self.packets_written += 1
        return self._put_records(ready)

    def _put_records(self, packets: list[avfr_pb2.Packet]) -> int:
        records = b"".join(encode_record(p, self.max_packet_bytes) for p in packets)
        if records:
            self._put(records)
        return len(records)

    def close(self) -> None:
        """Write the open runs, then close (a file the caller handed in stays open)."""
        if self._file is not None and self._runs is not None:
            self._put_records(self._runs.flush())
        if self._file is not None and self.path is not None:
            self._file.close()
        self._file = None

    def abort(self) -> None:
        """Close and delete the file: for an encode that turned out to have nothing to send."""
        self._runs = None
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> AvfrWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not self.keep_partial:
            self.abort()
        else:
            self.close()


# --------------------------------------------------------------------------- reader


class RecordDamage(StreamError):
    """A record that cannot be read; ``reason`` says why in a few words (for a damage line)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class DamagedRange:
    """Bytes between two intact records that could not be read.

    ``kinds``: the packet kinds it held, when the length fields inside it still frame it
    exactly into records (a flipped byte in a packet's body leaves them so); None when they
    do not (a damaged length field, garbage), and then nothing is known of what it held.
    In a file with runs (``runs``) a kind is a record's, which may have held many packets;
    ``frame_bytes`` is then what one frame can take at the least.
    """

    start: int  # byte offset of the first record that failed
    end: int  # byte offset of the next intact record
    after_index: int  # intact packets before it
    reason: str  # why the record at ``start`` was refused
    kinds: tuple[str, ...] | None = None
    runs: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def audio_packets(self) -> int | None:
        """Audio packets it held, when that is known: its records are still framed and, in a
        file with runs, none of them is audio (a speech run's length is unknown)."""
        if self.kinds is None or (self.runs and "audio" in self.kinds):
            return None
        return self.kinds.count("audio")

    @property
    def frame_bytes(self) -> int:
        """The fewest bytes one motion frame can take in the range (bounds the frames it held)."""
        return MIN_RUN_MEMBER_BYTES if self.runs else MIN_RECORD_BYTES


@dataclass(frozen=True)
class Record:
    """One intact packet, with where its record sits in the file (for seeking and accounting).

    A run's record (format version 3) yields one Record per packet it holds, all at the
    record's offset: the first carries the framing (``framed``), each packet its own share
    of the serialized bytes, so the sizes of a run's Records add up to the record's."""

    index: int  # 0 = first intact packet after the preamble
    offset: int  # byte offset of its (run's) record's length field
    length_bytes: int  # size of the varint length field (0 for a run's later packets)
    packet_bytes: int  # bytes of the serialized record that are this packet's
    packet: avfr_pb2.Packet
    damage_before: DamagedRange | None = None  # the damaged bytes a resyncing reader skipped to reach it
    framed: bool = True  # the record's length field and CRC are counted here

    @property
    def size(self) -> int:
        return self.length_bytes + self.packet_bytes + (CRC_BYTES if self.framed else 0)

    @property
    def kind(self) -> str | None:
        return self.packet.WhichOneof("body")


class AvfrReader:
    """Streams the packets of an .avfr file.

    Iterating yields every intact packet in order, then raises :class:`StreamError` at the
    first damage (cut, CRC mismatch, absurd length), naming the packet index and byte
    offset, so a caller keeps everything before it. Each iteration opens its own handle.

    With ``resync`` (a seekable source) damage in the middle is skipped instead: iteration
    goes on at the next intact record, whose :attr:`Record.damage_before` names the bytes
    skipped, and raises only for damage that no intact record follows (a cut or damaged tail).
    """

    def __init__(self, source: Source, max_packet_bytes: int = MAX_PACKET_BYTES, resync: bool = False) -> None:
        self.source = source
        self.max_packet_bytes = max_packet_bytes
        self.resync = resync
        self.name = str(source) if not hasattr(source, "read") else getattr(source, "name", "stream")
        self._base = source.tell() if hasattr(source, "read") and source.seekable() else 0  # type: ignore[union-attr]
        self.version: int | None = None

    def __iter__(self) -> Iterator[avfr_pb2.Packet]:
        for record in self.records():
            yield record.packet

    # -- scanning

    @contextmanager
    def _opened(self) -> Iterator[BinaryIO]:
        if hasattr(self.source, "read"):
            f = self.source  # type: ignore[assignment]
            if f.seekable():
                f.seek(self._base)
            yield f
            return
        try:
            f = open(self.source, "rb")
        except FileNotFoundError:
            raise StreamError(f"{self.name} does not exist: give the path of an .avfr file") from None
        except OSError as err:
            raise StreamError(f"cannot read {self.name}: {err.strerror}") from None
        with f:
            yield f

    def records(self, start_offset: int | None = None, start_index: int = 0, resync: bool | None = None) -> Iterator[Record]:
        """Records from the start, or from a record boundary found by an index
        (``codec/bitstream/index.py``; ``resync``: this scan's choice, default the reader's)."""
        resync = self.resync if resync is None else resync
        with self._opened() as f:
            self._read_preamble(f)
            offset = PREAMBLE_BYTES
            if start_offset is not None and start_offset != offset:
                f.seek(self._base + start_offset)
                offset = start_offset
            index = start_index
            while True:
                try:
                    record = self._read_record(f, index, offset)
                except RecordDamage as err:
                    if not resync or not f.seekable():
                        raise
                    record = self._resync(f, offset, index, err)
                if record is None:
                    return
                parts = self._expand(record)
                yield from parts
                offset = record.offset + record.size
                index += len(parts)

    @property
    def _has_runs(self) -> bool:
        """Whether the file's version may hold runs (known once the preamble is read)."""
        return self.version is not None and self.version > RUNLESS_VERSION

    def _expand(self, record: Record) -> list[Record]:
        """The packets of a run's record (version 3), each as its own Record; else the record."""
        if not (self._has_runs and has_run(record.packet)):
            return [record]
        (head, head_bytes), *rest = expand(record.packet)
        out = [replace(record, packet=head, packet_bytes=head_bytes)]
        for i, (packet, share) in enumerate(rest, start=1):
            out.append(Record(record.index + i, record.offset, 0, share, packet, framed=False))
        return out

    def _read_preamble(self, f: BinaryIO) -> None:
        head = f.read(PREAMBLE_BYTES)
        if len(head) < PREAMBLE_BYTES:
            if head and (MAGIC.startswith(head) or head.startswith(MAGIC)):
                raise StreamError(f"{self.name} is cut inside its {PREAMBLE_BYTES}-byte preamble: the file is truncated")
            raise StreamError(f"{self.name} is not an .avfr file (too short, no AVFR magic): give a file written by avfr encode")
        magic, version, flags = _PREAMBLE.unpack(head)
        if magic != MAGIC:
            raise StreamError(f"{self.name} is not an .avfr file (it starts with {magic!r}, not {MAGIC!r}): give a file written by avfr encode")
        if version not in SUPPORTED_VERSIONS:
            newer = " newer" if version > FORMAT_VERSION else "n unknown"
            raise StreamError(
                f"{self.name} uses a{newer} .avfr format version {version}; this avfr reads version {FORMAT_VERSION}: upgrade avfr or re-encode the stream"
            )
        if flags:
            raise StreamError(f"{self.name} sets preamble flags 0x{flags:04x} that format version {version} does not define: the file is damaged")
        self.version = version

    def _read_record(self, f: BinaryIO, index: int, offset: int) -> Record | None:
        where = f"packet #{index} at byte offset {offset} of {self.name}"
        head = self._read_varint(f, where, index, offset)
        if head is None:
            return None
        length, head_bytes = head
        if length > self.max_packet_bytes:
            raise RecordDamage(
                f"{where} claims {length} bytes, more than the {self.max_packet_bytes}-byte limit: the file is damaged there",
                f"its length field claims {length} bytes",
            )
        body = _read_bounded(f, length + CRC_BYTES)
        if len(body) < length + CRC_BYTES:
            part = "packet" if len(body) < length else "CRC"
            stop = offset + len(head_bytes) + len(body)
            raise RecordDamage(
                f"{self.name} stops at byte {stop}, inside {where} (its {part} is cut, {len(body)} of "
                f"{length + CRC_BYTES} bytes present): the file is truncated; the {index} packet(s) before it are intact",
                f"its length field claims {length} bytes, past the end of the file",
            )
        payload, (crc,) = body[:length], struct.unpack("<I", body[length:])
        if zlib.crc32(payload, zlib.crc32(head_bytes)) != crc:
            raise RecordDamage(f"{where} fails its CRC check: the file is damaged there, the {index} packet(s) before it are intact", "CRC check failed")
        try:
            packet = parse_packet(payload, where)
        except StreamError as err:
            raise RecordDamage(str(err), "not a valid avfr packet") from None
        problem = run_problem(packet) if self._has_runs else None
        if problem is not None:
            raise RecordDamage(f"{where} holds {problem}: the file is damaged there, the {index} packet(s) before it are intact", problem)
        return Record(index, offset, len(head_bytes), length, packet)

    def _read_varint(self, f: BinaryIO, where: str, index: int, offset: int) -> tuple[int, bytes] | None:
        raw = bytearray()
        value = 0
        while True:
            byte = f.read(1)
            if not byte:
                if raw:
                    raise StreamError(
                        f"{self.name} stops at byte {offset + len(raw)}, inside the length field of {where}: "
                        f"the file is truncated; the {index} packet(s) before it are intact"
                    )
                return None
            raw += byte
            value |= (byte[0] & 0x7F) << (7 * (len(raw) - 1))
            if not byte[0] & 0x80:
                return value, bytes(raw)
            if len(raw) >= _MAX_VARINT_BYTES:
                raise RecordDamage(
                    f"{where} has a length field over {_MAX_VARINT_BYTES} bytes (above the packet size limit): the file is damaged there",
                    f"its length field runs over {_MAX_VARINT_BYTES} bytes",
                )

    # -- resync

    def _resync(self, f: BinaryIO, damaged_at: int, index: int, damage: RecordDamage) -> Record:
        """The next intact record after the one at ``damaged_at``, carrying the range skipped;
        re-raises ``damage`` when none follows (a cut or damaged tail ends the stream)."""
        found = self._next_intact(f, damaged_at + 1, index)
        if found is None:
            raise damage
        kinds = self._framed_kinds(f, damaged_at, found.offset)
        f.seek(self._base + found.offset + found.size)
        return replace(found, damage_before=DamagedRange(damaged_at, found.offset, index, damage.reason, kinds, self._has_runs))

    def _next_intact(self, f: BinaryIO, start: int, index: int) -> Record | None:
        """Scan from ``start`` in windows: a quick structural test on each candidate offset,
        then a full read (length, CRC, protobuf) of those that pass."""
        end = _end_offset(f, self._base)
        pos = start
        while end - pos >= MIN_RECORD_BYTES:
            f.seek(self._base + pos)
            window = f.read(_SCAN_WINDOW + _SCAN_LOOKAHEAD)
            for match in _RECORD_START.finditer(window):
                at = match.start()
                if at >= _SCAN_WINDOW:
                    break
                if self._could_start_record(window, at, end - pos - at):
                    record = self._record_at(f, pos + at, index)
                    if record is not None:
                        return record
            pos += _SCAN_WINDOW
        return None

    def _could_start_record(self, buf: bytes, at: int, remaining: int) -> bool:
        """Whether ``buf[at:]`` opens a record as the writer frames one: a length that fits the
        file, then a Packet whose only field is its body, of exactly the bytes that are left."""
        head = decode_varint(buf, at)
        if head is None:
            return False
        length, n = head
        if length < 2 or length > self.max_packet_bytes or n + length + CRC_BYTES > remaining:
            return False
        inner = decode_varint(buf, at + n + 1)
        return inner is not None and inner[0] == length - 1 - inner[1]

    def _record_at(self, f: BinaryIO, offset: int, index: int) -> Record | None:
        f.seek(self._base + offset)
        try:
            return self._read_record(f, index, offset)
        except StreamError:
            return None

    def _framed_kinds(self, f: BinaryIO, start: int, end: int) -> tuple[str, ...] | None:
        """The kinds of the records in ``[start, end)`` if their length fields land exactly on
        ``end`` and each body opens with a known tag; None otherwise (contents unknown)."""
        kinds: list[str] = []
        pos = start
        while pos < end and len(kinds) < _MAX_FRAMED_RECORDS:
            f.seek(self._base + pos)
            head = f.read(min(_MAX_VARINT_BYTES + 1, end - pos))
            framing = decode_varint(head)
            if framing is None or framing[1] >= len(head) or head[framing[1]] not in BODY_TAGS:
                return None
            kinds.append(BODY_TAGS[head[framing[1]]])
            pos += framing[1] + framing[0] + CRC_BYTES
        return tuple(kinds) if pos == end else None


def _end_offset(f: BinaryIO, base: int) -> int:
    here = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(here)
    return end - base


def _read_bounded(f: BinaryIO, n: int) -> bytes:
    """Read up to n bytes in chunks: memory follows the bytes present, not the length claimed."""
    if n <= _READ_CHUNK:
        return f.read(n)
    out = bytearray()
    while len(out) < n:
        chunk = f.read(min(_READ_CHUNK, n - len(out)))
        if not chunk:
            break
        out += chunk
    return bytes(out)
