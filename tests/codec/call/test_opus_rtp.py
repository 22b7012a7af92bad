"""The call's speech path: aiortc's jitter buffer as avfr sets it up for audio."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from codec.call.opus_rtp import audio_jitter_buffer


def packet(seq: int, frame_samples: int = 2880) -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * frame_samples)
    p._data = bytes([seq % 256]) * 10  # aiortc's depacketised payload
    return p


def test_each_packet_comes_out_as_soon_as_it_is_next_in_order() -> None:
    buf = audio_jitter_buffer(capacity=4)
    out = [buf.add(packet(seq))[1] for seq in range(100, 110)]
    assert [f.timestamp // 2880 for f in out] == list(range(100, 110))  # no waiting for the next packet


def test_a_lost_packet_holds_the_speech_only_until_the_buffer_is_full() -> None:
    buf = audio_jitter_buffer(capacity=4)
    assert buf.add(packet(0))[1].timestamp == 0
    held = [buf.add(packet(seq))[1] for seq in (2, 3, 4)]  # 1 is lost
    assert held == [None, None, None]
    released = buf.add(packet(5))[1]  # the fourth after the hole: aiortc skips it
    assert released is not None and released.timestamp == 2 * 2880
    # From then on one packet out per packet in, in order, and the buffer never holds more than 4.
    for seq in range(6, 20):
        frame = buf.add(packet(seq))[1]
        assert frame is not None and sum(p is not None for p in buf._packets) <= 4
    assert frame.timestamp == 16 * 2880  # the loss left 3 packets (180 ms) of delay behind
