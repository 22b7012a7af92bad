"""Live calls between two real processes over loopback WebRTC (aiortc on both ends)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codec.call.callcode import new_call_code
from codec.media import video_io
from receiver.live import PlayoutConfig
from receiver.loopback_call import CallCondition, free_port, run_loopback_call

pytestmark = [pytest.mark.slow, pytest.mark.data]
SECONDS = 10.0
INTRUDER = Path(__file__).with_name("intruder.py")


@pytest.fixture(scope="module")
def call_clip(talking_heads: Path) -> Path:
    """A dev clip of 10.1 s with speech."""
    return talking_heads / "dev" / "FuxiVirtualHuman__styletalk__src_feifeili_clip1.mp4"


def _logs(result: dict) -> str:
    return "\n".join(f"--- {name}\n{text}" for name, text in result["logs"].items())


def test_clean_call_is_bit_exact_and_recorded_with_sound(call_clip: Path, tmp_path: Path) -> None:
    result = run_loopback_call(call_clip, SECONDS, tmp_path, CallCondition("clean"))
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    sent = result["sender"]["frames"]
    assert sent == int(SECONDS * 25)
    compare = result["motion_compare"]
    assert compare["bit_exact"], compare  # every motion packet arrived, byte for byte
    recording = Path(result["paths"]["recording.mp4"])
    info = video_io.probe(recording)
    assert info.frame_count == sent and info.fps == 25.0
    assert info.has_audio and info.audio_sample_rate == 16000
    received = video_io.read_audio(recording, sample_rate=16000)
    original = video_io.read_audio(call_clip, sample_rate=16000)[: len(received)]
    assert abs(len(received) / 16000 - sent / 25) < 0.25
    assert _envelope_correlation(original, received) > 0.6  # it is the clip's speech, in time


def test_call_with_loss_and_jitter_keeps_playing_and_recovers(call_clip: Path, tmp_path: Path) -> None:
    result = run_loopback_call(call_clip, SECONDS, tmp_path, CallCondition("lossy", netem="loss=0.1,jitter=0.05"))
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    sent, receiver = result["sender"]["frames"], result["receiver"]
    assert result["sender"]["wire"]["netem"]["dropped"] > 0
    # One picture per stream frame, lost ones included: the stream plays at its own rate.
    assert receiver["frames_out"] == sent == receiver["recorded_frames"]
    missing = result["motion_compare"]["missing"]
    assert missing, "10% datagram loss should have cost some motion frames"
    shown = sorted(int(i) for i in result["receiver-timeline"]["shown_wall"])
    assert any(i > missing[0] for i in shown), "no frame was rendered after the first loss: the receiver did not recover"
    assert receiver["max_held_frames"] <= PlayoutConfig().capacity_frames
    _assert_speech_concealed_in_full(result, call_clip)


def test_call_under_burst_loss_plays_to_its_end_conceals_speech_and_recovers(call_clip: Path, tmp_path: Path) -> None:
    """Gilbert-Elliott loss, 15% in bursts of 3 datagrams on average (the shape of real links)."""
    result = run_loopback_call(call_clip, 6.0, tmp_path, CallCondition("burst", netem="burst=0.15:3"))
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    sent, receiver, netem = result["sender"]["frames"], result["receiver"], result["sender"]["wire"]["netem"]
    assert receiver["frames_out"] == sent == receiver["recorded_frames"] == 150
    assert any(int(length) >= 2 for length in netem["loss_runs"]), netem  # losses came in bursts
    recovery = result["recovery"]
    assert recovery["runs"] > 0 and recovery["recovery_s"]["max"] <= 1.0, recovery  # the picture is back within 1 s of each run
    _assert_speech_concealed_in_full(result, call_clip)


def _assert_speech_concealed_in_full(result: dict, clip: Path) -> None:
    """Every lost speech packet was concealed (unit tests: as speech, not silence), and the
    recording's speech is still the clip's, in time. Its length may fall short of the call's
    by the speech still on its way when the call hung up (a sender behind real time on these
    shared cores), not by what was lost."""
    speech = result["receiver"]["speech"]
    assert speech["concealed_packets"] > 0 and speech["concealed_packets"] >= speech["given_up"], speech
    frames = result["sender"]["frames"]
    received = video_io.read_audio(Path(result["paths"]["recording.mp4"]), sample_rate=16000)
    assert abs(len(received) / 16000 - frames / 25) < 0.5
    original = video_io.read_audio(clip, sample_rate=16000)[: len(received)]
    assert _envelope_correlation(original, received) > 0.5


def _envelope_correlation(a: np.ndarray, b: np.ndarray, hop: int = 800) -> float:
    """Correlation of the 50 ms RMS envelopes, best over lags of up to +-0.2 s."""
    n = min(len(a), len(b)) // hop
    ea = np.sqrt((a[: n * hop].reshape(n, hop) ** 2).mean(1))
    eb = np.sqrt((b[: n * hop].reshape(n, hop) ** 2).mean(1))
    best = -1.0
    for lag in range(-4, 5):
        x, y = (ea[lag:], eb[: n - lag]) if lag >= 0 else (ea[: n + lag], eb[-lag:])
        best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


def test_http_signaling_connects_a_short_call_and_refuses_a_wrong_code(call_clip: Path, tmp_path: Path) -> None:
    intruder: dict = {}

    def join_first(port: int, code: str) -> None:  # a third process, before the intended sender
        intruder.update(_run_intruder("call", f"http://127.0.0.1:{port}/call", new_call_code()))

    result = run_loopback_call(call_clip, 3.0, tmp_path, CallCondition("http", signaling="http"), before_peer=join_first)
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    assert result["sender"]["frames"] == 75 and result["motion_compare"]["bit_exact"]
    assert "HTTP 403" in intruder["refused"] and "wrong call code" in intruder["refused"], intruder
    assert "refused a call from 127.0.0.1: wrong call code" in result["logs"]["receiver"]


def test_a_third_process_with_a_wrong_code_can_neither_join_nor_watch(call_clip: Path, tmp_path: Path) -> None:
    """tcp-socket: `avfr receive` with a wrong code is refused by the listening sender, which
    then takes the intended receiver's call; a viewer of that receiver's page with a wrong code,
    or none, gets no answer to its offer and no statistics; the call plays to its end, bit-exact."""
    wrong = new_call_code()
    joined: dict = {}
    watched: dict = {}

    def join_first(port: int, code: str) -> None:
        joined["run"] = subprocess.run(
            [sys.executable, "-m", "avfr", "receive", "--signaling-port", str(port), "--code", wrong, "-q"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def watch(page: str | None) -> None:
        watched.update(_run_intruder("watch", page.split("#")[0], wrong))

    result = run_loopback_call(call_clip, 4.0, tmp_path, web_port=free_port(), on_started=watch, before_peer=join_first)
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    assert result["sender"]["frames"] == 100 == result["receiver"]["frames_out"]
    compare = result["motion_compare"]  # what arrived is the sender's stream (on a loaded machine some frames come too late to keep)
    assert compare["received"] > 50 and compare["identical"] == compare["received"], compare
    run = joined["run"]
    said = [line for line in run.stderr.splitlines() if line.startswith("avfr")]  # without MediaPipe's and TFLite's own log lines
    assert run.returncode != 0 and len(said) == 1 and "refused this call: wrong call code" in said[0], run.stderr
    assert "refused a peer from 127.0.0.1" in result["logs"]["sender"]
    for attempt in ("wrong_code", "no_code"):
        assert watched[attempt]["status"] == 403 and not watched[attempt]["answered"], watched
    assert "no call code" in watched["no_code"]["text"] and "wrong call code" in watched["wrong_code"]["text"]
    assert watched["stats"]["status"] == 403
    assert result["logs"]["receiver"].count("refused a viewer from 127.0.0.1") == 2


def _run_intruder(mode: str, where: str, code: str) -> dict:
    run = subprocess.run([sys.executable, str(INTRUDER), mode, where, code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_avatar_call_sends_only_the_photo_and_records_marked_pictures(call_clip: Path, talking_heads: Path, tmp_path: Path) -> None:
    """`avfr send --avatar`: no keyframe but the photo's leaves the sender or reaches the
    receiver, the receiver knows it shows a chosen photo, and its recording says so three ways
    (metadata, the invisible mark, the visible label that is on by default here)."""
    from codec.bitstream.container import AvfrReader
    from codec.evaluation import psnr
    from codec.marking import described_origin
    from codec.media.keyframe import decode_keyframe
    from codec.model_input import resize_rgb
    from codec.watermark import read_mark
    from proto import avfr_pb2
    from sender.avatar import avatar_crop

    photo = talking_heads / "stills" / "ali-vilab__dreamtalk__f30.png"
    result = run_loopback_call(call_clip, 4.0, tmp_path, CallCondition("avatar", send_args=("--avatar", str(photo))))
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    assert result["sender"]["frames"] == 100 == result["receiver"]["frames_out"]
    for name in ("sent.avfr", "received.avfr"):
        packets = list(AvfrReader(Path(result["paths"][name])))
        assert packets[0].header.picture_origin == avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CHOSEN_PHOTO
        keyframes = [p.keyframe for p in packets if p.HasField("keyframe")]
        assert keyframes and len({k.data for k in keyframes}) == 1, name
        picture = decode_keyframe(keyframes[0].data, keyframes[0].codec)
        size = picture.shape[0]
        assert psnr(picture, resize_rgb(avatar_crop(photo, size), size)) > 28.0, name
    recording = Path(result["paths"]["recording.mp4"])
    assert "photo the sender chose" in described_origin(video_io.read_metadata(recording))
    assert read_mark(recording).found
    frames = np.stack(video_io.read_frames(recording, max_frames=50))
    h, w = frames.shape[1:3]
    letters = (frames[:, -h // 8 :, : w * 45 // 100].min(axis=-1) > 200).sum(axis=(1, 2))  # white on the label's dark band
    assert letters.min() > 100, letters  # the photo's dark jacket there has none of its own
