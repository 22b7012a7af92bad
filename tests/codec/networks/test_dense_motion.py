import torch

from codec.config import ModelConfig
from codec.networks.blocks import make_coordinate_grid
from codec.networks.dense_motion import DenseMotion


def random_kp(b: int, k: int) -> torch.Tensor:
    value = torch.rand(b, k, 2) * 1.6 - 0.8
    jac = torch.eye(2).flatten().expand(b, k, 4) + 0.1 * torch.randn(b, k, 4)
    return torch.cat([value, jac], dim=-1)


def test_shapes(tiny_config: ModelConfig) -> None:
    dm = DenseMotion(tiny_config)
    small = dm.downscale(torch.rand(2, 5, 64, 64))
    out = dm(small, random_kp(2, 10), random_kp(2, 10))
    assert out["deformation"].shape == (2, 32, 32, 2)
    assert out["occlusion"].shape == (2, 1, 32, 32)
    assert out["mask"].shape == (2, 11, 32, 32)
    assert torch.allclose(out["mask"].sum(1), torch.ones(2, 32, 32), atol=1e-5)
    assert ((out["occlusion"] > 0) & (out["occlusion"] < 1)).all()


def test_same_keypoints_give_identity_deformation(tiny_config: ModelConfig) -> None:
    dm = DenseMotion(tiny_config)
    kp = random_kp(2, 10)
    out = dm(dm.downscale(torch.rand(2, 5, 64, 64)), kp, kp)
    assert torch.allclose(out["deformation"], make_coordinate_grid(32, 32).expand(2, 32, 32, 2), atol=1e-5)


def test_sparse_motion_is_local_affine(tiny_config: ModelConfig) -> None:
    """At the driving keypoint, motion k maps to the source keypoint (FOMM's T_{s<-d})."""
    dm = DenseMotion(tiny_config)
    kp_s, kp_d = random_kp(1, 10), random_kp(1, 10)
    kp_d[0, 0, :2] = torch.tensor([0.0, 0.0])  # on the grid centre of an odd-sized grid
    motions = dm.sparse_motions(kp_s, kp_d, (33, 33))
    assert torch.allclose(motions[0, 1, 16, 16], kp_s[0, 0, :2], atol=1e-5)
    assert torch.allclose(motions[0, 0], make_coordinate_grid(33, 33))
