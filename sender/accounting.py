"""What each frame cost, in the bits the rate controller (``sender/rate_control.py``) counts.

The controller steers the video bitrate as `avfr info` measures it on the file: whole
container records (length field, packet, CRC), keyframes apart from motion, and a predicted
motion frame at what it adds to its run (``codec/bitstream/runs.py``: its payload, a tag and a
length). Each size follows from the packet's serialized size, so counting does not serialise
a packet again: that happens once, where it is written or sent.
"""

from __future__ import annotations

from typing import Iterable

from codec.bitstream.container import record_size
from codec.bitstream.runs import is_predicted_motion, member_bytes
from proto import avfr_pb2


def packet_bits(packet: avfr_pb2.Packet) -> int:
    """Bits one packet adds to a file with runs."""
    if packet.WhichOneof("body") == "motion" and is_predicted_motion(packet.motion):
        return 8 * member_bytes(packet.motion.payload)
    return 8 * record_size(packet)


def frame_bits(packets: Iterable[avfr_pb2.Packet]) -> tuple[int, int]:
    """(motion bits, keyframe bits) of one frame's packets, as the file holds them."""
    bits = {"keyframe": 0, "motion": 0}
    for packet in packets:
        bits[packet.WhichOneof("body")] += packet_bits(packet)
    return bits["motion"], bits["keyframe"]
