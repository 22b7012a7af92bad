"""Open the receiver's web page in Debian's headless Chromium and report what the <video> shows.

Run as its own process by test_web.py, so that a browser that hangs (a small /dev/shm, a stuck
driver) can be killed with its whole process group and the test fails with the step it reached,
instead of holding CI until its time limit. Prints one JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import json
import shutil
import sys
import time

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
    "--no-proxy-server",  # the page is on loopback; never route it through a proxy from the environment
    "--disable-gpu",  # no GPU process: in containers it can leave new_page() waiting for ever
]
PAGE_TIMEOUT_MS = 20_000
SERVER_START_S = 60.0
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
PLAYING = "() => { const v = document.querySelector('video'); return v.videoWidth > 0 && v.currentTime > 1.5; }"
HAS_STATS = "() => document.getElementById('stats').textContent.includes('rendered')"
REFUSED = "() => document.getElementById('state').textContent.startsWith('refused')"
WRONG_CODE = "0000-0000-0000-0000"
# Speech packets the page has received (the receiver relays them, held back to the picture).
AUDIO_PACKETS = """async () => {
  let n = 0;
  (await window.avfrCall.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.packetsReceived; });
  return n;
}"""
# Two peer connections inside the page: can this browser, on this machine, do WebRTC at all?
WEBRTC_SELF_CALL = """async () => {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const opened = new Promise((resolve) => { b.ondatachannel = (e) => { e.channel.onopen = () => resolve(true); }; });
  a.createDataChannel("probe");
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  return await opened;
}"""


def step(message: str) -> None:
    print(f"browser_watch: {message}", file=sys.stderr, flush=True)


def open_when_served(page, url: str) -> None:  # noqa: ANN001 (a playwright Page)
    """The receiver's web server starts with its process, so the first tries may be refused."""
    deadline = time.monotonic() + SERVER_START_S
    while True:
        try:
            page.goto(url, timeout=PAGE_TIMEOUT_MS)
            return
        except Exception:  # noqa: BLE001 (connection refused while the receiver starts)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def launch(p):  # noqa: ANN001, ANN201 (playwright objects)
    step(f"launching {CHROMIUM}")
    return p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=60_000)


def probe() -> dict:
    """Whether the browser starts and connects WebRTC to itself: the test's precondition."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        step("connecting two peer connections inside one page")
        page.set_content("<title>probe</title>")
        connected = page.evaluate(WEBRTC_SELF_CALL)
        step("done")
        browser.close()
    return {"webrtc": bool(connected)}


def watch(url: str, screenshot: str) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 800, "height": 800})
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        step("opening the page with a wrong call code")
        open_when_served(page, url.split("#")[0] + "#code=" + WRONG_CODE)
        page.wait_for_function(REFUSED, timeout=30_000)
        refused = page.inner_text("#state")
        page.goto("about:blank")  # a new document: the next address differs only in its fragment
        step(f"opening {url}")
        open_when_served(page, url)
        step("waiting for the video to play")
        page.wait_for_function(PLAYING, timeout=60_000)
        page.wait_for_function(HAS_STATS, timeout=10_000)
        step("waiting for a picture (black until the first keyframe)")
        page.wait_for_function(SHOWS_A_PICTURE, timeout=30_000)
        step("waiting for speech packets")
        deadline = time.monotonic() + 20.0
        while page.evaluate(AUDIO_PACKETS) <= 25 and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        seen = {
            "audio_packets": page.evaluate(AUDIO_PACKETS),
            "size": page.evaluate("() => [document.querySelector('video').videoWidth, document.querySelector('video').videoHeight]"),
            "state": page.inner_text("#state"),
            "stats": page.inner_text("#stats"),
            "refused": refused,
        }
        page.locator("video").screenshot(path=screenshot)
        step("done")
        browser.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(probe() if sys.argv[1:] == ["--probe"] else watch(sys.argv[1], sys.argv[2])), flush=True)
