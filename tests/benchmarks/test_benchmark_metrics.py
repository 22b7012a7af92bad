"""Metric implementations against known values and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.metrics.frames import as_batch, as_pair
from benchmarks.metrics.psnr import psnr_frames, psnr_from_mse
from benchmarks.metrics.ssim import SSIMConfig, ms_ssim, ssim

# ----------------------------------------------------------------------------- frames


def test_frames_accept_single_list_and_batch() -> None:
    f = np.zeros((8, 8, 3), np.uint8)
    assert as_batch(f).shape == (1, 8, 8, 3)
    assert as_batch([f, f]).shape == (2, 8, 8, 3)
    with pytest.raises(ValueError, match="uint8"):
        as_batch(f.astype(np.float32))
    with pytest.raises(ValueError, match="differ"):
        as_pair(f, np.zeros((8, 9, 3), np.uint8))


# ----------------------------------------------------------------------------- PSNR


def test_psnr_of_known_mse() -> None:
    a = np.full((2, 16, 16, 3), 100, np.uint8)
    b = a + 1  # every pixel off by one: MSE exactly 1
    assert psnr_from_mse(1.0) == pytest.approx(48.1308036, abs=1e-6)
    np.testing.assert_allclose(psnr_frames(a, b), [48.1308036] * 2, atol=1e-6)
    c = a.copy()
    c[..., 0] += 4  # one channel off by 4: MSE 16/3
    assert psnr_frames(a, c)[0] == pytest.approx(10 * math.log10(255**2 / (16 / 3)))
    assert math.isinf(psnr_frames(a, a)[0])


# ----------------------------------------------------------------------------- SSIM


def test_ssim_of_identical_frames_is_one(images: np.ndarray) -> None:
    np.testing.assert_allclose(ssim(images, images), 1.0, atol=1e-12)
    np.testing.assert_allclose(ms_ssim(images, images), 1.0, atol=1e-12)
    np.testing.assert_allclose(ssim(images, images, SSIMConfig(channels="y")), 1.0, atol=1e-12)


def test_ssim_falls_with_noise(images: np.ndarray, add_noise) -> None:
    light, heavy = add_noise(images, 5.0), add_noise(images, 25.0)
    s_light, s_heavy = ssim(images, light), ssim(images, heavy)
    assert np.all(s_light < 1.0) and np.all(s_heavy < s_light)
    assert np.all(ms_ssim(images, heavy) < ms_ssim(images, light))


def test_ssim_of_flat_frames_is_the_luminance_term() -> None:
    """Two constant images: variance terms vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1)."""
    a = np.full((1, 32, 32, 3), 100, np.uint8)
    b = np.full((1, 32, 32, 3), 140, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b)[0] == pytest.approx((2 * 100 * 140 + c1) / (100**2 + 140**2 + c1), rel=1e-9)


def test_ssim_matches_scikit_image(images: np.ndarray, add_noise) -> None:
    metrics = pytest.importorskip("skimage.metrics")
    noisy = add_noise(images[:1], 15.0)
    ours = ssim(images[:1], noisy)[0]
    ref = metrics.structural_similarity(images[0], noisy[0], channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ours == pytest.approx(ref, abs=1e-6)


def test_ms_ssim_needs_large_enough_frames() -> None:
    small = np.zeros((1, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="161"):
        ms_ssim(small, small)


# ----------------------------------------------------------------------------- LPIPS / DISTS


@pytest.fixture(scope="module")
def lpips_metric(metric_weights: None):
    from benchmarks.metrics.lpips import LPIPSMetric

    return LPIPSMetric()


@pytest.fixture(scope="module")
def dists_metric(metric_weights: None):
    from benchmarks.metrics.dists import DISTSMetric

    return DISTSMetric()


def test_lpips_zero_on_identical_and_grows_with_noise(lpips_metric, images: np.ndarray, add_noise) -> None:
    from benchmarks.metrics.lpips import FLAVOUR

    assert "alex" in FLAVOUR
    np.testing.assert_allclose(lpips_metric(images, images), 0.0, atol=1e-6)
    light, heavy = lpips_metric(images, add_noise(images, 5.0)), lpips_metric(images, add_noise(images, 30.0))
    assert np.all(light > 1e-3) and np.all(heavy > light)


def test_dists_zero_on_identical_and_grows_with_noise(dists_metric, images: np.ndarray, add_noise) -> None:
    images = images[:1]  # VGG16 at 256 px is ~1 s a pass on 2 shared cores
    np.testing.assert_allclose(dists_metric(images, images), 0.0, atol=1e-5)
    light, heavy = dists_metric(images, add_noise(images, 5.0)), dists_metric(images, add_noise(images, 30.0))
    assert np.all(light > 1e-3) and np.all(heavy > light)
    assert np.all(heavy < 1.0)


# ----------------------------------------------------------------------------- FID


def test_frechet_lowrank_route_matches_scipy_sqrtm() -> None:
    from benchmarks.metrics.fid import fid_from_features, frechet_distance, statistics

    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(20, 48)), rng.normal(size=(30, 48)) * 1.3 + 0.2
    assert fid_from_features(f1, f2) == pytest.approx(frechet_distance(*statistics(f1), *statistics(f2)), rel=1e-6)
    f3, f4 = rng.normal(size=(60, 16)), rng.normal(size=(70, 16)) + 0.5  # more samples than dims: sqrtm route
    assert fid_from_features(f3, f4) == pytest.approx(frechet_distance(*statistics(f3), *statistics(f4)), rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero_and_grows_for_another(metric_weights: None, smooth_images, add_noise) -> None:
    from benchmarks.metrics.fid import FIDMetric, fid_from_features

    fid = FIDMetric()
    a = smooth_images(6, seed=3)  # ~0.15-0.8 s per Inception pass on 2 shared cores
    fa = fid.features(a)
    assert fa.shape == (6, 2048)
    assert abs(fid_from_features(fa, fa)) < 1e-6
    fb = fid.features(add_noise(a, 40.0))
    assert fid_from_features(fa, fb) > 10.0


# ----------------------------------------------------------------------------- identity, landmarks


@pytest.mark.data
def test_identity_of_a_face_with_itself_is_one(metric_weights: None, face_frames: np.ndarray) -> None:
    from benchmarks.metrics.identity import SFaceIdentity, opencv_support

    ok, why = opencv_support()
    if not ok:
        pytest.skip(why)
    ident = SFaceIdentity()
    np.testing.assert_allclose(ident(face_frames, face_frames), 1.0, atol=1e-5)
    grey = np.full_like(face_frames, 128)
    result = ident.compare(face_frames, grey)  # no face decoded: scored at the reference's box, low
    assert result.decoded_face_missing == len(face_frames)
    assert np.all(result.similarity < 0.5)


@pytest.mark.data
def test_landmark_distance_zero_on_identical_and_positive_when_shifted(face_frames: np.ndarray) -> None:
    from benchmarks.metrics.landmarks import LandmarkDistance

    shifted = np.roll(face_frames, 12, axis=2)  # face moved 12 px right
    with LandmarkDistance() as lm:
        np.testing.assert_allclose(lm(face_frames, face_frames), 0.0, atol=1e-9)
        nme = lm(face_frames, shifted)
    assert np.all(nme > 0.02)
