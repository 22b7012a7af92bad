"""The receiver's batched rendering: the same pictures as one call per frame, and the same
intact frames from a damaged stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from receiver.decoder import DecodeOptions, DecodeReport, decode_frames
from sender.encoder import EncodeOptions, encode_file
from codec.bitstream.compact_motion import CompactMotionParams

FRAMES = 20


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory, dev_clip: Path) -> Path:
    out = tmp_path_factory.mktemp("decoder") / "clip.avfr"
    options = EncodeOptions(max_frames=FRAMES, compact_motion=CompactMotionParams(intra_period=10))
    encode_file(dev_clip, out, options, progress=False)
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
    data = stream.read_bytes()
    cut = tmp_path / "cut.avfr"
    cut.write_bytes(data[: int(len(data) * 0.7)])
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
