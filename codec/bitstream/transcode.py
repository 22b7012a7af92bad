"""Re-code the motion of an .avfr stream without re-running the sender.

Keyframes, audio and timing pass through untouched; only the motion frames are decoded and
coded again. That makes raw -> compact comparisons exact (both streams carry the same
keypoints up to the compact quantiser), and lets the benchmark measure several motion modes
from one sender pass.
"""

from __future__ import annotations

from pathlib import Path

from codec.bitstream.compact_motion import CompactMotionParams
from codec.bitstream.container import AvfrReader, AvfrWriter
from codec.bitstream.motion import MotionStreamDecoder, MotionStreamEncoder
from codec.errors import StreamError
from proto import avfr_pb2


def transcode_motion(
    source: Path,
    target: Path,
    coding: int,
    compact: CompactMotionParams | None = None,
    overwrite: bool = False,
    first_keyframe_only: bool = False,
) -> int:
    """Write ``target`` with every motion frame re-coded; returns the motion frames written.

    ``first_keyframe_only`` drops every keyframe after the first: the stream the sender would
    have made without keyframe refresh (motion is absolute, so it does not change).

    A damaged source raises StreamError and leaves no target behind (a half-written stream
    would pass for a whole one).
    """
    decoder: MotionStreamDecoder | None = None
    encoder: MotionStreamEncoder | None = None
    fps = (25, 1)
    frames = 0
    keyframes = 0
    restart = False
    with AvfrWriter(target, overwrite=overwrite) as writer:
        for packet in AvfrReader(source):
            if packet.HasField("header"):
                decoder = MotionStreamDecoder(packet.header)
                fps = (packet.header.fps_num or 25, packet.header.fps_den or 1)
                encoder = MotionStreamEncoder(coding, packet.header.num_keypoints, compact)
                packet.header.ClearField("compact_motion")
                encoder.fill_header(packet.header)
            elif packet.HasField("keyframe"):
                keyframes += 1
                if first_keyframe_only and keyframes > 1:
                    continue
                restart = True  # as the sender does: the motion frame of a keyframe is self-contained
            elif packet.HasField("motion"):
                if decoder is None or encoder is None:
                    raise StreamError(f"{source} has motion before its stream header: it is damaged")
                kp = decoder.decode(packet.motion)
                if kp is None:
                    raise StreamError(f"{source}: motion frame {packet.motion.frame_index} cannot be decoded (a frame before it is missing)")
                m = avfr_pb2.MotionFrame(frame_index=packet.motion.frame_index)
                encoder.fill_frame(m, kp, force_self_contained=restart)
                restart = False
                if coding != avfr_pb2.MOTION_CODING_COMPACT:
                    m.coding = coding
                    m.timestamp_us = packet.motion.timestamp_us or _timestamp_us(m.frame_index, fps)
                packet = avfr_pb2.Packet(motion=m)
                frames += 1
            writer.write(packet)
    return frames


def _timestamp_us(index: int, fps: tuple[int, int]) -> int:
    num, den = fps
    return int(round(index * 1_000_000 * den / num))


__all__ = ["transcode_motion"]
