"""The call's Opus track: bitrate, packet duration, and how the receiver lives with loss.

aiortc fixes its Opus encoder at 96 kbit/s and 20 ms packets, its receiver holds 4 audio
packets before it decodes the first, and a lost packet is simply missing. For avfr calls all
of it is wrong:

* 96 kbit/s is six times what speech needs and more than the whole avfr video stream; calls
  send speech at ``--audio-kbps`` (16 by default, as the offline format).
* At 20 ms per packet, 50 packets a second each pay ~50 bytes of IPv4/UDP/SRTP/RTP headers:
  20 kbit/s of headers for 16 kbit/s of speech. Longer packets (``--audio-frame-ms``, 20-60;
  libopus codes 40 and 60 ms frames natively) cut that in proportion.
* A 4-packet prefetch is 80 ms at 20 ms and 240 ms at 60 ms, all of it glass-to-glass
  latency, since avfr plays the video against the audio clock. avfr's own play-out delay
  already absorbs jitter, so the receiver decodes each packet as soon as it is next in order.
* A lost packet: aiortc's buffer held everything behind it until 4 more packets were in,
  then let one out per packet in, so the 3-packet backlog (180 ms at 60 ms) stayed for the
  rest of the call, and it threw packets away when they came out of order. As the play-out
  clock follows the speech's arrival, a loss in the first second made the whole call run
  that much later (measured: 0.4-0.65 s glass-to-glass at 10% loss instead of 0.27).

So the receiver has its own speech buffer (:class:`SpeechJitterBuffer`): each packet goes out
as soon as it is next in order; a missing one is waited for at most ``reorder_wait_s`` (packets
that jitter overtook come back in order), then given up, and everything held behind it goes
out at once, so a loss leaves no backlog. Its own decoder (:class:`ConcealingOpusDecoder`, on
libopus through ``codec.media.libopus``) fills each gap in the RTP timestamps: from the FEC copy
in the next packet when the sender put one there, else with libopus' packet-loss concealment.
The speech keeps its length and its timing, and :class:`SpeechStats` counts what was concealed.

aiortc has no settings for these, so the encoder, the receiver's audio jitter buffer and its
Opus decoder are replaced right after aiortc builds them (before the codec opens, so libopus
applies the settings from the first packet).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

OPUS_FRAME_MS = (20, 40, 60)
# A missing speech packet is waited for this long after the next one arrived: jitter of up to
# 150 ms reorders 60 ms packets by up to 90 ms. Waiting costs no latency (the play-out clock
# takes the earliest arrivals), only how soon the held speech reaches the mel window.
REORDER_WAIT_S = 0.1
MAX_CONCEALED_S = 1.0  # a longer gap is the sender pausing, not loss: left as silence (receiver/live.py)
_originals: dict[str, object] = {}


def configure_opus_sender(bits_per_second: int, frame_ms: int = 20, fec_loss_percent: int = 0) -> None:
    """``fec_loss_percent`` > 0: libopus adds in-band FEC for that much expected loss, paid
    for out of ``bits_per_second``; below ~20 kbit/s it adds none (see tests/codec/call)."""
    from aiortc.codecs import opus
    from av import AudioResampler

    if frame_ms not in OPUS_FRAME_MS:
        raise ValueError(f"Opus packets of {frame_ms} ms are not supported here: use one of {OPUS_FRAME_MS}")
    original = _originals.setdefault("encoder", opus.OpusEncoder.__init__)
    options = {"application": "voip", "frame_duration": str(frame_ms)}
    if fec_loss_percent > 0:
        options |= {"fec": "1", "packet_loss": str(int(fec_loss_percent))}

    def init(self: "opus.OpusEncoder") -> None:
        original(self)  # type: ignore[operator]
        self.codec.bit_rate = int(bits_per_second)
        self.codec.options = options
        samples = opus.SAMPLE_RATE * frame_ms // 1000
        self.resampler = AudioResampler(format="s16", layout="stereo", rate=opus.SAMPLE_RATE, frame_size=samples)

    opus.OpusEncoder.__init__ = init  # type: ignore[method-assign]


@dataclass
class SpeechStats:
    """What the speech path did with loss, shared by the buffer and the decoder (which runs in
    aiortc's decoder thread: plain counters, read at the end)."""

    packets: int = 0  # decoded as they arrived
    given_up: int = 0  # missing packets the buffer stopped waiting for
    late: int = 0  # arrived after their place was given up or played (dropped: their audio was concealed, or is a copy)
    duplicates: int = 0  # a second copy of a packet still held
    concealed_packets: int = 0  # packet-durations filled by concealment (PLC or FEC)
    recovered_packets: int = 0  # of those, from the FEC copy in the next packet
    concealed_ms: float = 0.0
    longest_gap_ms: float = 0.0
    first_rtp_timestamp: int | None = None  # of the first packet released: aiortc's media time 0 for the track


def speech_shift(first_released: int | None, sender_origin: int | None, limit_s: float = 10.0) -> int:
    """Samples (48 kHz) to add to the track's timestamps so that 0 is the sender's first packet,
    not the first that arrived (0 while either is unknown, or for an implausible answer)."""
    if first_released is None or sender_origin is None:
        return 0
    shift = (first_released - sender_origin) % (1 << 32)
    return shift if shift <= limit_s * 48000 else 0


def _seq_delta(seq: int, origin: int) -> int:
    """``seq - origin`` on RTP's 16-bit circle, in [-32768, 32767]."""
    return (seq - origin + 32768) % 65536 - 32768


class SpeechJitterBuffer:
    """Speech packets out in order, as soon as they can be; a missing packet is waited for at
    most ``reorder_wait_s`` after the first packet behind it arrived, then skipped (see the
    module docstring). Plugs into aiortc where its JitterBuffer was: ``add(packet)`` returns
    ``(False, frame or None)``; the frame carries every packet released by this arrival."""

    def __init__(self, stats: SpeechStats, reorder_wait_s: float = REORDER_WAIT_S, max_held: int = 64,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.stats, self.reorder_wait_s, self.max_held, self.clock = stats, reorder_wait_s, max_held, clock
        self._next: int | None = None  # the sequence number to release next
        self._held: dict[int, tuple[object, float]] = {}  # seq -> (RtpPacket, arrival)

    def add(self, packet) -> tuple[bool, object | None]:  # noqa: ANN001 (aiortc RtpPacket; returns a JitterFrame)
        now = self.clock()
        seq = packet.sequence_number
        if self._next is None or abs(_seq_delta(seq, self._next)) > 1000:  # the first packet, or a new stream
            self._next, self._held = seq, {}
        ahead = _seq_delta(seq, self._next)
        if ahead < 0 or seq in self._held:
            self.stats.late += ahead < 0
            self.stats.duplicates += ahead >= 0
            return False, None
        self._held[seq] = (packet, now)
        released = self._release(now)
        return False, (speech_frame(released) if released else None)

    def _release(self, now: float) -> list:
        out = []
        while self._held:
            if self._next in self._held:
                out.append(self._held.pop(self._next)[0])
                if self.stats.first_rtp_timestamp is None:
                    self.stats.first_rtp_timestamp = out[-1].timestamp
                self._next = (self._next + 1) % 65536
                continue
            waited = now - min(arrival for _, arrival in self._held.values())
            if waited < self.reorder_wait_s and len(self._held) < self.max_held:
                break
            first = min(self._held, key=lambda s: _seq_delta(s, self._next))  # give the gap up
            self.stats.given_up += _seq_delta(first, self._next)
            self._next = first
        return out


def speech_frame(packets: list):  # noqa: ANN201 (an aiortc JitterFrame)
    """Packets released together, as one JitterFrame: aiortc maps its timestamp (the first
    packet's) onto the track's clock; the others keep their RTP offsets from it."""
    from aiortc.jitterbuffer import JitterFrame

    frame = JitterFrame(data=packets[0]._data, timestamp=packets[0].timestamp)
    frame.packets = [((p.timestamp - packets[0].timestamp) % (1 << 32), p._data) for p in packets]
    return frame


class ConcealingOpusDecoder:
    """aiortc's Opus decoder, but every gap in the RTP timestamps is filled: FEC from the next
    packet when it carries it, else packet-loss concealment (``codec.media.libopus``)."""

    def __init__(self, stats: SpeechStats) -> None:
        from codec.media.libopus import Decoder

        self.stats = stats
        self.opus = Decoder(channels=2)
        self._next_pts: int | None = None  # where the audio decoded so far ends (48 kHz)
        self._packet_samples = 960  # the last packet's duration: the unit losses are counted in

    def decode(self, encoded_frame) -> list:  # noqa: ANN001 (a JitterFrame; returns av.AudioFrame)
        out = []
        for offset, data in getattr(encoded_frame, "packets", [(0, encoded_frame.data)]):
            out += self._decode_packet(encoded_frame.timestamp + offset, data)
        return out

    def _decode_packet(self, pts: int, data: bytes) -> list:
        if self._next_pts is not None and pts < self._next_pts:
            self.stats.late += 1  # older than what was already played (or concealed)
            return []
        frames = []
        gap = 0 if self._next_pts is None else pts - self._next_pts
        if 0 < gap <= MAX_CONCEALED_S * 48000:
            frames.append(self._frame(self._conceal(gap, data), self._next_pts))
        pcm = self.opus.decode(data)
        if pcm is None:  # a packet libopus rejects: concealed like a lost one
            pcm = self.opus.conceal(self.opus.samples_in(data) or self._packet_samples)
        else:
            self.stats.packets += 1
            self._packet_samples = len(pcm) or self._packet_samples
        frames.append(self._frame(pcm, pts))
        self._next_pts = pts + len(pcm)
        return frames

    def _conceal(self, gap: int, next_packet: bytes) -> np.ndarray:
        """``gap`` samples before ``next_packet``: its FEC copy for the last packet-length of
        them when it has one, packet-loss concealment for the rest."""
        fec_span = min(gap, self.opus.samples_in(next_packet)) if self.opus.has_fec(next_packet) else 0
        head = self.opus.conceal(gap - fec_span)
        tail = self.opus.recover(next_packet, fec_span) if fec_span else None
        if tail is None:
            tail = self.opus.conceal(fec_span)
        self.stats.concealed_packets += max(1, round(gap / self._packet_samples))
        self.stats.recovered_packets += int(fec_span > 0 and len(tail) == fec_span)
        self.stats.concealed_ms += 1000 * gap / 48000
        self.stats.longest_gap_ms = max(self.stats.longest_gap_ms, 1000 * gap / 48000)
        return np.concatenate([head, tail])

    @staticmethod
    def _frame(pcm: np.ndarray, pts: int):  # noqa: ANN205 (av.AudioFrame)
        from fractions import Fraction

        import av

        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, pts, Fraction(1, 48000)
        return frame


class EachPacket:
    """aiortc's own decoder, fed the packets of a :func:`speech_frame` one by one."""

    def __init__(self, decoder) -> None:  # noqa: ANN001
        self.decoder = decoder

    def decode(self, encoded_frame) -> list:  # noqa: ANN001
        from aiortc.jitterbuffer import JitterFrame

        out = []
        for offset, data in getattr(encoded_frame, "packets", [(0, encoded_frame.data)]):
            out += self.decoder.decode(JitterFrame(data=data, timestamp=encoded_frame.timestamp + offset))
        return out


def configure_audio_receiver(reorder_wait_s: float = REORDER_WAIT_S) -> SpeechStats:
    """Every audio receiver aiortc makes from now on uses :class:`SpeechJitterBuffer` and
    :class:`ConcealingOpusDecoder`; returns the counters they fill. Without libopus (see
    ``codec.media.libopus``) the buffer still keeps losses from piling up, and aiortc's own
    decoder leaves the gaps, which the receiver fills with silence."""
    from aiortc import rtcrtpreceiver

    from codec.media.libopus import LibopusMissing, load

    stats = SpeechStats()
    original_init = _originals.setdefault("receiver", rtcrtpreceiver.RTCRtpReceiver.__init__)
    original_decoder = _originals.setdefault("decoder", rtcrtpreceiver.get_decoder)
    try:
        load()
        conceal = True
    except LibopusMissing:
        conceal = False

    def init(self: "rtcrtpreceiver.RTCRtpReceiver", kind: str, transport) -> None:  # noqa: ANN001
        original_init(self, kind, transport)  # type: ignore[operator]
        if kind == "audio":
            self._RTCRtpReceiver__jitter_buffer = SpeechJitterBuffer(stats, reorder_wait_s)

    def get_decoder(codec):  # noqa: ANN001, ANN202
        if codec.mimeType.lower() != "audio/opus":
            return original_decoder(codec)  # type: ignore[operator]
        return ConcealingOpusDecoder(stats) if conceal else EachPacket(original_decoder(codec))  # type: ignore[operator]

    rtcrtpreceiver.RTCRtpReceiver.__init__ = init  # type: ignore[method-assign]
    rtcrtpreceiver.get_decoder = get_decoder
    return stats
