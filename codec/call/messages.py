"""avfr packets on WebRTC data channels.

Two channels, because the two kinds of packet need opposite delivery:

* ``avfr-control`` (reliable, ordered): the stream header, keyframes and the end of stream.
  A keyframe that never arrives leaves the receiver with nothing to animate, so SCTP
  retransmits it; it is a few kB once every few seconds at most.
* ``avfr-motion`` (unordered, ``maxRetransmits=0``): motion frames. A retransmitted motion
  frame would arrive after its play-out time and be dropped anyway; the compact coding
  recovers from a loss at the next self-contained frame (``intra_period``).

A message holds one or more packets, each as ``varint length | Packet``: no CRC, because DTLS
already authenticates every byte. ``bundle`` motion frames per message trade latency
(``bundle - 1`` frame times) for transport overhead: each SCTP DATA chunk, DTLS record and
UDP/IP datagram costs ~60-90 bytes, several times a compact motion frame's ~15 bytes
(``benchmarks/results/call.md`` measures both).
"""

from __future__ import annotations

from typing import Iterable, Iterator

from codec.bitstream.container import encode_varint, parse_packet
from codec.errors import StreamError
from proto import avfr_pb2

CONTROL_LABEL = "avfr-control"
MOTION_LABEL = "avfr-motion"
MAX_MESSAGE_BYTES = 256 * 1024  # far above a keyframe; bounds what a receiver parses


def pack_message(packets: Iterable[avfr_pb2.Packet]) -> bytes:
    """Packets -> one data-channel message."""
    out = bytearray()
    for packet in packets:
        body = packet.SerializeToString()
        out += encode_varint(len(body)) + body
    return bytes(out)


def unpack_message(message: bytes) -> Iterator[avfr_pb2.Packet]:
    """One data-channel message -> its packets; StreamError on anything malformed."""
    if not isinstance(message, (bytes, bytearray)):
        raise StreamError("a text message arrived on an avfr data channel: the peer is not an avfr sender")
    if len(message) > MAX_MESSAGE_BYTES:
        raise StreamError(f"a {len(message)}-byte message exceeds {MAX_MESSAGE_BYTES} bytes: the peer is not an avfr sender")
    pos = 0
    while pos < len(message):
        length, pos = _read_varint(message, pos)
        if pos + length > len(message):
            raise StreamError("a data-channel message ends inside a packet: the peer sent a damaged message")
        yield parse_packet(bytes(message[pos : pos + length]), "data-channel packet")
        pos += length


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(4):
        if pos >= len(data):
            break
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise StreamError("a data-channel message holds a malformed packet length: the peer sent a damaged message")


class MotionBundler:
    """Collects ``bundle`` motion packets per message (1: a message per frame)."""

    def __init__(self, bundle: int = 1) -> None:
        if bundle < 1:
            raise ValueError(f"bundle must be at least 1 motion frame per message, got {bundle}")
        self.bundle = bundle
        self._pending: list[avfr_pb2.Packet] = []

    def add(self, packet: avfr_pb2.Packet) -> bytes | None:
        """The message to send now, if this packet completes one."""
        self._pending.append(packet)
        return self.flush() if len(self._pending) >= self.bundle else None

    def flush(self) -> bytes | None:
        if not self._pending:
            return None
        message = pack_message(self._pending)
        self._pending = []
        return message
