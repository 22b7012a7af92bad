"""What the rate controller is told a frame cost: its container records, as they are written."""

from __future__ import annotations

import io

from codec.bitstream.container import AvfrWriter
from proto import avfr_pb2
from sender.accounting import frame_bits
from tests.codec.bitstream.test_container import keyframe, motion


def written_bits(packets: list) -> int:
    """What the packets add to a file (with runs, the default) once it is closed."""
    writer = AvfrWriter(io.BytesIO())
    start = writer.bytes_written
    for p in packets:
        writer.write(p)
    writer.close()
    return 8 * (writer.bytes_written - start)


def compact(i: int, self_contained: bool = False) -> avfr_pb2.Packet:
    return avfr_pb2.Packet(motion=avfr_pb2.MotionFrame(frame_index=i, payload=bytes([i]) * 9, self_contained=self_contained))


def test_a_frames_bits_are_its_records_as_written_keyframe_apart_from_motion() -> None:
    key, frame = keyframe(0, size=20_000), motion(1)  # a keyframe's length field takes 3 bytes, a motion frame's 1
    motion_bits, keyframe_bits = frame_bits([key, frame])
    assert keyframe_bits == written_bits([key]) and motion_bits == written_bits([frame])


def test_a_frame_without_a_keyframe_costs_no_keyframe_bits() -> None:
    assert frame_bits([motion(3)]) == (written_bits([motion(3)]), 0)


def test_a_predicted_frame_costs_what_it_adds_to_its_run() -> None:
    run = [compact(0, self_contained=True), compact(1), compact(2)]
    added = written_bits(run) - written_bits(run[:2])
    assert frame_bits([run[2]]) == (added, 0)
    assert added == 8 * (1 + 1 + 9)  # a tag, a length, the payload: no record of its own
    assert frame_bits([run[0]])[0] == written_bits(run[:1])  # a self-contained frame opens a record
