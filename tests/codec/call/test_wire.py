"""The lossy-link wrapper's loss models: random and Gilbert-Elliott bursts, measured."""

from __future__ import annotations

import random

import pytest

from codec.call.wire import LossModel, NetemConfig


def measure(netem: NetemConfig, n: int = 200_000) -> tuple[float, float]:
    model = LossModel(netem, random.Random(1))
    dropped = sum(model.drop() for _ in range(n))
    runs = sum(model.runs.values())
    return dropped / n, sum(length * count for length, count in model.runs.items()) / runs


@pytest.mark.parametrize("share, packets", [(0.05, 2.0), (0.10, 3.0), (0.20, 5.0)])
def test_burst_loss_has_the_share_and_the_burst_length_asked_for(share: float, packets: float) -> None:
    lost, mean_run = measure(NetemConfig(burst_loss=share, burst_packets=packets))
    assert lost == pytest.approx(share, rel=0.06)
    assert mean_run == pytest.approx(packets, rel=0.06)


def test_random_loss_comes_one_at_a_time() -> None:
    lost, mean_run = measure(NetemConfig(loss=0.1))
    assert lost == pytest.approx(0.1, rel=0.05) and mean_run == pytest.approx(1 / 0.9, rel=0.05)


def test_netem_text() -> None:
    netem = NetemConfig.parse("burst=0.1:3,jitter=0.05,seed=2")
    assert (netem.burst_loss, netem.burst_packets, netem.jitter_s, netem.seed, netem.loss) == (0.1, 3.0, 0.05, 2, 0.0)
    assert netem.active and not NetemConfig.parse("").active
    for bad in ("burst=0.1", "burst=1.5:3", "burst=0.1:0.5", "drop=0.1"):
        with pytest.raises(ValueError):
            NetemConfig.parse(bad)


def test_rtp_is_told_from_rtcp() -> None:
    from codec.call.wire import is_rtp

    rtp = bytes([0x90, 0xE0 | 111 & 0x7F]) + bytes(2) + (123456).to_bytes(4, "big") + bytes(8)  # marker set, dynamic type
    sender_report = bytes([0x80, 200]) + bytes(26)
    assert is_rtp(rtp) and not is_rtp(sender_report) and not is_rtp(bytes([22, 254]) + bytes(20))  # DTLS
