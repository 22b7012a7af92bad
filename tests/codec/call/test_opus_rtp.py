"""The call's speech path under loss: avfr's speech buffer and the concealing Opus decoder,
on real Opus packets from libopus (through PyAV, as aiortc's sender makes them)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.rtp import RtpPacket

from codec.call.opus_rtp import ConcealingOpusDecoder, SpeechJitterBuffer, SpeechStats

FRAME = 2880  # 60 ms at 48 kHz: `avfr send`'s packets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def packet(seq: int, data: bytes = b"\xf8\xff\xfe", frame_samples: int = FRAME) -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=(1000 + seq * frame_samples) % (1 << 32))
    p._data = data  # aiortc's depacketised payload
    return p


def released(frame) -> list[int]:  # noqa: ANN001
    return [] if frame is None else [(frame.timestamp + offset - 1000) // FRAME for offset, _ in frame.packets]


def test_each_packet_comes_out_as_soon_as_it_is_next_in_order() -> None:
    buf = SpeechJitterBuffer(SpeechStats(), clock=Clock())
    assert [released(buf.add(packet(seq))[1]) for seq in range(100, 105)] == [[100], [101], [102], [103], [104]]


def test_a_lost_packet_is_waited_for_briefly_and_leaves_no_backlog() -> None:
    clock, stats = Clock(), SpeechStats()
    buf = SpeechJitterBuffer(stats, reorder_wait_s=0.1, clock=clock)
    assert released(buf.add(packet(0))[1]) == [0]
    clock.now = 0.12
    assert buf.add(packet(2))[1] is None  # 1 is missing: wait, it may only be late
    clock.now = 0.18
    assert buf.add(packet(3))[1] is None
    clock.now = 0.24
    assert released(buf.add(packet(4))[1]) == [2, 3, 4]  # given up: everything behind it at once
    clock.now = 0.30
    assert released(buf.add(packet(5))[1]) == [5]  # and from then on, no delay left behind
    assert stats.given_up == 1
    assert buf.add(packet(1))[1] is None and stats.late == 1  # too late: its audio was concealed


def test_a_packet_that_jitter_reordered_fills_its_place() -> None:
    clock, stats = Clock(), SpeechStats()
    buf = SpeechJitterBuffer(stats, reorder_wait_s=0.1, clock=clock)
    buf.add(packet(0))
    clock.now = 0.06
    assert buf.add(packet(2))[1] is None
    clock.now = 0.09
    assert released(buf.add(packet(1))[1]) == [1, 2]
    assert stats.given_up == 0 and stats.late == 0
    assert buf.add(packet(4))[1] is None and buf.add(packet(4))[1] is None and stats.duplicates == 1  # held twice: once


def test_sequence_numbers_wrap() -> None:
    buf = SpeechJitterBuffer(SpeechStats(), clock=Clock())
    assert [len(released(buf.add(packet(seq))[1])) for seq in range(65534, 65538)] == [1, 1, 1, 1]


def speech(seconds: float = 2.0) -> np.ndarray:
    """A voiced, speech-like 48 kHz signal: harmonics of a gliding pitch under a syllable envelope."""
    t = np.arange(int(seconds * 48000)) / 48000
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 48000
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.25 * voice * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)).astype(np.float32)


def opus_packets(pcm: np.ndarray, bitrate: int, options: dict[str, str] | None = None) -> list[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate, codec.format, codec.layout, codec.sample_rate = bitrate, "s16", "stereo", 48000
    codec.time_base = Fraction(1, 48000)
    codec.options = {"application": "voip", "frame_duration": "60", **(options or {})}
    s16 = np.repeat((pcm * 32767).astype(np.int16)[:, None], 2, axis=1).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(s16, format="s16", layout="stereo")
    frame.sample_rate, frame.pts = 48000, 0
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=48000, frame_size=FRAME)
    return [bytes(p) for f in resampler.resample(frame) for p in codec.encode(f)]


def decode_with_losses(packets: list[bytes], lost: set[int]) -> tuple[np.ndarray, SpeechStats]:
    stats = SpeechStats()
    decoder = ConcealingOpusDecoder(stats)
    frames = []
    for seq, data in enumerate(packets):
        if seq not in lost:
            p = packet(seq, data)
            frames += decoder.decode(_jitter_frame(p))
    pcm = np.concatenate([f.to_ndarray().reshape(-1, 2)[:, 0] for f in frames]).astype(np.float32) / 32768
    starts = [f.pts for f in frames]
    assert starts == sorted(starts) and all(a.pts + a.samples == b.pts for a, b in zip(frames, frames[1:]))  # no gap, no overlap
    return pcm, stats


def _jitter_frame(p: RtpPacket):  # noqa: ANN202
    from codec.call.opus_rtp import speech_frame

    return speech_frame([p])


def test_a_lost_packet_is_concealed_as_speech_not_silence() -> None:
    pcm = speech()
    packets = opus_packets(pcm, 16000)
    whole, _ = decode_with_losses(packets, set())
    lost = {10, 20, 21, 22}  # one loss and a burst of three
    concealed, stats = decode_with_losses(packets, lost)
    assert len(concealed) == len(whole)  # the speech keeps its length, so the play-out clock keeps its time
    assert stats.concealed_packets == 4 and stats.recovered_packets == 0  # no FEC at 16 kbit/s (libopus leaves it out)
    gap = slice(10 * FRAME, 11 * FRAME)
    rms = float(np.sqrt(np.mean(concealed[gap] ** 2)))
    assert rms > 0.1 * float(np.sqrt(np.mean(whole[gap] ** 2)))  # the speech goes on through the loss


def test_fec_recovers_a_lost_packet_when_the_sender_adds_it() -> None:
    packets = opus_packets(speech(), 24000, {"fec": "1", "packet_loss": "20"})
    whole, _ = decode_with_losses(packets, set())
    recovered, stats = decode_with_losses(packets, {15})
    if stats.recovered_packets == 0:
        pytest.skip("this libopus put no FEC into the packets")
    assert stats.concealed_packets == 1 and len(recovered) == len(whole)
    gap = slice(15 * FRAME, 16 * FRAME)
    assert np.corrcoef(recovered[gap], whole[gap])[0, 1] > 0.5  # the FEC copy is the lost speech itself


def test_speech_lost_before_the_first_packet_that_arrived_keeps_its_place() -> None:
    from codec.call.opus_rtp import speech_shift

    origin = (1 << 32) - FRAME  # the sender's first packet; its RTP timestamps wrap after it
    assert speech_shift(origin + 2 * FRAME - (1 << 32), origin) == 2 * FRAME  # two packets lost at the start
    assert speech_shift(origin, origin) == 0
    assert speech_shift(None, origin) == 0 and speech_shift(origin, None) == 0
    assert speech_shift(origin - FRAME, origin) == 0  # before the origin: not from this sender; left alone
