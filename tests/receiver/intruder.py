"""A third process that tries to watch or join a call with a code of its own: what it is told.

    python tests/receiver/intruder.py watch http://127.0.0.1:PORT/ CODE   # as a viewer of the --web page
    python tests/receiver/intruder.py call http://127.0.0.1:PORT/call CODE   # as a sender, on --signaling http

Both make a real WebRTC offer (aiortc) and present it as the page or `avfr send` would. Prints
one JSON line: the HTTP status and text of each try, and whether an answer came back.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def offer() -> dict:
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    description = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    await pc.close()
    return description


async def watch(page: str, code: str) -> dict:
    import aiohttp

    body = await offer()
    seen: dict = {}
    async with aiohttp.ClientSession() as session:
        for name, extra in (("wrong_code", {"code": code}), ("no_code", {})):
            async with session.post(page.rstrip("/") + "/offer", json=body | extra) as response:
                text = await response.text()
                seen[name] = {"status": response.status, "text": text, "answered": '"sdp"' in text}
        async with session.get(page.rstrip("/") + "/stats", headers={"X-Avfr-Code": code}) as response:
            seen["stats"] = {"status": response.status, "text": await response.text()}
    return seen


async def join(url: str, code: str) -> dict:
    from aiortc import RTCSessionDescription

    from codec.call.signaling import HttpOfferSignaling
    from codec.errors import InputError

    signaling = HttpOfferSignaling(url, code, attempts=5)
    try:
        await signaling.send(RTCSessionDescription(**await offer()))
    except InputError as err:
        return {"refused": str(err)}
    return {"answered": True}


if __name__ == "__main__":
    mode, where, code = sys.argv[1:4]
    print(json.dumps(asyncio.run(watch(where, code) if mode == "watch" else join(where, code))), flush=True)
