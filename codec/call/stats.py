"""Live call statistics: bytes per stream, frames rendered and held, render time.

Each end counts the avfr packets it sends or receives, and ``codec.call.wire`` counts every
datagram (audio = the SRTP/SRTCP datagrams of the Opus track; transport = all datagrams plus
their UDP/IPv4 headers), so "overhead" is measured, not estimated: what the wire carried for
the data channels (SCTP, DTLS, STUN, UDP/IP) beyond the motion and keyframe packets.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


def quantiles(values: list[float]) -> dict | None:
    """Median, 95th percentile, extremes and count (nearest rank): what call reports show."""
    if not values:
        return None
    v = sorted(values)
    return {"median": v[len(v) // 2], "p95": v[int(0.95 * (len(v) - 1))], "min": v[0], "max": v[-1], "n": len(v)}


@dataclass
class StreamBytes:
    motion: int = 0  # motion packets (avfr Packet bytes, as carried)
    keyframes: int = 0  # header, keyframe and end-of-stream packets
    audio: int = 0  # SRTP/SRTCP datagrams of the Opus track (payload and RTP headers)
    transport: int = 0  # every datagram on the wire, with its UDP/IPv4 header
    motion_messages: int = 0

    @property
    def overhead(self) -> int:
        return max(self.transport - self.motion - self.keyframes - self.audio, 0)


@dataclass
class CallStats:
    """One end's running totals; :meth:`snapshot` turns them into rates for people and JSON."""

    started: float = field(default_factory=time.monotonic)
    bytes: StreamBytes = field(default_factory=StreamBytes)
    frames_due: int = 0  # frames whose play-out time came
    frames_decodable: int = 0  # of those, with motion that arrived in time and decoded (the rest: lost, or after a loss until a self-contained frame)
    frames_rendered: int = 0  # of those, rendered by the generator
    frames_held: int = 0  # shown as the previous picture: lost, late, undecodable or the renderer was busy
    frames_lost: int = 0
    frames_late: int = 0
    keyframes: int = 0
    render_ms: list[float] = field(default_factory=list)

    def seconds(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def snapshot(self, media_seconds: float | None = None) -> dict:
        """Totals and kbit/s per stream over ``media_seconds`` (default: wall time so far)."""
        secs = media_seconds if media_seconds else self.seconds()
        b = self.bytes

        def kbps(n: int) -> float:
            return 8 * n / secs / 1000.0

        out = {
            "seconds": secs,
            "kbps": {"motion": kbps(b.motion), "keyframes": kbps(b.keyframes), "audio": kbps(b.audio),
                     "overhead": kbps(b.overhead), "total": kbps(b.transport)},
            "bytes": asdict(b) | {"overhead": b.overhead},
            "frames": {"due": self.frames_due, "decodable": self.frames_decodable, "rendered": self.frames_rendered, "held": self.frames_held,
                       "lost": self.frames_lost, "late": self.frames_late},
            "keyframes": self.keyframes,
        }  # fmt: skip
        if self.render_ms:
            out["render_ms"] = quantiles(self.render_ms)
        return out

    def line(self) -> str:
        """One progress line for the terminal."""
        s = self.snapshot()
        k, f = s["kbps"], s["frames"]
        return (
            f"motion {k['motion']:.1f} | keyframes {k['keyframes']:.1f} | audio {k['audio']:.1f} | overhead {k['overhead']:.1f} kbit/s"
            f" | frames {f['rendered']} rendered, {f['held']} held ({f['lost']} lost, {f['late']} late)"
        )
