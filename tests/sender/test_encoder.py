"""The sender: frames with a face in, the stream's packets out (keyframes when due, one motion
frame per frame, the stream's end), alone and on real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codec.bitstream.container import AvfrReader
from codec.bitstream.info import describe_file
from codec.media import video_io
from codec.model import AVFRModel
from proto import avfr_pb2
from receiver.decoder import DecodeOptions, decode_file
from sender.encoder import EncodeOptions, Sender, encode_file
from sender.refresh import RefreshConfig

# Refreshes as eager as the settings allow: a check every frame, any drop below the first one.
EAGER_REFRESH = RefreshConfig(check_every=1, min_interval_s=0.0, max_psnr_drop_db=0.0)


def raw_sender(model: AVFRModel, refresh: RefreshConfig = RefreshConfig()) -> Sender:
    """Raw motion coding: the same keypoints give the same payload, byte for byte."""
    return Sender(model, EncodeOptions(motion_coding="raw", refresh=refresh), has_audio=False)


def kinds(packets: list[avfr_pb2.Packet]) -> list[str]:
    return [p.WhichOneof("body") for p in packets]


def test_the_stream_starts_at_the_first_frame_with_a_face(tiny_model: AVFRModel, face: np.ndarray) -> None:
    sender = raw_sender(tiny_model)
    assert sender.process_frame(face, face_found=False) == [] and sender.hold_frame() == []
    assert sender.frame_index == 0  # nothing was sent: the stream's clock has not started
    packets = sender.process_frame(face, face_found=True)
    assert kinds(packets) == ["keyframe", "motion"] and sender.keyframes == [(0, "first frame")]
    assert packets[0].keyframe.frame_index == packets[1].motion.frame_index == 0
    header = sender.header().header
    assert (header.fps_num, header.fps_den, header.width) == (25, 1, tiny_model.config.image_size)
    assert header.picture_origin == avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CAMERA


def test_a_lost_face_and_a_held_frame_repeat_the_last_pose(tiny_model: AVFRModel, face: np.ndarray) -> None:
    sender = raw_sender(tiny_model)
    first = sender.process_frame(face, face_found=True)[-1].motion
    lost = sender.process_frame(np.roll(face, 40, axis=1), face_found=False)  # the tracker lost the face: its crop is stale
    held = sender.hold_frame()  # a live sender that fell behind real time
    assert kinds(lost) == kinds(held) == ["motion"]
    assert lost[0].motion.payload == held[0].motion.payload == first.payload
    assert [p.motion.frame_index for p in lost + held] == [1, 2] and sender.frame_index == 3


def test_a_render_that_drifts_below_its_start_brings_a_keyframe_on_the_next_frame(tiny_model: AVFRModel, face: np.ndarray) -> None:
    sender = raw_sender(tiny_model, EAGER_REFRESH)
    moved = np.roll(face, 12, axis=0)  # the same colours (no scene cut), the head elsewhere
    sent = [kinds(sender.process_frame(crop, face_found=True)) for crop in (face, face, moved, face)]
    assert sent == [["keyframe", "motion"], ["motion"], ["motion"], ["keyframe", "motion"]]
    assert sender.keyframes[1][0] == 3 and "below its start" in sender.keyframes[1][1]


def test_the_end_of_stream_counts_the_frames_sent(tiny_model: AVFRModel, face: np.ndarray) -> None:
    sender = raw_sender(tiny_model)
    for _ in range(3):
        sender.process_frame(face, face_found=True)
    (end,) = sender.end()
    assert end.end_of_stream.frame_count == 3 and end.end_of_stream.duration_us == 120_000


# --------------------------------------------------------------------------- real clips


def _spliced(first: Path, second: Path, out: Path, frames_each: int) -> Path:
    """Two clips of different people back to back (a hard cut at frame ``frames_each``)."""
    writer = video_io.VideoWriter(out, fps=25)
    size = None
    for clip in (first, second):
        for i, frame in enumerate(video_io.iter_frames(clip, fps=25)):
            if i == frames_each:
                break
            size = size or frame.shape[1::-1]
            writer.write(np.asarray(Image.fromarray(frame).resize(size, Image.BICUBIC)))
    writer.close()
    return out


@pytest.mark.data
def test_a_scene_cut_triggers_a_keyframe(talking_heads: Path, tmp_path: Path) -> None:
    dev = talking_heads / "dev"
    video = _spliced(dev / "OpenTalker__SadTalker__WDA_KatieHill_000.mp4", dev / "wyhsirius__LIA__vox_driving1.mp4", tmp_path / "cut.mp4", 30)
    report = encode_file(video, tmp_path / "cut.avfr", EncodeOptions(), progress=False)
    keyframes = [p.keyframe.frame_index for p in AvfrReader(tmp_path / "cut.avfr") if p.HasField("keyframe")]
    assert keyframes[0] == 0
    assert any(30 <= k <= 32 for k in keyframes[1:]), (keyframes, report.keyframes)
    # the motion frame that goes with a refresh is self-contained (a receiver can start there)
    motion = {p.motion.frame_index: p.motion for p in AvfrReader(tmp_path / "cut.avfr") if p.HasField("motion")}
    assert all(motion[k].self_contained for k in keyframes)
    decoded = decode_file(tmp_path / "cut.avfr", tmp_path / "cut_decoded.mp4", DecodeOptions(), progress=False)
    assert decoded.frames == report.frames and decoded.stopped_at is None
    no_refresh = encode_file(video, tmp_path / "one.avfr", EncodeOptions(refresh=RefreshConfig(enabled=False)), progress=False)
    assert len(no_refresh.keyframes) == 1


@pytest.mark.data
def test_a_lower_target_spends_fewer_motion_bits(dev_clip: Path, tmp_path: Path) -> None:
    bits = {}
    for target in (3, 30):
        out = tmp_path / f"t{target}.avfr"
        encode_file(dev_clip, out, EncodeOptions(max_frames=75, target_kbps=target), progress=False)
        bits[target] = describe_file(out).motion_bits_per_frame
    assert bits[3] < 0.75 * bits[30], bits
