import random

from receiver.jitter import JitterBuffer


def test_in_order_frames_play_at_their_time_plus_the_delay() -> None:
    buf: JitterBuffer[str] = JitterBuffer(fps=25, delay_s=0.06)
    for i in range(5):
        assert buf.push(i, f"f{i}")
    assert buf.due(0.059) == []
    assert buf.due(0.06) == [(0, "f0")]
    assert buf.due(0.06 + 0.04 * 4) == [(i, f"f{i}") for i in range(1, 5)]
    assert buf.stats.played == 5 and buf.held == 0


def test_reordered_frames_come_out_in_order_and_missing_ones_as_none() -> None:
    buf: JitterBuffer[int] = JitterBuffer(fps=25, delay_s=0.1)
    for i in (2, 0, 3, 1, 5):
        buf.push(i, i)
    assert buf.due(0.1 + 0.04 * 5) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, None), (5, 5)]
    assert buf.stats.lost == 1


def test_late_and_duplicate_frames_are_dropped_and_counted() -> None:
    buf: JitterBuffer[int] = JitterBuffer(fps=25, delay_s=0.0)
    buf.push(0, 0)
    buf.push(0, 0)
    assert buf.due(0.04) == [(0, 0), (1, None)]
    assert not buf.push(1, 1)  # arrived after it was due
    assert buf.stats.duplicate == 1 and buf.stats.late == 1


def test_memory_stays_bounded_under_any_arrival_pattern() -> None:
    rng = random.Random(0)
    buf: JitterBuffer[int] = JitterBuffer(fps=25, delay_s=0.05, capacity=20)
    t = 0.0
    for step in range(2000):
        for _ in range(rng.randint(0, 3)):
            buf.push(rng.randint(max(0, step - 30), step + 100), step)
        t += rng.choice([0.0, 0.04, 0.04, 0.08, 1.0])  # stalls included
        buf.due(t)
        assert buf.held <= 20
    s = buf.stats
    assert s.played + s.late + s.duplicate + s.too_far_ahead + buf.held <= s.received


def test_a_clock_jump_skips_ahead_instead_of_flooding() -> None:
    buf: JitterBuffer[int] = JitterBuffer(fps=25, delay_s=0.0, capacity=10)
    out = buf.due(100.0)  # frame 2500 is due: only the last 10 are released
    assert len(out) == 10 and out[-1][0] == 2500 and all(item is None for _, item in out)
    assert buf.stats.lost == 2501
