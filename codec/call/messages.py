"""avfr packets on WebRTC data channels.

Two channels, because the two kinds of packet need opposite delivery:

* ``avfr-control`` (reliable, ordered): the stream header, keyframes and the end of stream.
  A keyframe that never arrives leaves the receiver with nothing to animate, so SCTP
  retransmits it; it is a few kB once every few seconds at most.
* ``avfr-motion`` (unordered, ``maxRetransmits=0``): motion frames. A retransmitted motion
  frame would arrive after its play-out time and be dropped anyway; the compact coding
  recovers from a loss at the next self-contained frame (``intra_period``).

A lost keyframe is re-sent by SCTP itself: at once when three later chunks are acknowledged
past it (fast retransmit), else when its retransmission timer fires. aiortc keeps that timer
at RFC 4960's floor of 1 s, made for the internet of 2000; on a call's short round trips it is
the whole wait, and a retransmission lost again waits another second.
:func:`configure_keyframe_resend` lowers the floor (the timer still follows the measured
round trip plus four times its variation): ``benchmarks/results/keyframe_resend.md`` measures
keyframe delivery under 30% loss both ways.

Besides avfr packets (binary messages), the control channel carries call notes (text: one
JSON object) about the call rather than the stream: ``speech_rtp_origin``, the RTP timestamp
of the sender's first speech packet, so that a receiver whose first speech packets were lost
still puts the speech at its media time (aiortc counts from the first packet that arrived).

A message holds one or more packets, each as ``varint length | Packet``: no CRC, because DTLS
already authenticates every byte. ``bundle`` motion frames per message trade latency
(``bundle - 1`` frame times) for transport overhead: each SCTP DATA chunk, DTLS record and
UDP/IP datagram costs ~60-90 bytes, several times a compact motion frame's ~15 bytes
(``benchmarks/results/call.md`` measures both).
"""

from __future__ import annotations

import json
from typing import Iterable, Iterator

from codec.bitstream.container import encode_varint, parse_packet
from codec.errors import StreamError
from proto import avfr_pb2

CONTROL_LABEL = "avfr-control"
MOTION_LABEL = "avfr-motion"
MAX_MESSAGE_BYTES = 256 * 1024  # far above a keyframe; bounds what a receiver parses
SPEECH_ORIGIN = "speech_rtp_origin"
RESEND_FLOOR_S = 0.2  # SCTP's retransmission timer floor in calls (aiortc's own: 1 s)


def configure_keyframe_resend(floor_s: float = RESEND_FLOOR_S) -> None:
    """Every SCTP association of this process re-sends an unacknowledged chunk after at least
    ``floor_s`` (plus the measured round trip and its variation) instead of 1 s."""
    from aiortc import rtcsctptransport

    rtcsctptransport.SCTP_RTO_MIN = floor_s
    rtcsctptransport.SCTP_RTO_INITIAL = max(floor_s, 1.0)  # before the first round trip is measured


def call_note(**values: int | str) -> str:
    """A call note for the control channel."""
    return json.dumps(values, sort_keys=True)


def read_call_note(message: str) -> dict:
    """A call note's values; StreamError if it is not one."""
    try:
        note = json.loads(message)
    except ValueError:
        note = None
    if not isinstance(note, dict) or len(message) > 4096:
        raise StreamError("a text message on the avfr control channel is not a call note: the peer is not an avfr sender")
    return note


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
