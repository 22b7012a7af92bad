"""The receiving peer of a live call: avfr over WebRTC in, rendered video and speech out.

This module is the call itself: the signaling, the data channels and the speech track in, and
the play-out loop. The network side is aiortc; the timing is ``receiver/live.py``; the pictures
come from ``receiver/renderer.py`` (the same :class:`receiver.decoder.Receiver` as offline
decoding, in one worker thread). Every tick (one frame time) the play-out loop takes the frames
that are due, decodes their motion in order (cheap, and the compact coding needs every frame it
can get), and starts the generator on the newest decodable one if it is free; while it is busy,
the picture on show is held. On a machine that renders slower than the frame rate (a CPU), the
stream still plays at its own rate with fewer distinct pictures: ``frames rendered`` and
``held`` in the statistics say how many.

Every picture shown, recorded or served is marked as synthesised (``codec/marking.py``: the
invisible mark, and the visible label when on); the recording's metadata says so too.

Outputs: ``--record-to`` and ``--save-stream`` (``receiver/recording.py``), ``--web PORT`` (a
page that plays the reconstructed call over WebRTC to viewers that present this receiver's call
code: ``receiver/viewer.py``), ``--stats-json`` and ``--timeline`` (when each frame was shown,
for latency).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from codec import defaults
from codec.call import wire as wire_mod
from codec.call.callcode import new_call_code
from codec.call.messages import CONTROL_LABEL, MOTION_LABEL, SPEECH_ORIGIN, read_call_note, unpack_message
from codec.call.opus_rtp import configure_audio_receiver, speech_shift
from codec.call.stats import CallStats
from codec.errors import InputError, StreamError
from proto import avfr_pb2
from receiver.live import LiveAudio, Playout, PlayoutClock, PlayoutConfig
from receiver.recording import CallRecording
from receiver.renderer import LiveRenderer
from receiver.viewer import WebPage


@dataclass
class ReceiveOptions:
    model_path: Path | None = None
    device: str = defaults.DEVICE
    output_size: int = defaults.RECEIVE_SIZE
    record_to: Path | None = None
    save_stream: Path | None = None
    web_port: int | None = None
    web_host: str = defaults.WEB_HOST
    code: str = field(default_factory=new_call_code)  # what viewers of the page (and, on http, the sender) must present
    playout: PlayoutConfig = field(default_factory=PlayoutConfig)
    stats_json: Path | None = None
    timeline: Path | None = None
    netem: wire_mod.NetemConfig = field(default_factory=wire_mod.NetemConfig)
    stats_every_s: float = 1.0
    connect_timeout_s: float = 60.0
    idle_timeout_s: float = 10.0  # no media for this long after the call started: the call is over
    quiet: bool = False
    label: bool | None = None  # the visible label (codec/marking.py); None: on for a stream from a chosen photo


class CallReceiver:
    """One call answered and played to its end: what arrives on each channel goes to the play-out,
    the renderer and the recordings; the play-out loop shows one picture per frame."""

    def __init__(self, options: ReceiveOptions, signaling) -> None:  # noqa: ANN001
        self.options = options
        self.signaling = signaling
        self.wire = wire_mod.install(options.netem)
        self.speech = configure_audio_receiver(options.playout.speech_reorder_wait_s)
        self.speech_origin: int | None = None  # the RTP timestamp of the sender's first speech packet
        self.stats = CallStats()
        self.clock = PlayoutClock()
        self.audio = LiveAudio()
        self.header: avfr_pb2.StreamHeader | None = None
        self.playout: Playout | None = None
        self.expected_frames: int | None = None
        self.errors: list[str] = []
        self.renderer = LiveRenderer(options.model_path, options.device, options.output_size, self.audio, self.stats, self.errors)
        self.recording = CallRecording(options.record_to, options.save_stream)
        self.speech_arrivals: list[tuple[float, float]] = []  # (media time decoded up to, wall time): the clock's input
        self.frame_states: list[str] = []  # per frame played: d(ecoded), l(ost or late), u(ndecodable: after a loss, or no keyframe yet)
        self.keyframes_arrived: dict[int, float] = {}  # keyframe frame index -> wall time it arrived
        self.played_wall: list[float] = []  # per frame played: when it went out
        self.frames_out = 0
        self.remote_audio = None
        self.remote_audio_arrived = asyncio.Event()  # a viewer may connect before the call's speech does
        self.relay = None
        self.last_media = time.monotonic()
        self.finished = asyncio.Event()
        self._ready: asyncio.Future | None = None  # the stream's model loading, once its header is in

    # ------------------------------------------------------------------ network

    async def run(self) -> dict:
        from aiortc import RTCPeerConnection
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        pc = RTCPeerConnection()
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", lambda: self._on_state(pc))
        web = None
        if self.options.web_port is not None:
            web = WebPage(self.options.web_host, self.options.web_port, self.options.code, self.signaling, self)
            await web.start()
        try:
            await self.signaling.connect()
            offer = await asyncio.wait_for(self.signaling.receive(), timeout=self.options.connect_timeout_s)
            if offer is None or getattr(offer, "type", None) != "offer":
                raise InputError("no call offer arrived: start `avfr send` with the same --signaling")
            await self.renderer.preloaded()  # answered once ready: the media starts with the answer
            await pc.setRemoteDescription(offer)
            await pc.setLocalDescription(await pc.createAnswer())
            await self.signaling.send(pc.localDescription)
            self.wire.impair(True)
            self.last_media = time.monotonic()  # the idle clock starts with the call, not with the wait for it
            await self._play()
        except asyncio.TimeoutError:
            raise InputError(f"no call arrived within {self.options.connect_timeout_s:.0f} s: start `avfr send` with the same --signaling") from None
        finally:
            self.wire.impair(False)
            self.recording.close(self.expected_frames)
            if web is not None:
                await web.close()
            await pc.close()
            await self.signaling.close()
            self.renderer.close()
        return self.summary()

    def _on_state(self, pc) -> None:  # noqa: ANN001
        if pc.connectionState in ("failed", "closed"):
            self.finished.set()

    def _on_datachannel(self, channel) -> None:  # noqa: ANN001
        if channel.label == CONTROL_LABEL:
            channel.on("message", self._on_control)
        elif channel.label == MOTION_LABEL:
            channel.on("message", self._on_motion)

    def _on_track(self, track) -> None:  # noqa: ANN001
        if track.kind == "audio":
            self.remote_audio = track
            self.remote_audio_arrived.set()
            asyncio.ensure_future(self._consume_audio(self.relay.subscribe(track)))

    async def _consume_audio(self, track) -> None:  # noqa: ANN001
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.time()
            self.last_media = time.monotonic()
            pts = None if frame.pts is None else frame.pts + self.speech_shift()
            pcm = self.audio.add_frame(frame, pts)
            if pts is not None:
                media_end = (pts + frame.samples) / frame.sample_rate
                self.clock.observe(media_end, now, "audio")
                self.speech_arrivals.append((media_end, now))
            self.recording.add_audio(pcm)

    def speech_shift(self) -> int:
        """Samples the speech track's timestamps lag its media time by: the speech packets lost
        before the first one arrived (known once the sender's note is in)."""
        return speech_shift(self.speech.first_rtp_timestamp, self.speech_origin)

    def _on_control(self, message: bytes | str) -> None:
        try:
            if isinstance(message, str):
                self.speech_origin = read_call_note(message).get(SPEECH_ORIGIN, self.speech_origin)
                return
            packets = list(unpack_message(message))
        except StreamError as err:
            self.errors.append(str(err))
            return
        for packet in packets:
            self.stats.bytes.keyframes += packet.ByteSize()
            kind = packet.WhichOneof("body")
            if kind == "header":
                self._on_header(packet)
            elif kind == "keyframe" and self.playout is not None:
                self.keyframes_arrived.setdefault(packet.keyframe.frame_index, time.time())
                self.playout.on_keyframe(packet.keyframe)
                self.stats.keyframes += 1
                self.recording.add_packet(packet)
            elif kind == "end_of_stream":
                self.expected_frames = packet.end_of_stream.frame_count
                self.recording.end_of_stream = packet

    def _on_motion(self, message: bytes) -> None:
        self.last_media = time.monotonic()
        try:
            packets = list(unpack_message(message))
        except StreamError as err:
            self.errors.append(str(err))
            return
        now = time.time()
        for packet in packets:
            if not packet.HasField("motion") or self.playout is None:
                continue
            self.stats.bytes.motion += packet.ByteSize()
            self.stats.bytes.motion_messages += 1
            self.clock.observe(packet.motion.frame_index / self.playout.fps, now, "motion")
            self.playout.on_motion(packet.motion)
            if packet.motion.frame_index < self.playout.next_index + self.options.playout.capacity_frames:
                self.recording.add_packet(packet)

    def _on_header(self, packet: avfr_pb2.Packet) -> None:
        if self.header is not None:
            return
        self.header = packet.header
        fps = self.header.fps_num / self.header.fps_den
        self.playout = Playout(fps, self.options.playout)
        self._ready = self.renderer.start(self.header, self.options.label)
        self.recording.start(packet, fps, self.renderer.marking.metadata())

    # ------------------------------------------------------------------ play-out

    async def _play(self) -> None:
        """The play-out loop: one tick per frame time until the stream's last frame is due."""
        started = time.monotonic()
        while self._ready is None:
            if self.finished.is_set() or time.monotonic() - started > self.options.connect_timeout_s:
                raise InputError("the call connected but no avfr stream header arrived: is the peer an avfr sender?")
            await asyncio.sleep(0.01)
        await self._ready
        fps = self.playout.fps
        last_stats = time.monotonic()
        while not self.finished.is_set():
            await asyncio.sleep(1.0 / fps / 2)
            stream_time = self.clock.stream_time(time.time())
            if stream_time is not None:
                await self._tick(stream_time)
            if self.expected_frames is not None and self.playout.next_index >= self.expected_frames:
                break
            if time.monotonic() - self.last_media > self.options.idle_timeout_s:
                self.errors.append(f"no media for {self.options.idle_timeout_s:.0f} s: the sender went away before the end of its stream")
                break
            if not self.options.quiet and time.monotonic() - last_stats >= self.options.stats_every_s:
                last_stats = time.monotonic()
                self._update_wire_bytes()
                lat = self.latency_ms()
                print(f"receive: frame {self.playout.next_index} | {self.stats.line()} | latency here: "
                      f"play-out {lat['playout']:.0f} + render {lat['render']:.0f} ms", file=sys.stderr)  # fmt: skip
        await self.renderer.finish()

    async def _tick(self, stream_time: float) -> None:
        """Frames due now: decode each in order, render the newest decodable one if the
        generator is free; every other due frame is held (shown as the previous picture)."""
        due = self.playout.due(stream_time)
        if self.expected_frames is not None:  # nothing past the stream's last frame
            due = [(i, m) for i, m in due if i < self.expected_frames]
        newest: tuple[int, np.ndarray] | None = None
        for index, motion in due:
            keyframe = self.playout.keyframe_for(index)
            if keyframe is not None:
                await self.renderer.apply_keyframe(keyframe)
            self.stats.frames_due += 1
            keypoints = self._decode(motion)
            if keypoints is not None:
                newest = (index, keypoints)
                self.stats.frames_decodable += 1
            self.frame_states.append("l" if motion is None else "u" if keypoints is None else "d")
            self._show(index)
        started = newest is not None and self.renderer.render_if_free(*newest, self.playout.fps)
        self.stats.frames_held += len(due) - int(started)
        if due:
            self.recording.played(due[-1][0])

    def _decode(self, motion: avfr_pb2.MotionFrame | None) -> np.ndarray | None:
        if motion is None:
            self.stats.frames_lost += 1
            return None
        return self.renderer.keypoints(motion)

    def _show(self, index: int) -> None:
        """Frame ``index`` is due: the recording gets the picture on show."""
        self.frames_out += 1
        self.played_wall.append(time.time())
        self.recording.add_picture(index, self.renderer.on_show())

    # ------------------------------------------------------------------ reports

    def _update_wire_bytes(self) -> None:
        self.stats.bytes.transport = self.wire.received.wire_bytes
        self.stats.bytes.audio = self.wire.received.rtp
        if self.playout is not None:
            self.stats.frames_late = self.playout.jitter.stats.late

    def picture_on_show(self) -> np.ndarray:
        return self.renderer.on_show()

    async def viewer_speech(self):  # noqa: ANN201 (an aiortc track)
        """The call's speech for one more listener, once it has arrived."""
        await self.remote_audio_arrived.wait()
        return self.relay.subscribe(self.remote_audio)

    def picture_media_time(self) -> float | None:
        """The media time of the picture going on show now: frames are due ``delay_s`` after
        their media time, and their picture appears a render later."""
        stream_time = self.clock.stream_time(time.time())
        if stream_time is None:
            return None
        return stream_time - sum(self.latency_ms().values()) / 1000.0

    def picture_track_time(self) -> float | None:
        """:meth:`picture_media_time` on the speech track's own timestamps (see :meth:`speech_shift`)."""
        shown = self.picture_media_time()
        return None if shown is None else shown - self.speech_shift() / 48000

    def latency_ms(self) -> dict[str, float]:
        """The receiver's part of glass-to-glass latency: a frame goes on show its play-out delay
        after its media time (against the speech's clock), plus a render. The sender's part
        (capture to send) needs both clocks: benchmarks/call.py measures the whole."""
        render = self.stats.render_ms[-25:]
        render_ms = sorted(render)[len(render) // 2] if render else 0.0
        return {"playout": 1000 * self.options.playout.delay_s, "render": render_ms}

    def live_stats(self) -> dict:
        self._update_wire_bytes()
        out = self.stats.snapshot()
        out["latency_ms"] = self.latency_ms()
        out["frame"] = self.playout.next_index if self.playout is not None else 0
        out["jitter"] = vars(self.playout.jitter.stats) if self.playout is not None else {}
        out["speech"] = asdict(self.speech)
        return out

    def summary(self) -> dict:
        self._update_wire_bytes()
        fps = self.playout.fps if self.playout is not None else 25.0
        # Frames play from 0 without gaps, so those past the end are the excess over its length.
        frames = self.frames_out if self.expected_frames is None else min(self.frames_out, self.expected_frames)
        out = {
            "frames_out": frames,
            "frames_past_end": self.frames_out - frames,  # held on show before the end-of-stream message arrived
            "expected_frames": self.expected_frames,
            "recorded_frames": self.recording.recorded_frames,
            "stats": self.stats.snapshot(media_seconds=frames / fps if frames else None),
            "jitter": vars(self.playout.jitter.stats) if self.playout is not None else {},
            "max_held_frames": self.playout.max_held if self.playout is not None else 0,
            "speech": asdict(self.speech),
            "playout_delay_s": self.options.playout.delay_s,
            "wire": self.wire.summary(),
            "errors": self.errors,
        }
        if self.options.timeline is not None:
            timeline = {"fps": fps, "shown_wall": {str(k): v for k, v in self.renderer.shown_at.items()}, "speech_arrivals": self.speech_arrivals,
                        "frame_states": "".join(self.frame_states), "played_wall": self.played_wall, "keyframes_arrived": {str(k): v for k, v in self.keyframes_arrived.items()}}  # fmt: skip
            Path(self.options.timeline).write_text(json.dumps(timeline) + "\n")
        if self.options.stats_json is not None:
            Path(self.options.stats_json).write_text(json.dumps(out, indent=2) + "\n")
        return out


async def receive_call(options: ReceiveOptions, signaling) -> dict:  # noqa: ANN001
    """Answer one call and play it to its end; returns its summary."""
    return await CallReceiver(options, signaling).run()
