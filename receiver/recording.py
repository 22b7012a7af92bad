"""What `avfr receive` keeps of a call: ``--record-to`` (mp4: one picture per stream frame, as
shown, with the speech) and ``--save-stream`` (the received avfr packets as an .avfr file that
``avfr decode`` renders at full quality later).

Both write behind play-out, because what arrives late (a motion frame, the end of the stream
on a lossy network) is still worth having in the file; memory is bounded by how far behind.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

from proto import avfr_pb2


class Recorder:
    """The call as shown, one picture per stream frame, with the received speech (mp4).

    Pictures are written ``lag_frames`` behind play-out. The receiver learns where the stream
    ends from a message on the reliable channel, which a lossy network can delay by a few
    retransmissions (SCTP's timeout is at least 1 s and doubles with each retry; 5 s covers
    two in a row); the frames it played (held) past the end meanwhile are left out of the
    recording. Memory: ``lag_frames`` pictures (125 at 256 px: 25 MB).
    """

    def __init__(self, path: Path, fps: float, lag_frames: int = 125, metadata: dict[str, str] | None = None) -> None:
        from codec.audio_features import DEFAULT as MEL  # the rate of the speech the call holds (receiver/live.py)
        from codec.media import video_io

        self.writer = video_io.VideoWriter(path, fps=fps, audio_sample_rate=MEL.sample_rate, metadata=metadata)
        self.samples_per_frame = MEL.sample_rate / fps
        self.pending_audio: list[np.ndarray] = []
        self.audio_written = 0
        self.lag = lag_frames
        self.queue: deque[tuple[int, np.ndarray]] = deque()

    def add_audio(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self.pending_audio.append(pcm)

    def add_frame(self, index: int, rgb: np.ndarray) -> None:
        self.queue.append((index, rgb))
        while len(self.queue) > self.lag:
            self._write(self.queue.popleft()[1])

    def _write(self, rgb: np.ndarray) -> None:
        self.writer.write(rgb)
        self._flush_audio(int(round(self.writer.frames * self.samples_per_frame)))

    def _flush_audio(self, until: int | None) -> None:
        if not self.pending_audio:
            return
        pcm = np.concatenate(self.pending_audio)
        n = len(pcm) if until is None else max(0, min(len(pcm), until - self.audio_written))
        if n:
            self.writer.write_audio(pcm[:n])
            self.audio_written += n
        self.pending_audio = [pcm[n:]] if n < len(pcm) else []

    def close(self, frame_count: int | None = None) -> int:
        """``frame_count``: the stream's length, when known; nothing past it is recorded."""
        for index, rgb in self.queue:
            if frame_count is None or index < frame_count:
                self._write(rgb)
        self.queue.clear()
        self._flush_audio(None if frame_count is None else int(round(frame_count * self.samples_per_frame)))
        frames = self.writer.frames
        self.writer.close()
        return frames


class StreamSaver:
    """The received packets as an .avfr file, in stream order.

    Motion frames travel unordered and some arrive late, so packets are kept by frame index
    and written once play-out is ``lag_frames`` past them: a late frame still makes it into
    the file (it was received, only too late to show). Keyframes go before the motion frame
    of their index. Memory is bounded by the lag.
    """

    def __init__(self, path: Path, header_packet: avfr_pb2.Packet, lag_frames: int = 25) -> None:
        from codec.bitstream.container import AvfrWriter

        self.writer = AvfrWriter(path, overwrite=True, keep_partial=True)
        self.writer.write(header_packet)
        self.lag = lag_frames
        self.pending: dict[tuple[int, int], avfr_pb2.Packet] = {}
        self.written_below = 0  # every frame index below this has been written

    def add(self, packet: avfr_pb2.Packet) -> None:
        kind = packet.WhichOneof("body")
        index = packet.keyframe.frame_index if kind == "keyframe" else packet.motion.frame_index
        key = (index, 0 if kind == "keyframe" else 1)
        if index >= self.written_below and key not in self.pending:
            self.pending[key] = packet

    def advance(self, played_index: int) -> None:
        self._write_below(played_index - self.lag)

    def _write_below(self, limit: int | None) -> None:
        for key in sorted(k for k in self.pending if limit is None or k[0] < limit):
            self.writer.write(self.pending.pop(key))
        if limit is not None:
            self.written_below = max(self.written_below, limit)

    def close(self, end_of_stream: avfr_pb2.Packet | None) -> None:
        self._write_below(None)
        if end_of_stream is not None:
            self.writer.write(end_of_stream)
        self.writer.close()


class CallRecording:
    """The call's recordings, whichever were asked for, started once the stream's header is in."""

    def __init__(self, record_to: Path | None, save_stream: Path | None) -> None:
        self.record_to, self.save_stream = record_to, save_stream
        self.recorder: Recorder | None = None
        self.saver: StreamSaver | None = None
        self.end_of_stream: avfr_pb2.Packet | None = None  # the sender's, once it has arrived
        self.recorded_frames: int | None = None  # pictures in the mp4, once it is closed

    def start(self, header_packet: avfr_pb2.Packet, fps: float, metadata: dict[str, str]) -> None:
        if self.record_to is not None:
            self.recorder = Recorder(self.record_to, fps, metadata=metadata)
        if self.save_stream is not None:
            self.saver = StreamSaver(self.save_stream, header_packet)

    def add_audio(self, pcm: np.ndarray) -> None:
        if self.recorder is not None:
            self.recorder.add_audio(pcm)

    def add_picture(self, index: int, rgb: np.ndarray) -> None:
        """The picture on show while frame ``index`` was due."""
        if self.recorder is not None:
            self.recorder.add_frame(index, rgb)

    def add_packet(self, packet: avfr_pb2.Packet) -> None:
        """A keyframe or motion packet as received."""
        if self.saver is not None:
            self.saver.add(packet)

    def played(self, index: int) -> None:
        """Play-out reached frame ``index``: the saved stream can be written up to its lag behind."""
        if self.saver is not None:
            self.saver.advance(index)

    def close(self, frame_count: int | None) -> None:
        """``frame_count``: the stream's length, when known; nothing past it is recorded."""
        if self.saver is not None:
            self.saver.close(self.end_of_stream)
        if self.recorder is not None:
            self.recorded_frames = self.recorder.close(frame_count)
