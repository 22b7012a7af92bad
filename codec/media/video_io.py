"""Video and audio in and out, through PyAV (the FFmpeg libraries), for any file FFmpeg reads.

Time convention, used by every reader here so that audio and video stay in sync:
time zero is the start time of the (first) video stream. Output video frame ``k`` of
:func:`iter_frames` is the picture on screen at ``start + k / fps``; sample ``n`` of
:func:`read_audio` is the sound at ``start + n / sample_rate`` on the same clock. An audio track
that begins after the video is padded with zeros at the front, one that begins before is cut.

Missing audio: :func:`read_audio` returns ``None`` when the file has no audio stream (the
caller decides, e.g. ``codec.audio_features.silence_window``); a silent track reads as zeros.

Unreadable files and files without a video stream raise :class:`codec.errors.InputError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from codec.errors import InputError


@dataclass
class MediaInfo:
    """What a file holds; ``frame_count`` is an estimate (containers often do not store it)."""

    path: Path
    has_video: bool
    has_audio: bool
    fps: float | None
    frame_count: int | None
    width: int | None
    height: int | None
    duration: float | None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the video, as displayed before any rotation metadata."""
        return (self.width, self.height) if self.width and self.height else None


@dataclass
class WriterConfig:
    """Encoder settings for :class:`VideoWriter`: H.264 yuv420p (plays everywhere) + AAC."""

    crf: float = 18.0
    preset: str = "medium"
    gop: int | None = None  # keyframe interval in frames; None = x264's default (250)
    audio_bitrate: int = 48000
    extra_options: dict[str, str] | None = None


def _open(path: Path | str) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as a media file ({type(exc).__name__}): give a video FFmpeg can read") from None


def _video_stream(container: av.container.InputContainer, path: Path | str) -> av.video.stream.VideoStream:
    if not container.streams.video:
        container.close()
        raise InputError(f"{path} has no video stream: give a video file")
    return container.streams.video[0]


def _stream_start(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _stream_fps(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def probe(path: Path | str) -> MediaInfo:
    """Streams, rate, size and duration of a media file, without decoding it."""
    container = _open(path)
    try:
        video = _video_stream(container, path)
        audio = container.streams.audio[0] if container.streams.audio else None
        fps = _stream_fps(video)
        duration = _duration(container, video)
        frames = video.frames or (int(round(duration * fps)) if duration and fps else None)
        return MediaInfo(
            path=Path(path),
            has_video=True,
            has_audio=audio is not None,
            fps=fps,
            frame_count=frames,
            width=video.codec_context.width,
            height=video.codec_context.height,
            duration=duration,
            audio_sample_rate=audio.rate if audio is not None else None,
            audio_channels=audio.channels if audio is not None else None,
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )
    finally:
        container.close()


def _decoded_frames(path: Path | str, start: float) -> Iterator[tuple[float, float, np.ndarray]]:
    """(time since video start, input frame duration, RGB) for each decoded picture."""
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        t0 = _stream_start(stream)
        fps_in = _stream_fps(stream) or 25.0
        if start > 1.0 and stream.time_base is not None:
            # Seek to the keyframe before `start`; decoding forward from there is exact.
            container.seek(int((t0 + start - 1.0) / stream.time_base), stream=stream, backward=True)
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time is None:
                    continue
                duration = float(frame.duration * frame.time_base) if frame.duration else 1.0 / fps_in
                yield frame.time - t0, duration, _rgb(frame)
        except av.FFmpegError as exc:
            raise InputError(f"{path}: the video is corrupt or truncated ({exc}): re-encode or replace the file") from None
    finally:
        container.close()


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    rotation = getattr(frame, "rotation", 0) or 0
    # Phone videos store portrait pictures landscape with a display rotation (degrees, CCW).
    if rotation % 360:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=int(round(rotation / 90)) % 4))
    return rgb


def iter_frames(path: Path | str, fps: float = 25.0, start: float = 0.0, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 HxWx3 frames at a constant `fps`, from `start` seconds on.

    Output frame k is the input picture on screen at time start + k / fps (the latest one
    whose timestamp is at or before it): frames are dropped or repeated by timestamp, so variable-rate input and rate changes keep their
    timing and stay in sync with :func:`read_audio`. The last input frame is held to the end
    of its display duration.
    """
    if fps <= 0:
        raise InputError(f"frame rate {fps} is not positive: give a rate such as 25")
    emitted, pending, end_time = 0, None, None
    for t, duration, rgb in _decoded_frames(path, start):
        slot = _first_slot_at_or_after(t - start, fps)
        while emitted < slot:
            if max_frames is not None and emitted >= max_frames:
                return
            yield pending if pending is not None else rgb  # a late first picture fills the start
            emitted += 1
        pending = rgb
        end_time = t + duration - start
    if pending is None or end_time is None:
        return
    total = max(_first_slot_at_or_after(end_time, fps), 1)  # a one-picture file still gives a frame
    while emitted < total and (max_frames is None or emitted < max_frames):
        yield pending
        emitted += 1


def _first_slot_at_or_after(t: float, fps: float) -> int:
    """The first output slot k with k / fps >= t (a thousandth of a frame of slack for pts rounding)."""
    return int(math.ceil(t * fps - 1e-3))


def read_metadata(path: Path | str) -> dict[str, str]:
    """The container's tags (what :class:`VideoWriter` was given as ``metadata``, and the muxer's own)."""
    container = _open(path)
    try:
        return dict(container.metadata)
    finally:
        container.close()


def read_frames(path: Path | str, fps: float = 25.0, start: float = 0.0, max_frames: int | None = None) -> list[np.ndarray]:
    """All frames of :func:`iter_frames` in a list (small clips only: memory grows with length)."""
    return list(iter_frames(path, fps=fps, start=start, max_frames=max_frames))


def read_audio(path: Path | str, sample_rate: int = 16000, start: float = 0.0, duration: float | None = None) -> np.ndarray | None:
    """Mono float32 PCM in [-1, 1] at `sample_rate`, on the video's clock; None without an audio track.

    Channels are averaged (not FFmpeg's downmix, which can clip or attenuate). With no video
    stream (an audio-only file) the clock starts at the audio's own start.
    """
    container = _open(path)
    try:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        origin = _stream_start(container.streams.video[0]) if container.streams.video else _stream_start(stream)
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        try:
            for frame in container.decode(stream):
                if first_time is None:
                    first_time = float(frame.time) if frame.time is not None else _stream_start(stream)
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
        except av.FFmpegError as exc:
            raise InputError(f"{path}: the audio is corrupt or truncated ({exc}): re-encode or replace the file") from None
    finally:
        container.close()
    wave = np.concatenate([c.mean(axis=0) for c in chunks]).astype(np.float32) if chunks else np.zeros(0, np.float32)
    offset = int(round(((first_time if first_time is not None else origin) - origin - start) * sample_rate))
    if offset > 0:
        wave = np.concatenate([np.zeros(offset, np.float32), wave])
    elif offset < 0:
        wave = wave[-offset:]
    if duration is not None:
        n = int(round(duration * sample_rate))
        wave = fit_length(wave, n)
    return np.clip(wave, -1.0, 1.0)


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad a 1-D signal to exactly n samples (aligning audio to a frame count)."""
    if len(wave) >= n:
        return wave[:n]
    return np.concatenate([wave, np.zeros(n - len(wave), wave.dtype)])


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as the fraction that the stream header and the mp4 time base both carry:
    whole rates exact, the NTSC family (29.97, 23.976, 59.94) as n * 1000/1001 however it was
    rounded, any other as the nearest fraction with a denominator of at most 1001 (12.5: 25/2)."""
    if abs(fps - round(fps)) < 1e-6:
        return Fraction(int(round(fps)), 1)
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    if abs(fps - ntsc) < 1e-3:
        return ntsc
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """Streaming mp4 writer: H.264 yuv420p video, optional AAC mono audio, interleaved in time.

    Frame sizes are fixed by the first frame; odd sizes are padded by one edge pixel
    (yuv420p needs even sizes). Audio passed with :meth:`write_audio` is muxed as it comes;
    :func:`write_video` feeds it frame by frame so the file is interleaved and plays in sync.
    """

    def __init__(
        self,
        path: Path | str,
        fps: float = 25.0,
        audio_sample_rate: int | None = None,
        config: WriterConfig | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """``metadata``: container tags (mp4: ``comment``, ``description``, ``title``...)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.config = config or WriterConfig()
        self.container = av.open(str(self.path), mode="w", format="mp4")
        self.container.metadata.update(metadata or {})
        self.video: av.video.stream.VideoStream | None = None
        self.audio = None
        self.audio_pts = 0
        self.frames = 0
        self.audio_rate = audio_sample_rate
        if audio_sample_rate is not None:
            self.audio = self.container.add_stream("aac", rate=audio_sample_rate)
            self.audio.layout = "mono"
            self.audio.bit_rate = self.config.audio_bitrate

    def _open_video(self, height: int, width: int) -> None:
        self.video = self.container.add_stream("libx264", rate=fps_fraction(self.fps))
        self.video.width, self.video.height = width + width % 2, height + height % 2
        self.video.pix_fmt = "yuv420p"
        options = {"crf": f"{self.config.crf:g}", "preset": self.config.preset}
        if self.config.gop is not None:
            options["g"] = str(self.config.gop)
            options["keyint_min"] = str(self.config.gop)
        options.update(self.config.extra_options or {})
        self.video.options = options
        self.video.codec_context.color_range = 1  # limited ("tv") range: what players assume

    def write(self, rgb: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(f"frames must be HxWx3 uint8 RGB, got {rgb.dtype} {rgb.shape}: convert before writing")
        if self.video is None:
            self._open_video(rgb.shape[0], rgb.shape[1])
        assert self.video is not None
        h, w = self.video.height, self.video.width
        if rgb.shape[0] != h or rgb.shape[1] != w:
            if rgb.shape[0] > h or rgb.shape[1] > w or h - rgb.shape[0] > 1 or w - rgb.shape[1] > 1:
                raise InputError(f"frame {self.frames} is {rgb.shape[1]}x{rgb.shape[0]}, the video is {w}x{h}: keep one size per file")
            rgb = np.pad(rgb, ((0, h - rgb.shape[0]), (0, w - rgb.shape[1]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        frame.time_base = Fraction(1) / fps_fraction(self.fps)
        self.container.mux(self.video.encode(frame))
        self.frames += 1

    def write_audio(self, pcm: np.ndarray) -> None:
        """Append mono float32 samples (in [-1, 1]) at the writer's audio rate."""
        if self.audio is None:
            raise InputError("this writer has no audio track: pass audio_sample_rate when creating it")
        pcm = np.ascontiguousarray(np.clip(np.asarray(pcm, np.float32).reshape(1, -1), -1.0, 1.0))
        if pcm.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
        frame.sample_rate = self.audio_rate
        frame.pts = self.audio_pts
        frame.time_base = Fraction(1, self.audio_rate)
        self.audio_pts += pcm.shape[1]
        self.container.mux(self.audio.encode(frame))

    def close(self) -> None:
        if self.container is None:
            return
        if self.video is not None:
            self.container.mux(self.video.encode(None))
        if self.audio is not None:
            self.container.mux(self.audio.encode(None))
        self.container.close()
        self.container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_video(
    path: Path | str,
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    config: WriterConfig | None = None,
    metadata: dict[str, str] | None = None,
) -> int:
    """Write RGB frames (+ mono audio) as a playable mp4; returns the number of frames written.

    Audio is interleaved with the video (the samples of frame k go in with frame k) and the
    remainder, if the audio is longer, is written after the last frame: nothing is cut.
    """
    per_frame = sample_rate / fps
    rate = sample_rate if audio is not None else None
    with VideoWriter(path, fps=fps, audio_sample_rate=rate, config=config, metadata=metadata) as writer:
        cursor = 0
        for rgb in frames:
            writer.write(rgb)
            if audio is not None:
                end = min(len(audio), int(math.floor(writer.frames * per_frame + 0.5)))
                if end > cursor:
                    writer.write_audio(audio[cursor:end])
                    cursor = end
        if audio is not None and cursor < len(audio):
            writer.write_audio(audio[cursor:])
        return writer.frames


__all__ = ["MediaInfo", "WriterConfig", "VideoWriter", "probe", "iter_frames", "read_frames", "read_metadata", "read_audio", "write_video", "fit_length"]
