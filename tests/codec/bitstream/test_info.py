"""`avfr info`'s description of a stream, on what a damaged or forged header can hold."""

from __future__ import annotations

from pathlib import Path

from codec.bitstream.info import describe_file
from tests.codec.bitstream.test_container import small_stream, write


def test_a_header_without_a_frame_size_is_described(tmp_path: Path) -> None:
    """Fuzz finding: a forged header of width 0 over intact frames raised ZeroDivisionError in
    the text report (bits per pixel of no pixels)."""
    packets = small_stream(3)
    packets[0].header.width = 0
    info = describe_file(write(tmp_path / "w0.avfr", packets))
    assert info.frames == 3 and info.bpp_video == 0.0
    assert "0.0000 bpp" in info.to_text() and info.to_dict()["bpp_video"] == 0.0
    assert sum(info.bytes.values()) == info.file_bytes
