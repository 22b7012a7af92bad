"""`avfr info`: what a stream holds and where every bit went.

Payload is counted as the bytes of the coded media fields only (keyframe image, motion
payload, Opus packets); everything else in the file (magic, version, length prefixes, CRCs,
protobuf tags, headers, timestamps) is overhead. The four parts therefore add up to the file
size by construction, and the motion part is exactly what the motion coder produced
(960 bits per frame in raw FP16 mode).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codec.bitstream.container import AvfrReader
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
    stopped_at: str | None = None

    @property
    def complete(self) -> bool:
        return self.stopped_at is None

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps else 0.0

    @property
    def motion_bits_per_frame(self) -> float:
        return self.bytes["motion"] * 8 / self.frames if self.frames else 0.0

    def kbps(self, part: str) -> float:
        size = self.file_bytes if part == "total" else self.bytes[part]
        return size * 8 / 1000 / self.duration_s if self.duration_s else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        mbpf = self.motion_bits_per_frame
        d.update(
            duration_s=self.duration_s,
            motion_bits_per_frame=int(mbpf) if mbpf == int(mbpf) else mbpf,
            kbps={p: self.kbps(p) for p in ("keyframes", "motion", "audio", "overhead", "total")},
            bpp_video=(self.file_bytes - self.bytes["audio"]) * 8 / max(self.frames * self.width * self.height, 1),
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
        video_bits = (self.file_bytes - self.bytes["audio"]) * 8
        if self.frames:
            lines.append(
                f"  video (all but audio): {video_bits / self.frames:.0f} bits/frame, "
                f"{video_bits / (self.frames * self.width * self.height):.4f} bpp"
            )
        if self.stopped_at:
            lines.append(f"  DAMAGED: {self.stopped_at}; the counts above cover the intact part")
        return "\n".join(lines)


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return str(value)


def describe_file(path: Path) -> StreamInfo:
    """Scan a stream once. A damaged stream is described up to the damage, never raised on,
    unless nothing at all can be read from it (then a StreamError says why)."""
    path = Path(path)
    if not path.is_file():
        raise StreamError(f"{path} does not exist: give the path of an .avfr file")
    info = StreamInfo(path=str(path), file_bytes=path.stat().st_size)
    try:
        for packet in AvfrReader(path):
            kind = packet.WhichOneof("body")
            if kind == "header":
                _read_header(info, packet.header)
            elif kind == "keyframe":
                info.keyframes += 1
                info.bytes["keyframes"] += len(packet.keyframe.data)
            elif kind == "motion":
                info.frames += 1
                info.bytes["motion"] += len(packet.motion.payload)
            elif kind == "audio":
                info.audio_packets += 1
                info.bytes["audio"] += len(packet.audio.data)
    except StreamError as err:
        if info.width == 0:
            raise
        info.stopped_at = str(err)
    payload = info.bytes["keyframes"] + info.bytes["motion"] + info.bytes["audio"]
    info.bytes["overhead"] = info.file_bytes - payload
    return info


def _read_header(info: StreamInfo, h: avfr_pb2.StreamHeader) -> None:
    info.model_id = h.model_id
    info.width, info.height = h.width, h.height
    info.fps = h.fps_num / h.fps_den if h.fps_den else 0.0
    info.motion_coding = _enum_name(avfr_pb2.MotionCoding, h.motion_coding)
    info.keyframe_codec = _enum_name(avfr_pb2.KeyframeCodec, h.keyframe_codec)
    if h.audio_codec == avfr_pb2.AUDIO_CODEC_OPUS:
        info.audio = f"Opus {h.audio_bitrate / 1000:g} kbit/s at {h.audio_sample_rate} Hz"
