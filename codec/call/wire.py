"""What goes over the wire of a call: every datagram counted, and optionally impaired.

Both live where aioice hands datagrams to and from the UDP socket (``aioice.Connection``),
below SRTP, DTLS and SCTP, so the counts are the real transport cost and the impairment hits
everything a lossy link would: RTP audio packets vanish, SCTP retransmits keyframes, unreliable
motion messages are simply gone, and packets overtake each other when their delays differ.

Counting: datagrams are told apart by their first byte (RFC 7983): STUN 0-3, DTLS 20-63 (the
data channels: SCTP inside DTLS), RTP/RTCP 128-191 (the Opus track, SRTP). ``wire`` bytes add
28 bytes of IPv4 + UDP header per datagram.

Impairment (``NetemConfig``): each outgoing datagram is dropped with probability ``loss`` or
else delayed by a uniform random time in ``[0, jitter_s]``. It stands in for ``tc netem``
(which needs network namespaces and root) and acts on one process's outgoing traffic; it is
switched on once the call is connected, so that it tests the media, not the handshake.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field

UDP_IP_HEADER_BYTES = 28


@dataclass
class NetemConfig:
    loss: float = 0.0  # probability that a datagram is dropped
    jitter_s: float = 0.0  # each datagram is delayed by uniform [0, jitter_s]
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), got {self.loss}")
        if self.jitter_s < 0:
            raise ValueError(f"jitter must be >= 0 s, got {self.jitter_s}")

    @classmethod
    def parse(cls, text: str) -> "NetemConfig":
        """``loss=0.1,jitter=0.05`` (jitter in seconds)."""
        values: dict[str, float] = {}
        for part in filter(None, text.replace(" ", "").split(",")):
            key, _, value = part.partition("=")
            if key not in ("loss", "jitter", "seed") or not value:
                raise ValueError(f"--netem takes loss=P,jitter=SECONDS[,seed=N], got {text!r}")
            values[key] = float(value)
        return cls(values.get("loss", 0.0), values.get("jitter", 0.0), int(values.get("seed", 0)))

    @property
    def active(self) -> bool:
        return self.loss > 0 or self.jitter_s > 0


@dataclass
class Direction:
    datagrams: int = 0
    stun: int = 0
    dtls: int = 0  # data channels (SCTP in DTLS)
    rtp: int = 0  # audio (SRTP / SRTCP)
    other: int = 0

    def count(self, data: bytes) -> None:
        self.datagrams += 1
        first = data[0] if data else 255
        if first <= 3:
            self.stun += len(data)
        elif 20 <= first <= 63:
            self.dtls += len(data)
        elif 128 <= first <= 191:
            self.rtp += len(data)
        else:
            self.other += len(data)

    @property
    def payload_bytes(self) -> int:
        return self.stun + self.dtls + self.rtp + self.other

    @property
    def wire_bytes(self) -> int:
        return self.payload_bytes + UDP_IP_HEADER_BYTES * self.datagrams


@dataclass
class Wire:
    """This process's datagram counts, and what the impairment did."""

    sent: Direction = field(default_factory=Direction)
    received: Direction = field(default_factory=Direction)
    netem: NetemConfig = field(default_factory=NetemConfig)
    netem_on: bool = False
    dropped: int = 0
    delayed: int = 0

    def impair(self, on: bool = True) -> None:
        self.netem_on = on and self.netem.active

    def summary(self) -> dict:
        return {
            "sent": asdict(self.sent) | {"wire_bytes": self.sent.wire_bytes},
            "received": asdict(self.received) | {"wire_bytes": self.received.wire_bytes},
            "netem": asdict(self.netem) | {"dropped": self.dropped, "delayed": self.delayed},
        }


_installed: Wire | None = None
_originals: tuple | None = None


def install(netem: NetemConfig | None = None) -> Wire:
    """Count (and, after :meth:`Wire.impair`, impair) every datagram of this process.

    Call before creating the RTCPeerConnection. Installing again replaces the previous counters.
    """
    global _installed, _originals
    import aioice

    if _originals is None:
        _originals = (aioice.Connection.sendto, aioice.Connection.recvfrom)
    original_sendto, original_recvfrom = _originals
    wire = Wire(netem=netem or NetemConfig())
    rng = random.Random(wire.netem.seed)

    async def sendto(self: "aioice.Connection", data: bytes, component: int) -> None:
        if wire.netem_on:
            if rng.random() < wire.netem.loss:
                wire.dropped += 1
                return
            delay = rng.uniform(0.0, wire.netem.jitter_s)
            if delay > 0:
                wire.delayed += 1
                asyncio.ensure_future(_send_later(original_sendto, self, data, component, delay, wire))
                return
        wire.sent.count(data)
        await original_sendto(self, data, component)

    async def recvfrom(self: "aioice.Connection") -> tuple[bytes, int]:
        data, component = await original_recvfrom(self)
        wire.received.count(data)
        return data, component

    aioice.Connection.sendto = sendto  # type: ignore[method-assign]
    aioice.Connection.recvfrom = recvfrom  # type: ignore[method-assign]
    _installed = wire
    return wire


async def _send_later(original, connection, data: bytes, component: int, delay: float, wire: Wire) -> None:  # noqa: ANN001
    await asyncio.sleep(delay)
    try:
        wire.sent.count(data)
        await original(connection, data, component)
    except ConnectionError:
        pass  # the call ended while the datagram was "in flight"


def uninstall() -> None:
    global _installed, _originals
    import aioice

    if _originals is not None:
        aioice.Connection.sendto, aioice.Connection.recvfrom = _originals  # type: ignore[method-assign]
    _installed, _originals = None, None
