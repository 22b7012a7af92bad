"""The sending peer of a live call: camera or file in, avfr over WebRTC out.

One ``RTCPeerConnection`` carries three things (see ``codec/call/messages.py``): the header,
keyframes and end of stream on a reliable data channel, motion frames on an unreliable,
unordered one, and speech as an Opus audio track that aiortc encodes and paces.

Timing. Frame ``n`` of the stream is the source frame at ``n / fps`` after the first frame with
a face (the stream keeps its 25 fps whatever the camera or file gives: extra source frames are
skipped, missing ones held); the audio track starts at that same moment (``GatedAudio``), so the receiver can play frame
``n`` at audio time ``n / fps``. aiortc paces the audio track from its first frame, so any
time spent on the first video frame becomes an audio delay: every network and MediaPipe graph
is run once before the call (``Sender.warm_up``) to keep that to one frame's analysis. The analysis of a frame (face tracking, priors, keypoints)
runs in a worker thread so the event loop keeps the network going. When the sender falls more
than ``max_lag_frames`` behind real time it does not analyse the frame at all: it sends the
previous keypoints again (``Sender.hold_frame``), which keeps the stream on the audio clock
and the sender real-time on a slow machine; the number of such frames is reported.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codec.bitstream.compact_motion import CompactMotionParams
from codec.call import wire as wire_mod
from codec.call.messages import CONTROL_LABEL, MOTION_LABEL, SPEECH_ORIGIN, MotionBundler, call_note, configure_keyframe_resend, pack_message
from codec.call.opus_rtp import configure_opus_sender
from codec.call.stats import CallStats
from codec.defaults import AUDIO_KBPS, CALL_AUDIO_FRAME_MS, CALL_BUNDLE, CALL_INTRA_PERIOD
from codec.errors import InputError
from proto import avfr_pb2
from sender.encoder import EncodeOptions, Sender


def call_encode_options() -> EncodeOptions:
    """A call's codec settings: a file's, but with the short intra period a lossy link wants."""
    return EncodeOptions(compact_motion=CompactMotionParams(intra_period=CALL_INTRA_PERIOD), live=True)


@dataclass
class SendOptions:
    """A live sender's settings; ``encode`` holds the codec's own (motion coding, refresh...)."""

    play_from: Path | None = None  # a media file played in real time
    camera: str | None = None  # a V4L2 device such as /dev/video0
    loop: bool = False
    max_seconds: float | None = None
    encode: EncodeOptions = field(default_factory=call_encode_options)
    bundle: int = CALL_BUNDLE  # motion frames per data-channel message
    audio_kbps: int = AUDIO_KBPS
    audio_frame_ms: int = CALL_AUDIO_FRAME_MS  # Opus packet duration
    audio_fec_percent: int = 0  # Opus in-band FEC for this much expected loss (0: none)
    netem: wire_mod.NetemConfig = field(default_factory=wire_mod.NetemConfig)
    save_stream: Path | None = None  # the avfr packets sent (no audio: that is the RTP track)
    timeline: Path | None = None  # JSON: when each frame was captured (for latency)
    max_lag_frames: float = 1.5
    stats_every_s: float = 1.0
    quiet: bool = False

    def __post_init__(self) -> None:
        if (self.play_from is None) == (self.camera is None):
            raise InputError("give exactly one source: --play-from FILE or --camera /dev/videoN")
        if self.play_from is not None and not Path(self.play_from).is_file():
            raise InputError(f"{self.play_from} does not exist: give a video file to --play-from")


def open_source(options: SendOptions):  # noqa: ANN201 (aiortc's MediaPlayer)
    from aiortc.contrib.media import MediaPlayer

    try:
        if options.camera is not None:
            return MediaPlayer(options.camera, format="v4l2", options={"framerate": "25", "video_size": "640x480"})
        return MediaPlayer(str(options.play_from), loop=options.loop)
    except Exception as exc:  # av raises many kinds for a missing device or a bad file
        where = options.camera or options.play_from
        raise InputError(f"cannot open {where} ({exc}): check the device or file") from None


class GatedAudio:
    """The source's audio, pumped from the moment the call starts and released from the
    first sent video frame's time on (older audio is dropped), so that audio time 0 is frame 0.

    Pumping from the start matters: aiortc's player paces each track from that track's first
    read, so an audio track first read when the first keyframe is out (after face tracking
    and keyframe coding) would run that long behind the video for the whole call.
    """

    kind = "audio"

    def __init__(self, source, keep_frames: int = 250) -> None:  # noqa: ANN001 (an aiortc MediaStreamTrack)
        from collections import deque

        from aiortc.mediastreams import MediaStreamTrack

        class _Track(MediaStreamTrack):
            kind = "audio"

            async def recv(inner):  # noqa: ANN001, ANN202, N805
                return await self._recv()

        self.track = _Track()
        self.source = source
        self._buffer: deque = deque(maxlen=keep_frames)  # 5 s of 20 ms frames at most
        self._arrived = asyncio.Event()
        self._start = asyncio.Event()
        self._from_s = 0.0
        self._ended = False
        self._pump: asyncio.Task | None = None

    def begin(self) -> None:
        """Start reading the source (call with the first video read)."""
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await self.source.recv()
            except MediaStreamError:
                self._ended = True
                self._arrived.set()
                return
            self._buffer.append(frame)
            self._arrived.set()

    def start(self, from_s: float) -> None:
        self._from_s = from_s
        self._start.set()

    async def _recv(self):  # noqa: ANN202
        from aiortc.mediastreams import MediaStreamError

        await self._start.wait()
        while True:
            while not self._buffer:
                if self._ended:
                    raise MediaStreamError
                self._arrived.clear()
                await self._arrived.wait()
            frame = self._buffer.popleft()
            if frame.time is None or frame.time + frame.samples / frame.sample_rate > self._from_s:
                return frame

    def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()


class CallSender:
    def __init__(self, options: SendOptions, signaling) -> None:  # noqa: ANN001
        from codec.face_tracker import FaceCropper
        from codec.model_input import crop_size_for
        from codec.zoo import load_for_encoding

        self.options = options
        self.signaling = signaling
        self.wire = wire_mod.install(options.netem)
        configure_opus_sender(options.audio_kbps * 1000, options.audio_frame_ms, options.audio_fec_percent)
        configure_keyframe_resend()
        model = load_for_encoding(options.encode.model_path)
        self.sender = Sender(model, options.encode, has_audio=False)
        self.cropper = FaceCropper(out_size=crop_size_for(model.config.image_size))
        self.sender.warm_up()
        self.cropper.detector.detect(np.zeros((crop_size_for(model.config.image_size),) * 2 + (3,), np.uint8))
        self.fps = options.encode.fps
        self.stats = CallStats()
        self.capture_wall: list[float] = []  # per stream frame: when the source delivered it
        self.keyframes_sent: dict[int, float] = {}  # keyframe frame index -> wall time it was sent
        self.frames_held_behind = 0
        self.bundler = MotionBundler(options.bundle)
        self._origin_noted = False
        self._saved = None

    async def run(self) -> dict:
        from aiortc import RTCPeerConnection

        player = open_source(self.options)
        if player.video is None:
            raise InputError(f"{self.options.play_from or self.options.camera} has no video")
        pc = RTCPeerConnection()
        control = pc.createDataChannel(CONTROL_LABEL, ordered=True)
        motion = pc.createDataChannel(MOTION_LABEL, ordered=False, maxRetransmits=0)
        audio = GatedAudio(player.audio) if player.audio is not None else None
        if audio is not None:
            pc.addTrack(audio.track)
        opened = {CONTROL_LABEL: asyncio.Event(), MOTION_LABEL: asyncio.Event()}
        control.on("open", lambda: opened[CONTROL_LABEL].set())
        motion.on("open", lambda: opened[MOTION_LABEL].set())
        try:
            await self.signaling.connect()
            await pc.setLocalDescription(await pc.createOffer())
            await self.signaling.send(pc.localDescription)
            answer = await self.signaling.receive()
            if answer is None or getattr(answer, "type", None) != "answer":
                raise InputError("the receiver did not answer the call: is `avfr receive` running with the same --signaling?")
            await pc.setRemoteDescription(answer)
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened.values())), timeout=30)
            self.wire.impair(True)
            if self.options.save_stream is not None:
                from codec.bitstream.container import AvfrWriter

                self._saved = AvfrWriter(self.options.save_stream, overwrite=True, keep_partial=True)
            self._send_control(control, [self.sender.header()])
            await self._stream(player, control, motion, audio)
            await self._drain(control, motion)
        finally:
            self.wire.impair(False)
            if self._saved is not None:
                self._saved.close()
            await pc.close()
            await self.signaling.close()
            if audio is not None:
                audio.stop()
            for track in (player.video, player.audio):
                if track is not None:
                    track.stop()
        return self.summary()

    async def _stream(self, player, control, motion, audio) -> None:  # noqa: ANN001
        from aiortc.mediastreams import MediaStreamError

        loop = asyncio.get_running_loop()
        t0_wall = t0_media = t_first = None  # the source's first frame; the first frame sent
        last_stats = time.monotonic()
        if audio is not None:
            audio.begin()
        while True:
            try:
                frame = await player.video.recv()
            except MediaStreamError:
                break
            now = time.time()
            media_s = float(frame.time or 0.0)
            if t0_wall is None:
                t0_wall, t0_media = now, media_s
            if self.options.max_seconds is not None and media_s - t0_media >= self.options.max_seconds:
                break
            if t_first is not None:
                # The stream runs at its own rate whatever the source's: a source frame that falls
                # on an index already sent is skipped, a gap is filled with held frames.
                target = int(round((media_s - t_first) * self.fps))
                if target < self.sender.frame_index:
                    continue
                while self.sender.frame_index < target:
                    self._send_packets(control, motion, self.sender.hold_frame())
                    self.capture_wall.append(now)
            behind = now - (t0_wall + media_s - t0_media) > self.options.max_lag_frames / self.fps
            if behind and self.sender.keyframe_sent:
                packets = self.sender.hold_frame()
                self.frames_held_behind += 1
            else:
                rgb = frame.to_ndarray(format="rgb24")
                packets = await loop.run_in_executor(None, self._analyse, rgb)
            if packets and t_first is None:
                t_first = media_s
                if audio is not None:
                    audio.start(media_s)
            if packets:
                self.capture_wall.append(now)
            self._send_packets(control, motion, packets)
            self._note_speech_origin(control)
            if not self.options.quiet and time.monotonic() - last_stats >= self.options.stats_every_s:
                last_stats = time.monotonic()
                self._update_wire_bytes()
                print(f"send: {self.sender.frame_index} frames | {self.stats.line()}", file=sys.stderr)
        if self.sender.frame_index == 0:
            raise InputError("no face was found in the source: avfr needs a visible face to start the call")
        tail = self.bundler.flush()
        if tail is not None:
            self._send_motion_message(motion, tail)
        self._send_control(control, [p for p in self.sender.end() if not p.HasField("audio")])

    def _note_speech_origin(self, control) -> None:  # noqa: ANN001
        """Once the first speech packet is out, tell the receiver its RTP timestamp (media time 0)."""
        if not self._origin_noted and self.wire.first_rtp_timestamp is not None:
            control.send(call_note(**{SPEECH_ORIGIN: self.wire.first_rtp_timestamp}))
            self._origin_noted = True

    def _analyse(self, rgb: np.ndarray) -> list[avfr_pb2.Packet]:
        crop = self.cropper.update(rgb)
        return self.sender.process_frame(crop.crop, crop.face_found, crop.shot_changed)

    def _send_packets(self, control, motion, packets: list[avfr_pb2.Packet]) -> None:  # noqa: ANN001
        for packet in packets:
            if packet.HasField("motion"):
                self.stats.bytes.motion += packet.ByteSize()
                if self._saved is not None:
                    self._saved.write(packet)
                message = self.bundler.add(packet)
                if message is not None:
                    self._send_motion_message(motion, message)
            else:
                self._send_control(control, [packet])

    def _send_motion_message(self, motion, message: bytes) -> None:  # noqa: ANN001
        self.stats.bytes.motion_messages += 1
        if motion.readyState == "open":
            motion.send(message)

    def _send_control(self, control, packets: list[avfr_pb2.Packet]) -> None:  # noqa: ANN001
        for packet in packets:
            self.stats.bytes.keyframes += packet.ByteSize()
            self.stats.keyframes += packet.HasField("keyframe")
            if packet.HasField("keyframe"):
                self.keyframes_sent.setdefault(packet.keyframe.frame_index, time.time())
            if self._saved is not None:
                self._saved.write(packet)
        control.send(pack_message(packets))

    async def _drain(self, control, motion, timeout_s: float = 10.0) -> None:  # noqa: ANN001
        """Wait until the reliable channel has delivered everything, then give the receiver
        a moment to play out its buffer and hang up."""
        deadline = time.monotonic() + timeout_s
        while control.bufferedAmount > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        closed = asyncio.Event()
        control.on("close", lambda: closed.set())
        try:
            await asyncio.wait_for(closed.wait(), timeout=max(deadline - time.monotonic(), 0.5))
        except asyncio.TimeoutError:
            pass

    def _update_wire_bytes(self) -> None:
        self.stats.bytes.transport = self.wire.sent.wire_bytes
        self.stats.bytes.audio = self.wire.sent.rtp

    def summary(self) -> dict:
        self._update_wire_bytes()
        frames = self.sender.frame_index
        out = {
            "frames": frames,
            "frames_held_behind": self.frames_held_behind,
            "keyframes": [list(k) for k in self.sender.keyframes],
            "bundle": self.options.bundle,
            "stats": self.stats.snapshot(media_seconds=frames / self.fps if frames else None),
            "wire": self.wire.summary(),
        }
        if self.options.timeline is not None:
            timeline = {"fps": self.fps, "capture_wall": self.capture_wall, "keyframes_sent": {str(k): v for k, v in self.keyframes_sent.items()}}
            Path(self.options.timeline).write_text(json.dumps(timeline) + "\n")
        return out


async def send_call(options: SendOptions, signaling) -> dict:  # noqa: ANN001
    """Run one call to its end (the source ends, or ``max_seconds``); returns its summary."""
    return await CallSender(options, signaling).run()
