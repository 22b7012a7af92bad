"""What goes over the wire of a call: every datagram counted, and optionally impaired.

Both live where aioice hands datagrams to and from the UDP socket (``aioice.Connection``),
below SRTP, DTLS and SCTP, so the counts are the real transport cost and the impairment hits
everything a lossy link would: RTP audio packets vanish, SCTP retransmits keyframes, unreliable
motion messages are simply gone, and packets overtake each other when their delays differ.

Counting: datagrams are told apart by their first byte (RFC 7983): STUN 0-3, DTLS 20-63 (the
data channels: SCTP inside DTLS), RTP/RTCP 128-191 (the Opus track, SRTP). ``wire`` bytes add
28 bytes of IPv4 + UDP header per datagram.

Impairment (``NetemConfig``): each outgoing datagram is dropped with probability ``loss``, or
in bursts (``burst``: a Gilbert-Elliott channel, see :class:`LossModel`), or else delayed by
a uniform random time in ``[0, jitter_s]``. It stands in for ``tc netem`` (which needs network
namespaces and root) and acts on one process's outgoing traffic; it is switched on once the
call is connected, so that it tests the media, not the handshake.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field

UDP_IP_HEADER_BYTES = 28


NETEM_SYNTAX = "loss=P,burst=P:PACKETS,jitter=SECONDS[,seed=N]"


@dataclass
class NetemConfig:
    loss: float = 0.0  # probability that a datagram is dropped, each on its own
    jitter_s: float = 0.0  # each datagram is delayed by uniform [0, jitter_s]
    seed: int = 0
    burst_loss: float = 0.0  # Gilbert-Elliott: the share of datagrams lost in bursts...
    burst_packets: float = 1.0  # ...of this many datagrams on average

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), got {self.loss}")
        if self.jitter_s < 0:
            raise ValueError(f"jitter must be >= 0 s, got {self.jitter_s}")
        if not 0.0 <= self.burst_loss < 1.0 or self.burst_packets < 1.0:
            raise ValueError(f"burst takes a loss share in [0, 1) and a mean burst of >= 1 packet, got {self.burst_loss}:{self.burst_packets}")

    @classmethod
    def parse(cls, text: str) -> "NetemConfig":
        """``loss=0.1,jitter=0.05`` (jitter in seconds), ``burst=0.1:3`` (10% lost, 3 in a row on average)."""
        values: dict[str, float] = {}
        for part in filter(None, text.replace(" ", "").split(",")):
            key, _, value = part.partition("=")
            if key == "burst" and value.count(":") == 1:
                values["burst_loss"], values["burst_packets"] = (float(v) for v in value.split(":"))
            elif key in ("loss", "jitter", "seed") and value:
                values[key] = float(value)
            else:
                raise ValueError(f"--netem takes {NETEM_SYNTAX}, got {text!r}")
        return cls(values.get("loss", 0.0), values.get("jitter", 0.0), int(values.get("seed", 0)),
                   values.get("burst_loss", 0.0), values.get("burst_packets", 1.0))  # fmt: skip

    @property
    def active(self) -> bool:
        return self.loss > 0 or self.jitter_s > 0 or self.burst_loss > 0


class LossModel:
    """Which datagrams a :class:`NetemConfig` drops: each on its own with ``loss``, and in
    bursts by a two-state Gilbert-Elliott channel (every datagram sent in the bad state is
    lost, none in the good one). From the good state the channel turns bad with ``p``, from
    the bad state good with ``r``: bursts last ``1 / r`` datagrams on average, and the share
    lost is ``p / (p + r)``, so ``p`` and ``r`` follow from the two numbers people give."""

    def __init__(self, netem: NetemConfig, rng: random.Random) -> None:
        self.netem, self.rng = netem, rng
        self.r = 1.0 / netem.burst_packets
        self.p = netem.burst_loss * self.r / (1.0 - netem.burst_loss)
        self.bad = False
        self.run = 0  # datagrams dropped in a row so far
        self.runs: dict[int, int] = {}  # length of a run of drops -> how many there were

    def drop(self) -> bool:
        if self.netem.burst_loss > 0:
            self.bad = self.rng.random() < (1.0 - self.r if self.bad else self.p)
        dropped = self.bad or self.rng.random() < self.netem.loss
        if dropped:
            self.run += 1
        elif self.run:
            self.runs[self.run] = self.runs.get(self.run, 0) + 1
            self.run = 0
        return dropped


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
    losses: LossModel | None = None
    first_rtp_timestamp: int | None = None  # of the first RTP packet sent: where the speech's media time 0 is

    def note_sent(self, data: bytes) -> None:
        if self.first_rtp_timestamp is None and is_rtp(data):
            self.first_rtp_timestamp = int.from_bytes(data[4:8], "big")  # SRTP leaves the RTP header in the clear

    def impair(self, on: bool = True) -> None:
        self.netem_on = on and self.netem.active

    def summary(self) -> dict:
        return {
            "sent": asdict(self.sent) | {"wire_bytes": self.sent.wire_bytes},
            "received": asdict(self.received) | {"wire_bytes": self.received.wire_bytes},
            "netem": asdict(self.netem)
            | {"dropped": self.dropped, "delayed": self.delayed, "loss_runs": dict(sorted(self.losses.runs.items())) if self.losses else {}},
        }


def is_rtp(data: bytes) -> bool:
    """RTP, not RTCP (RFC 5761: RTCP's packet types 192-223 sit where RTP's marker and type are)."""
    return len(data) >= 12 and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223


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
    wire.losses = LossModel(wire.netem, rng)

    async def sendto(self: "aioice.Connection", data: bytes, component: int) -> None:
        wire.note_sent(data)
        if wire.netem_on:
            if wire.losses.drop():
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
