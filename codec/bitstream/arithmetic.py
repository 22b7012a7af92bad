"""Adaptive binary arithmetic coding (a range coder in the style of LZMA's).

Why this coder: motion residuals are small integers whose distribution depends on what they
are (a position or a Jacobian entry) and on how the same value moved a frame ago; a binary
coder with one adaptive probability per context captures that with a few lines of integer
arithmetic, and integer arithmetic is what makes encoder and decoder agree bit for bit on
every machine. Probabilities are 12-bit and adapt by a shift of 4 (fast enough to learn a
context within one 60-value frame, which matters because every motion packet starts afresh
so that a lost packet cannot desynchronise the coder).

The encoder keeps a 33-bit ``low`` and propagates carries through a cached byte, as LZMA
does; the decoder reads 4 bytes ahead and treats bytes past the end as zeros, so a payload
needs no end marker (its length comes from the packet) and its trailing zero bytes are not
sent. A decoder cannot tell a cut payload from one whose zeros were stripped; damage is the
container's CRC's to catch.
"""

from __future__ import annotations

PROB_BITS = 12
PROB_ONE = 1 << PROB_BITS
PROB_INIT = PROB_ONE // 2
ADAPT_SHIFT = 4
_TOP = 1 << 24
_MASK32 = 0xFFFFFFFF


class Contexts:
    """A bank of adaptive probabilities (of a 0 bit), one per context index."""

    def __init__(self, count: int, initial: list[int] | None = None) -> None:
        self.p = list(initial) if initial is not None else [PROB_INIT] * count

    def update(self, ctx: int, bit: int) -> None:
        if bit:
            self.p[ctx] -= self.p[ctx] >> ADAPT_SHIFT
        else:
            self.p[ctx] += (PROB_ONE - self.p[ctx]) >> ADAPT_SHIFT


class ArithmeticEncoder:
    """Bits in, bytes out: ``encode_bit`` / ``encode_bypass``, then ``finish()``."""

    def __init__(self) -> None:
        self.low = 0
        self.range = _MASK32
        self.cache = 0
        self.cache_size = 1
        self.out = bytearray()

    def _shift_low(self) -> None:
        if self.low < 0xFF000000 or self.low > _MASK32:
            carry = self.low >> 32
            temp = self.cache
            while True:
                self.out.append((temp + carry) & 0xFF)
                temp = 0xFF
                self.cache_size -= 1
                if self.cache_size == 0:
                    break
            self.cache = (self.low >> 24) & 0xFF
        self.cache_size += 1
        self.low = (self.low << 8) & _MASK32

    def encode_bit(self, contexts: Contexts, ctx: int, bit: int) -> None:
        bound = (self.range >> PROB_BITS) * contexts.p[ctx]
        if bit:
            self.low += bound
            self.range -= bound
        else:
            self.range = bound
        contexts.update(ctx, bit)
        while self.range < _TOP:
            self.range = (self.range << 8) & _MASK32
            self._shift_low()

    def encode_bypass(self, value: int, nbits: int) -> None:
        """``nbits`` equiprobable bits, most significant first (escape codes)."""
        for shift in range(nbits - 1, -1, -1):
            self.range >>= 1
            if (value >> shift) & 1:
                self.low += self.range
            while self.range < _TOP:
                self.range = (self.range << 8) & _MASK32
                self._shift_low()

    def finish(self) -> bytes:
        # Any value in [low, low + range) decodes the same: take the one with the most
        # trailing zero bits, whose zero bytes are then implied rather than sent.
        for k in range(32, -1, -1):
            value = ((self.low + (1 << k) - 1) >> k) << k
            if value < self.low + self.range:
                self.low = value
                break
        for _ in range(5):
            self._shift_low()
        # The first byte is always the initial cache (0); trailing zeros are implied.
        return bytes(self.out[1:]).rstrip(b"\x00")


class ArithmeticDecoder:
    """Mirror of :class:`ArithmeticEncoder` over a payload's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.range = _MASK32
        self.code = 0
        for _ in range(4):
            self.code = (self.code << 8) | self._next_byte()

    def _next_byte(self) -> int:
        byte = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return byte

    def decode_bit(self, contexts: Contexts, ctx: int) -> int:
        bound = (self.range >> PROB_BITS) * contexts.p[ctx]
        if self.code < bound:
            self.range = bound
            bit = 0
        else:
            self.code -= bound
            self.range -= bound
            bit = 1
        contexts.update(ctx, bit)
        while self.range < _TOP:
            self.range = (self.range << 8) & _MASK32
            self.code = ((self.code << 8) | self._next_byte()) & _MASK32
        return bit

    def decode_bypass(self, nbits: int) -> int:
        value = 0
        for _ in range(nbits):
            self.range >>= 1
            bit = 1 if self.code >= self.range else 0
            if bit:
                self.code -= self.range
            value = (value << 1) | bit
            while self.range < _TOP:
                self.range = (self.range << 8) & _MASK32
                self.code = ((self.code << 8) | self._next_byte()) & _MASK32
        return value


__all__ = ["ArithmeticDecoder", "ArithmeticEncoder", "Contexts", "PROB_BITS"]
