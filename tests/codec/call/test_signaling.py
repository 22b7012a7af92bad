"""Signaling only between the intended peers: real sockets, real aiortc descriptions."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription

from codec.call.callcode import CODE_BITS, codes_match, new_call_code, parse_call_code, reach_warning
from codec.call.signaling import HttpAnswerSignaling, add_signaling_arguments, code_for, create_signaling, join_command
from codec.errors import InputError
from receiver.loopback_call import free_port


def signaling_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_signaling_arguments(parser)
    return parser.parse_args(list(argv))


def test_codes_are_short_readable_and_carry_80_bits() -> None:
    codes = {new_call_code() for _ in range(200)}
    assert len(codes) == 200 and CODE_BITS >= 64
    code = codes.pop()
    assert len(code) == 19 and code.count("-") == 3
    assert codes_match(code.upper().replace("-", " "), code)  # as a person may type it
    assert not codes_match(new_call_code(), code) and not codes_match(None, code) and not codes_match(b"x", code)
    with pytest.raises(InputError, match="not a call code"):
        parse_call_code("1234")


@pytest.mark.parametrize("kind", ["tcp-socket", "unix-socket"])
def test_a_wrong_code_is_refused_and_the_intended_peer_still_gets_the_call(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--signaling", kind, "--signaling-port", str(free_port()), "--signaling-path", str(tmp_path / "s.sock")]
    code = new_call_code()

    async def call() -> tuple[object, object]:
        listener = create_signaling(signaling_args(*where), "offer", code)
        await listener.connect()
        with pytest.raises(InputError, match="refused this call: wrong call code"):
            await create_signaling(signaling_args(*where), "answer", new_call_code()).receive()
        peer = create_signaling(signaling_args(*where), "answer", code)
        offering = asyncio.ensure_future(listener.send(RTCSessionDescription(sdp="v=0\r\n", type="offer")))
        offer = await peer.receive()
        await offering
        await peer.send(RTCSessionDescription(sdp="v=0\r\n", type="answer"))
        answer = await listener.receive()
        with pytest.raises(InputError, match="a call is already under way"):  # the right code, but the call has its two ends
            await create_signaling(signaling_args(*where), "answer", code).receive()
        await peer.close()
        await listener.close()
        return offer, answer

    offer, answer = asyncio.run(call())
    assert offer.type == "offer" and answer.type == "answer"
    err = capsys.readouterr().err
    assert f"call code {code}" in err and "--code" in err
    assert "refused a peer" in err and "wrong call code" in err and "(the call goes on)" in err


def test_http_takes_the_first_offer_with_the_code_and_refuses_the_rest() -> None:
    code = new_call_code()
    answerer = HttpAnswerSignaling(code)
    assert answerer.refusal_for(None) == "no call code"
    assert answerer.refusal_for(new_call_code()) == "wrong call code"
    assert answerer.refusal_for(code) is None
    assert answerer.refusal_for(code) == "a call is already under way"


def test_each_side_is_told_which_one_gives_the_code() -> None:
    with pytest.raises(InputError, match="--code is missing.*avfr send printed"):
        code_for(signaling_args(), "answer")
    with pytest.raises(InputError, match="avfr send makes the call code"):
        code_for(signaling_args("--code", new_call_code()), "offer")
    with pytest.raises(InputError, match="--code is missing.*avfr receive printed"):
        code_for(signaling_args("--signaling", "http"), "offer")
    with pytest.raises(InputError, match="needs no --code"):
        code_for(signaling_args("--signaling", "copy-and-paste", "--code", new_call_code()), "answer")
    assert code_for(signaling_args("--signaling", "copy-and-paste"), "offer") is None
    assert join_command(signaling_args("--signaling", "http"), "answer", "c") == "avfr send --signaling http --code c"


def test_listening_beyond_loopback_says_who_can_reach_it() -> None:
    assert reach_warning("127.0.0.1", 1234, "avfr send") is None and reach_warning("::1", 1, "x") is None
    assert "every machine that can reach this one on port 1234" in reach_warning("0.0.0.0", 1234, "avfr send")
    assert "every machine that can reach 192.168.1.5:1234" in reach_warning("192.168.1.5", 1234, "avfr send")
