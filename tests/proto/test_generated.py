"""The committed avfr_pb2.py must be exactly what `python -m proto.generate` makes of avfr.proto."""

from __future__ import annotations

from pathlib import Path

import pytest

from proto import generate


def test_committed_module_matches_regeneration(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is needed to regenerate the protobuf module")
    for fresh in generate.run_protoc(tmp_path):
        committed = generate.PROTO_DIR / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), f"{committed} is stale or hand-edited: run `python -m proto.generate` ({generate.PROTOC_PACKAGE})"


def test_packet_oneof_and_enums_are_what_the_pipelines_use() -> None:
    from proto import avfr_pb2

    kinds = {f.name for f in avfr_pb2.Packet.DESCRIPTOR.oneofs_by_name["body"].fields}
    assert kinds == {"header", "keyframe", "motion", "audio", "end_of_stream"}
    assert avfr_pb2.MOTION_CODING_UNSPECIFIED == 0 and avfr_pb2.MOTION_CODING_RAW_FP16 == 1
    assert avfr_pb2.AUDIO_CODEC_NONE == 0 and avfr_pb2.AUDIO_CODEC_OPUS == 1
