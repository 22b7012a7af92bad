from pathlib import Path

import numpy as np

from codec.bitstream.compact_motion import CompactMotionParams
from codec.bitstream.container import AvfrReader
from codec.bitstream.motion import MotionStreamDecoder, unpack_raw_fp16
from codec.bitstream.transcode import transcode_motion
from proto import avfr_pb2
from tests.codec.bitstream.test_container import canonical_order, small_stream, write


def smooth_stream(frames: int) -> list[avfr_pb2.Packet]:
    """small_stream with keypoints that move like a face (random ones cost raw-like bits)."""
    packets = small_stream(frames, keyframe_every=100)
    kp = np.concatenate([np.linspace(-0.5, 0.5, 10)[:, None].repeat(2, 1), np.tile([1.0, 0, 0, 1.0], (10, 1))], axis=1)
    for p in packets:
        if p.HasField("motion"):
            p.motion.payload = (kp + 0.01 * p.motion.frame_index).astype("<f2").tobytes()
    return packets


def test_raw_to_compact_keeps_everything_but_motion_and_the_keypoints_within_half_a_step(tmp_path: Path) -> None:
    raw = write(tmp_path / "raw.avfr", smooth_stream(30))
    params = CompactMotionParams(64, 16, 10)
    assert transcode_motion(raw, tmp_path / "c.avfr", avfr_pb2.MOTION_CODING_COMPACT, params) == 30
    src, out = canonical_order(list(AvfrReader(raw))), canonical_order(list(AvfrReader(tmp_path / "c.avfr")))
    assert [p.WhichOneof("body") for p in src] == [p.WhichOneof("body") for p in out]
    assert out[0].header.motion_coding == avfr_pb2.MOTION_CODING_COMPACT
    decoder = MotionStreamDecoder(out[0].header)
    for a, b in zip(src, out):
        if a.HasField("motion"):
            kp = decoder.decode(b.motion)
            assert np.abs(kp - unpack_raw_fp16(a.motion.payload, 10)).max() <= 1 / 32 + 1e-6
        elif not a.HasField("header"):
            assert a == b
    motion_bytes = lambda ps: sum(len(p.motion.payload) for p in ps if p.HasField("motion"))  # noqa: E731
    assert motion_bytes(out) * 4 < motion_bytes(src)


def test_compact_back_to_raw_round_trips_the_reconstruction(tmp_path: Path) -> None:
    raw = write(tmp_path / "raw.avfr", smooth_stream(8))
    transcode_motion(raw, tmp_path / "c.avfr", avfr_pb2.MOTION_CODING_COMPACT)
    transcode_motion(tmp_path / "c.avfr", tmp_path / "r.avfr", avfr_pb2.MOTION_CODING_RAW_FP16)
    back = [p for p in AvfrReader(tmp_path / "r.avfr") if p.HasField("motion")]
    assert all(p.motion.coding == avfr_pb2.MOTION_CODING_RAW_FP16 and p.motion.timestamp_us == p.motion.frame_index * 40000 for p in back)
