"""The index of a file's intact packets: past damage in the middle, and seeking to any frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from codec.bitstream.container import AvfrReader
from codec.bitstream.index import StreamIndex
from codec.errors import StreamError
from proto import avfr_pb2
from tests.codec.bitstream.test_container import record_spans, small_stream, write


def test_seek_and_index_reach_past_damage_in_the_middle(tmp_path: Path) -> None:
    packets = small_stream(6, keyframe_every=3)
    data = bytearray(write(tmp_path / "a.avfr", packets).read_bytes())
    start, end = record_spans(packets)[7]  # motion frame 1
    assert packets[7].motion.frame_index == 1
    data[start + 5] ^= 0x10
    (tmp_path / "d.avfr").write_bytes(bytes(data))
    index = StreamIndex.scan(AvfrReader(tmp_path / "d.avfr"))
    assert [e.frame_index for e in index.entries if e.kind == "motion"] == [0, 2, 3, 4, 5]
    assert index.tail_damage is None and [(d.start, d.end) for d in index.damaged_ranges()] == [(start, end)]
    assert [p.motion.frame_index for p in index.seek_frame(4) if p.HasField("motion")] == [4, 5]


def test_seek_frame_starts_at_the_keyframe_then_the_frame(tmp_path: Path) -> None:
    packets = small_stream(6, keyframe_every=3)
    index = StreamIndex.scan(AvfrReader(write(tmp_path / "a.avfr", packets)))
    got = list(index.seek_frame(4))
    assert got[0].HasField("keyframe") and got[0].keyframe.frame_index == 3
    assert got[1].HasField("motion") and got[1].motion.frame_index == 4
    assert [p.motion.frame_index for p in got if p.HasField("motion")] == [4, 5]
    assert got[-1].HasField("end_of_stream")
    assert list(index.seek_frame(0))[1].motion.frame_index == 0
    with pytest.raises(StreamError, match="frame 6 is not in"):
        index.seek_frame(6)


def test_seek_in_a_compact_stream_starts_at_the_last_self_contained_motion_frame(tmp_path: Path) -> None:
    packets = small_stream(12, keyframe_every=100)
    for p in packets:
        if p.HasField("motion"):
            p.motion.coding = avfr_pb2.MOTION_CODING_UNSPECIFIED  # compact streams leave it to the header
            p.motion.self_contained = p.motion.frame_index % 5 == 0
    got = list(StreamIndex.scan(AvfrReader(write(tmp_path / "c.avfr", packets))).seek_frame(7))
    assert got[0].HasField("keyframe")
    assert [p.motion.frame_index for p in got if p.HasField("motion")][:3] == [5, 6, 7]


def test_seek_frame_on_a_cut_file_reaches_the_intact_frames(tmp_path: Path) -> None:
    data = write(tmp_path / "a.avfr", small_stream(6, keyframe_every=3)).read_bytes()
    (tmp_path / "cut.avfr").write_bytes(data[: len(data) - 200])
    index = StreamIndex.scan(AvfrReader(tmp_path / "cut.avfr"))
    frames = [e.frame_index for e in index.entries if e.kind == "motion"]
    assert frames and frames == list(range(len(frames))) and index.tail_damage is not None
    last = frames[-1]
    assert [p.motion.frame_index for p in _until_error(index.seek_frame(last)) if p.HasField("motion")] == [last]


def _until_error(packets) -> list[avfr_pb2.Packet]:
    out = []
    try:
        for p in packets:
            out.append(p)
    except StreamError:
        pass
    return out
