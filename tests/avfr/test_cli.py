"""The `avfr` command end to end on a real clip: encode, decode, info, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avfr.cli import main
from codec.media import video_io

FRAMES = 30


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, dev_clip: Path) -> Path:
    out = tmp_path_factory.mktemp("cli") / "clip.avfr"
    assert main(["encode", str(dev_clip), "-o", str(out), "--max-frames", str(FRAMES), "--motion", "raw", "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def encoded_compact(tmp_path_factory: pytest.TempPathFactory, dev_clip: Path) -> Path:
    out = tmp_path_factory.mktemp("cli") / "compact.avfr"
    assert main(["encode", str(dev_clip), "-o", str(out), "--max-frames", str(FRAMES), "--intra-period", "10", "-q"]) == 0
    return out


def first_keyframe_end(stream: Path) -> int:
    """Where the stream's first keyframe record ends: damage past it leaves a picture to hold."""
    from codec.bitstream.container import AvfrReader

    record = next(r for r in AvfrReader(stream).records() if r.kind == "keyframe")
    return record.offset + record.size


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *words: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


def test_encode_decode_gives_playable_mp4_with_audio_and_same_frames(encoded: Path, tmp_path: Path) -> None:
    out = tmp_path / "decoded.mp4"
    assert main(["decode", str(encoded), "-o", str(out), "-q"]) == 0
    info = video_io.probe(out)
    assert info.has_video and info.has_audio
    frames = list(video_io.iter_frames(out))
    assert len(frames) == FRAMES
    audio = video_io.read_audio(out, sample_rate=16000)
    assert abs(len(audio) / 16000 - FRAMES / 25) < 0.1
    assert np.abs(audio).max() > 0.01  # the clip has speech


def test_info_counts_960_motion_bits_and_adds_up_to_file_size(encoded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "info", str(encoded), "--json")
    assert code == 0
    info = json.loads(out)
    assert info["frames"] == FRAMES
    assert info["motion_bits_per_frame"] == 960
    parts = info["bytes"]
    assert parts["keyframes"] + parts["motion"] + parts["audio"] + parts["overhead"] == encoded.stat().st_size
    assert parts["motion"] * 8 == 960 * FRAMES
    # The speech's framing (its records' length, CRC and tags; a tag and a length for each
    # further packet of a run) belongs to the speech, not the video.
    assert info["audio_packets"] > 0 and info["audio_framing"] >= 2 * info["audio_packets"]
    assert 0 <= parts["overhead"] - info["audio_framing"]
    assert info["video_bytes"] + parts["audio"] + info["audio_framing"] == encoded.stat().st_size
    code, text, _ = run_cli(capsys, "info", str(encoded))
    assert code == 0 and "kbit/s" in text and "960" in text and "frame the audio" in text


def test_compact_motion_is_the_default_and_decodes_to_every_frame(encoded_compact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "info", str(encoded_compact), "--json")
    info = json.loads(out)
    assert code == 0 and info["motion_coding"] == "MOTION_CODING_COMPACT"
    assert info["motion_bits_per_frame"] < 960 / 3
    parts = info["bytes"]
    assert parts["keyframes"] + parts["motion"] + parts["audio"] + parts["overhead"] == encoded_compact.stat().st_size
    decoded = tmp_path / "compact.mp4"
    assert main(["decode", str(encoded_compact), "-o", str(decoded), "-q"]) == 0
    assert len(list(video_io.iter_frames(decoded))) == FRAMES


def test_truncated_stream_decodes_every_frame_before_the_cut(encoded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = encoded.read_bytes()
    cut = tmp_path / "cut.avfr"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "cut.mp4"
    code, _, err = run_cli(capsys, "decode", str(cut), "-o", str(out), "-q")
    assert code == 3
    assert_one_line_error(err, "offset")
    n = len(list(video_io.iter_frames(out)))
    assert 0 < n < FRAMES


def test_flipped_byte_is_caught_and_names_the_packet(encoded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(encoded.read_bytes())
    data[len(data) // 2] ^= 0x40
    bad = tmp_path / "flipped.avfr"
    bad.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "info", str(bad))
    assert code != 0
    assert "packet" in err.lower() and "crc" in err.lower()
    assert "Traceback" not in err


def test_damage_in_the_middle_costs_only_what_depends_on_it(encoded_compact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: 4 bytes flipped in the middle of a real stream (it stopped decoding there)."""
    data = bytearray(encoded_compact.read_bytes())
    start = first_keyframe_end(encoded_compact)  # the middle of what follows the keyframe (a 256-px one is most of a short file)
    middle = start + (len(data) - start) // 2
    data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    bad = tmp_path / "damaged.avfr"
    bad.write_bytes(bytes(data))
    code, out, err = run_cli(capsys, "info", str(bad), "--json")
    info = json.loads(out)
    assert code == 3 and info["frames"] >= FRAMES - 1 and not info["complete"] and info["stopped_at"] is None
    (damage,) = info["damage"]
    assert damage["start"] <= middle < middle + 4 <= damage["end"]
    assert_one_line_error(err, str(bad), f"bytes {damage['start']}-{damage['end'] - 1} are damaged")
    info_line = err.strip()
    decoded = tmp_path / "damaged.mp4"
    code, out, err = run_cli(capsys, "decode", str(bad), "-o", str(decoded), "-q")
    assert code == 3 and err.strip() == info_line.replace("avfr info", "avfr decode")  # the same figures
    assert len(list(video_io.iter_frames(decoded))) == FRAMES  # the stream's full frame count
    audio = video_io.read_audio(decoded, sample_rate=16000)
    assert abs(len(audio) / 16000 - FRAMES / 25) < 0.1
    held = damage["frames_held_count"]
    assert held < 10 and (f"{FRAMES - held} rendered, {held} held" in out if held else f"{FRAMES} frames at" in out)


def test_not_an_avfr_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "bogus.avfr"
    bogus.write_bytes(b"RIFF" + bytes(100))
    code, _, err = run_cli(capsys, "decode", str(bogus), "-o", str(tmp_path / "x.mp4"))
    assert code == 2
    assert_one_line_error(err, "avfr")
    assert not (tmp_path / "x.mp4").exists()


def test_input_with_no_face(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "noface.mp4"
    y, x = np.mgrid[0:128, 0:128]
    frames = [np.stack([(x + i) % 256, y, np.full_like(x, 128)], -1).astype(np.uint8) for i in range(10)]
    video_io.write_video(clip, iter(frames), fps=25.0)
    out = tmp_path / "noface.avfr"
    code, _, err = run_cli(capsys, "encode", str(clip), "-o", str(out), "-q")
    assert code == 2
    assert_one_line_error(err, "no face")
    assert not out.exists()


def test_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "notes.mp4"
    clip.write_text("this is not a video")
    code, _, err = run_cli(capsys, "encode", str(clip), "-o", str(tmp_path / "o.avfr"), "-q")
    assert code == 2
    assert_one_line_error(err)


def test_existing_output_is_not_overwritten(encoded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    precious = tmp_path / "precious.mp4"
    precious.write_bytes(b"user data")
    code, _, err = run_cli(capsys, "decode", str(encoded), "-o", str(precious))
    assert code == 2
    assert_one_line_error(err, "--force")
    assert precious.read_bytes() == b"user data"


def test_missing_model_file(encoded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "decode", str(encoded), "-o", str(tmp_path / "m.mp4"), "--model", str(tmp_path / "nope.safetensors"))
    assert code == 2
    assert_one_line_error(err, "model")


def test_decoded_video_is_marked_and_check_mark_tells_it_from_the_camera_clip(
    encoded_compact: Path, dev_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decoded = tmp_path / "decoded.mp4"
    assert run_cli(capsys, "decode", str(encoded_compact), "-o", str(decoded), "-q")[0] == 0
    assert "Synthesised by an avfr receiver" in video_io.read_metadata(decoded)["comment"]
    code, out, _ = run_cli(capsys, "check-mark", str(decoded))
    assert code == 0 and "carries avfr's invisible mark" in out and "reenacted from the sender's camera" in out, out
    again = tmp_path / "again.mp4"  # re-encoded at the decode's settings, and its metadata gone with it
    video_io.write_video(again, video_io.iter_frames(decoded), fps=25.0)
    code, out, _ = run_cli(capsys, "check-mark", str(again))
    assert code == 0 and "carries avfr's invisible mark" in out and "no avfr tags" in out, out
    code, out, _ = run_cli(capsys, "check-mark", str(dev_clip))
    assert code == 1 and "carries no avfr mark" in out, out
    code, _, err = run_cli(capsys, "check-mark", str(tmp_path / "nothing.mp4"))
    assert code == 2
    assert_one_line_error(err, "does not exist")


def test_the_command_and_the_python_api_share_their_defaults() -> None:
    """A Python caller gets the call and the encode `avfr` runs (codec/defaults.py)."""
    from avfr.cli import build_parser, encode_options
    from receiver.call import ReceiveOptions
    from receiver.decoder import DecodeOptions
    from sender.call import SendOptions
    from sender.encoder import EncodeOptions

    parser = build_parser()
    encode = parser.parse_args(["encode", "in.mp4", "-o", "out.avfr"])
    assert encode_options(encode, audio_bitrate=encode.audio_kbps * 1000, audio_sample_rate=encode.audio_rate) == EncodeOptions()
    send, sent = parser.parse_args(["send", "--camera", "/dev/video0"]), SendOptions(camera="/dev/video0")
    assert (sent.bundle, sent.audio_kbps, sent.audio_frame_ms) == (send.bundle, send.audio_kbps, send.audio_frame_ms)
    assert sent.encode == encode_options(send, live=True)  # the call's short intra period and live keyframes included
    receive, received = parser.parse_args(["receive"]), ReceiveOptions()
    assert (received.device, received.output_size, received.web_host) == (receive.device, receive.size, receive.web_host)
    assert parser.parse_args(["decode", "x.avfr", "-o", "x.mp4"]).device == DecodeOptions().device
