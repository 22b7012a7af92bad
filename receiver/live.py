"""The live receiver's timing, without the network: when each frame plays, and with what speech.

* :class:`PlayoutClock`: stream time from the arrival of media. Frame ``n`` and audio sample
  ``t`` share one timeline (the sender starts its audio track at frame 0), so the receiver
  plays against the audio: the clock's offset is the smallest ``arrival - media time`` seen
  (the packet that met no queueing), and stream time is ``now - offset``. Without audio the
  motion frames' arrivals set it instead.
* :class:`LiveAudio`: the received speech as 16 kHz mono in a bounded ring, and the mel
  window of any recent frame, computed from that ring exactly as offline decoding computes it
  from the whole file. The window is centred on the frame, so it reads ~112 ms of audio after
  the frame; what has not arrived by play-out is silence (see ``PlayoutConfig.delay_s``).
* :class:`Playout`: the jitter buffer for motion frames (``receiver/jitter.py``) plus the
  keyframes waiting for their frame; :meth:`Playout.due` hands out every frame whose time has
  come, in order, with ``None`` for those that never arrived or arrived late.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.audio_features import DEFAULT as MEL
from codec.audio_features import SILENCE_VALUE, log_mel, window_start_column
from codec.call.opus_rtp import REORDER_WAIT_S
from proto import avfr_pb2
from receiver.jitter import JitterBuffer

MARGIN_COLUMNS = 4  # mel columns computed either side of a window: covers the STFT's reach (n_fft / 2)


class PlayoutClock:
    """Stream time from media arrivals; audio, once seen, is the only reference."""

    def __init__(self) -> None:
        self.offset: float | None = None
        self.source: str | None = None

    def observe(self, media_s: float, arrival_s: float, source: str) -> None:
        """``source``: "audio" or "motion". ``media_s``: the media time that has now arrived."""
        if source == "motion" and self.source == "audio":
            return
        if source == "audio" and self.source == "motion":
            self.offset = None  # audio takes over
        self.source = source
        offset = arrival_s - media_s
        self.offset = offset if self.offset is None else min(self.offset, offset)

    def stream_time(self, now_s: float) -> float | None:
        return None if self.offset is None else now_s - self.offset


class LiveAudio:
    """Received speech, 16 kHz mono, the last ``keep_s`` seconds; sample 0 is stream time 0."""

    def __init__(self, keep_s: float = 4.0) -> None:
        self.rate = MEL.sample_rate
        self.keep = int(keep_s * self.rate)
        self.ring = np.zeros(0, np.float32)
        self.ring_start = 0  # absolute sample index of ring[0]
        self._resampler = None
        self._next_pts48 = 0  # where the speech received so far ends, at 48 kHz

    @property
    def end_sample(self) -> int:
        return self.ring_start + len(self.ring)

    def add_frame(self, frame, pts: int | None = None) -> np.ndarray:  # noqa: ANN001 (av.AudioFrame from aiortc, 48 kHz)
        """Append one received frame (at ``pts``, default its own); returns the new 16 kHz
        samples (silence filled in for a gap)."""
        import av

        if self._resampler is None:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.rate)
        gap = np.zeros(0, np.float32)
        rate_in = frame.sample_rate
        pts = frame.pts if pts is None else pts
        if pts is not None:
            expected = self._next_pts48
            if pts > expected:  # speech that never came (before the first packet too: sample 0 is stream time 0)
                gap = np.zeros(int(round((pts - expected) * self.rate / rate_in)), np.float32)
            if pts < expected:
                return np.zeros(0, np.float32)  # a duplicate or a packet from the past
            self._next_pts48 = pts + frame.samples
        out = [f.to_ndarray().reshape(-1).astype(np.float32) for f in self._resampler.resample(frame)]
        pcm = np.concatenate([gap, *out]) if out else gap
        self.add_pcm(pcm)
        return pcm

    def add_pcm(self, pcm: np.ndarray) -> None:
        self.ring = np.concatenate([self.ring, pcm.astype(np.float32, copy=False)])
        if len(self.ring) > self.keep:
            cut = len(self.ring) - self.keep
            self.ring = self.ring[cut:]
            self.ring_start += cut

    def samples(self, start: int, end: int) -> np.ndarray:
        """Samples ``[start, end)`` of the stream; zeros (silence) where the ring has none."""
        out = np.zeros(end - start, np.float32)
        lo, hi = max(start, self.ring_start), min(end, self.end_sample)
        if hi > lo:
            out[lo - start : hi - start] = self.ring[lo - self.ring_start : hi - self.ring_start]
        return out

    def window(self, frame_index: int, fps: float) -> np.ndarray:
        """The frame's [n_mels, window] features, as ``mel_window`` gives offline."""
        hop, width = MEL.hop_length, MEL.window_columns
        start = window_start_column(frame_index, fps)
        first = start - MARGIN_COLUMNS
        segment = self.samples(first * hop, (start + width + MARGIN_COLUMNS) * hop)
        cols = log_mel(segment)[:, MARGIN_COLUMNS : MARGIN_COLUMNS + width]
        before = max(0, -start)  # columns before the stream began: silence, as offline
        if before:
            cols[:, : min(before, width)] = SILENCE_VALUE
        return cols


@dataclass
class PlayoutConfig:
    # Video plays against the speech, which reaches the receiver sooner than the motion frames:
    # those wait for the sender's analysis and bundling (and jitter). Measured on loopback with
    # both ends on 2 cores (benchmarks/results/call.md): at 0.10 s ~14% of motion frames came
    # late, at 0.15 s ~4%, at 0.20 s none. The audio window's ~112 ms look-ahead needs no extra
    # wait: benchmarks/results/lookahead.md found the shipped model's pictures do not change
    # without it.
    delay_s: float = 0.15
    capacity_frames: int = 50  # motion frames held at most (2 s at 25 fps): memory is bounded
    speech_reorder_wait_s: float = REORDER_WAIT_S  # then a missing speech packet is concealed (codec/call/opus_rtp.py)
    max_pending_keyframes: int = 4


class Playout:
    """Motion frames and keyframes in, frames due out (see the module docstring)."""

    def __init__(self, fps: float, config: PlayoutConfig | None = None) -> None:
        self.config = config or PlayoutConfig()
        self.fps = fps
        self.jitter: JitterBuffer[avfr_pb2.MotionFrame] = JitterBuffer(fps, self.config.delay_s, self.config.capacity_frames)
        self.keyframes: dict[int, avfr_pb2.Keyframe] = {}
        self.next_index = 0
        self.max_held = 0

    def on_motion(self, motion: avfr_pb2.MotionFrame) -> bool:
        ok = self.jitter.push(motion.frame_index, motion)
        self.max_held = max(self.max_held, self.jitter.held)
        return ok

    def on_keyframe(self, keyframe: avfr_pb2.Keyframe) -> None:
        self.keyframes[keyframe.frame_index] = keyframe
        while len(self.keyframes) > self.config.max_pending_keyframes:
            self.keyframes.pop(min(self.keyframes))

    def due(self, stream_time_s: float) -> list[tuple[int, avfr_pb2.MotionFrame | None]]:
        """Every frame due by ``stream_time_s``, contiguous from the last one handed out
        (frames the jitter buffer skipped after a stall come back as ``None``)."""
        out: list[tuple[int, avfr_pb2.MotionFrame | None]] = []
        for index, motion in self.jitter.due(stream_time_s):
            while self.next_index < index:
                out.append((self.next_index, None))
                self.next_index += 1
            out.append((index, motion))
            self.next_index = index + 1
        return out

    def keyframe_for(self, frame_index: int) -> avfr_pb2.Keyframe | None:
        """The newest waiting keyframe that applies by ``frame_index`` (older ones are dropped)."""
        ready = [i for i in self.keyframes if i <= frame_index]
        if not ready:
            return None
        newest = max(ready)
        chosen = self.keyframes[newest]
        for i in ready:
            del self.keyframes[i]
        return chosen
