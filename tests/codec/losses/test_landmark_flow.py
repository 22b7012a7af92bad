import torch

from codec.losses.landmark_flow import landmark_flow_loss, landmarks_to_grid
from codec.networks.blocks import make_coordinate_grid


def identity_deformation(batch: int, size: int) -> torch.Tensor:
    return make_coordinate_grid(size, size)[None].repeat(batch, 1, 1, 1)


def test_identity_flow_for_still_landmarks_costs_nothing() -> None:
    lm = torch.rand(2, 468, 2) * 0.8 + 0.1
    assert landmark_flow_loss(identity_deformation(2, 32), lm, lm, 128).item() < 1e-5


def test_a_translation_is_scored_by_its_size_in_grid_units() -> None:
    lm = torch.rand(1, 468, 2) * 0.6 + 0.2
    moved = lm + torch.tensor([0.05, 0.0])  # the head moved right by 5% of the crop
    still = landmark_flow_loss(identity_deformation(1, 32), lm, moved, 128).item()
    assert abs(still - 0.5 * (0.05 * 128 * 2 / 127)) < 1e-3  # mean over x (off) and y (exact)
    # the right answer: every driving point looks back 5% to the left
    shift = torch.tensor([0.05 * 128 * 2 / 127, 0.0])
    assert landmark_flow_loss(identity_deformation(1, 32) - shift, lm, moved, 128).item() < 1e-5


def test_gradient_reaches_the_deformation() -> None:
    deformation = identity_deformation(1, 16).requires_grad_(True)
    lm = torch.rand(1, 50, 2) * 0.5 + 0.25
    landmark_flow_loss(deformation, lm, lm + 0.03, 64).backward()
    assert deformation.grad is not None and deformation.grad.abs().sum() > 0


def test_landmark_grid_matches_pixel_centres() -> None:
    first, last = torch.tensor([[[0.5 / 64, 0.5 / 64]]]), torch.tensor([[[63.5 / 64, 63.5 / 64]]])
    assert torch.allclose(landmarks_to_grid(first, 64), torch.tensor(-1.0))
    assert torch.allclose(landmarks_to_grid(last, 64), torch.tensor(1.0))


def test_errors_within_the_tolerance_cost_nothing() -> None:
    lm = torch.rand(1, 468, 2) * 0.6 + 0.2
    jittered = lm + 1.5 / 128  # 1.5 px of landmark jitter
    assert landmark_flow_loss(identity_deformation(1, 32), lm, jittered, 128, tolerance_px=2.0).item() == 0.0
    assert landmark_flow_loss(identity_deformation(1, 32), lm, lm + 4 / 128, 128, tolerance_px=2.0).item() > 0
