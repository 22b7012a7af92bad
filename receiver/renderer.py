"""The picture on show in a live call: the model, the keyframes and the renders, in one worker thread.

The same :class:`receiver.decoder.Receiver` as offline decoding makes the pictures. Everything
slow to start happens before the call (:meth:`LiveRenderer.preloaded`): the model is loaded and
run once, the log-mel filter bank is built and a MediaPipe session is made, so the call's first
frames do not pay for them. The generator renders one frame at a time in its worker thread;
while it is busy the picture on show is held, so on a machine that renders slower than the
frame rate the stream still plays at its own rate with fewer distinct pictures.

Every picture is marked as synthesised (``codec/marking.py``) before it goes on show.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from pathlib import Path

import numpy as np

from codec.call.stats import CallStats
from codec.errors import StreamError
from codec.marking import PictureMarking
from proto import avfr_pb2
from receiver.live import LiveAudio


class LiveRenderer:
    """Keyframes and keypoints in, the marked picture on show (at ``output_size``) out."""

    def __init__(self, model_path: Path | None, device: str, output_size: int, audio: LiveAudio, stats: CallStats, errors: list[str]) -> None:
        self.model_path, self.device, self.output_size = model_path, device, output_size
        self.audio, self.stats, self.errors = audio, stats, errors
        self.receiver = None  # receiver.decoder.Receiver, once the stream's model is loaded
        self.marking = PictureMarking()  # the stream's, once its header is in
        self.picture: np.ndarray | None = None  # what is on show (output size, marked)
        self.shown_at: dict[int, float] = {}  # frame index -> wall time its own picture went on show
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="avfr-render")
        self.render_job: asyncio.Future | None = None
        self._preloaded = None
        self._preloaded_inputs = None
        self._preloading = self.worker.submit(self._preload_model)  # before the call: loading takes seconds, frames would pile up

    async def preloaded(self) -> None:
        """Returns once the slow start is over (the call is answered then: the media starts with the answer)."""
        await asyncio.wrap_future(self._preloading)

    def start(self, header: avfr_pb2.StreamHeader, label: bool | None) -> asyncio.Future:
        """The stream's header is in: its marking, and its model loading in the worker (awaitable)."""
        self.marking = PictureMarking.for_stream(header, label)
        return asyncio.get_running_loop().run_in_executor(self.worker, self._load_model, header)

    def _preload_model(self) -> None:
        from codec.errors import ModelError
        from codec.model import warm_up
        from codec.model_input import ModelInputMaker
        from codec.zoo import load_for_encoding

        # Everything slow to start, before the call, not on its first frames (measured: nothing
        # was shown for the first ~3 s). The first log-mel imports librosa and builds its filter
        # bank (1.5 s); a MediaPipe session takes ~0.6 s (made at the preloaded model's size,
        # which is the stream's when the stream is that model's).
        self.audio.window(0, 25.0)
        try:
            self._preloaded = load_for_encoding(self.model_path)
        except ModelError:
            self._preloaded = None  # _load_model says what is wrong once the stream names its model
            return
        self._preloaded_inputs = ModelInputMaker(self._preloaded.config.image_size, static_image_mode=True)
        warm_up(self._preloaded)

    def _load_model(self, header: avfr_pb2.StreamHeader) -> None:
        """Runs in the worker, after the preload: the preloaded model if it is the stream's."""
        from codec.model import pick_device
        from codec.zoo import resolve_model_for_stream
        from receiver.decoder import Receiver

        model = self._preloaded
        if model is None or (header.model_sha256 and model.weights_sha256 != header.model_sha256):
            model = resolve_model_for_stream(header.model_id, header.model_sha256, self.model_path)
        self.receiver = Receiver(model, header, pick_device(self.device), self._preloaded_inputs)

    async def apply_keyframe(self, keyframe: avfr_pb2.Keyframe) -> None:
        """A new reference for the frames from here on (in the worker, after any render)."""
        await asyncio.get_running_loop().run_in_executor(self.worker, self._apply_keyframe, keyframe)

    def _apply_keyframe(self, keyframe: avfr_pb2.Keyframe) -> None:
        from codec.media.keyframe import decode_keyframe
        from codec.model_input import resize_rgb

        self.receiver.on_keyframe(keyframe)
        if self.picture is None:  # nothing rendered yet: show the keyframe itself
            self.picture = self.marking.apply(resize_rgb(decode_keyframe(keyframe.data, keyframe.codec), self.output_size))

    def keypoints(self, motion: avfr_pb2.MotionFrame) -> np.ndarray | None:
        """A motion frame's keypoints, in stream order; None before any keyframe, or when the
        frame cannot be decoded (after a loss, or damaged: its error is kept)."""
        if self.receiver is None or self.receiver.source_state is None:
            return None
        try:
            return self.receiver.decode_motion(motion)
        except StreamError as err:
            self.errors.append(str(err))
            return None

    def render_if_free(self, index: int, keypoints: np.ndarray, fps: float) -> bool:
        """Start rendering frame ``index`` unless the generator is still busy; whether it started."""
        if self.render_job is not None and not self.render_job.done():
            return False
        self.render_job = asyncio.get_running_loop().run_in_executor(self.worker, self._render, index, keypoints, fps)
        return True

    def _render(self, index: int, keypoints: np.ndarray, fps: float) -> None:
        from codec.model_input import resize_rgb

        started = time.perf_counter()
        mel = self.audio.window(index, fps)
        frame = self.receiver.render_keypoints(keypoints[None], mel[None])[0]
        self.picture = self.marking.apply(resize_rgb(frame, self.output_size))
        self.shown_at[index] = time.time()
        self.stats.frames_rendered += 1
        self.stats.render_ms.append(1000 * (time.perf_counter() - started))

    def on_show(self) -> np.ndarray:
        """The picture on show: black until the first keyframe is in (a lossy network can delay
        it by a retransmission or two)."""
        return self.picture if self.picture is not None else self.blank()

    def blank(self) -> np.ndarray:
        return np.zeros((self.output_size, self.output_size, 3), np.uint8)

    async def finish(self) -> None:
        """Wait for the render under way."""
        if self.render_job is not None:
            await self.render_job

    def close(self) -> None:
        self.worker.shutdown(wait=True)
