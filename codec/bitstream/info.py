"""`avfr info`: what a stream holds and where every bit went.

Payload is counted as the bytes of the coded media fields only (keyframe image, motion
payload, Opus packets); everything else in the file (magic, version, length prefixes, CRCs,
protobuf tags, headers, timestamps) is overhead. The four parts therefore add up to the file
size by construction, and the motion part is exactly what the motion coder produced
(960 bits per frame in raw FP16 mode).

Part of the overhead exists only because the stream carries speech: the framing of every
audio record (length, CRC, tags, timestamp) and the header's audio fields. It is counted
exactly (``audio_framing``, from each record's bytes; a speech run's share) so that "video" can mean what a video
codec would be charged for: ``video = keyframes + motion + overhead - audio_framing``. At 50
audio packets a second this framing is most of the overhead.

A damaged file is described past the damage (the reader resyncs at the next intact packet):
the counts cover the intact packets, the damaged bytes count as overhead, and each damaged
range is named with the frames it costs (``codec/bitstream/damage.py``, the same figures
`avfr decode` gives).

:func:`packet_sizes` accounts for the same bytes record by record (media, length fields and
CRCs, protobuf fields, damaged ranges), so that its parts add up to the file exactly.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codec.bitstream.container import CRC_BYTES, PREAMBLE_BYTES, AvfrReader, Record, Source, encode_record
from codec.bitstream.damage import plan_damage
from codec.bitstream.index import StreamIndex
from codec.errors import StreamError
from proto import avfr_pb2


@dataclass
class StreamInfo:
    path: str
    file_bytes: int
    model_id: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    motion_coding: str = ""
    keyframe_codec: str = ""
    audio: str = "none"
    frames: int = 0
    keyframes: int = 0
    audio_packets: int = 0
    bytes: dict[str, int] = field(default_factory=lambda: {"keyframes": 0, "motion": 0, "audio": 0, "overhead": 0})
    audio_framing: int = 0  # bytes of the overhead that frame the audio (see the module docstring)
    stopped_at: str | None = None  # damage at the tail, which no intact packet follows
    damage: list[dict] = field(default_factory=list)  # each damaged range in the middle and what it costs
    damage_lines: list[str] = field(default_factory=list)  # the same, one line each

    @property
    def complete(self) -> bool:
        return self.stopped_at is None and not self.damage

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps else 0.0

    @property
    def motion_bits_per_frame(self) -> float:
        return self.bytes["motion"] * 8 / self.frames if self.frames else 0.0

    @property
    def video_bytes(self) -> int:
        """Everything but the speech and its framing: what a video codec would be charged."""
        return self.file_bytes - self.bytes["audio"] - self.audio_framing

    @property
    def bpp_video(self) -> float:
        """Video bits per pixel of all frames (0 when a damaged header gives no frame size)."""
        pixels = self.frames * self.width * self.height
        return self.video_bytes * 8 / pixels if pixels else 0.0

    def kbps(self, part: str) -> float:
        size = {"total": self.file_bytes, "video": self.video_bytes}.get(part, self.bytes.get(part, 0))
        return size * 8 / 1000 / self.duration_s if self.duration_s else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        mbpf = self.motion_bits_per_frame
        d.update(
            duration_s=self.duration_s,
            motion_bits_per_frame=int(mbpf) if mbpf == int(mbpf) else mbpf,
            kbps={p: self.kbps(p) for p in ("keyframes", "motion", "audio", "overhead", "total", "video")},
            video_bytes=self.video_bytes,
            bpp_video=self.bpp_video,
            complete=self.complete,
        )
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        lines = [
            f"{self.path}: {self.file_bytes} bytes",
            f"  model {self.model_id}, {self.width}x{self.height} at {self.fps:g} fps, motion {self.motion_coding}, "
            f"keyframes {self.keyframe_codec}, audio {self.audio}",
            f"  {self.frames} frames, {self.duration_s:.2f} s, {self.keyframes} keyframe(s), {self.audio_packets} audio packets",
            f"  motion: {self.motion_bits_per_frame:g} bits per frame",
            "",
            f"  {'part':<10} {'bytes':>10} {'kbit/s':>9} {'share':>7}",
        ]
        for part in ("keyframes", "motion", "audio", "overhead"):
            share = 100 * self.bytes[part] / self.file_bytes if self.file_bytes else 0
            lines.append(f"  {part:<10} {self.bytes[part]:>10} {self.kbps(part):>9.2f} {share:>6.1f}%")
        lines.append(f"  {'total':<10} {self.file_bytes:>10} {self.kbps('total'):>9.2f} {100:>6.1f}%")
        video_bits = self.video_bytes * 8
        if self.audio_framing:
            lines.append(f"  (of the overhead, {self.audio_framing} bytes frame the audio packets)")
        if self.frames:
            lines.append(
                f"  video (all but the audio and its framing): {video_bits / self.frames:.0f} bits/frame, "
                f"{self.kbps('video'):.2f} kbit/s, {self.bpp_video:.4f} bpp"
            )
        lines += [f"  DAMAGED: {line}" for line in self.damage_lines]
        if self.stopped_at:
            lines.append(f"  DAMAGED: {self.stopped_at}; the counts above cover the intact part")
        return "\n".join(lines)


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return str(value)


def describe_file(path: Path) -> StreamInfo:
    """Scan a stream. A damaged stream is described past its damage, never raised on, unless
    its header cannot be read (then a StreamError says why)."""
    path = Path(path)
    if not path.is_file():
        raise StreamError(f"{path} does not exist: give the path of an .avfr file")
    info = StreamInfo(path=str(path), file_bytes=path.stat().st_size)
    reader = AvfrReader(path, resync=True)
    header_seen = False
    try:
        for record in reader.records():
            packet, kind = record.packet, record.kind
            if kind == "header":
                _read_header(info, packet.header)
                header_seen = True
            elif kind == "keyframe":
                info.keyframes += 1
                info.bytes["keyframes"] += len(packet.keyframe.data)
            elif kind == "motion":
                info.frames += 1
                info.bytes["motion"] += len(packet.motion.payload)
            elif kind == "audio":
                info.audio_packets += 1
                info.bytes["audio"] += len(packet.audio.data)
            info.audio_framing += audio_framing(record)
    except StreamError as err:
        if not header_seen:
            raise
        info.stopped_at = str(err)
    if not header_seen:
        raise StreamError(f"{path} has no intact stream header: it is damaged at its start and cannot be described")
    plan = plan_damage(StreamIndex.scan(reader).entries)
    info.damage = [c.to_dict() for c in plan.costs]
    info.damage_lines = plan.lines()
    payload = info.bytes["keyframes"] + info.bytes["motion"] + info.bytes["audio"]
    info.bytes["overhead"] = info.file_bytes - payload
    return info


AUDIO_HEADER_FIELDS = ("audio_codec", "audio_sample_rate", "audio_channels", "audio_bitrate")


def audio_framing(record: Record) -> int:
    """Bytes this packet spends on the speech beyond the Opus payload: an audio packet's share
    of its record beyond the data, or what the audio fields add to the header record; 0 for
    any other packet."""
    packet, kind = record.packet, record.kind
    if kind == "audio":
        return record.size - len(packet.audio.data)
    if kind == "header" and packet.header.audio_codec != avfr_pb2.AUDIO_CODEC_NONE:
        bare = avfr_pb2.Packet()
        bare.CopyFrom(packet)
        for name in AUDIO_HEADER_FIELDS:
            bare.header.ClearField(name)
        return len(encode_record(packet)) - len(encode_record(bare))
    return 0


def _read_header(info: StreamInfo, h: avfr_pb2.StreamHeader) -> None:
    info.model_id = h.model_id
    info.width, info.height = h.width, h.height
    info.fps = h.fps_num / h.fps_den if h.fps_den else 0.0
    info.motion_coding = _enum_name(avfr_pb2.MotionCoding, h.motion_coding)
    info.keyframe_codec = _enum_name(avfr_pb2.KeyframeCodec, h.keyframe_codec)
    if h.audio_codec == avfr_pb2.AUDIO_CODEC_OPUS:
        info.audio = f"Opus {h.audio_bitrate / 1000:g} kbit/s at {h.audio_sample_rate} Hz"


# --------------------------------------------------------------------------- byte accounting

MEDIA_FIELDS = {"keyframe": ("keyframes", "data"), "motion": ("motion", "payload"), "audio": ("audio", "data")}


@dataclass
class ByteAccount:
    """Where every byte of a file went: the coded media and everything else.

    ``media`` counts only the coded fields (keyframe images, motion payloads, Opus
    packets); ``overhead`` is the rest (preamble, length fields, CRCs, protobuf tags and
    fields, header, end-of-stream, damaged ranges and any damaged tail), so the parts add up
    to the file.
    """

    file_bytes: int
    preamble_bytes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    record_bytes: dict[str, int] = field(default_factory=dict)  # whole records per packet kind
    media: dict[str, int] = field(default_factory=lambda: {"keyframes": 0, "motion": 0, "audio": 0})
    framing_bytes: int = 0  # length fields + CRCs
    protobuf_bytes: int = 0  # serialized packets minus their media fields
    damaged_bytes: int = 0  # damaged ranges in the middle, skipped by the resyncing reader
    unread_bytes: int = 0  # after the last intact record
    stopped_at: str | None = None

    @property
    def overhead(self) -> int:
        return self.file_bytes - sum(self.media.values())

    def parts(self) -> dict[str, int]:
        return {**self.media, "overhead": self.overhead}


def packet_sizes(source: Source) -> ByteAccount:
    """Scan a file once and account for each byte; damage in the middle is skipped and
    counted, a damaged tail is accounted up to the damage."""
    reader = AvfrReader(source, resync=True)
    account = ByteAccount(file_bytes=_size_of(source))
    end = 0
    try:
        for r in reader.records():
            _count(account, r)
            end = r.offset + r.size
    except StreamError as err:
        if reader.version is None:
            raise
        account.stopped_at = str(err)
    account.preamble_bytes = PREAMBLE_BYTES
    account.unread_bytes = account.file_bytes - max(end, PREAMBLE_BYTES)
    return account


def _count(account: ByteAccount, r: Record) -> None:
    if r.damage_before is not None:
        account.damaged_bytes += r.damage_before.size
    kind = r.kind or "unknown"
    account.counts[kind] = account.counts.get(kind, 0) + 1
    account.record_bytes[kind] = account.record_bytes.get(kind, 0) + r.size
    account.framing_bytes += r.length_bytes + CRC_BYTES
    media = 0
    if kind in MEDIA_FIELDS:
        part, name = MEDIA_FIELDS[kind]
        media = len(getattr(getattr(r.packet, kind), name))
        account.media[part] += media
    account.protobuf_bytes += r.packet_bytes - media


def _size_of(source: Source) -> int:
    if hasattr(source, "read"):
        f = source  # type: ignore[assignment]
        here = f.tell()
        size = f.seek(0, io.SEEK_END)
        f.seek(here)
        return size - here
    try:
        return Path(source).stat().st_size
    except OSError:
        raise StreamError(f"{source} does not exist: give the path of an .avfr file") from None
