"""Rate control: the quantiser follows the motion budget; refreshes wait for credit (the sender
under a target: tests/sender/test_encoder.py)."""

from __future__ import annotations

from codec.bitstream.compact_motion import CompactMotionParams
from sender.rate_control import LADDER, RateControlConfig, RateController


def run_frames(ctrl: RateController, frames: int, motion_bits: int) -> list[CompactMotionParams]:
    changes = []
    for _ in range(frames):
        new = ctrl.frame_sent(motion_bits)
        if new is not None:
            changes.append(new)
    return changes


def test_over_budget_motion_coarsens_the_quantiser_step_by_step_to_the_end_of_the_ladder() -> None:
    ctrl = RateController(RateControlConfig(target_kbps=4), fps=25, base=CompactMotionParams())
    start = ctrl.level
    changes = run_frames(ctrl, 25 * 10, motion_bits=200)  # 5 kbit/s of motion against a 2 kbit/s share
    assert [(c.position_step_inv, c.jacobian_step_inv) for c in changes] == list(LADDER[start + 1 :])


def test_cheap_motion_under_a_high_target_refines_the_quantiser() -> None:
    ctrl = RateController(RateControlConfig(target_kbps=40), fps=25, base=CompactMotionParams(64, 16))
    changes = run_frames(ctrl, 25 * 10, motion_bits=100)
    assert changes and (changes[-1].position_step_inv, changes[-1].jacobian_step_inv) == LADDER[0]


def test_refresh_waits_until_the_bucket_holds_a_keyframe() -> None:
    ctrl = RateController(RateControlConfig(target_kbps=10), fps=25, base=CompactMotionParams())
    ctrl.frame_sent(motion_bits=100, keyframe_bits=25_000)
    assert not ctrl.refresh_affordable()
    frames = 0
    while not ctrl.refresh_affordable():
        ctrl.frame_sent(motion_bits=100)
        frames += 1
    # 10 kbit/s earns 400 bits a frame, motion spends 100: 25 kbit + the first frame's debt
    assert 160 <= frames <= 175
