import torch

from codec.networks.blocks import (
    AntiAliasDownsample,
    Hourglass,
    SPADEResBlock,
    inverse_2x2,
    make_coordinate_grid,
    warp,
)


def test_identity_grid_warp_is_exact() -> None:
    x = torch.rand(2, 3, 17, 23)
    grid = make_coordinate_grid(17, 23).expand(2, 17, 23, 2)
    assert torch.allclose(warp(x, grid), x, atol=1e-5)


def test_border_padding_repeats_the_edge_where_zeros_give_black() -> None:
    x = torch.rand(1, 3, 8, 8) + 0.5
    grid = make_coordinate_grid(8, 8)[None] * 1.5  # zoomed out: the rim samples outside
    assert float(warp(x, grid)[..., 0, 0].abs().max()) == 0.0
    assert torch.allclose(warp(x, grid, "border")[..., 0, 0], x[..., 0, 0])


def test_grid_is_x_then_y_in_minus_one_one() -> None:
    g = make_coordinate_grid(4, 5)
    assert g[0, 0].tolist() == [-1.0, -1.0]
    assert g[0, -1].tolist() == [1.0, -1.0]  # x to the right
    assert g[-1, 0].tolist() == [-1.0, 1.0]  # y down


def test_antialias_downsample_shapes_and_constant() -> None:
    x = torch.full((1, 5, 64, 64), 0.3)
    out = AntiAliasDownsample(5, 0.25)(x)
    assert out.shape == (1, 5, 16, 16)
    assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-6)


def test_hourglass_channels() -> None:
    hg = Hourglass(8, 5, 3, 32)
    assert hg(torch.rand(2, 5, 32, 32)).shape == (2, 8 + 5, 32, 32)


def test_spade_resblock_upsamples_modulation() -> None:
    block = SPADEResBlock(12, 4, hidden=6)
    out = block(torch.rand(2, 12, 32, 32), torch.rand(2, 6, 8, 8))
    assert out.shape == (2, 4, 32, 32)


def test_inverse_2x2() -> None:
    m = torch.randn(3, 4, 2, 2) + 2 * torch.eye(2)
    assert torch.allclose(inverse_2x2(m), torch.linalg.inv(m), atol=1e-4)


def test_antialias_downsample_equals_fomm_2d_kernel_then_subsampling() -> None:
    """The separable, strided form computes FOMM's numbers (2-D gaussian, then every n-th pixel)."""
    import torch.nn.functional as F

    for scale, size in ((0.25, 128), (0.5, 64), (0.125, 256)):
        x = torch.rand(2, 5, size, size)
        sigma = (1 / scale - 1) / 2
        k = 2 * round(sigma * 4) + 1
        c = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
        g = torch.exp(-(c**2) / (2 * sigma**2))
        kernel = torch.outer(g, g) / torch.outer(g, g).sum()
        step = int(1 / scale)
        ref = F.conv2d(F.pad(x, (k // 2,) * 4, mode="reflect"), kernel.expand(5, 1, k, k), groups=5)[:, :, ::step, ::step]
        assert torch.allclose(AntiAliasDownsample(5, scale)(x), ref, atol=1e-5)
