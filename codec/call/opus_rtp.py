"""The call's Opus track: bitrate, packet duration, and how long the receiver waits for it.

aiortc fixes its Opus encoder at 96 kbit/s and 20 ms packets, and its receiver holds 4 audio
packets before it decodes the first. For avfr calls all three are wrong:

* 96 kbit/s is six times what speech needs and more than the whole avfr video stream; calls
  send speech at ``--audio-kbps`` (16 by default, as the offline format).
* At 20 ms per packet, 50 packets a second each pay ~50 bytes of IPv4/UDP/SRTP/RTP headers:
  20 kbit/s of headers for 16 kbit/s of speech. Longer packets (``--audio-frame-ms``, 20-60;
  libopus codes 40 and 60 ms frames natively) cut that in proportion.
* A 4-packet prefetch is 80 ms at 20 ms and 240 ms at 60 ms, all of it glass-to-glass
  latency, since avfr plays the video against the audio clock. avfr's own play-out delay
  already absorbs jitter, so the receiver decodes each packet as soon as it is next in order.

aiortc has no settings for these, so the encoder and the receiver's audio jitter buffer are
adjusted right after aiortc builds them (before the codec opens, so libopus applies the
settings from the first packet).
"""

from __future__ import annotations

OPUS_FRAME_MS = (20, 40, 60)
_originals: dict[str, object] = {}


def configure_opus_sender(bits_per_second: int, frame_ms: int = 20) -> None:
    from av import AudioResampler
    from aiortc.codecs import opus

    if frame_ms not in OPUS_FRAME_MS:
        raise ValueError(f"Opus packets of {frame_ms} ms are not supported here: use one of {OPUS_FRAME_MS}")
    original = _originals.setdefault("encoder", opus.OpusEncoder.__init__)

    def init(self: "opus.OpusEncoder") -> None:
        original(self)  # type: ignore[operator]
        self.codec.bit_rate = int(bits_per_second)
        self.codec.options = {"application": "voip", "frame_duration": str(frame_ms)}
        samples = opus.SAMPLE_RATE * frame_ms // 1000
        self.resampler = AudioResampler(format="s16", layout="stereo", rate=opus.SAMPLE_RATE, frame_size=samples)

    opus.OpusEncoder.__init__ = init  # type: ignore[method-assign]


def audio_jitter_buffer(capacity: int):  # noqa: ANN201 (an aiortc JitterBuffer)
    """aiortc's jitter buffer, releasing each audio packet as soon as it is next in order.

    One RTP packet is one Opus frame, so nothing is gained by waiting for the next packet to
    see the frame end (aiortc's rule, made for video). A lost packet still stops the flow
    until ``capacity`` later packets have arrived (aiortc then skips it), and aiortc takes
    one frame out per packet in, so ``capacity`` also bounds the delay a loss leaves behind.
    """
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame

    class AudioJitterBuffer(JitterBuffer):
        def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
            packet = self._packets[self._origin % self._capacity]
            if packet is None:
                return None
            self.remove(1)
            return JitterFrame(data=packet._data, timestamp=packet.timestamp)

    return AudioJitterBuffer(capacity=capacity)


def configure_audio_receiver(capacity_packets: int = 4) -> None:
    from aiortc import rtcrtpreceiver

    original = _originals.setdefault("receiver", rtcrtpreceiver.RTCRtpReceiver.__init__)

    def init(self: "rtcrtpreceiver.RTCRtpReceiver", kind: str, transport) -> None:  # noqa: ANN001
        original(self, kind, transport)  # type: ignore[operator]
        if kind == "audio":
            self._RTCRtpReceiver__jitter_buffer = audio_jitter_buffer(capacity_packets)

    rtcrtpreceiver.RTCRtpReceiver.__init__ = init  # type: ignore[method-assign]
