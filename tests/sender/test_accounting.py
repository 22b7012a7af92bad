"""What the rate controller is told a frame cost: its container records, as they are written."""

from __future__ import annotations

import io

from codec.bitstream.container import AvfrWriter
from sender.accounting import frame_bits
from tests.codec.bitstream.test_container import keyframe, motion


def written_bits(packets: list) -> int:
    writer = AvfrWriter(io.BytesIO())
    return 8 * sum(writer.write(p) for p in packets)


def test_a_frames_bits_are_its_records_as_written_keyframe_apart_from_motion() -> None:
    key, frame = keyframe(0, size=20_000), motion(0)  # a keyframe's length field takes 3 bytes, a motion frame's 1
    motion_bits, keyframe_bits = frame_bits([key, frame])
    assert keyframe_bits == written_bits([key]) and motion_bits == written_bits([frame])


def test_a_frame_without_a_keyframe_costs_no_keyframe_bits() -> None:
    assert frame_bits([motion(3)]) == (written_bits([motion(3)]), 0)
