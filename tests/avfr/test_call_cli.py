"""`avfr send` / `avfr receive`: bad settings are one clear line and a non-zero exit, before any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from avfr.cli import main


@pytest.mark.parametrize(
    "argv, words",
    [
        (["send", "--play-from", "no/such/clip.mp4"], ["does not exist", "--play-from"]),
        (["send", "--camera", "/dev/video-avfr-test"], ["cannot open", "/dev/video-avfr-test"]),  # no such camera (V4L2)
        (["send", "--play-from", __file__, "--netem", "loss=2"], ["loss"]),
        (["send", "--play-from", __file__, "--bundle", "0"], ["--bundle"]),
        (["send", "--play-from", __file__, "--audio-fec", "150"], ["--audio-fec", "percent"]),
        (["send", "--play-from", __file__, "--netem", "burst=0.1"], ["burst=P:PACKETS"]),
        (["receive", "--delay-ms", "-5"], ["--delay-ms"]),
        (["receive"], ["--code is missing", "avfr send printed"]),  # the sender listens on tcp-socket, and makes the code
        (["receive", "--code", "not-a-code"], ["not a call code"]),
        (["send", "--play-from", __file__, "--code", "7f3k-q9zm-2hxa-p4tr"], ["leave out --code", "avfr receive"]),
        (["send", "--play-from", __file__, "--signaling", "http"], ["--code is missing", "avfr receive printed"]),
    ],
)
def test_bad_call_settings(argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_receive_will_not_overwrite_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "call.mp4"
    existing.write_bytes(b"a user's file")
    assert main(["receive", "--record-to", str(existing)]) != 0
    assert "--force" in capsys.readouterr().err and existing.read_bytes() == b"a user's file"
