"""The sending side: video frames and speech in, avfr packets out.

:class:`Sender` is a small state machine used both by offline encoding (:func:`encode_file`)
and by a live call: it emits the stream header, the keyframe the first time a face is seen,
then one motion frame per video frame, and Opus packets as audio arrives.

Face handling, stated once here:
- frames before the first face are not sent: the stream (and its clock) starts at the first
  frame with a face, and the audio is cut to match;
- when the face is lost later, the tracker keeps the last crop box and the sender repeats the
  last keypoints, so the receiver holds the last pose instead of rendering garbage;
- a new keyframe is sent on a scene cut, when the tracker snaps to a new face box (the face
  jumped or came back), and when the sender's own render of the stream degrades
  (``sender/refresh.py``, rendered by ``sender/self_check.py``); ``--no-refresh`` keeps the
  paper's single keyframe.

Rate control (``--target-kbps``, ``sender/rate_control.py``) is told what every frame cost
(``sender/accounting.py``) and answers with new motion settings or a refresh budget.

Avatar mode (``EncodeOptions.avatar``, ``sender/avatar.py``): every keyframe is the chosen
photo's face (the first, and a re-send on a cut or a new face box, from which the motion is
relative again), the keypoints sent are the camera's motion moved onto the photo's face, and
the quality self-check is off: no camera pixel leaves the sender.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from codec import defaults
from codec.bitstream import motion as motion_coding
from codec.bitstream.compact_motion import CompactMotionParams
from codec.bitstream.container import FORMAT_VERSION, AvfrWriter
from codec.errors import InputError, NoFaceError
from codec.face_tracker import FaceCropper
from codec.media import opus, video_io
from codec.media.keyframe import KeyframeConfig, encode_keyframe
from codec.model import AVFRModel
from codec.model_input import ModelInputMaker, crop_size_for, resize_rgb
from codec.progress import progress_bar
from codec.zoo import load_for_encoding
from proto import avfr_pb2
from sender.accounting import frame_bits
from sender.avatar import Avatar, avatar_crop
from sender.rate_control import RateControlConfig, RateController
from sender.refresh import KeyframePolicy, RefreshConfig
from sender.self_check import ShadowReceiver


@dataclass
class EncodeOptions:
    """What a user can choose when encoding; defaults are the measured ones."""

    model_path: Path | None = None
    fps: float = 25.0
    audio_bitrate: int = defaults.AUDIO_KBPS * 1000
    audio_sample_rate: int = defaults.AUDIO_SAMPLE_RATE
    keyframe_quality: int | None = None
    max_frames: int | None = None
    start_seconds: float = 0.0
    save_crops_to: Path | None = None  # the face crops the sender saw, as an mp4 (for evaluation)
    motion_coding: str = defaults.MOTION_CODING  # or "raw" (the paper's 960 bits per frame)
    compact_motion: CompactMotionParams = field(default_factory=CompactMotionParams)
    refresh: RefreshConfig = field(default_factory=RefreshConfig)
    target_kbps: float | None = None  # video rate control (compact motion only); None: fixed settings
    avatar: Path | None = None  # a photo whose face the receiver shows instead of the camera's (sender/avatar.py)
    live: bool = False  # a live call: keyframes coded at the keyframe codec's real-time speed

    def __post_init__(self) -> None:
        if self.target_kbps is not None and self.target_kbps <= 0:
            raise ValueError(f"--target-kbps {self.target_kbps:g} is not a bitrate: give the video kbit/s wanted, e.g. 8")


@dataclass
class EncodeReport:
    """What was sent, for the CLI's closing line and for tests."""

    output: Path
    frames: int = 0
    leading_frames_without_face: int = 0
    frames_face_lost: int = 0
    keyframes: list[tuple[int, str]] = field(default_factory=list)  # (frame index, why)
    bytes_written: int = 0
    seconds: float = 0.0
    audio_packets: int = 0
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kbps = self.bytes_written * 8 / 1000 / self.duration_s if self.duration_s else 0.0
        lines = [
            f"wrote {self.output}: {self.frames} frames, {self.duration_s:.2f} s, "
            f"{self.bytes_written} bytes ({kbps:.2f} kbit/s all in), "
            f"encoded at {self.frames / max(self.seconds, 1e-9):.1f} fps"
        ]
        if self.leading_frames_without_face:
            lines.append(f"note: skipped {self.leading_frames_without_face} leading frames with no face")
        if self.frames_face_lost:
            lines.append(f"note: face lost in {self.frames_face_lost} frames (last pose held)")
        if len(self.keyframes) > 1:
            why = "; ".join(f"frame {i}: {r}" for i, r in self.keyframes[1:])
            lines.append(f"note: {len(self.keyframes) - 1} keyframe refresh(es): {why}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# An audio packet carries its start (pts_samples) at least this often, even where it is implied:
# after damage whose contents are unknown, a reader cannot tell how much speech was lost, and
# places the packets that follow back from the next one that says where it starts
# (receiver/decoder.py AudioTiming). ~4 bytes a second (0.03 kbit/s on the demo's 28.8).
AUDIO_TIMING_INTERVAL_S = 1.0


def frame_timestamp_us(index: int, fps: float) -> int:
    return int(round(index * 1_000_000 / fps))


class Sender:
    """Turns cropped-face video frames and PCM audio into avfr packets."""

    def __init__(self, model: AVFRModel, options: EncodeOptions, has_audio: bool = True) -> None:
        self.model = model.eval()
        self.options = options
        self.size = model.config.image_size
        self.keyframe_config = replace(KeyframeConfig.default(quality=options.keyframe_quality), live=options.live)
        self.inputs = ModelInputMaker(self.size, static_image_mode=False)
        self.audio_encoder = opus.OpusEncoder(sample_rate=options.audio_sample_rate, bitrate=options.audio_bitrate) if has_audio else None
        self._audio_next_pts = 0  # where the next audio packet starts if its timing is implied
        self._audio_timed_pts = 0  # start of the last audio packet that carried its timing
        coding = motion_coding.MOTION_CODING_NAMES.get(options.motion_coding)
        if coding is None:
            raise InputError(f"unknown motion coding {options.motion_coding!r}: use one of {sorted(motion_coding.MOTION_CODING_NAMES)}")
        self.rate: RateController | None = None
        if options.target_kbps is not None:
            if coding != avfr_pb2.MOTION_CODING_COMPACT:
                raise InputError("rate control needs the compact motion coding (--motion compact)")
            self.rate = RateController(RateControlConfig(options.target_kbps), options.fps, options.compact_motion)
        start = self.rate.params if self.rate is not None else options.compact_motion
        self.motion = motion_coding.MotionStreamEncoder(coding, model.config.num_kp, start)
        self.frame_index = 0
        self.keyframe_sent = False
        self.last_keypoints: np.ndarray | None = None
        self.refresh = KeyframePolicy(options.refresh, options.fps)
        self.pending_refresh: str | None = None
        self.keyframes: list[tuple[int, str]] = []
        self.shadow = ShadowReceiver(model)  # what the receiver holds: for the self-check and the avatar's keypoints
        self.avatar = self._load_avatar(options.avatar) if options.avatar is not None else None
        self.self_check = options.refresh.enabled and self.avatar is None  # it compares a render with the camera

    def header(self) -> avfr_pb2.Packet:
        packet = avfr_pb2.Packet()
        h = packet.header
        h.format_version = FORMAT_VERSION
        h.model_id = self.model.config.name
        h.model_sha256 = self.model.weights_sha256 or ""
        h.width = h.height = self.size
        rate = video_io.fps_fraction(self.options.fps)
        h.fps_num, h.fps_den = rate.numerator, rate.denominator
        h.num_keypoints = self.model.config.num_kp
        h.keypoint_layout = avfr_pb2.KEYPOINT_LAYOUT_XY_JACOBIAN
        self.motion.fill_header(h)
        h.keyframe_codec = self.keyframe_config.proto_codec
        h.picture_origin = avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CHOSEN_PHOTO if self.avatar is not None else avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CAMERA
        if self.audio_encoder is not None:
            h.audio_codec = avfr_pb2.AUDIO_CODEC_OPUS
            h.audio_sample_rate = self.options.audio_sample_rate
            h.audio_channels = 1
            h.audio_bitrate = self.options.audio_bitrate
        return packet

    @torch.no_grad()
    def keypoints_of(self, crop: np.ndarray) -> tuple[np.ndarray, bool]:
        """Keypoints of one face crop, and whether a face was found in it."""
        x5, found = self.inputs.make(crop)
        kp = self.model.keypoints(x5.unsqueeze(0))[0].float().cpu().numpy()
        return kp, found

    def process_frame(self, crop: np.ndarray, face_found: bool, tracker_snapped: bool = False) -> list[avfr_pb2.Packet]:
        """Packets for one video frame: a keyframe when one is due, then its motion frame."""
        packets: list[avfr_pb2.Packet] = []
        kp, prior_found = self.keypoints_of(crop)
        usable = face_found and prior_found
        reason = self.refresh.reason(self.frame_index, crop, tracker_snapped) if usable else None
        if not self.keyframe_sent and not usable:
            return packets
        reason = reason or (self.pending_refresh if usable else None)
        if reason is not None:
            packets.append(self._keyframe_packet(crop, reason))
            if self.avatar is not None:
                self.avatar.restart(kp)
        if not usable and self.last_keypoints is not None:
            kp = self.last_keypoints
        elif self.avatar is not None:
            kp = self.avatar.keypoints(kp)
        self.last_keypoints = kp
        packets.append(self._motion_packet(kp, force_self_contained=reason is not None))
        if self.rate is not None:
            self._account(packets)
        if usable and self.self_check and self.refresh.wants_check(self.frame_index):
            affordable = self.rate.refresh_affordable() if self.rate is not None else None
            rendered_psnr = self.shadow.render_psnr(self.motion.last_sent, crop)
            self.pending_refresh = self.refresh.after_check(self.frame_index, rendered_psnr, affordable)
        self.frame_index += 1
        return packets

    @torch.no_grad()
    def warm_up(self) -> None:
        """Run every network and MediaPipe graph once on a blank picture, so that a live call's
        first frame is not the one that pays for their set-up (seconds on a busy CPU)."""
        blank = np.zeros((self.size, self.size, 3), np.uint8)
        self.keypoints_of(blank)
        if self.self_check:
            self.shadow.warm_up(blank)

    def hold_frame(self) -> list[avfr_pb2.Packet]:
        """A motion frame repeating the last keypoints, for a frame a live sender had no time
        to analyse (it fell behind real time); nothing before the first keyframe."""
        if not self.keyframe_sent or self.last_keypoints is None:
            return []
        self.refresh.frames_skipped()
        packets = [self._motion_packet(self.last_keypoints)]
        if self.rate is not None:
            self._account(packets)
        self.frame_index += 1
        return packets

    def _account(self, packets: list[avfr_pb2.Packet]) -> None:
        """Tell the rate controller what this frame cost (sender/accounting.py); its new motion
        settings, when it has some, take effect at the next self-contained frame."""
        motion_bits, keyframe_bits = frame_bits(packets)
        new_params = self.rate.frame_sent(motion_bits, keyframe_bits)  # type: ignore[union-attr]
        if new_params is not None:
            self.motion.change_params(new_params)

    def _load_avatar(self, photo: Path) -> Avatar:
        """The photo's keyframe, coded once (every keyframe of the stream is this one), and its
        keypoints exactly as the receiver will compute them from it."""
        data = encode_keyframe(resize_rgb(avatar_crop(photo, self.size), self.size), self.keyframe_config)
        if not self.shadow.on_keyframe(data, self.keyframe_config.proto_codec):
            raise NoFaceError(f"the face in {photo} shows no landmarks avfr can follow: give --avatar a sharper, more frontal photo")
        return Avatar(keyframe=data, source_keypoints=self.shadow.source_keypoints())

    def process_audio(self, pcm: np.ndarray) -> list[avfr_pb2.Packet]:
        if self.audio_encoder is None:
            return []
        return [self._audio_packet(p) for p in self.audio_encoder.encode(pcm)]

    def end(self) -> list[avfr_pb2.Packet]:
        packets = [self._audio_packet(p) for p in self.audio_encoder.flush()] if self.audio_encoder else []
        eos = avfr_pb2.Packet()
        eos.end_of_stream.frame_count = self.frame_index
        eos.end_of_stream.duration_us = frame_timestamp_us(self.frame_index, self.options.fps)
        packets.append(eos)
        return packets

    def _keyframe_packet(self, crop: np.ndarray, reason: str) -> avfr_pb2.Packet:
        packet = avfr_pb2.Packet()
        packet.keyframe.frame_index = self.frame_index
        packet.keyframe.timestamp_us = frame_timestamp_us(self.frame_index, self.options.fps)
        packet.keyframe.codec = self.keyframe_config.proto_codec
        if self.avatar is not None:
            packet.keyframe.data = self.avatar.keyframe  # never the camera's picture
        else:
            # Coded at the model's size: the networks see nothing finer, and the receiver's
            # MediaPipe resizes to its own 192 px input anyway.
            packet.keyframe.data = encode_keyframe(resize_rgb(crop, self.size), self.keyframe_config)
        self.keyframe_sent = True
        self.pending_refresh = None
        self.keyframes.append((self.frame_index, reason))
        self.refresh.keyframe_sent(self.frame_index)
        if self.self_check:
            self.shadow.on_keyframe(packet.keyframe.data, packet.keyframe.codec)
        return packet

    def _motion_packet(self, kp: np.ndarray, force_self_contained: bool = False) -> avfr_pb2.Packet:
        packet = avfr_pb2.Packet()
        m = packet.motion
        m.frame_index = self.frame_index
        self.motion.fill_frame(m, kp, force_self_contained)
        if self.motion.coding == avfr_pb2.MOTION_CODING_COMPACT:
            return packet  # coding and timestamp implied (header default; frame_index / fps): 7 bytes a frame
        m.timestamp_us = frame_timestamp_us(self.frame_index, self.options.fps)
        m.coding = self.motion.coding
        return packet

    def _audio_packet(self, data: opus.AudioPacketData) -> avfr_pb2.Packet:
        """Timing only where it is not implied (a gap, a short packet), and its start once
        a second (AUDIO_TIMING_INTERVAL_S): ~11 of a record's ~20 bytes of framing saved at
        50 packets a second."""
        packet = avfr_pb2.Packet()
        a = packet.audio
        if data.pts_samples != self._audio_next_pts:
            a.pts_samples = data.pts_samples
            a.timestamp_us = int(round(data.pts_samples * 1_000_000 / self.options.audio_sample_rate))
        elif data.pts_samples - self._audio_timed_pts >= AUDIO_TIMING_INTERVAL_S * self.options.audio_sample_rate:
            a.pts_samples = data.pts_samples
        if a.pts_samples:
            self._audio_timed_pts = data.pts_samples
        if data.n_samples != self.audio_encoder.config.frame_size:
            a.sample_count = data.n_samples
        a.data = data.data
        self._audio_next_pts = data.pts_samples + data.n_samples
        return packet


def encode_file(
    input_path: Path,
    output_path: Path,
    options: EncodeOptions,
    progress: bool = True,
    on_crop: Callable[[np.ndarray], None] | None = None,
) -> EncodeReport:
    """Encode a video file into an .avfr file, streaming: memory stays bounded by one frame.

    ``on_crop`` sees, in stream order, the tracker's face crop (``crop_size_for(model size)``
    px, uint8 RGB) of every frame that was sent: the exact reference a benchmark must score
    the receiver against, handed over in memory instead of through a lossy video file.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    info = video_io.probe(input_path)
    model = load_for_encoding(options.model_path)
    audio = _read_audio(input_path, info, options)
    sender = Sender(model, options, has_audio=audio is not None)
    cropper = FaceCropper(out_size=crop_size_for(model.config.image_size))
    report = EncodeReport(output=output_path)
    total = _expected_frames(info, options)
    started = time.perf_counter()
    audio_cursor = 0
    first_sent_frame: int | None = None
    crops_out = video_io.VideoWriter(options.save_crops_to, fps=options.fps) if options.save_crops_to else None
    with AvfrWriter(output_path, overwrite=True) as writer:
        writer.write(sender.header())
        bar = progress_bar(total=total, desc="encode", unit="frame", disable=not progress)
        for raw_index, frame in enumerate(video_io.iter_frames(input_path, fps=options.fps, start=options.start_seconds)):
            if options.max_frames is not None and sender.frame_index >= options.max_frames:
                break
            crop = cropper.update(frame)
            packets = sender.process_frame(crop.crop, crop.face_found, crop.shot_changed)
            bar.update(1)
            if not packets:
                report.leading_frames_without_face += 1
                continue
            if first_sent_frame is None:
                first_sent_frame = raw_index
            if crops_out is not None:
                crops_out.write(resize_rgb(crop.crop, sender.size))
            if on_crop is not None:
                on_crop(np.array(crop.crop, copy=True))
            if not crop.face_found:
                report.frames_face_lost += 1
            if audio is not None:
                audio_cursor, audio_packets = _audio_until(sender, audio, audio_cursor, first_sent_frame, options)
                packets = audio_packets + packets
                report.audio_packets += len(audio_packets)
            for packet in packets:
                writer.write(packet)
        bar.close()
        if sender.frame_index == 0:
            writer.abort()
            raise NoFaceError(f"no face found in {input_path}: avfr needs a visible face to encode (try another clip or --start)")
        if audio is not None:
            _, tail = _audio_until(sender, audio, audio_cursor, first_sent_frame, options, until_frame=sender.frame_index)
            for packet in tail + sender.end():
                writer.write(packet)
                report.audio_packets += 1 if packet.HasField("audio") else 0
        else:
            for packet in sender.end():
                writer.write(packet)
    if crops_out is not None:
        crops_out.close()
    report.frames = sender.frame_index
    report.keyframes = sender.keyframes
    report.duration_s = sender.frame_index / options.fps
    report.seconds = time.perf_counter() - started
    report.bytes_written = output_path.stat().st_size
    if audio is None:
        report.notes.append("the input has no audio track: the stream carries none and the receiver uses silence")
    if options.avatar is not None:
        report.notes.append(f"avatar mode: every keyframe is the face in {options.avatar}; no camera picture was sent")
    return report


def _read_audio(path: Path, info: video_io.MediaInfo, options: EncodeOptions) -> np.ndarray | None:
    if not info.has_audio:
        return None
    return video_io.read_audio(path, sample_rate=options.audio_sample_rate, start=options.start_seconds)


def _expected_frames(info: video_io.MediaInfo, options: EncodeOptions) -> int | None:
    if info.duration is None:
        return options.max_frames
    n = int(max(info.duration - options.start_seconds, 0) * options.fps)
    return min(n, options.max_frames) if options.max_frames is not None else n


def _audio_until(
    sender: Sender,
    audio: np.ndarray,
    cursor: int,
    first_frame: int,
    options: EncodeOptions,
    until_frame: int | None = None,
) -> tuple[int, list[avfr_pb2.Packet]]:
    """Feed the encoder the audio up to the end of the frame just sent (stream clock)."""
    frames_done = sender.frame_index if until_frame is None else until_frame
    rate = options.audio_sample_rate
    offset = int(round(first_frame * rate / options.fps))
    end = offset + int(round(frames_done * rate / options.fps))
    start = max(cursor, offset)
    if end <= start:
        return max(cursor, offset), []
    return end, sender.process_audio(audio[start:end])


__all__ = ["EncodeOptions", "EncodeReport", "Sender", "encode_file", "InputError"]
