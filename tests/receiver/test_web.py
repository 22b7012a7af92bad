"""The reconstructed call plays in a real browser: Debian's headless Chromium, via Playwright."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from receiver.loopback_call import free_port, run_loopback_call

pytestmark = [pytest.mark.slow, pytest.mark.data]
WATCHER = Path(__file__).with_name("browser_watch.py")
WATCH_LIMIT_S = 150
PROBE_LIMIT_S = 90


def _browser_or_skip() -> None:
    from browser_watch import CHROMIUM  # noqa: PLC0415 (tests/receiver is on sys.path under pytest)

    missing = not Path(CHROMIUM).exists()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        if os.environ.get("AVFR_REQUIRE_BROWSER"):
            pytest.fail("Chromium or Playwright is missing: apt-get install chromium; pip install -e .[dev]")
        pytest.skip("Debian's chromium and the playwright package are needed (apt-get install chromium)")


def run_watcher(args: list[str], limit_s: float) -> dict:
    """Runs the browser in its own process group, killed whole if it outlives limit_s."""
    proc = subprocess.Popen([sys.executable, str(WATCHER), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return {"error": f"the browser was still waiting after {limit_s:g} s", "log": err[-4000:]}
    if proc.returncode != 0:
        return {"error": f"the browser watcher exited with {proc.returncode}", "log": err[-4000:]}
    return json.loads(out.strip().splitlines()[-1])


def _browser_can_call_itself_or_skip() -> None:
    """Tells a machine whose browser cannot do WebRTC at all apart from a receiver that fails it."""
    probe = run_watcher(["--probe"], PROBE_LIMIT_S)
    if not probe.get("webrtc"):
        log = " | ".join(probe.get("log", "").strip().splitlines()[-6:])
        pytest.skip(f"this machine's Chromium cannot connect WebRTC to itself, so it cannot test avfr: {probe.get('error')}: {log}")


def test_browser_plays_the_reconstructed_call(tmp_path: Path, talking_heads: Path) -> None:
    _browser_or_skip()
    _browser_can_call_itself_or_skip()
    clip = talking_heads / "dev" / "FuxiVirtualHuman__styletalk__src_feifeili_clip1.mp4"
    seen: dict = {}

    def watch(url: str | None) -> None:
        seen.update(run_watcher([str(url), str(tmp_path / "video.png")], WATCH_LIMIT_S))

    result = run_loopback_call(clip, 10.0, tmp_path / "call", web_port=free_port(), on_started=watch)
    assert "error" not in seen, f"{seen.get('error')}\n{seen.get('log')}\nreceiver: {result['logs']['receiver']}"
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, result["logs"]
    assert seen["size"] == [256, 256]
    assert seen["audio_packets"] > 25  # the speech plays alongside (over half a second of it)
    assert "connected" in seen["state"]
    assert "wrong call code" in seen["refused"]  # the page opened with another code got no call
    assert "refused a viewer" in result["logs"]["receiver"]
    import imageio.v3 as iio

    shot = iio.imread(tmp_path / "video.png")[..., :3].astype(np.float32)
    assert shot.std() > 20, "the video element shows a flat picture, not the call"
    assert 20 < shot.mean() < 235
