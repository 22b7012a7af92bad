"""Runs (container version 3): fewer bytes, the same packets back, damage that costs a run."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.bitstream.compact_motion import CompactMotionParams
from codec.bitstream.container import FORMAT_VERSION, PREAMBLE_BYTES, AvfrReader, AvfrWriter, preamble
from codec.bitstream.damage import plan_damage
from codec.bitstream.index import StreamIndex
from codec.bitstream.info import describe_file, packet_sizes
from codec.bitstream.motion import MotionStreamEncoder
from codec.bitstream.runs import MAX_MOTION_RUN, expand, has_run
from proto import avfr_pb2
from tests.codec.bitstream.test_container import canonical_order, header, keyframe


def sender_like_stream(frames: int = 60, intra_period: int = 25, keyframes: tuple[int, ...] = (0,)) -> list[avfr_pb2.Packet]:
    """What the sender writes: compact motion (self-contained every intra period), 20 ms
    speech with implied timing except once a second, keyframes where asked."""
    head = header()
    head.header.motion_coding = avfr_pb2.MOTION_CODING_COMPACT
    encoder = MotionStreamEncoder(avfr_pb2.MOTION_CODING_COMPACT, 10, CompactMotionParams(64, 16, intra_period))
    encoder.fill_header(head.header)
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(-0.5, 0.5, (10, 2)), np.tile([1.0, 0, 0, 1.0], (10, 1))], axis=1)
    packets = [head]
    for i in range(frames):
        if i in keyframes:
            packets.append(keyframe(i, 200))
        for a in (2 * i, 2 * i + 1):
            audio = avfr_pb2.AudioPacket(data=bytes([a % 251]) * 22)
            if a % 50 == 0 and a:
                audio.pts_samples = a * 320
            packets.append(avfr_pb2.Packet(audio=audio))
        packet = avfr_pb2.Packet()
        packet.motion.frame_index = i
        kp[:, :2] += rng.normal(0, 0.01, (10, 2))
        encoder.fill_frame(packet.motion, kp, force_self_contained=i in keyframes)
        packets.append(packet)
    end = avfr_pb2.Packet()
    end.end_of_stream.frame_count, end.end_of_stream.duration_us = frames, frames * 40000
    return packets + [end]


def write(target, packets: list[avfr_pb2.Packet], runs: bool = True):
    with AvfrWriter(target, runs=runs) as w:
        for p in packets:
            w.write(p)
    return target


def test_runs_give_back_every_packet_bit_exactly_in_fewer_bytes(tmp_path: Path) -> None:
    packets = sender_like_stream()
    runs, single = write(tmp_path / "runs.avfr", packets), write(tmp_path / "single.avfr", packets, runs=False)
    assert runs.read_bytes()[:PREAMBLE_BYTES] == preamble(FORMAT_VERSION) and FORMAT_VERSION == 3
    got = list(AvfrReader(runs))
    assert [p.SerializeToString() for p in canonical_order(got)] == [p.SerializeToString() for p in canonical_order(packets)]
    records = sum(1 for r in AvfrReader(runs).records() if r.framed)
    assert records < len(packets) / 10  # 60 frames and 120 speech packets in a handful of records
    saved = single.stat().st_size - runs.stat().st_size
    per_packet = saved / (len(packets) - records)
    assert 6 <= per_packet <= 12, per_packet  # a record's framing against a member's tag and length


def test_each_packets_share_adds_up_to_the_file_and_info_counts_the_same_media(tmp_path: Path) -> None:
    packets = sender_like_stream()
    runs, single = write(tmp_path / "runs.avfr", packets), write(tmp_path / "single.avfr", packets, runs=False)
    assert PREAMBLE_BYTES + sum(r.size for r in AvfrReader(runs).records()) == runs.stat().st_size
    account = packet_sizes(runs)
    assert sum(account.parts().values()) == account.file_bytes and account.unread_bytes == 0
    a, b = describe_file(runs), describe_file(single)
    assert (a.frames, a.audio_packets, a.keyframes) == (b.frames, b.audio_packets, b.keyframes) == (60, 120, 1)
    assert {k: a.bytes[k] for k in ("keyframes", "motion", "audio")} == {k: b.bytes[k] for k in ("keyframes", "motion", "audio")}
    assert a.bytes["overhead"] < b.bytes["overhead"] / 3
    assert 0 < a.audio_framing < b.audio_framing / 2


def test_a_keyframe_closes_the_open_runs_so_no_frame_is_read_after_the_next_keyframe(tmp_path: Path) -> None:
    packets = sender_like_stream(frames=40, keyframes=(0, 17))
    order = [
        (r.kind, getattr(r.packet, r.kind).frame_index if r.kind in ("motion", "keyframe") else None)
        for r in AvfrReader(write(tmp_path / "a.avfr", packets)).records()
    ]
    second_key = order.index(("keyframe", 17))
    assert all(f < 17 for k, f in order[:second_key] if k == "motion") and all(f >= 17 for k, f in order[second_key:] if k == "motion")
    assert sum(k == "motion" for k, _ in order[:second_key]) == 17


def test_a_run_never_holds_a_self_contained_frame_and_is_capped(tmp_path: Path) -> None:
    packets = sender_like_stream(frames=130, intra_period=1000)
    heads = [r.packet.motion for r in AvfrReader(write(tmp_path / "a.avfr", packets)).records() if r.kind == "motion" and r.framed]
    assert [h.frame_index for h in heads] == [0, MAX_MOTION_RUN, 2 * MAX_MOTION_RUN]
    assert heads[0].self_contained and not heads[1].self_contained
    raw = [
        r.packet for r in AvfrReader(write(tmp_path / "b.avfr", sender_like_stream(frames=60, intra_period=25))).records() if r.kind == "motion" and r.framed
    ]
    assert [p.motion.frame_index for p in raw] == [0, 25, 50] and all(p.motion.self_contained for p in raw)


def test_a_writer_holds_a_run_until_it_closes_and_an_abort_writes_nothing_more(tmp_path: Path) -> None:
    packets = sender_like_stream(frames=10)
    w = AvfrWriter(tmp_path / "a.avfr")
    for p in packets[:-1]:
        w.write(p)
    assert [p.WhichOneof("body") for p in AvfrReader(tmp_path / "a.avfr")] == ["header", "keyframe"]  # the runs are still open
    w.close()
    assert sum(p.HasField("motion") for p in AvfrReader(tmp_path / "a.avfr")) == 10
    w = AvfrWriter(io.BytesIO())
    for p in packets[:8]:
        w.write(p)
    w.abort()


def test_damage_in_a_motion_run_holds_its_frames_up_to_the_next_self_contained_one(tmp_path: Path) -> None:
    path = write(tmp_path / "a.avfr", sender_like_stream(frames=75, intra_period=25))
    records = [r for r in AvfrReader(path).records() if r.framed]
    second = next(r for r in records if r.kind == "motion" and r.packet.motion.frame_index == 25)
    data = bytearray(path.read_bytes())
    data[second.offset + second.size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    index = StreamIndex.scan(AvfrReader(path))
    plan = plan_damage(index.entries)
    assert [c.frames for c in plan.costs] == [list(range(25, 50))] and plan.frames_lost == 25
    assert sum(e.kind == "motion" for e in index.entries) == 50


def test_damage_in_a_speech_run_leaves_its_packet_count_unknown(tmp_path: Path) -> None:
    path = write(tmp_path / "a.avfr", sender_like_stream(frames=75))
    audio = [r for r in AvfrReader(path).records() if r.framed and r.kind == "audio"]
    data = bytearray(path.read_bytes())
    data[audio[1].offset + audio[1].size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    damage = StreamIndex.scan(AvfrReader(path)).damaged_ranges()
    assert len(damage) == 1 and damage[0].kinds == ("audio",) and damage[0].audio_packets is None
    records = list(AvfrReader(path, resync=True).records())
    damaged_at = next(i for i, r in enumerate(records) if r.damage_before is not None)
    after = next(r.packet.audio for r in records[damaged_at:] if r.kind == "audio")
    assert after.pts_samples  # the next run says where it starts, so the speech after the damage is placed exactly


def test_seeking_into_a_run_starts_at_its_self_contained_head(tmp_path: Path) -> None:
    path = write(tmp_path / "a.avfr", sender_like_stream(frames=60, intra_period=25))
    packets = list(StreamIndex.scan(AvfrReader(path)).seek_frame(37))
    motion = [p.motion.frame_index for p in packets if p.HasField("motion")]
    assert packets[0].HasField("keyframe") and motion == list(range(25, 60))


def test_a_run_record_expands_to_its_packets_with_shares_that_add_up() -> None:
    packets = [p for p in sender_like_stream(frames=10) if p.HasField("motion")]
    head = avfr_pb2.Packet()
    head.CopyFrom(packets[0])
    head.motion.run_payloads.extend(p.motion.payload for p in packets[1:])
    parts = expand(head)
    assert [p for p, _ in parts] == packets and not has_run(parts[0][0])
    assert sum(share for _, share in parts) == head.ByteSize()


_plain_motion = st.builds(lambda d: ("motion", d), st.binary(min_size=1, max_size=20))
_plain_audio = st.builds(lambda d, timed: ("audio", d, timed), st.binary(max_size=40), st.booleans())
_barrier = st.sampled_from([("keyframe",), ("self_contained",)])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_plain_motion, _plain_audio, _barrier), max_size=120))
def test_any_stream_reads_back_as_written_in_canonical_order(steps: list[tuple]) -> None:
    packets, frame = [header()], 0
    for step in steps:
        if step[0] == "keyframe":
            packets.append(keyframe(frame, 50))
        elif step[0] in ("motion", "self_contained"):
            m = avfr_pb2.MotionFrame(frame_index=frame, payload=step[1] if step[0] == "motion" else b"s", self_contained=step[0] == "self_contained")
            packets.append(avfr_pb2.Packet(motion=m))
            frame += 1
        else:
            packets.append(avfr_pb2.Packet(audio=avfr_pb2.AudioPacket(data=step[1], pts_samples=1000 if step[2] else 0)))
    buf = write(io.BytesIO(), packets)
    buf.seek(0)
    assert [p.SerializeToString() for p in canonical_order(list(AvfrReader(buf)))] == [p.SerializeToString() for p in canonical_order(packets)]
    buf.seek(0)
    assert PREAMBLE_BYTES + sum(r.size for r in AvfrReader(buf).records()) == len(buf.getvalue())


def test_a_forged_run_too_long_or_past_the_last_frame_is_damage_not_millions_of_packets(tmp_path: Path) -> None:
    from codec.bitstream.container import frame_payload

    long_run = avfr_pb2.Packet(audio=avfr_pb2.AudioPacket(data=b"a", run_data=[b""] * 100_000))
    past_end = avfr_pb2.Packet(motion=avfr_pb2.MotionFrame(frame_index=2**32 - 2, payload=b"m", run_payloads=[b"x", b"y"]))
    for forged, reason in ((long_run, "more than"), (past_end, "past the last frame index")):
        data = preamble() + b"".join(frame_payload(p.SerializeToString()) for p in (header(), forged, header()))
        records = list(AvfrReader(io.BytesIO(data), resync=True).records())
        assert [r.kind for r in records] == ["header", "header"]
        assert reason in records[1].damage_before.reason
