"""When to send a new keyframe: scene cuts, a face that comes back, and failing reconstructions.

One keyframe costs as much as ~25 s of compact motion, so the sender refreshes only when the
receiver's picture is, or is about to be, wrong:

* **scene cut**: the colour histogram of the face crop changes more between two frames than
  head motion makes it change (``cut_distance`` 0.3; ``benchmarks/refresh.py`` measured on the
  dev clips: consecutive crops of one clip at most 0.195 apart, every cut between clips of
  different people above 0.3);
* **the tracker snapped to a new face box** (its ``shot_changed``: a jump, or the face found
  again after it was lost);
* **self-check**: every ``check_every`` frames the sender renders what the receiver will show
  (the same generator, the decoded keyframe, the keypoints as quantised) and measures its PSNR
  against the real crop. When it falls ``max_psnr_drop_db`` below the PSNR of the first check
  after the last keyframe, the pose has left what the keyframe can explain. Quality refreshes
  are at least ``min_interval_s`` apart, which bounds what they can cost: at most one keyframe
  per ``min_interval_s`` (scene cuts and new faces are not limited: a wrong person is worse
  than a few kbit/s). The self-check renders with silence rather than the speech window (the
  mouth differs slightly; the decision is about pose). One check a second (``check_every`` 25
  at 25 fps): a check is one generator pass, ~100 ms on the two CPU cores, so checking 1 in
  10 frames cost 10 ms of the sender's 40 ms frame budget and kept it below 25 fps
  (``benchmarks/results/speed.md``); since quality refreshes are at least 4 s apart anyway,
  checking once a second delays one by at most a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIST_BINS = 8  # per channel: 512 colour bins


@dataclass
class RefreshConfig:
    """Keyframe refresh settings (``enabled=False``: one keyframe per stream, as the paper)."""

    enabled: bool = True
    cut_distance: float = 0.3
    check_every: int = 25  # frames between self-checks: one a second at 25 fps
    max_psnr_drop_db: float = 6.0
    min_interval_s: float = 4.0


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised 8x8x8 RGB histogram of a (downscaled) crop."""
    small = rgb[:: max(1, rgb.shape[0] // 64), :: max(1, rgb.shape[1] // 64)]
    q = (small.reshape(-1, 3).astype(np.int32) * HIST_BINS) // 256
    idx = (q[:, 0] * HIST_BINS + q[:, 1]) * HIST_BINS + q[:, 2]
    hist = np.bincount(idx, minlength=HIST_BINS**3).astype(np.float64)
    return hist / hist.sum()


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """L1 distance of two normalised histograms, in [0, 2]."""
    return float(np.abs(a - b).sum())


class KeyframePolicy:
    """Tracks the stream and answers, per frame, whether (and why) a keyframe is due."""

    def __init__(self, config: RefreshConfig, fps: float) -> None:
        self.config = config
        self.fps = fps
        self.previous_hist: np.ndarray | None = None
        self.last_keyframe: int | None = None
        self.baseline_psnr: float | None = None

    def scene_cut(self, crop: np.ndarray) -> bool:
        hist = colour_histogram(crop)
        cut = self.previous_hist is not None and histogram_distance(hist, self.previous_hist) > self.config.cut_distance
        self.previous_hist = hist
        return cut

    def frames_skipped(self) -> None:
        """A live sender fell behind and left frames unanalysed: the next crop is compared with
        nothing, since head motion over the gap can move the histogram past ``cut_distance``
        (at 256 px one slow keyframe made the next analysed frame a "cut", whose keyframe made
        the next...). A real cut in the gap is still caught by the tracker and the self-check."""
        self.previous_hist = None

    def reason(self, frame_index: int, crop: np.ndarray, tracker_snapped: bool) -> str | None:
        """Why a keyframe is due before any self-check: first frame, cut or new face box."""
        cut = self.scene_cut(crop)
        if self.last_keyframe is None:
            return "first frame"
        if not self.config.enabled:
            return None
        if cut:
            return "scene cut"
        if tracker_snapped:
            return "face moved or came back"
        return None

    def wants_check(self, frame_index: int) -> bool:
        if not self.config.enabled or self.last_keyframe is None:
            return False
        since = frame_index - self.last_keyframe
        return since > 0 and since % self.config.check_every == 0

    def after_check(self, frame_index: int, psnr_db: float, affordable: bool | None = None) -> str | None:
        """Record a self-check; a reason when the reconstruction has degraded too far.

        ``affordable``: the rate controller's verdict, which then replaces ``min_interval_s``."""
        if self.baseline_psnr is None:
            self.baseline_psnr = psnr_db
            return None
        if affordable is None:
            too_soon = frame_index - (self.last_keyframe or 0) < self.config.min_interval_s * self.fps
        else:
            too_soon = not affordable
        if not too_soon and psnr_db < self.baseline_psnr - self.config.max_psnr_drop_db:
            return f"reconstruction at {psnr_db:.1f} dB, {self.baseline_psnr - psnr_db:.1f} dB below its start"
        return None

    def keyframe_sent(self, frame_index: int) -> None:
        self.last_keyframe = frame_index
        self.baseline_psnr = None


__all__ = ["KeyframePolicy", "RefreshConfig", "colour_histogram", "histogram_distance"]
