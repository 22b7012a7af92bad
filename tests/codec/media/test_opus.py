"""Opus speech coding: a tone survives, sample counts line up, damage becomes silence."""

from __future__ import annotations

import numpy as np
import pytest

from codec.errors import InputError
from codec.media.opus import AudioPacketData, OpusDecoder, OpusEncoder, toc_samples_48k


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def encode_all(pcm: np.ndarray, rate: int, chunk: int = 777, bitrate: int = 16000) -> list[AudioPacketData]:
    enc = OpusEncoder(sample_rate=rate, bitrate=bitrate)
    packets: list[AudioPacketData] = []
    for i in range(0, len(pcm), chunk):
        packets += enc.encode(pcm[i : i + chunk])
    return packets + enc.flush()


def best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 40) -> float:
    a, b = a[400:-400], b[400:-400]
    return max(np.corrcoef(np.roll(a, lag), b)[0, 1] for lag in range(-max_lag, max_lag + 1))


@pytest.mark.parametrize(("rate", "out_rate"), [(16000, 16000), (48000, 48000), (16000, 48000), (48000, 16000)])
def test_tone_survives_and_samples_line_up(rate: int, out_rate: int) -> None:
    pcm = tone(rate, 1.013)
    packets = encode_all(pcm, rate)
    assert sum(p.n_samples for p in packets) == len(pcm)
    assert [p.pts_samples for p in packets[1:]] == [q.pts_samples + q.n_samples for q in packets[:-1]]
    assert packets[0].pts_samples == 0 and all(len(p.data) < 120 for p in packets)
    dec = OpusDecoder(input_sample_rate=rate, output_sample_rate=out_rate)
    chunks = [dec.decode(p.data, p.n_samples) for p in packets]
    assert [len(c) for c in chunks] == [round(p.n_samples * out_rate / rate) for p in packets]
    out = np.concatenate(chunks)
    ref = (0.4 * np.sin(2 * np.pi * 440.0 * np.arange(len(out)) / out_rate)).astype(np.float32)
    assert best_correlation(out, ref) > 0.85
    assert 0.5 < np.sqrt(np.mean(out[400:-400] ** 2) / np.mean(ref[400:-400] ** 2)) < 1.5


def test_bitrate_sets_packet_size() -> None:
    pcm = tone(16000, 1.0) + 0.05 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    low = sum(len(p.data) for p in encode_all(pcm, 16000, bitrate=8000))
    high = sum(len(p.data) for p in encode_all(pcm, 16000, bitrate=32000))
    assert low < high and 500 < low < 1400  # ~8 kbit over 1 s


def test_corrupt_packets_are_concealed_with_silence_of_the_right_length() -> None:
    packets = encode_all(tone(16000, 0.5), 16000)
    dec = OpusDecoder(16000, 16000)
    out = []
    for i, p in enumerate(packets):
        data = p.data if i not in (5, 6, 9) else {5: b"", 6: b"\xff\xff\xff\xff", 9: p.data[:1] + b"\xff" * 3 + bytes(200)}[i]
        out.append(dec.decode(data, p.n_samples))
    assert [len(c) for c in out] == [p.n_samples for p in packets]
    assert dec.concealed >= 2 and not np.any(out[5][8:]) and not np.any(out[6])  # the first samples: the decimator tail
    assert np.sqrt(np.mean(out[12] ** 2)) > 0.1  # decoding goes on after the damage
    assert len(OpusDecoder(16000, 16000).decode(b"garbage")) > 0  # no n_samples: still a sane length


def test_toc_durations() -> None:
    assert toc_samples_48k(bytes([(1 << 3) | 0])) == 960  # SILK 20 ms, one frame
    assert toc_samples_48k(bytes([(31 << 3) | 1])) == 1920  # CELT 20 ms, two frames
    assert toc_samples_48k(b"") is None


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_wrong_sample_rates_are_input_errors(rate: int) -> None:
    with pytest.raises(InputError, match=f"{rate} Hz"):
        OpusEncoder(sample_rate=rate)
    with pytest.raises(InputError, match=f"{rate} Hz"):
        OpusDecoder(input_sample_rate=16000, output_sample_rate=rate)


def test_bad_bitrate_and_stereo_are_input_errors() -> None:
    with pytest.raises(InputError, match="bitrate"):
        OpusEncoder(bitrate=128000)
    with pytest.raises(InputError, match="mono"):
        OpusEncoder().encode(np.zeros((2, 320), np.float32))
