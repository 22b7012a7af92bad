"""The .avfr container: exact round trips, and every kind of damage found and named."""

from __future__ import annotations

import io
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.bitstream.container import (
    MAX_PACKET_BYTES,
    PREAMBLE_BYTES,
    AvfrReader,
    AvfrWriter,
    encode_record,
    encode_varint,
    preamble,
    record_size,
)
from codec.bitstream.info import packet_sizes
from codec.bitstream.motion import pack_raw_fp16
from codec.errors import OutputExistsError, StreamError
from proto import avfr_pb2


def header() -> avfr_pb2.Packet:
    p = avfr_pb2.Packet()
    h = p.header
    h.format_version, h.model_id, h.width, h.height = 1, "tiny", 256, 256
    h.fps_num, h.fps_den, h.num_keypoints = 25, 1, 10
    h.motion_coding = avfr_pb2.MOTION_CODING_RAW_FP16
    h.audio_codec, h.audio_sample_rate, h.audio_channels, h.audio_bitrate = avfr_pb2.AUDIO_CODEC_OPUS, 16000, 1, 16000
    return p


def keyframe(i: int, size: int = 300) -> avfr_pb2.Packet:
    p = avfr_pb2.Packet()
    p.keyframe.frame_index, p.keyframe.timestamp_us = i, i * 40000
    p.keyframe.codec, p.keyframe.data = avfr_pb2.KEYFRAME_CODEC_VVC_INTRA, bytes(range(256)) * (size // 256) + b"k" * (size % 256)
    return p


def motion(i: int) -> avfr_pb2.Packet:
    p = avfr_pb2.Packet()
    p.motion.frame_index, p.motion.timestamp_us = i, i * 40000
    p.motion.coding = avfr_pb2.MOTION_CODING_RAW_FP16
    p.motion.payload = pack_raw_fp16(np.random.default_rng(i).uniform(-1, 1, (10, 6)))
    return p


def audio(i: int) -> avfr_pb2.Packet:
    p = avfr_pb2.Packet()
    p.audio.timestamp_us, p.audio.sample_count, p.audio.pts_samples = i * 20000, 320, i * 320
    p.audio.data = bytes([i % 256]) * 40
    return p


def eos(n: int) -> avfr_pb2.Packet:
    p = avfr_pb2.Packet()
    p.end_of_stream.frame_count, p.end_of_stream.duration_us = n, n * 40000
    return p


def small_stream(frames: int = 4, keyframe_every: int = 2) -> list[avfr_pb2.Packet]:
    packets = [header()]
    for i in range(frames):
        if i % keyframe_every == 0:
            packets.append(keyframe(i, 100 + i))
        packets += [audio(2 * i), audio(2 * i + 1), motion(i)]
    return packets + [eos(frames)]


def write(path: Path, packets: list[avfr_pb2.Packet]) -> Path:
    """One record per packet, in order (version 2): the framing these tests take apart
    (runs, which gather packets into fewer records, are tests/codec/bitstream/test_runs.py's)."""
    with AvfrWriter(path, runs=False) as w:
        for p in packets:
            w.write(p)
    return path


def canonical_order(packets: list[avfr_pb2.Packet]) -> list[avfr_pb2.Packet]:
    """Packets in a form that a file with runs keeps: header, keyframes and end of stream in
    place, and between two of them the motion frames in order, then the audio packets in order
    (a run's record sits after the packets written while it was open, so motion and audio
    interleave differently; a decoder reads each kind on its own)."""
    rank = {"motion": 1, "audio": 2}
    keys, segment = [], 0
    for pos, p in enumerate(packets):
        kind = p.WhichOneof("body")
        if kind not in rank:
            segment += 1
        keys.append((segment, rank.get(kind, 0), pos))
    return [p for _, p in sorted(zip(keys, packets), key=lambda kp: kp[0])]


def records_until_error(path_or_file, resync: bool = False) -> tuple[list, StreamError | None]:
    got = []
    try:
        for r in AvfrReader(path_or_file, resync=resync).records():
            got.append(r)
    except StreamError as err:
        return got, err
    return got, None


def read_until_error(path_or_file) -> tuple[list[avfr_pb2.Packet], StreamError | None]:
    records, err = records_until_error(path_or_file)
    return [r.packet for r in records], err


# --------------------------------------------------------------------------- round trips


def test_packets_roundtrip_bit_exactly(tmp_path: Path) -> None:
    packets = small_stream(6)
    path = write(tmp_path / "a.avfr", packets)
    got = list(AvfrReader(path))
    assert [g.SerializeToString() for g in got] == [p.SerializeToString() for p in packets]
    assert path.read_bytes()[:PREAMBLE_BYTES] == b"AVFR\x02\x00\x00\x00"
    assert path.stat().st_size == PREAMBLE_BYTES + sum(len(encode_record(p)) for p in packets)


_ints = st.integers(0, 2**32 - 1)
_packets = st.one_of(
    st.builds(
        lambda i, t, d: avfr_pb2.Packet(keyframe=avfr_pb2.Keyframe(frame_index=i, timestamp_us=t, codec=2, data=d)),
        _ints,
        st.integers(0, 2**64 - 1),
        st.binary(max_size=3000),
    ),
    st.builds(lambda i, d: avfr_pb2.Packet(motion=avfr_pb2.MotionFrame(frame_index=i, coding=1, payload=d)), _ints, st.binary(min_size=120, max_size=120)),
    st.builds(
        lambda t, d, n: avfr_pb2.Packet(audio=avfr_pb2.AudioPacket(timestamp_us=t, data=d, sample_count=n)),
        st.integers(0, 2**64 - 1),
        st.binary(max_size=200),
        _ints,
    ),
    st.builds(
        lambda m, s: avfr_pb2.Packet(header=avfr_pb2.StreamHeader(format_version=1, model_id=m, model_sha256=s)), st.text(max_size=40), st.text(max_size=64)
    ),
    st.builds(lambda n: avfr_pb2.Packet(end_of_stream=avfr_pb2.EndOfStream(frame_count=n)), _ints),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_packets, max_size=12))
def test_generated_packets_roundtrip(packets: list[avfr_pb2.Packet]) -> None:
    buf = io.BytesIO()
    w = AvfrWriter(buf, runs=False)
    for p in packets:
        w.write(p)
    buf.seek(0)
    assert [g.SerializeToString() for g in AvfrReader(buf)] == [p.SerializeToString() for p in packets]


@settings(max_examples=150, deadline=None)
@given(_packets)
def test_record_size_is_the_framed_record_without_serialising_it(packet: avfr_pb2.Packet) -> None:
    assert record_size(packet) == len(encode_record(packet)) == AvfrWriter(io.BytesIO(), runs=False).write(packet)


def test_writer_refuses_existing_path_unless_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path / "a.avfr", small_stream(1))
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        AvfrWriter(path)
    assert path.read_bytes() == before
    write_over = AvfrWriter(path, overwrite=True)
    write_over.write(header())
    write_over.close()
    assert len(list(AvfrReader(path))) == 1


def test_writer_streams_each_packet_to_disk(tmp_path: Path) -> None:
    path = tmp_path / "live.avfr"
    with AvfrWriter(path, runs=False) as w:
        w.write(header())
        w.write(motion(0))
        assert [p.WhichOneof("body") for p in AvfrReader(path)] == ["header", "motion"]  # readable mid-write
        assert w.bytes_written == path.stat().st_size


def test_writer_removes_partial_file_on_error_and_abort(tmp_path: Path) -> None:
    path = tmp_path / "a.avfr"
    with pytest.raises(RuntimeError):
        with AvfrWriter(path) as w:
            w.write(header())
            raise RuntimeError("boom")
    assert not path.exists()
    w = AvfrWriter(path)
    w.abort()
    assert not path.exists()


# --------------------------------------------------------------------------- damage


def test_truncation_at_every_offset_yields_intact_packets_then_names_the_cut(tmp_path: Path) -> None:
    packets = small_stream(3)
    data = write(tmp_path / "full.avfr", packets).read_bytes()
    ends, pos = [], PREAMBLE_BYTES
    for p in packets:
        pos += len(encode_record(p))
        ends.append(pos)
    for cut in range(len(data)):
        got, err = read_until_error(io.BytesIO(data[:cut]))
        intact = sum(e <= cut for e in ends)
        assert [g.SerializeToString() for g in got] == [p.SerializeToString() for p in packets[:intact]], cut
        if cut in (PREAMBLE_BYTES, *ends):
            assert err is None, (cut, err)  # a cut on a record boundary is a clean (short) stream
        elif cut < PREAMBLE_BYTES:
            assert err is not None and ("preamble" in str(err) or "not an .avfr" in str(err)), cut
        else:
            assert err is not None and f"packet #{intact} at byte offset" in str(err), (cut, err)
            assert f"stops at byte {cut}" in str(err) and "truncated" in str(err), (cut, err)


def test_flipped_byte_anywhere_is_caught_and_named(tmp_path: Path) -> None:
    packets = small_stream(2)
    data = bytearray(write(tmp_path / "a.avfr", packets).read_bytes())
    starts, pos = [], PREAMBLE_BYTES
    for p in packets:
        starts.append(pos)
        pos += len(encode_record(p))
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x5A
        got, err = read_until_error(io.BytesIO(bytes(bad)))
        assert err is not None, f"flip at byte {i} went unnoticed"
        if i >= PREAMBLE_BYTES:
            index = max(k for k, s in enumerate(starts) if s <= i)
            assert len(got) == index and f"packet #{index} at byte offset {starts[index]}" in str(err), (i, err)


def test_crc_mismatch_message(tmp_path: Path) -> None:
    data = bytearray(write(tmp_path / "a.avfr", small_stream(1)).read_bytes())
    data[-1] ^= 1  # last CRC byte of the end-of-stream packet
    got, err = read_until_error(io.BytesIO(bytes(data)))
    assert err is not None and "fails its CRC check" in str(err) and len(got) == len(small_stream(1)) - 1


def test_wrong_magic_and_version_are_rejected(tmp_path: Path) -> None:
    body = write(tmp_path / "a.avfr", small_stream(1)).read_bytes()[PREAMBLE_BYTES:]
    cases = {
        b"RIFF\x01\x00\x00\x00": "not an .avfr file",
        b"\x00\x00\x00\x18ftyp": "not an .avfr file",
        preamble(4): "newer .avfr format version 4",
        preamble(0): "unknown .avfr format version 0",
        b"AVFR\x01\x00\x01\x00": "flags",
    }
    for head, message in cases.items():
        (tmp_path / "b.avfr").write_bytes(head + body)
        with pytest.raises(StreamError, match=message):
            list(AvfrReader(tmp_path / "b.avfr"))
    (tmp_path / "v1.avfr").write_bytes(preamble(1) + body)  # version 1 files stay readable
    assert len(list(AvfrReader(tmp_path / "v1.avfr"))) == len(small_stream(1))
    with pytest.raises(StreamError, match="not an .avfr file"):
        list(AvfrReader(io.BytesIO(b"")))
    with pytest.raises(StreamError, match="does not exist"):
        list(AvfrReader(tmp_path / "missing.avfr"))


def test_absurd_length_is_rejected_before_allocating() -> None:
    huge = preamble() + encode_varint(MAX_PACKET_BYTES + 1) + b"\0" * 16
    with pytest.raises(StreamError, match="more than the 4194304-byte limit"):
        list(AvfrReader(io.BytesIO(huge)))
    too_long = preamble() + b"\xff\xff\xff\xff\x7f"
    with pytest.raises(StreamError, match="length field over"):
        list(AvfrReader(io.BytesIO(too_long)))
    # A length under the limit but far beyond the data: memory follows the data, not the claim.
    lying = preamble() + encode_varint(MAX_PACKET_BYTES - 1) + b"\0" * 100
    tracemalloc.start()
    with pytest.raises(StreamError, match="truncated"):
        list(AvfrReader(io.BytesIO(lying)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 512 * 1024, peak


# --------------------------------------------------------------------------- resync


def record_spans(packets: list[avfr_pb2.Packet]) -> list[tuple[int, int]]:
    spans, pos = [], PREAMBLE_BYTES
    for p in packets:
        spans.append((pos, pos + len(encode_record(p))))
        pos = spans[-1][1]
    return spans


def resynced(data: bytes) -> tuple[list, StreamError | None]:
    return records_until_error(io.BytesIO(data), resync=True)


def test_resync_skips_exactly_the_damaged_packet_and_names_its_bytes(tmp_path: Path) -> None:
    packets = small_stream(3)
    data = write(tmp_path / "a.avfr", packets).read_bytes()
    spans = record_spans(packets)
    for k in range(1, len(packets) - 1):  # every packet in the middle, flipped in its body
        start, end = spans[k]
        bad = bytearray(data)
        bad[(start + end) // 2] ^= 0x5A
        got, err = resynced(bytes(bad))
        assert err is None, (k, err)
        assert [r.packet.SerializeToString() for r in got] == [p.SerializeToString() for i, p in enumerate(packets) if i != k]
        damage = [r.damage_before for r in got if r.damage_before is not None]
        assert len(damage) == 1 and (damage[0].start, damage[0].end) == (start, end), k
        assert damage[0].kinds == (packets[k].WhichOneof("body"),) and damage[0].reason == "CRC check failed"
        assert got[k].damage_before is damage[0] and got[k].index == k and damage[0].after_index == k


def test_resync_past_a_damaged_length_field_and_a_run_of_garbage(tmp_path: Path) -> None:
    packets = small_stream(4)
    data = write(tmp_path / "a.avfr", packets).read_bytes()
    spans = record_spans(packets)
    start, end = spans[5]  # a keyframe-sized length field is one byte: make it claim far too much
    for bad, skipped in (
        (data[:start] + b"\xff\xff\x7f" + data[start + 1 :], (start, end + 2)),  # lengths past the file
        (data[:start] + bytes([data[start] + 3]) + data[start + 1 :], (start, end)),
        (data[:start] + bytes(range(256)) * 4 + data[start:], (start, start + 1024)),  # garbage between two records
    ):
        got, err = resynced(bad)
        assert err is None
        damage = [r.damage_before for r in got if r.damage_before is not None]
        assert [(d.start, d.end) for d in damage] == [skipped] and damage[0].kinds is None
        kept = len(packets) - (0 if skipped[1] - skipped[0] == 1024 else 1)
        assert len(got) == kept and got[-1].packet.HasField("end_of_stream")


def test_resync_keeps_every_intact_packet_between_several_damaged_ones(tmp_path: Path) -> None:
    packets = small_stream(6)
    data = bytearray(write(tmp_path / "a.avfr", packets).read_bytes())
    spans = record_spans(packets)
    for k in (2, 3, 9, 15):  # two neighbours, then two apart
        data[spans[k][0] + 3] ^= 0xFF
    got, err = resynced(bytes(data))
    assert err is None
    assert [r.packet.SerializeToString() for r in got] == [p.SerializeToString() for i, p in enumerate(packets) if i not in (2, 3, 9, 15)]
    damage = [r.damage_before for r in got if r.damage_before is not None]
    assert [(d.start, d.end) for d in damage] == [(spans[2][0], spans[3][1]), spans[9], spans[15]]
    assert damage[0].kinds == ("audio", "motion") or damage[0].kinds == tuple(packets[i].WhichOneof("body") for i in (2, 3))


def test_resync_leaves_a_cut_or_damaged_tail_to_the_truncation_error(tmp_path: Path) -> None:
    packets = small_stream(3)
    data = write(tmp_path / "a.avfr", packets).read_bytes()
    spans = record_spans(packets)
    for cut in range(spans[1][0], len(data)):
        strict, strict_err = read_until_error(io.BytesIO(data[:cut]))
        got, err = resynced(data[:cut])
        assert [r.packet.SerializeToString() for r in got] == [p.SerializeToString() for p in strict]
        assert str(err) == str(strict_err) and all(r.damage_before is None for r in got), cut
    tail = bytearray(data)
    tail[-2] ^= 1  # the end-of-stream record's CRC: nothing intact follows it
    got, err = resynced(bytes(tail))
    assert err is not None and "fails its CRC check" in str(err) and len(got) == len(packets) - 1


# --------------------------------------------------------------------------- fuzz


def _fuzz_base() -> bytes:
    buf = io.BytesIO()
    w = AvfrWriter(buf)
    for p in small_stream(2):
        w.write(p)
    return buf.getvalue()


_BASE = _fuzz_base()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from([_BASE, _BASE[: len(_BASE) // 2], preamble()])))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "varint", "resign"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[draw(st.integers(0, len(data))) :]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=16))
        elif op == "varint":  # a huge or lying length where a record starts
            data[PREAMBLE_BYTES:PREAMBLE_BYTES] = encode_varint(draw(st.integers(0, 2**35)))
        elif op == "resign" and len(data) > PREAMBLE_BYTES:  # garbage with a valid CRC: tests the protobuf parse
            body = draw(st.binary(max_size=64))
            head = encode_varint(len(body))
            import zlib

            data += head + body + struct.pack("<I", zlib.crc32(body, zlib.crc32(head)))
    return bytes(data)


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.binary(max_size=64), st.binary(max_size=32).map(lambda b: preamble() + b)))
def test_fuzz_only_stream_errors_escape_and_memory_stays_bounded(data: bytes) -> None:
    tracemalloc.start()
    try:
        read_until_error(io.BytesIO(data))
        resynced(data)
        acc = None
        try:
            acc = packet_sizes(io.BytesIO(data))
        except StreamError:
            pass
        if acc is not None:
            assert sum(acc.parts().values()) == len(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, peak
