"""The long-call benchmark's planning (which clips make a >= 60 s call) and its per-window bit count."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.long_call import ManifestClip, concatenate, plan_stretch, read_manifest, window_bits
from codec.bitstream.container import PREAMBLE_BYTES, AvfrWriter
from codec.errors import InputError
from proto import avfr_pb2


def clip(name: str, identity: str, seconds: float, audio: bool = True) -> ManifestClip:
    return ManifestClip(Path(name), identity, seconds, audio)


def test_one_clip_when_it_is_long_enough() -> None:
    s = plan_stretch([clip("a", "x", 65.0), clip("b", "x", 5.0), clip("c", "y", 30.0)], 60.0)
    assert s.identity == "x" and s.how == "one clip" and [c.path.name for c in s.clips] == ["a"]


def test_concatenated_longest_first_then_repeated() -> None:
    clips = [clip("a", "y", 15.0), clip("b", "y", 10.0), clip("c", "y", 7.0)]
    s = plan_stretch(clips, 30.0)
    assert s.how == "concatenated" and [c.path.name for c in s.clips] == ["a", "b", "c"]
    s = plan_stretch(clips, 60.0)
    assert s.how == "concatenated and repeated" and s.seconds >= 60.0
    with pytest.raises(InputError, match="choose one of"):
        plan_stretch(clips, 60.0, identity="nobody")


def test_manifest_identities(talking_heads: Path) -> None:
    dev = read_manifest(talking_heads / "MANIFEST.tsv")
    assert len(dev) >= 20 and all(c.path.is_file() for c in dev)
    assert plan_stretch(dev, 60.0).seconds >= 60.0


def test_concatenation_of_two_clips_without_sound(talking_heads: Path, tmp_path: Path) -> None:
    from codec.media import video_io

    w011 = [c for c in read_manifest(talking_heads / "MANIFEST.tsv") if c.identity == "mead_W011"]
    s = plan_stretch(w011, 8.0)
    out = concatenate(s, tmp_path / "s.mp4")
    info = video_io.probe(out)
    assert info.has_audio and info.duration == pytest.approx(s.seconds, abs=0.3)


def test_window_bits_add_up_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.avfr"
    with AvfrWriter(path) as w:
        h = avfr_pb2.Packet()
        h.header.fps_num, h.header.fps_den, h.header.audio_codec, h.header.audio_sample_rate = 25, 1, avfr_pb2.AUDIO_CODEC_OPUS, 16000
        w.write(h)
        for i in range(100):  # 4 s of video, 4 s of speech
            m = avfr_pb2.Packet()
            m.motion.frame_index, m.motion.payload = i, bytes(10)
            w.write(m)
            for _ in range(2):
                a = avfr_pb2.Packet()
                a.audio.data = bytes(30)
                w.write(a)
    windows = window_bits(path, 25.0, 2.0)
    assert len(windows) == 2
    assert sum(x["video"] + x["speech"] for x in windows) + PREAMBLE_BYTES == path.stat().st_size
    assert windows[0]["speech"] == pytest.approx(windows[1]["speech"], rel=0.2)
