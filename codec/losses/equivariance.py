"""FOMM equivariance constraint (the paper's L_eq, "as described in the original FOMM paper").

A random transform T (affine + thin-plate-spline perturbation) warps the driving frame; the
detector's keypoints on the warped frame, mapped back through T, must equal the keypoints
on the original (value term), and the Jacobians must compose to the identity:
J_d^-1 . (dT(x') . J_x') = I (Jacobian term). This is what makes keypoints land on the
same face parts across frames without any landmark supervision. The Jacobian of T is
computed in closed form (FOMM uses autograd) so the loss also works under ``no_grad``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from codec.networks.blocks import inverse_2x2, make_coordinate_grid, split_keypoints

TPS_EPS = 1e-6


class RandomTransform:
    """Per-sample affine ``theta [B, 2, 3]`` plus TPS on a ``points x points`` control grid.

    Like FOMM, the TPS radial basis uses the L1 distance r and U(r) = r^2 log r.
    """

    def __init__(self, theta: torch.Tensor, control_points: torch.Tensor | None, control_params: torch.Tensor | None) -> None:
        self.theta = theta
        self.control_points = control_points  # [P, 2]
        self.control_params = control_params  # [B, P]

    @classmethod
    def random(
        cls,
        batch: int,
        sigma_affine: float,
        sigma_tps: float,
        points_tps: int,
        device: torch.device | None = None,
        generator: torch.Generator | None = None,
    ) -> "RandomTransform":
        noise = torch.randn(batch, 2, 3, generator=generator) * sigma_affine
        theta = (noise + torch.eye(2, 3)).to(device)
        points = make_coordinate_grid(points_tps, points_tps, device=device).view(-1, 2)
        params = (torch.randn(batch, points_tps**2, generator=generator) * sigma_tps).to(device)
        return cls(theta, points, params)

    @classmethod
    def identity(cls, batch: int, device: torch.device | None = None) -> "RandomTransform":
        return cls(torch.eye(2, 3, device=device).expand(batch, 2, 3).clone(), None, None)

    def _tps_terms(self, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances ``d [B, N, P, 2]`` and L1 radii ``r [B, N, P]`` to the control points."""
        d = coords.unsqueeze(2) - self.control_points.view(1, 1, -1, 2)
        return d, d.abs().sum(-1)

    def warp_coordinates(self, coords: torch.Tensor) -> torch.Tensor:
        """``[B, N, 2]`` -> ``[B, N, 2]``."""
        a, t = self.theta[:, :, :2], self.theta[:, :, 2]
        out = torch.einsum("bij,bnj->bni", a, coords) + t.unsqueeze(1)
        if self.control_points is not None:
            _, r = self._tps_terms(coords)
            u = r**2 * torch.log(r + TPS_EPS)
            out = out + (u * self.control_params.unsqueeze(1)).sum(-1, keepdim=True)
        return out

    def jacobian(self, coords: torch.Tensor) -> torch.Tensor:
        """d warp / d coords at ``coords``: ``[B, N, 2, 2]`` (row = output component)."""
        b, n, _ = coords.shape
        jac = self.theta[:, :, :2].unsqueeze(1).expand(b, n, 2, 2)
        if self.control_points is not None:
            d, r = self._tps_terms(coords)
            du_dr = 2 * r * torch.log(r + TPS_EPS) + r**2 / (r + TPS_EPS)
            grad = (du_dr * self.control_params.unsqueeze(1)).unsqueeze(-1) * torch.sign(d)
            # the TPS term is added to both output components: same gradient row twice
            jac = jac + grad.sum(2).unsqueeze(2).expand(b, n, 2, 2)
        return jac

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        b, _, h, w = frame.shape
        grid = make_coordinate_grid(h, w, frame.dtype, frame.device).view(1, -1, 2).expand(b, -1, -1)
        grid = self.warp_coordinates(grid).view(b, h, w, 2)
        return F.grid_sample(frame, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def equivariance_losses(
    kp_detector: Callable[[torch.Tensor], torch.Tensor],
    driving5: torch.Tensor,
    kp_driving: torch.Tensor,
    transform: RandomTransform,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(value loss, Jacobian loss), both mean absolute errors as in FOMM."""
    kp_t = kp_detector(transform.transform_frame(driving5))
    value_d, jac_d = split_keypoints(kp_driving)
    value_t, jac_t = split_keypoints(kp_t)
    value_loss = (value_d - transform.warp_coordinates(value_t)).abs().mean()
    composed = torch.matmul(inverse_2x2(jac_d), torch.matmul(transform.jacobian(value_t), jac_t))
    eye = torch.eye(2, dtype=composed.dtype, device=composed.device)
    jacobian_loss = (eye - composed).abs().mean()
    return value_loss, jacobian_loss
