"""Rate control: one knob, a video bitrate, traded between motion precision and keyframe refreshes.

Two things cost bits in a running call: the motion stream (every frame) and keyframe
refreshes (rare, ~25 kbit each). The controller steers both towards ``target_kbps`` (video:
keyframes + motion + their packet overhead; audio is apart, as in ``avfr info``):

* **quantiser**: once per ``window_s`` it compares the motion stream's rate with its share
  of the target (``motion_share``) and moves one step along :data:`LADDER` (coarser when
  over, finer when under half of it). The ladder holds the settings that
  ``benchmarks/motion_steps.py`` sweeps, finest first. A change takes effect at a
  self-contained frame (see ``codec/bitstream/compact_motion.py``).
* **refresh**: a leaky bucket earns ``target / fps`` bits per frame and pays for every packet
  sent; a quality-triggered refresh (``sender/refresh.py``) is allowed only when the bucket
  holds the last keyframe's size. Scene cuts and new faces refresh regardless and leave the
  bucket in debt, which later frames repay by delaying the next quality refresh.

So a low target gives coarse motion and few refreshes, a high one fine motion and a fresh
keyframe whenever the picture drifts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from codec.bitstream.compact_motion import CompactMotionParams

# (position_step_inv, jacobian_step_inv), finest first.
LADDER: tuple[tuple[int, int], ...] = ((512, 64), (256, 32), (128, 32), (64, 16), (32, 8))


@dataclass
class RateControlConfig:
    target_kbps: float
    motion_share: float = 0.5  # of the target, for the motion stream; the rest pays for refreshes
    window_s: float = 1.0
    max_credit_s: float = 10.0  # the bucket saves at most this much of the target

    def __post_init__(self) -> None:
        if self.target_kbps <= 0:
            raise ValueError("the target bitrate must be positive (kbit/s of video)")


class RateController:
    def __init__(self, config: RateControlConfig, fps: float, base: CompactMotionParams) -> None:
        self.config = config
        self.fps = fps
        self.base = base
        self.level = _nearest_level(base)
        self.credit_bits = 0.0
        self.keyframe_bits = 0
        self._window_bits = 0
        self._window_frames = 0

    @property
    def params(self) -> CompactMotionParams:
        p, j = LADDER[self.level]
        return replace(self.base, position_step_inv=p, jacobian_step_inv=j)

    def frame_sent(self, motion_bits: int, keyframe_bits: int = 0) -> CompactMotionParams | None:
        """Account one frame's packets; new motion settings when the quantiser should move."""
        cfg = self.config
        target_per_frame = cfg.target_kbps * 1000.0 / self.fps
        self.credit_bits = min(self.credit_bits + target_per_frame - motion_bits - keyframe_bits, cfg.max_credit_s * cfg.target_kbps * 1000.0)
        if keyframe_bits:
            self.keyframe_bits = keyframe_bits
        self._window_bits += motion_bits
        self._window_frames += 1
        if self._window_frames < cfg.window_s * self.fps:
            return None
        motion_kbps = self._window_bits * self.fps / self._window_frames / 1000.0
        self._window_bits = self._window_frames = 0
        share = cfg.motion_share * cfg.target_kbps
        if motion_kbps > share and self.level < len(LADDER) - 1:
            self.level += 1
            return self.params
        if motion_kbps < 0.5 * share and self.level > 0:
            self.level -= 1
            return self.params
        return None

    def refresh_affordable(self) -> bool:
        return self.credit_bits >= self.keyframe_bits


def _nearest_level(params: CompactMotionParams) -> int:
    return min(range(len(LADDER)), key=lambda i: abs(LADDER[i][0] - params.position_step_inv) + 8 * abs(LADDER[i][1] - params.jacobian_step_inv))


__all__ = ["LADDER", "RateControlConfig", "RateController"]
