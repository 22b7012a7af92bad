import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from codec.bitstream.arithmetic import ArithmeticDecoder, ArithmeticEncoder, Contexts


def round_trip(ops: list[tuple[str, int, int]], n_ctx: int = 4) -> list[int]:
    enc, ctx = ArithmeticEncoder(), Contexts(n_ctx)
    for kind, c, v in ops:
        if kind == "bit":
            enc.encode_bit(ctx, c, v)
        else:
            enc.encode_bypass(v, c)
    data = enc.finish()
    dec, ctx = ArithmeticDecoder(data), Contexts(n_ctx)
    return [dec.decode_bit(ctx, c) if kind == "bit" else dec.decode_bypass(c) for kind, c, _ in ops]


op = st.one_of(
    st.tuples(st.just("bit"), st.integers(0, 3), st.integers(0, 1)),
    st.integers(1, 20).flatmap(lambda n: st.tuples(st.just("bypass"), st.just(n), st.integers(0, (1 << n) - 1))),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(op, max_size=300))
def test_any_mix_of_bits_and_bypass_round_trips(ops: list[tuple[str, int, int]]) -> None:
    assert round_trip(ops) == [v for _, _, v in ops]


def test_skewed_bits_cost_close_to_their_entropy() -> None:
    rng = random.Random(0)
    bits = [int(rng.random() < 0.05) for _ in range(20000)]
    enc, ctx = ArithmeticEncoder(), Contexts(1)
    for b in bits:
        enc.encode_bit(ctx, 0, b)
    size_bits = 8 * len(enc.finish())
    p = sum(bits) / len(bits)
    entropy = -len(bits) * (p * math.log2(p) + (1 - p) * math.log2(1 - p))
    assert entropy < size_bits < 1.1 * entropy


def test_empty_and_all_zero_payloads_are_tiny() -> None:
    assert ArithmeticEncoder().finish() == b""
    enc, ctx = ArithmeticEncoder(), Contexts(1)
    for _ in range(60):
        enc.encode_bit(ctx, 0, 0)
    assert len(enc.finish()) <= 2
