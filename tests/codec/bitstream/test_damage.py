"""What damage costs: the frames held per damaged range, from the index of intact packets."""

from __future__ import annotations

from pathlib import Path

from codec.bitstream.container import AvfrReader, encode_record
from codec.bitstream.damage import frame_ranges, plan_damage
from codec.bitstream.index import IndexEntry, StreamIndex
from proto import avfr_pb2
from tests.codec.bitstream.test_container import audio, eos, header, keyframe, motion, record_spans, write

FRAMES = 20
INTRA = 5  # a self-contained motion frame every 5 frames
REFRESH = 12  # a second keyframe at frame 12 (its motion frame is self-contained, as the sender makes it)


def compact_stream() -> list[avfr_pb2.Packet]:
    packets = [header(), keyframe(0, 2000)]
    for i in range(FRAMES):
        if i == REFRESH:
            packets.append(keyframe(i, 2000))
        m = motion(i)
        m.motion.coding = avfr_pb2.MOTION_CODING_UNSPECIFIED
        m.motion.self_contained = i % INTRA == 0 or i == REFRESH
        packets += [audio(2 * i), audio(2 * i + 1), m]
    return packets + [eos(FRAMES)]


def damaged(tmp_path: Path, edit) -> tuple[list[avfr_pb2.Packet], list[tuple[int, int]], Path]:
    packets = compact_stream()
    spans = record_spans(packets)
    (tmp_path / "s.avfr").unlink(missing_ok=True)
    data = bytearray(write(tmp_path / "s.avfr", packets).read_bytes())
    data = edit(data, packets, spans)
    (tmp_path / "d.avfr").write_bytes(bytes(data))
    return packets, spans, tmp_path / "d.avfr"


def index_of(path: Path) -> list[IndexEntry]:
    return StreamIndex.scan(AvfrReader(path)).entries


def at(packets: list[avfr_pb2.Packet], kind: str, frame: int) -> int:
    return next(i for i, p in enumerate(packets) if p.WhichOneof("body") == kind and getattr(p, kind).frame_index == frame)


def flip_packets(*which: tuple[str, int]):
    def edit(data, packets, spans):
        for kind, frame in which:
            start, end = spans[at(packets, kind, frame)]
            data[(start + end) // 2] ^= 0x20
        return data

    return edit


def test_an_intact_stream_costs_nothing(tmp_path: Path) -> None:
    _, _, path = damaged(tmp_path, lambda data, packets, spans: data)
    plan = plan_damage(index_of(path))
    assert plan.costs == [] and plan.hold == set() and plan.lost_before == {} and plan.lost_at_end == 0


def test_a_lost_audio_packet_costs_no_frame(tmp_path: Path) -> None:
    packets, spans, path = damaged(tmp_path, flip_packets())
    start, end = spans[5]
    assert packets[5].HasField("audio")
    data = bytearray(path.read_bytes())
    data[start + 6] ^= 1
    path.write_bytes(bytes(data))
    (cost,) = plan_damage(index_of(path)).costs
    assert cost.frames == [] and cost.audio_packets == 1 and not cost.keyframe
    assert cost.line() == f"bytes {start}-{end - 1} are damaged (CRC check failed; it held 1 audio packet): no frame lost, 1 audio packet of speech silent"


def test_a_lost_motion_frame_holds_the_predicted_frames_after_it(tmp_path: Path) -> None:
    packets, _, path = damaged(tmp_path, flip_packets(("motion", 2)))
    plan = plan_damage(index_of(path))
    (cost,) = plan.costs
    assert cost.frames == [2, 3, 4] and cost.lost_frames == 1  # frame 5 is self-contained
    index = index_of(path)
    motion_entries = {e.frame_index: e.index for e in index if e.kind == "motion"}
    assert plan.lost_before == {motion_entries[3]: 1} and plan.hold == {motion_entries[3], motion_entries[4]}
    assert "frames 2-4 held (3)" in cost.line()


def test_a_lost_self_contained_frame_holds_until_the_next_one(tmp_path: Path) -> None:
    _, _, path = damaged(tmp_path, flip_packets(("motion", 5), ("motion", 16)))
    first, second = plan_damage(index_of(path)).costs
    assert first.frames == list(range(5, 10)) and second.frames == list(range(16, 20))


def test_a_lost_keyframe_holds_every_frame_until_the_next_keyframe(tmp_path: Path) -> None:
    _, _, path = damaged(tmp_path, flip_packets(("keyframe", REFRESH)))
    (cost,) = plan_damage(index_of(path)).costs
    assert cost.keyframe and cost.damage.kinds == ("keyframe",)
    assert cost.frames == list(range(REFRESH, FRAMES))  # no keyframe after it: to the end


def test_damage_of_unknown_contents_the_size_of_a_keyframe_is_taken_for_one(tmp_path: Path) -> None:
    def break_length(data, packets, spans):
        start, _ = spans[at(packets, "keyframe", REFRESH)]
        data[start] ^= 0x01  # its length field now frames nothing
        return data

    _, _, path = damaged(tmp_path, break_length)
    (cost,) = plan_damage(index_of(path)).costs
    assert cost.damage.kinds is None and cost.keyframe and cost.frames == list(range(REFRESH, FRAMES))
    assert "contents unknown, may have held a keyframe" in cost.line()

    def garbage(data, packets, spans):
        start, _ = spans[at(packets, "motion", 7)]
        return data[:start] + bytes(range(100, 140)) + data[start:]  # small: it cannot have held a keyframe

    _, _, path = damaged(tmp_path, garbage)
    (cost,) = plan_damage(index_of(path)).costs
    assert cost.damage.kinds is None and not cost.keyframe and cost.frames == [] and cost.audio_packets is None


def test_frames_lost_before_the_end_of_stream_are_counted(tmp_path: Path) -> None:
    packets, _, path = damaged(tmp_path, flip_packets(("motion", FRAMES - 1)))
    plan = plan_damage(index_of(path))
    assert plan.lost_at_end == 1 and plan.costs[0].frames == [FRAMES - 1]


def test_a_forged_frame_index_cannot_make_the_plan_invent_frames(tmp_path: Path) -> None:
    def forge(data, packets, spans):
        k = at(packets, "motion", 9)
        forged = avfr_pb2.Packet()
        forged.CopyFrom(packets[k])
        forged.motion.frame_index = 4_000_000_000
        start, end = spans[k]
        data = data[:start] + encode_record(forged) + data[end:]  # intact, with a CRC that matches
        s8, e8 = spans[at(packets, "motion", 8)]
        data[(s8 + e8) // 2] ^= 0x20
        return data

    _, _, path = damaged(tmp_path, forge)
    plan = plan_damage(index_of(path))
    (cost,) = plan.costs
    assert cost.lost_frames <= cost.damage.size // 7 and len(cost.frames) < 100


def test_frame_ranges() -> None:
    assert frame_ranges([]) == "" and frame_ranges([4]) == "4"
    assert frame_ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
