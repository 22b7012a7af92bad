"""Opus speech coding through PyAV's libopus: PCM <-> one Opus packet per 20 ms.

Timing is kept in samples so a receiver can place every packet exactly: each
:class:`AudioPacketData` says where its decoded samples start (``pts_samples``) and how many
there are (``n_samples``), both at the encoder's input rate. libopus looks 6.5 ms ahead
(:data:`OPUS_PRE_SKIP_48K`), so the encoder's first packet carries 13.5 ms of real audio
and the decoder drops the lookahead from the first packet it decodes; the last packet is
trimmed to the real end. Summed, ``n_samples`` equals the input length.

libopus takes 16 kHz input directly (it resamples to its 48 kHz core internally), but
FFmpeg's libopus decoder always outputs 48 kHz, so a 16 kHz output goes through a short
linear-phase decimator (:class:`_Decimator3`) that keeps state across packets (no clicks
at packet edges) and costs :data:`DECIMATOR_DELAY_16K` samples (0.25 ms) of delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from codec.errors import InputError

SUPPORTED_RATES = (16000, 48000)
OPUS_RATE = 48000
OPUS_PRE_SKIP_48K = 312  # libopus lookahead for application voip/audio: 6.5 ms
FRAME_MS = 20
_DECIMATOR_TAPS = 25


@dataclass(frozen=True)
class OpusConfig:
    """Encoder settings. 16 kbit/s is wideband speech with headroom; 6-64 kbit/s allowed."""

    sample_rate: int = 16000
    bitrate: int = 16000
    frame_ms: int = FRAME_MS
    application: str = "voip"  # speech-tuned; keeps the 6.5 ms lookahead the decoder assumes
    complexity: int = 10
    vbr: str = "on"

    def validate(self) -> OpusConfig:
        _check_rate(self.sample_rate, "input")
        if not 6000 <= self.bitrate <= 64000:
            raise InputError(f"Opus bitrate must be 6000-64000 bit/s for speech, got {self.bitrate}: pick e.g. 16000")
        if self.frame_ms != FRAME_MS:
            raise InputError(f"only {FRAME_MS} ms Opus frames are supported, got {self.frame_ms} ms")
        return self

    @property
    def frame_size(self) -> int:
        return self.sample_rate * self.frame_ms // 1000


@dataclass(frozen=True)
class AudioPacketData:
    """One Opus packet and the span of input samples it decodes to."""

    pts_samples: int  # first sample, at the encoder's input rate
    data: bytes
    n_samples: int  # samples it decodes to, at the encoder's input rate


def _check_rate(rate: int, what: str) -> None:
    if rate not in SUPPORTED_RATES:
        raise InputError(f"Opus {what} must be mono at 16000 or 48000 Hz, got {rate} Hz: resample the audio first")


def _as_mono_float32(pcm: np.ndarray) -> np.ndarray:
    pcm = np.asarray(pcm)
    if pcm.ndim != 1:
        raise InputError(f"Opus input must be mono 1-D float32 PCM, got shape {pcm.shape}: mix the channels down first")
    return pcm.astype(np.float32, copy=False)


class OpusEncoder:
    """Streams PCM into 20 ms Opus packets; call :meth:`flush` once at the end."""

    def __init__(self, sample_rate: int = 16000, bitrate: int = 16000, config: OpusConfig | None = None) -> None:
        self.config = (config or OpusConfig(sample_rate=sample_rate, bitrate=bitrate)).validate()
        self._ctx = self._open()
        self._pending = np.zeros(0, np.float32)
        self._next_pts = 0  # input samples handed to libopus so far
        self._flushed = False

    def _open(self):
        from av.codec.context import CodecContext

        c = self.config
        ctx = CodecContext.create("libopus", "w")
        ctx.sample_rate = c.sample_rate
        ctx.layout = "mono"
        ctx.format = "flt"
        ctx.bit_rate = c.bitrate
        ctx.time_base = Fraction(1, c.sample_rate)
        ctx.options = {"application": c.application, "frame_duration": str(c.frame_ms), "compression_level": str(c.complexity), "vbr": c.vbr}
        ctx.open()
        return ctx

    def encode(self, pcm: np.ndarray) -> list[AudioPacketData]:
        """Packets for the 20 ms frames completed by ``pcm``; a remainder waits for more."""
        if self._flushed:
            raise ValueError("encode after flush: make a new OpusEncoder for a new stream")
        self._pending = np.concatenate([self._pending, _as_mono_float32(pcm)])
        n = self.config.frame_size
        full = len(self._pending) // n * n
        out: list[AudioPacketData] = []
        for start in range(0, full, n):
            out += self._encode_frame(self._pending[start : start + n])
        self._pending = self._pending[full:]
        return out

    def flush(self) -> list[AudioPacketData]:
        """The last partial frame and libopus' lookahead tail, trimmed to the real end."""
        if self._flushed:
            return []
        self._flushed = True
        out = self._encode_frame(self._pending) if len(self._pending) else []
        self._pending = np.zeros(0, np.float32)
        return out + self._packets(self._ctx.encode(None))

    def _encode_frame(self, samples: np.ndarray) -> list[AudioPacketData]:
        import av

        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples)[None, :], format="flt", layout="mono")
        frame.sample_rate = self.config.sample_rate
        frame.pts = self._next_pts
        self._next_pts += len(samples)
        return self._packets(self._ctx.encode(frame))

    def _packets(self, packets) -> list[AudioPacketData]:
        out = []
        for p in packets:
            start = max(int(p.pts), 0)  # the first packet starts in the lookahead (negative pts)
            end = min(int(p.pts) + int(p.duration), self._next_pts)
            out.append(AudioPacketData(start, bytes(p), max(end - start, 0)))
        return out


class OpusDecoder:
    """Decodes packets in stream order to float32 PCM at ``output_sample_rate``.

    A packet libopus rejects (corrupt, truncated, empty) is concealed with silence of its
    length (``n_samples`` if given, else its TOC byte's duration, else 20 ms), never raised.
    """

    def __init__(self, input_sample_rate: int = 16000, output_sample_rate: int = 16000) -> None:
        _check_rate(input_sample_rate, "stream sample rate")
        _check_rate(output_sample_rate, "output sample rate")
        self.input_sample_rate = input_sample_rate
        self.output_sample_rate = output_sample_rate
        self._ctx = self._open()
        self._skip = OPUS_PRE_SKIP_48K
        self._decimator = _Decimator3() if output_sample_rate == 16000 else None
        self.concealed = 0  # packets replaced by silence

    @staticmethod
    def _open():
        from av.codec.context import CodecContext

        ctx = CodecContext.create("libopus", "r")
        ctx.sample_rate = OPUS_RATE
        ctx.layout = "mono"
        return ctx

    def decode(self, data: bytes, n_samples: int | None = None) -> np.ndarray:
        """One packet -> PCM; ``n_samples`` (the packet's sample_count, stream rate) trims the last one."""
        pcm48 = self._decode48(bytes(data))
        if pcm48 is None:
            self.concealed += 1
            pcm48 = np.zeros(self._conceal_length48(data, n_samples), np.float32)
        if self._skip:
            drop = min(self._skip, len(pcm48))
            pcm48, self._skip = pcm48[drop:], self._skip - drop
        out = self._decimator.process(pcm48) if self._decimator else pcm48
        if n_samples is not None:
            out = _fit(out, int(round(n_samples * self.output_sample_rate / self.input_sample_rate)))
        return out

    def _decode48(self, data: bytes) -> np.ndarray | None:
        import av

        if not data:
            return None  # an empty packet would put FFmpeg's decoder into drain mode
        try:
            frames = self._ctx.decode(av.Packet(data))
        except (av.error.FFmpegError, ValueError):
            return None
        if not frames:
            return None
        chunks = [f.to_ndarray().reshape(-1) for f in frames]
        pcm = np.concatenate(chunks)
        if pcm.dtype == np.int16:
            return pcm.astype(np.float32) / 32768.0
        return pcm.astype(np.float32, copy=False)

    def _conceal_length48(self, data: bytes, n_samples: int | None) -> int:
        if n_samples is not None:
            # n_samples excludes the lookahead on the first packet; the skip below removes it again
            extra = self._skip if self._skip else 0
            return int(round(n_samples * OPUS_RATE / self.input_sample_rate)) + extra
        return toc_samples_48k(data) or OPUS_RATE * FRAME_MS // 1000


def _fit(pcm: np.ndarray, n: int) -> np.ndarray:
    if len(pcm) >= n:
        return pcm[:n]
    return np.concatenate([pcm, np.zeros(n - len(pcm), np.float32)])


def toc_samples_48k(packet: bytes) -> int | None:
    """Duration of an Opus packet from its TOC byte (RFC 6716 3.1), at 48 kHz; None if unreadable."""
    if not packet:
        return None
    toc = packet[0]
    config, code = toc >> 3, toc & 3
    if config < 12:
        frame = (480, 960, 1920, 2880)[config % 4]  # SILK 10/20/40/60 ms
    elif config < 16:
        frame = (480, 960)[config % 2]  # hybrid 10/20 ms
    else:
        frame = (120, 240, 480, 960)[config % 4]  # CELT 2.5/5/10/20 ms
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    elif len(packet) < 2:
        return None
    else:
        count = packet[1] & 0x3F
    total = frame * count
    return total if 0 < total <= 5760 else None  # a packet holds at most 120 ms


class _Decimator3:
    """48 kHz -> 16 kHz, streaming: windowed-sinc FIR (cutoff 8 kHz) then keep every third sample.

    The filter state spans packets so packet edges stay seamless; the output phase follows a
    running sample counter so odd-length chunks (the first, after the pre-skip) stay aligned.
    """

    def __init__(self, taps: int = _DECIMATOR_TAPS) -> None:
        n = np.arange(taps) - (taps - 1) / 2
        h = np.sinc(n / 3) * np.kaiser(taps, 6.0)
        self.h = (h / h.sum()).astype(np.float64)
        self.history = np.zeros(taps - 1, np.float64)
        self.phase = 0  # index (mod 3) of the next input sample

    def process(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self.history, x.astype(np.float64)])
        y = np.convolve(buf, self.h, mode="valid")  # one output per input sample, delayed (taps-1)/2
        self.history = buf[len(buf) - len(self.history) :]
        first = (-self.phase) % 3
        self.phase = (self.phase + len(x)) % 3
        return y[first::3].astype(np.float32)


DECIMATOR_DELAY_16K = (_DECIMATOR_TAPS - 1) // 2 // 3  # 4 samples = 0.25 ms


__all__ = ["AudioPacketData", "OpusConfig", "OpusDecoder", "OpusEncoder", "SUPPORTED_RATES", "toc_samples_48k"]
