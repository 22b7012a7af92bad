"""Call codes: what makes a call one between the intended peers.

Whoever listens (the sender on tcp-socket and unix-socket, the receiver on http and for its
``--web`` page) makes a fresh code and prints it; the other side gives it with ``--code``, and
every listener refuses a peer or viewer that does not present it. The code is the only secret
of a call: the DTLS certificates of both peers are made per call and vouched for only by the
fingerprints in the SDP, so whoever can swap the SDP can sit in the middle. With the code
checked before any offer or answer is exchanged, the SDP, fingerprints included, comes only
from the intended peer.

A code is 16 characters of Crockford's base32 (80 random bits from :mod:`secrets`) in four
groups of four, e.g. ``7f3k-q9zm-2hxa-p4tr``: short enough to read out over the phone, with
no 0/o or 1/l/i to confuse (those are read as each other). Codes are compared in constant
time, so the time a refusal takes says nothing about how close a guess was.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from codec.errors import InputError

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32: no i, l, o, u
GROUPS, GROUP_LENGTH = 4, 4
CODE_BITS = GROUPS * GROUP_LENGTH * 5  # 80
_READ_AS = str.maketrans({"i": "1", "l": "1", "o": "0"})


def new_call_code() -> str:
    """A fresh code for one call, e.g. ``7f3k-q9zm-2hxa-p4tr``."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, len(chars), GROUP_LENGTH))


def normalise(code: str) -> str:
    """What a person may type for a code, in the one form codes are compared in: case,
    spaces and dashes do not matter, and o/i/l count as 0/1/1."""
    return "".join(code.lower().split()).replace("-", "").translate(_READ_AS)


def parse_call_code(text: str) -> str:
    """A code given on the command line; InputError if it cannot be one (a typo caught
    before the call, not a refusal after it)."""
    code = normalise(text)
    if len(code) != GROUPS * GROUP_LENGTH or any(c not in ALPHABET for c in code):
        raise InputError(f"--code {text!r} is not a call code: give the four groups of four letters and digits the listening side printed")
    return code


def codes_match(presented: object, expected: str) -> bool:
    """Whether a peer presented the call's code (anything, even a non-string, may arrive)."""
    if not isinstance(presented, str):
        return False
    return hmac.compare_digest(normalise(presented).encode("utf-8"), normalise(expected).encode("utf-8"))


def reach_warning(host: str, port: int | str, what: str) -> str | None:
    """A warning line when ``host`` is reachable from other machines, None on loopback."""
    if host == "localhost":
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        who = f"every machine that can reach {host}:{port}"
    else:
        if address.is_loopback:
            return None
        who = f"every machine that can reach this one on port {port}" if address.is_unspecified else f"every machine that can reach {host}:{port}"
    return f"warning: {what} listens on {host}:{port}, not on loopback: {who} can try to join; only the call code keeps them out"
