"""The reconstructed call plays in a real browser: Debian's headless Chromium, via Playwright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.call import free_port, run_loopback_call

pytestmark = [pytest.mark.slow, pytest.mark.data]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# True once the <video> shows a picture with detail (not the black before the first keyframe).
SHOWS_A_PICTURE = """() => {
  const v = document.querySelector('video');
  if (!v.videoWidth) return false;
  const c = document.createElement('canvas'); c.width = c.height = 64;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0, 64, 64);
  const d = g.getImageData(0, 0, 64, 64).data;
  let s = 0, s2 = 0;
  for (let i = 0; i < d.length; i += 4) { s += d[i + 1]; s2 += d[i + 1] * d[i + 1]; }
  const n = d.length / 4, m = s / n;
  return Math.sqrt(s2 / n - m * m) > 20;
}"""


def _browser_or_skip() -> None:
    missing = not Path(CHROMIUM).exists()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        if os.environ.get("AVFR_REQUIRE_BROWSER"):
            pytest.fail("Chromium or Playwright is missing: apt-get install chromium; pip install -e .[dev]")
        pytest.skip("Debian's chromium and the playwright package are needed (apt-get install chromium)")


def test_browser_plays_the_reconstructed_call(tmp_path: Path, talking_heads: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    clip = talking_heads / "dev" / "FuxiVirtualHuman__styletalk__src_feifeili_clip1.mp4"
    seen: dict = {}

    def watch(url: str | None) -> None:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns"],
            )
            page = browser.new_page(viewport={"width": 800, "height": 800})
            for _ in range(100):  # the receiver's web server starts with the process
                try:
                    page.goto(url)
                    break
                except Exception:  # noqa: BLE001 (connection refused while it starts)
                    page.wait_for_timeout(100)
            page.wait_for_function("() => { const v = document.querySelector('video'); return v.videoWidth > 0 && v.currentTime > 1.5; }", timeout=60_000)
            page.wait_for_function("() => document.getElementById('stats').textContent.includes('rendered')", timeout=10_000)
            page.wait_for_function(SHOWS_A_PICTURE, timeout=30_000)  # black until the first keyframe is in
            seen["size"] = page.evaluate("() => [document.querySelector('video').videoWidth, document.querySelector('video').videoHeight]")
            seen["state"] = page.inner_text("#state")
            seen["stats"] = page.inner_text("#stats")
            page.locator("video").screenshot(path=str(tmp_path / "video.png"))
            browser.close()

    result = run_loopback_call(clip, 10.0, tmp_path / "call", web_port=free_port(), on_started=watch)
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, result["logs"]
    assert seen["size"] == [256, 256]
    assert "connected" in seen["state"]
    import imageio.v3 as iio

    shot = iio.imread(tmp_path / "video.png")[..., :3].astype(np.float32)
    assert shot.std() > 20, "the video element shows a flat picture, not the call"
    assert 20 < shot.mean() < 235
