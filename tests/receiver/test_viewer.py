"""What a browser viewer gets besides the picture: the speech, in step with the face."""

from __future__ import annotations

import asyncio
import time

from aiortc.mediastreams import AudioStreamTrack

from receiver.viewer import DelayedAudioTrack

LAG_S = 0.2  # play-out delay + render, as the receiver reports the picture on show


async def real_time_speech() -> AudioStreamTrack:
    return AudioStreamTrack()  # aiortc's own real-time source (silence, 20 ms frames)


def test_speech_for_a_viewer_waits_for_the_picture_it_goes_with() -> None:
    async def released_times() -> list[tuple[float, float]]:
        t0 = time.time()
        track = DelayedAudioTrack(real_time_speech, lambda: time.time() - t0 - LAG_S)
        out = []
        for _ in range(15):
            frame = await track.recv()
            out.append((frame.pts / frame.sample_rate, time.time() - t0))
        return out

    for start, at in asyncio.run(released_times()):
        assert at >= start + LAG_S - 0.005, (start, at)  # never ahead of its picture
        assert at <= start + LAG_S + 0.3, (start, at)  # and not held much longer (slack for a loaded machine)


def test_nothing_is_released_before_a_picture_is_on_show() -> None:
    async def first_frame_within(seconds: float) -> bool:
        track = DelayedAudioTrack(real_time_speech, lambda: None)
        try:
            await asyncio.wait_for(track.recv(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False

    assert not asyncio.run(first_frame_within(0.3))
