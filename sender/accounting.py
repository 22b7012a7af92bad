"""What each frame cost, in the bits the rate controller (``sender/rate_control.py``) counts.

The controller steers the video bitrate as `avfr info` measures it: whole container records
(length field, packet, CRC), keyframes apart from motion. Each record's size follows from the
packet's serialized size (``codec.bitstream.container.record_size``), so counting does not
serialise a packet again: that happens once, where it is written or sent.
"""

from __future__ import annotations

from typing import Iterable

from codec.bitstream.container import record_size
from proto import avfr_pb2


def frame_bits(packets: Iterable[avfr_pb2.Packet]) -> tuple[int, int]:
    """(motion bits, keyframe bits) of one frame's packets, as container records."""
    bits = {"keyframe": 0, "motion": 0}
    for packet in packets:
        bits[packet.WhichOneof("body")] += 8 * record_size(packet)
    return bits["motion"], bits["keyframe"]
