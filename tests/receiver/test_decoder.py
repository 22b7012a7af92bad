"""The receiver's batched rendering: the same pictures as one call per frame, and the same
intact frames from a damaged stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codec.bitstream.compact_motion import CompactMotionParams
from receiver.decoder import DecodeOptions, DecodeReport, decode_frames
from sender.encoder import EncodeOptions, encode_file

FRAMES = 20


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory, dev_clip: Path) -> Path:
    out = tmp_path_factory.mktemp("decoder") / "clip.avfr"
    options = EncodeOptions(max_frames=FRAMES, compact_motion=CompactMotionParams(intra_period=10))
    encode_file(dev_clip, out, options, progress=False)
    return out


@pytest.fixture(scope="module")
def stream_v2(stream: Path) -> Path:
    """The same packets one record each (format version 2): damage to one packet at a time."""
    from codec.bitstream.container import AvfrReader, AvfrWriter

    out = stream.with_name("clip-v2.avfr")
    with AvfrWriter(out, runs=False) as writer:
        for packet in AvfrReader(stream):
            writer.write(packet)
    return out


def decode(path: Path, batch_size: int) -> tuple[np.ndarray, DecodeReport]:
    report = DecodeReport(output=path)
    frames = list(decode_frames(path, DecodeOptions(device="cpu", batch_size=batch_size), report))
    return np.stack(frames) if frames else np.zeros((0,)), report


def test_batched_rendering_matches_frame_at_a_time(stream: Path) -> None:
    single, _ = decode(stream, 1)
    batched, report = decode(stream, 8)  # 20 frames: batches of 8, 8, 4
    assert len(single) == len(batched) == report.frames == FRAMES
    diff = np.abs(single.astype(int) - batched.astype(int))
    assert diff.max() <= 2, f"batched frames differ by up to {diff.max()} levels"
    assert diff.mean() < 0.05


def test_batched_decoding_of_a_cut_stream_keeps_every_intact_frame(stream: Path, tmp_path: Path) -> None:
    from codec.bitstream.container import AvfrReader

    data = stream.read_bytes()
    keyframe = next(r for r in AvfrReader(stream).records() if r.kind == "keyframe")
    start = keyframe.offset + keyframe.size  # cut in what follows the keyframe (a 256-px one is most of a short file)
    cut = tmp_path / "cut.avfr"
    cut.write_bytes(data[: start + int((len(data) - start) * 0.7)])
    single, report_single = decode(cut, 1)
    batched, report_batched = decode(cut, 8)
    assert 0 < len(batched) == len(single) < FRAMES
    assert report_batched.stopped_at is not None and report_single.stopped_at is not None


def test_implied_audio_timing_decodes_as_the_explicit_timing_of_version_1(stream: Path, tmp_path: Path) -> None:
    from codec.bitstream.container import AvfrReader, AvfrWriter
    from receiver.decoder import read_header, read_stream_audio

    packets = list(AvfrReader(stream))
    audio = [p.audio for p in packets if p.HasField("audio")]
    assert len(audio) > 10 and sum(not a.timestamp_us and not a.sample_count for a in audio) >= len(audio) - 2
    explicit = tmp_path / "explicit.avfr"  # every packet's timing written out, as version 1 did
    pts = 0
    with AvfrWriter(explicit) as writer:
        for p in packets:
            if p.HasField("audio"):
                count = p.audio.sample_count or 320
                p.audio.pts_samples, p.audio.sample_count = pts, count
                p.audio.timestamp_us = round(pts * 1_000_000 / 16000)
                pts += count
            writer.write(p)
    implied_pcm, _ = read_stream_audio(stream, read_header(stream))
    explicit_pcm, _ = read_stream_audio(explicit, read_header(explicit))
    assert len(implied_pcm) > 16000 * FRAMES / 25 * 0.9
    assert np.array_equal(implied_pcm, explicit_pcm)
    assert explicit.stat().st_size - stream.stat().st_size >= 8 * (len(audio) - 2)  # what leaving it out saves


# --------------------------------------------------------------------------- damage in the middle


@pytest.fixture(scope="module")
def intact_frames(stream: Path) -> np.ndarray:
    return decode(stream, 8)[0]


def records_of(path: Path):
    from codec.bitstream.container import AvfrReader

    return list(AvfrReader(path).records())


def damage_record(path: Path, out: Path, kind: str, nth: int, edit=None) -> tuple[int, int]:
    """Copy ``path`` to ``out`` with the nth record of ``kind`` damaged (default: 4 bytes of its
    body flipped, as in the issue); returns its byte range."""
    record = [r for r in records_of(path) if r.kind == kind][nth]
    data = bytearray(path.read_bytes())
    if edit is None:
        middle = record.offset + record.size // 2
        data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    else:
        data = edit(data, record)
    out.write_bytes(bytes(data))
    return record.offset, record.offset + record.size


def test_a_damaged_motion_packet_costs_only_the_frames_that_depend_on_it(stream_v2: Path, intact_frames: np.ndarray, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.avfr"
    start, end = damage_record(stream_v2, damaged, "motion", 3)  # self-contained frames: 0, 10 (intra period 10)
    frames, report = decode(damaged, 8)
    assert len(frames) == report.frames == FRAMES and report.stopped_at is None
    assert report.frames_held == 7 and len(report.damage) == 1
    assert report.damage[0].startswith(f"bytes {start}-{end - 1} are damaged (CRC check failed; it held 1 motion packet)")
    assert "frames 3-9 held (7)" in report.damage[0]
    kept = [*range(3), *range(10, FRAMES)]
    assert np.abs(frames[kept].astype(int) - intact_frames[kept].astype(int)).max() <= 2
    assert all(np.array_equal(frames[i], frames[2]) for i in range(3, 10))  # held at the last good picture


def test_a_damaged_motion_run_costs_its_frames_up_to_the_next_self_contained_one(stream: Path, intact_frames: np.ndarray, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.avfr"
    runs = [r for r in records_of(stream) if r.kind == "motion" and r.framed]
    assert [r.packet.motion.frame_index for r in runs] == [0, 10]  # one record per intra period
    nth = next(i for i, r in enumerate(records_of(stream)) if r.kind == "motion" and r.packet.motion.frame_index == 10)
    start, _ = damage_record(stream, damaged, "motion", sum(r.kind == "motion" for r in records_of(stream)[:nth]))
    end = min(r.offset for r in records_of(stream) if r.offset > start)  # the whole run's record
    frames, report = decode(damaged, 8)
    assert len(frames) == report.frames == FRAMES and report.stopped_at is None
    assert report.damage[0].startswith(f"bytes {start}-{end - 1} are damaged (CRC check failed; it held 1 motion record)")
    assert "frames 10-19 held (10)" in report.damage[0]
    assert np.abs(frames[:10].astype(int) - intact_frames[:10].astype(int)).max() <= 2
    assert all(np.array_equal(frames[i], frames[9]) for i in range(10, FRAMES))


def test_damage_to_the_only_keyframe_leaves_nothing_to_render(stream: Path, tmp_path: Path) -> None:
    from codec.errors import StreamError

    damaged = tmp_path / "nokey.avfr"
    damage_record(stream, damaged, "keyframe", 0)
    with pytest.raises(StreamError, match="no frame could be decoded"):
        from receiver.decoder import decode_file

        decode_file(damaged, tmp_path / "nokey.mp4", DecodeOptions(device="cpu"), progress=False)
    assert not (tmp_path / "nokey.mp4").exists()


def test_speech_stays_in_step_after_a_lost_audio_packet_known_or_not(stream_v2: Path, tmp_path: Path) -> None:
    from receiver.decoder import AudioTiming, read_header, read_stream_audio

    stream = stream_v2
    header = read_header(stream)
    intact, _ = read_stream_audio(stream, header)
    audio = [r for r in records_of(stream) if r.kind == "audio"]
    timing = AudioTiming(header.audio_sample_rate)  # 16 kHz, as the PCM
    lost_at = [timing.place(r.packet.audio) for r in audio[:21]][-1][0][0]  # where the 20th packet starts
    cases = {
        "flipped": None,  # framing intact: known to be one audio packet
        # contents unknown: the packets after it are placed back from the next timed one, here the end
        "length": lambda data, r: data[: r.offset] + bytes([data[r.offset] ^ 0x01]) + data[r.offset + 1 :],
        "garbage": lambda data, r: data[: r.offset] + bytes(range(60, 160)) + data[r.offset :],  # nothing lost
    }
    for name, edit in cases.items():
        damaged = tmp_path / f"{name}.avfr"
        damage_record(stream, damaged, "audio", 20, edit)
        pcm, error = read_stream_audio(damaged, header)
        assert error is None and len(pcm) == len(intact), name
        settled = lost_at + 320 + 16000 // 5  # Opus recovers from a lost packet within ~200 ms
        assert np.abs(pcm[settled:] - intact[settled:]).max() < 0.01, name  # not shifted: in step
        assert np.array_equal(pcm[:lost_at], intact[:lost_at]), name
        if name != "garbage":
            assert np.abs(pcm[lost_at : lost_at + 320]).max() == 0, name  # the lost packet is silence


def test_speech_stays_in_step_after_a_lost_speech_run(dev_clip: Path, tmp_path: Path) -> None:
    from receiver.decoder import AudioTiming, read_header, read_stream_audio

    stream = tmp_path / "3s.avfr"  # three speech runs at least (a timed packet opens one each second)
    encode_file(dev_clip, stream, EncodeOptions(max_frames=75), progress=False)

    header = read_header(stream)
    intact, _ = read_stream_audio(stream, header)
    timing = AudioTiming(header.audio_sample_rate)
    to_pcm = 16000 / header.audio_sample_rate  # the PCM's rate against the stream's audio rate
    placed = [(r, timing.place(r.packet.audio)[0][:2]) for r in records_of(stream) if r.kind == "audio"]
    second = [i for i, (r, _) in enumerate(placed) if r.framed][1]
    run = [span for r, span in placed if r.offset == placed[second][0].offset]  # the second run's packets
    assert len(run) > 10
    damaged = tmp_path / "run.avfr"
    damage_record(stream, damaged, "audio", second)
    pcm, error = read_stream_audio(damaged, header)
    assert error is None and len(pcm) == len(intact)
    lost_from, lost_to = round(run[0][0] * to_pcm), round((run[-1][0] + run[-1][1]) * to_pcm)
    assert np.array_equal(pcm[:lost_from], intact[:lost_from])
    assert np.abs(pcm[lost_from:lost_to]).max() == 0  # the run's speech is silent
    settled = lost_to + 16000 // 5
    assert np.abs(pcm[settled:] - intact[settled:]).max() < 0.01  # the next run is timed: in step


# --------------------------------------------------------------------------- forged fields (fuzz findings)


def forge(path: Path, out: Path, edit) -> Path:
    """``path`` rewritten with ``edit`` applied to its packets, each record re-signed (the CRC
    matches, as a forged or buggy writer's would)."""
    from codec.bitstream.container import AvfrReader, AvfrWriter

    with AvfrWriter(out, overwrite=True) as writer:
        for packet in AvfrReader(path):
            edit(packet)
            writer.write(packet)
    return out


def test_a_forged_audio_sample_count_does_not_size_the_speech(stream: Path, tmp_path: Path) -> None:
    """Fuzz finding: an audio packet claiming 2**31 samples made the Opus decoder pad its
    output to 8 GiB."""
    import tracemalloc

    from receiver.decoder import read_header, read_stream_audio

    def huge_count(packet) -> None:  # noqa: ANN001
        if packet.HasField("audio"):
            packet.audio.sample_count = 2**31 - 1

    forged = forge(stream, tmp_path / "count.avfr", huge_count)
    tracemalloc.start()
    try:
        pcm, _ = read_stream_audio(forged, read_header(forged), max_seconds=FRAMES / 25 + 1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pcm) <= 16000 * (FRAMES / 25 + 1) and peak < 16 * 1024 * 1024


def test_a_header_frame_rate_or_size_out_of_range_is_refused(stream: Path, tmp_path: Path) -> None:
    from codec.errors import StreamError
    from receiver.decoder import read_header

    for name, value in (("fps_den", 0), ("fps_den", 2**32 - 1), ("fps_num", 10**6), ("width", 0), ("height", 10**5)):

        def edit(packet, name=name, value=value) -> None:  # noqa: ANN001
            if packet.HasField("header"):
                setattr(packet.header, name, value)

        with pytest.raises(StreamError, match="no usable frame rate or size"):
            read_header(forge(stream, tmp_path / f"{name}.avfr", edit))
