"""The receiving side: avfr packets in, video frames and speech out.

Offline decoding reads the file twice. The first pass decodes only the audio (cheap) so the
whole log-mel is computed exactly as in training, and so the mp4 muxer gets its audio track;
the second pass renders one frame per motion packet. Damage in the middle of a file is
skipped (the reader resyncs at the next intact packet): the frames it made undecodable are
held, so the video keeps the stream's frame count and stays in step with the speech
(``codec/bitstream/damage.py`` says which frames). A truncated file, or one whose tail is
damaged, is decoded up to the last intact packet. Either way it is written out and reported,
with a non-zero exit from the CLI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from codec import defaults
from codec.audio_features import AudioFeatureConfig, log_mel, mel_window, silence_window
from codec.bitstream import motion as motion_coding
from codec.bitstream.container import AvfrReader
from codec.bitstream.damage import DamagePlan, plan_damage
from codec.bitstream.index import StreamIndex
from codec.errors import StreamError
from codec.marking import PictureMarking
from codec.media import opus, video_io
from codec.media.keyframe import decode_keyframe
from codec.model import AVFRModel, pick_device
from codec.model_input import ModelInputMaker, resize_rgb, to_uint8_rgb
from codec.progress import progress_bar
from codec.zoo import resolve_model_for_stream
from proto import avfr_pb2


@dataclass
class DecodeOptions:
    model_path: Path | None = None
    device: str = defaults.DEVICE
    output_size: int | None = None
    batch_size: int = 8  # motion frames per network call when decoding a file (a live call renders 1)
    label: bool | None = None  # the visible label (codec/marking.py); None: on for a stream from a chosen photo


@dataclass
class DecodeReport:
    output: Path
    frames: int = 0
    expected_frames: int | None = None
    seconds: float = 0.0
    stopped_at: str | None = None
    damage: list[str] = field(default_factory=list)  # one line per damaged range skipped
    frames_held: int = 0  # of ``frames``, those shown as the last good picture
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.stopped_at is None and not self.damage

    def summary(self) -> str:
        fps = self.frames / max(self.seconds, 1e-9)
        held = f" ({self.frames - self.frames_held} rendered, {self.frames_held} held)" if self.frames_held else ""
        lines = [f"wrote {self.output}: {self.frames} frames{held} at {fps:.1f} fps"]
        if self.expected_frames is not None and self.expected_frames != self.frames:
            lines.append(f"note: the stream announced {self.expected_frames} frames")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# What a header may say, far beyond any real stream: the bounds on what it can make the
# receiver allocate (pictures of its size; speech for the duration its frame rate implies).
MAX_FRAME_SIZE = 4096  # pixels a side
MIN_FPS, MAX_FPS = 1, 240


class Receiver:
    """Renders frames from a keyframe and motion packets, conditioned on received speech."""

    def __init__(self, model: AVFRModel, header: avfr_pb2.StreamHeader, device: torch.device, inputs: ModelInputMaker | None = None) -> None:
        """``inputs``: a MediaPipe session made ahead (starting one takes ~0.6 s), if its size is the stream's."""
        self.model = model.to(device).eval()
        self.header = header
        self.device = device
        self.size = header.width
        self.inputs = inputs if inputs is not None and inputs.size == self.size else ModelInputMaker(self.size, static_image_mode=True)
        self.source_state = None
        self.motion = motion_coding.MotionStreamDecoder(header)
        self.last_frame: np.ndarray | None = None
        self.frames_held = 0  # frames shown as the previous one (lost, or undecodable after a loss)

    @property
    def fps(self) -> float:
        return self.header.fps_num / self.header.fps_den

    @torch.no_grad()
    def on_keyframe(self, keyframe: avfr_pb2.Keyframe) -> None:
        """A new reference: its priors and identity features are computed once, here."""
        rgb = decode_keyframe(keyframe.data, keyframe.codec)
        x5, _ = self.inputs.make(rgb)
        self.source_state = self.model.encode_source(x5.unsqueeze(0).to(self.device))

    def decode_motion(self, motion: avfr_pb2.MotionFrame) -> np.ndarray | None:
        """[K, 6] keypoints of one motion frame, in stream order (compact motion is predicted
        from the frames before: None for a predicted frame after a lost one). A live call
        decodes motion and renders apart."""
        return self.motion.decode(motion)

    @torch.no_grad()
    def render_batch(self, motions: list[avfr_pb2.MotionFrame | None], mels: list[np.ndarray], hold: list[bool] | None = None) -> list[np.ndarray]:
        """Frames for consecutive motion packets of one keyframe, rendered as one batch.

        Each frame depends only on the keyframe, its own keypoints and its own audio window,
        so a batch renders the same pictures as one call per frame (up to float summation
        order) while the convolutions run on wider tensors: ~1.5x the frames per second on
        CPU (``benchmarks/results/speed.md``). The motion decoder still runs in stream order.

        A ``None`` motion (its packet was lost) or a ``hold`` flag (the frame depends on a lost
        packet) shows the last picture again; a held packet still goes through the motion
        decoder, whose prediction state must follow the stream. Before any picture exists a
        held frame is black.
        """
        hold = hold or [False] * len(motions)
        keypoints = [self.decode_motion(m) if m is not None else None for m in motions]
        ready = [i for i, kp in enumerate(keypoints) if kp is not None and not hold[i]]
        if ready and self.source_state is None:
            raise StreamError(f"motion frame {motions[ready[0]].frame_index} arrived before any keyframe: the stream is damaged")
        rendered: dict[int, np.ndarray] = {}
        if ready:
            frames = self.render_keypoints(np.stack([keypoints[i] for i in ready]), np.stack([mels[i] for i in ready]))
            rendered = dict(zip(ready, frames))
        result: list[np.ndarray] = []
        for i, motion in enumerate(motions):
            if i in rendered:
                self.last_frame = rendered[i]
            elif self.last_frame is None and motion is not None and not hold[i]:
                raise StreamError(f"motion frame {motion.frame_index} depends on a frame that never arrived: the stream is damaged")
            else:
                self.frames_held += 1
            result.append(self.last_frame if self.last_frame is not None else self.blank())
        return result

    def blank(self) -> np.ndarray:
        """The picture shown before any frame could be rendered."""
        return np.zeros((self.size, self.size, 3), np.uint8)

    @torch.no_grad()
    def render_keypoints(self, keypoints: np.ndarray, mels: np.ndarray) -> np.ndarray:
        """[B, K, 6] decoded keypoints and [B, n_mels, T] mel windows -> [B, H, W, 3] uint8
        frames from the current keyframe (a live call decodes motion and renders apart)."""
        if self.source_state is None:
            raise StreamError("a frame was to be rendered before any keyframe arrived: the stream is damaged")
        kp_t = torch.from_numpy(np.ascontiguousarray(keypoints)).float().to(self.device)
        mel_t = torch.from_numpy(np.ascontiguousarray(mels)).float()[:, None].to(self.device)
        out = self.model.reconstruct(self.source_state, kp_t, mel_t)
        return to_uint8_rgb(out)


class AudioTiming:
    """Where each audio packet starts and how many samples it holds (at the stream's audio rate).

    Explicit when the packet says so (``pts_samples``, else ``timestamp_us``); otherwise it
    follows the previous packet directly and holds one Opus frame (format version 2 leaves the
    timing of such packets out). Version 1 streams always carry it.

    After damage (:meth:`damaged`): when the damaged records are still framed, the audio
    packets among them are known and the timing steps over one Opus frame for each. When they
    are not, the packets that follow have no known start until one carries its timing (the
    encoder writes it at least once a second): they follow each other, so they are placed to
    end where that one starts, or where the stream ends (:meth:`end`: the encoder's speech
    stops with the last frame); if more damage comes first they are dropped (``dropped``).
    """

    MAX_PACKET_MS = 120  # RFC 6716: no Opus packet holds more

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.frame = sample_rate * opus.FRAME_MS // 1000
        self.next_pts: int | None = 0
        self.dropped = 0
        self._unplaced: list[tuple[int, object]] = []  # (samples, what the caller placed) awaiting a timed packet

    def place(self, audio: avfr_pb2.AudioPacket, item: object = None) -> list[tuple[int, int, object]]:
        """``(pts, samples, item)`` of every packet whose place is now known: this one, and
        those before it that were waiting for a timed packet (none while it waits itself)."""
        count = self.samples(audio)
        pts = self._explicit_pts(audio)
        if pts is None and self.next_pts is None:
            self._unplaced.append((count, item))
            return []
        placed = self._place_back_from(pts) if pts is not None else []
        pts = self.next_pts if pts is None else pts
        self.next_pts = pts + count
        return placed + [(pts, count, item)]

    def samples(self, audio: avfr_pb2.AudioPacket) -> int:
        """Samples the packet holds: one Opus frame unless it says otherwise, and never more
        than an Opus packet can hold (a damaged count must not size the decoder's output)."""
        return min(audio.sample_count or self.frame, self.sample_rate * self.MAX_PACKET_MS // 1000)

    def damaged(self, audio_packets: int | None) -> None:
        """Damage came between the previous packet and the next: it held ``audio_packets``
        audio packets (None: unknown)."""
        if audio_packets is None or self.next_pts is None:
            self.finish()
            self.next_pts = None
        else:
            self.next_pts += audio_packets * self.frame

    def end(self, end_pts: int) -> list[tuple[int, int, object]]:
        """The end of the stream, ``end_pts`` samples in: what was still waiting ends there."""
        placed = self._place_back_from(end_pts) if self.next_pts is None else []
        self.finish()
        return placed

    def finish(self) -> None:
        self.dropped += len(self._unplaced)
        self._unplaced.clear()

    def _explicit_pts(self, audio: avfr_pb2.AudioPacket) -> int | None:
        if audio.pts_samples:
            return audio.pts_samples
        if audio.timestamp_us:
            return int(round(audio.timestamp_us * self.sample_rate / 1_000_000))
        return None

    def _place_back_from(self, end: int) -> list[tuple[int, int, object]]:
        placed: list[tuple[int, int, object]] = []
        for count, item in reversed(self._unplaced):
            end -= count
            if end < 0:
                self.dropped += 1
                continue
            placed.append((end, count, item))
        self._unplaced.clear()
        return placed[::-1]


def read_stream_audio(path: Path, header: avfr_pb2.StreamHeader, max_seconds: float | None = None) -> tuple[np.ndarray | None, str | None]:
    """Pass 1: decode every intact audio packet to 16 kHz mono PCM placed at its timestamp
    (silence where packets were lost). ``max_seconds`` bounds the PCM: a timestamp read from
    a file must not decide how much memory the receiver allocates."""
    if header.audio_codec != avfr_pb2.AUDIO_CODEC_OPUS:
        return None, None
    rate = AudioFeatureConfig().sample_rate
    decoder = opus.OpusDecoder(input_sample_rate=header.audio_sample_rate, output_sample_rate=rate)
    timing = AudioTiming(header.audio_sample_rate)
    chunks: list[tuple[int, np.ndarray]] = []
    error = None
    try:
        for record in AvfrReader(path, resync=True).records():
            if record.damage_before is not None:
                timing.damaged(record.damage_before.audio_packets)
            placed = []
            if record.kind == "audio":
                audio = record.packet.audio
                placed = timing.place(audio, decoder.decode(audio.data, timing.samples(audio)))
            elif record.kind == "end_of_stream":
                placed = timing.end(int(round(record.packet.end_of_stream.duration_us * header.audio_sample_rate / 1_000_000)))
            chunks += [(int(round(pts * rate / header.audio_sample_rate)), pcm) for pts, _, pcm in placed]
    except StreamError as err:
        error = str(err)
    timing.finish()
    if max_seconds is not None:
        limit = int(max_seconds * rate)
        chunks = [(s, c[: limit - s]) for s, c in chunks if s < limit]
    if not chunks:
        return np.zeros(0, np.float32), error
    end = max(s + len(c) for s, c in chunks)
    pcm = np.zeros(end, np.float32)
    for s, c in chunks:
        pcm[s : s + len(c)] = c
    return pcm, error


def read_header(path: Path) -> avfr_pb2.StreamHeader:
    reader = iter(AvfrReader(path))
    try:
        first = next(reader)
    except StopIteration:
        raise StreamError(f"{path} holds no packets: it is empty or was cut before the stream header")
    if not first.HasField("header"):
        raise StreamError(f"{path} does not start with a stream header: it is damaged")
    h = first.header
    fps_ok = h.fps_den and MIN_FPS <= h.fps_num / h.fps_den <= MAX_FPS
    if not (fps_ok and 0 < h.width <= MAX_FRAME_SIZE and 0 < h.height <= MAX_FRAME_SIZE):
        raise StreamError(f"{path}'s stream header gives no usable frame rate or size ({h.fps_num}/{h.fps_den} fps, {h.width}x{h.height}): it is damaged")
    return h


def iter_rendered(
    receiver: Receiver,
    path: Path,
    mel: np.ndarray | None,
    report: DecodeReport,
    batch_size: int = 1,
    plan: DamagePlan | None = None,
) -> Iterator[np.ndarray]:
    """Pass 2: frames in stream order, ``batch_size`` motion frames rendered at a time (a
    keyframe, the end of the stream or damage flushes the batch). Damage in the middle is
    skipped and the frames ``plan`` names are held; damage at the tail stops cleanly, after
    rendering what came before it."""
    plan = plan or DamagePlan()
    pending: list[tuple[avfr_pb2.MotionFrame | None, np.ndarray, bool]] = []
    held_before = receiver.frames_held

    def flush() -> list[np.ndarray]:
        batch = pending[:]
        pending.clear()  # a batch that fails to render is not retried: the decoder's state moved on
        if not batch:
            return []
        frames = receiver.render_batch([m for m, _, _ in batch], [w for _, w, _ in batch], [h for _, _, h in batch])
        report.frames += len(frames)
        report.frames_held = receiver.frames_held - held_before
        return frames

    def lost(n: int) -> Iterator[np.ndarray]:
        for _ in range(n):
            pending.append((None, silence_window(), True))
            if len(pending) >= batch_size:
                yield from flush()

    try:
        for record in AvfrReader(path, resync=True).records():
            packet, kind = record.packet, record.kind
            if kind == "keyframe":
                yield from flush()
                receiver.on_keyframe(packet.keyframe)
            elif kind == "motion":
                yield from lost(plan.lost_before.get(record.index, 0))
                window = mel_window(mel, packet.motion.frame_index, receiver.fps) if mel is not None else silence_window()
                pending.append((packet.motion, window, record.index in plan.hold))
                if len(pending) >= batch_size:
                    yield from flush()
            elif kind == "end_of_stream":
                yield from lost(plan.lost_at_end)
                report.expected_frames = packet.end_of_stream.frame_count
        yield from flush()
    except StreamError as err:
        report.stopped_at = str(err)
        try:
            yield from flush()  # the intact frames read before the damage
        except StreamError:
            pass


@dataclass
class DecodeSession:
    """A stream opened for rendering: its header, the receiver and the speech of pass 1.

    Shared by :func:`decode_file` (frames -> mp4) and :func:`decode_frames` (frames in
    memory, for benchmarks), so both render exactly the same pixels.
    """

    path: Path
    header: avfr_pb2.StreamHeader
    receiver: Receiver
    pcm: np.ndarray | None
    audio_error: str | None
    damage: DamagePlan = field(default_factory=DamagePlan)
    marking: PictureMarking = field(default_factory=PictureMarking)  # on every picture it yields

    @property
    def mel(self) -> np.ndarray | None:
        return log_mel(self.pcm) if self.pcm is not None and len(self.pcm) else None

    def frames(self, report: DecodeReport, size: int | None = None, batch_size: int = 1) -> Iterator[np.ndarray]:
        """Pass 2: RGB uint8 frames at ``size`` (default: the stream's), bicubic when resized,
        marked as synthesised (``codec/marking.py``); ``batch_size`` > 1 renders several frames
        per network call (offline decoding)."""
        if self.pcm is None:
            report.notes.append("the stream carries no audio: the model was driven with silence and the mp4 has no sound")
        size = size or self.header.width
        report.damage = self.damage.lines()
        for frame in iter_rendered(self.receiver, self.path, self.mel, report, batch_size, self.damage):
            yield self.marking.apply(resize_rgb(frame, size))
        if report.stopped_at is None and self.audio_error is not None:
            report.stopped_at = self.audio_error


@dataclass
class StreamScan:
    """Pass 1, which needs no model: the header, what the damage costs and the speech."""

    header: avfr_pb2.StreamHeader
    damage: DamagePlan
    pcm: np.ndarray | None
    audio_error: str | None


def scan_stream(input_path: Path) -> StreamScan:
    """Header, damage plan and speech; the speech is bounded by the stream's frame count (no
    more than its motion records and the frames damage swallowed), never by a timestamp."""
    header = read_header(input_path)
    index = StreamIndex.scan(AvfrReader(input_path)).entries
    damage = plan_damage(index)
    frames = sum(e.kind == "motion" for e in index) + damage.frames_lost
    pcm, audio_error = read_stream_audio(input_path, header, max_seconds=frames * header.fps_den / header.fps_num + 1.0)
    return StreamScan(header, damage, pcm, audio_error)


def open_stream(input_path: Path, options: DecodeOptions) -> DecodeSession:
    """Header, model and pass 1 (audio): everything before the first frame can be rendered."""
    input_path = Path(input_path)
    header = read_header(input_path)
    model = resolve_model_for_stream(header.model_id, header.model_sha256, options.model_path)
    receiver = Receiver(model, header, pick_device(options.device))
    scan = scan_stream(input_path)
    return DecodeSession(path=input_path, header=header, receiver=receiver, pcm=scan.pcm, audio_error=scan.audio_error, damage=scan.damage,
                         marking=PictureMarking.for_stream(header, options.label))  # fmt: skip


def decode_frames(input_path: Path, options: DecodeOptions, report: DecodeReport | None = None) -> Iterator[np.ndarray]:
    """The receiver's RGB frames in memory (``options.output_size``, default the stream's size).

    ``report`` (if given) collects frame counts, notes and where a damaged stream stopped.
    """
    session = open_stream(input_path, options)
    yield from session.frames(report if report is not None else DecodeReport(output=Path(input_path)), options.output_size, options.batch_size)


def decode_file(input_path: Path, output_path: Path, options: DecodeOptions, progress: bool = True) -> DecodeReport:
    input_path, output_path = Path(input_path), Path(output_path)
    session = open_stream(input_path, options)
    report = DecodeReport(output=output_path)
    frames = session.frames(report, options.output_size, options.batch_size)
    bar = progress_bar(desc="decode", unit="frame", disable=not progress)
    started = time.perf_counter()

    def counted() -> Iterator[np.ndarray]:
        for frame in frames:
            bar.update(1)
            yield frame

    video_io.write_video(
        output_path, counted(), fps=session.receiver.fps, audio=session.pcm, sample_rate=AudioFeatureConfig().sample_rate,
        metadata=session.marking.metadata(),
    )  # fmt: skip
    bar.close()
    report.seconds = time.perf_counter() - started
    if report.frames == report.frames_held:  # nothing rendered: an mp4 of black frames helps no one
        output_path.unlink(missing_ok=True)
        why = report.stopped_at or (report.damage[0] if report.damage else "it holds no motion frames")
        raise StreamError(f"no frame could be decoded from {input_path}: {why}")
    return report
