"""The VVC anchor: low-delay settings on the command line, rate/quality ordering, frame count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.metrics.psnr import psnr_frames
from benchmarks.vvc import AnchorError, VVCConfig, check_ffmpeg, encode_command, match_bpp, vvc_point


def moving_frames(n: int = 10, size: int = 128) -> np.ndarray:
    """A textured scene panning 2 px a frame: inter prediction has something to do."""
    yy, xx = np.mgrid[0 : size + 2 * n, 0 : size + 2 * n].astype(np.float64)
    scene = np.stack(
        [128 + 90 * np.sin(xx / 7.0) * np.cos(yy / 11.0), 128 + 80 * np.cos((xx + yy) / 9.0), 128 + 60 * np.sin(yy / 5.0)],
        axis=-1,
    )
    scene = np.clip(scene, 0, 255).astype(np.uint8)
    return np.stack([scene[4 : 4 + size, 2 * i : 2 * i + size] for i in range(n)])


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    try:
        return check_ffmpeg()
    except AnchorError as exc:
        pytest.skip(str(exc))


def test_command_is_low_delay_single_intra() -> None:
    cmd = encode_command("ffmpeg", 256, 256, 250, 37, Path("x.266"), VVCConfig())
    joined = " ".join(cmd)
    assert "-c:v libvvenc" in joined and "-qp 37" in joined and "-qpa 0" in joined
    assert "PicReordering=0" in joined and "DecodingRefreshType=none" in joined and "AccessUnitDelimiter=0" in joined
    period = int(cmd[cmd.index("-period") + 1])
    assert period * 25 > 250  # intra period longer than the clip
    assert "yuv420p10le" in joined and "out_color_matrix=bt601" in joined and "out_range=tv" in joined


def test_lower_qp_costs_more_and_looks_better(ffmpeg: str) -> None:
    frames = moving_frames()
    fine, coarse = vvc_point(frames, 27), vvc_point(frames, 45)
    for p in (fine, coarse):
        assert p.decoded_frames.shape == frames.shape
        assert p.frames == len(frames) and p.encode_fps > 0 and p.decode_fps > 0
        assert p.bpp == pytest.approx(8 * p.bytes / (10 * 128 * 128))
        assert p.kbps == pytest.approx(8 * p.bytes / (10 / 25) / 1000)
    assert fine.bytes > coarse.bytes
    assert psnr_frames(frames, fine.decoded_frames).mean() > psnr_frames(frames, coarse.decoded_frames).mean() + 3.0
    assert psnr_frames(frames, coarse.decoded_frames).mean() > 20.0  # colour pipeline round-trips


def test_match_bpp_lands_near_the_target(ffmpeg: str) -> None:
    frames = moving_frames(n=4, size=64)
    reference = vvc_point(frames, 38)
    found = match_bpp(frames, reference.bpp, qp_range=(30, 46))
    assert abs(np.log(found.bpp / reference.bpp)) < 0.05
    assert abs(found.qp - 38) <= 2


def test_match_bpp_between_known_sweep_points_encodes_once(ffmpeg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.vvc as vvc

    frames = moving_frames(n=4, size=64)
    sweep = [vvc_point(frames, qp) for qp in (32, 44)]
    target = vvc_point(frames, 38)
    encodes: list[int] = []
    real = vvc.vvc_point
    monkeypatch.setattr(vvc, "vvc_point", lambda f, qp, config=VVCConfig(): encodes.append(qp) or real(f, qp, config))
    found = match_bpp(frames, target.bpp, known=sweep)
    assert len(encodes) == 1 and 34 <= encodes[0] <= 42  # predicted from the sweep, not searched
    assert abs(np.log(found.bpp / target.bpp)) < 0.15


def test_anchor_options_reach_the_command_and_bad_ones_are_refused() -> None:
    cmd = encode_command("ffmpeg", 256, 256, 250, 37, Path("x.266"), VVCConfig(preset="medium", intra_period_s=2, perceptual_qpa=True))
    assert cmd[cmd.index("-period") + 1] == "2" and cmd[cmd.index("-preset") + 1] == "medium" and cmd[cmd.index("-qpa") + 1] == "1"
    assert "intra every 2 s" in VVCConfig(intra_period_s=2).label() and "one intra" in VVCConfig().label()
    for bad in ({"gop_size": 16}, {"preset": "fastest"}, {"intra_period_s": 0}):
        with pytest.raises(AnchorError):
            VVCConfig(**bad)


def test_intra_period_costs_bits(ffmpeg: str) -> None:
    frames = moving_frames(n=60, size=64)
    one, every_second = vvc_point(frames, 40), vvc_point(frames, 40, VVCConfig(intra_period_s=1))
    assert every_second.bytes > one.bytes
