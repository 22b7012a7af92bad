"""`avfr info`'s description of a stream, on what a damaged or forged header can hold, and
the byte accounting that adds up to the file."""

from __future__ import annotations

from pathlib import Path

from codec.bitstream.info import describe_file, packet_sizes
from tests.codec.bitstream.test_container import record_spans, small_stream, write


def test_a_header_without_a_frame_size_is_described(tmp_path: Path) -> None:
    """Fuzz finding: a forged header of width 0 over intact frames raised ZeroDivisionError in
    the text report (bits per pixel of no pixels)."""
    packets = small_stream(3)
    packets[0].header.width = 0
    info = describe_file(write(tmp_path / "w0.avfr", packets))
    assert info.frames == 3 and info.bpp_video == 0.0
    assert "0.0000 bpp" in info.to_text() and info.to_dict()["bpp_video"] == 0.0
    assert sum(info.bytes.values()) == info.file_bytes


def test_packet_sizes_add_up_to_the_file(tmp_path: Path) -> None:
    packets = small_stream(5)
    path = write(tmp_path / "a.avfr", packets)
    acc = packet_sizes(path)
    size = path.stat().st_size
    assert sum(acc.parts().values()) == size
    assert acc.media["motion"] * 8 == 960 * 5
    assert acc.media["keyframes"] == sum(len(p.keyframe.data) for p in packets if p.HasField("keyframe"))
    assert acc.media["audio"] == 40 * 10
    assert acc.preamble_bytes + sum(acc.record_bytes.values()) == size
    assert acc.overhead == acc.preamble_bytes + acc.framing_bytes + acc.protobuf_bytes
    assert acc.counts == {"header": 1, "keyframe": 3, "audio": 10, "motion": 5, "end_of_stream": 1}
    cut = tmp_path / "cut.avfr"
    cut.write_bytes(path.read_bytes()[:-10])
    acc = packet_sizes(cut)
    assert acc.stopped_at and sum(acc.parts().values()) == size - 10 and acc.unread_bytes > 0
    damaged = bytearray(path.read_bytes())
    start, end = record_spans(packets)[4]
    damaged[start + 4] ^= 0x01
    (tmp_path / "d.avfr").write_bytes(bytes(damaged))
    acc = packet_sizes(tmp_path / "d.avfr")
    assert acc.stopped_at is None and acc.damaged_bytes == end - start and acc.unread_bytes == 0
    assert sum(acc.parts().values()) == size and acc.preamble_bytes + sum(acc.record_bytes.values()) + acc.damaged_bytes == size
