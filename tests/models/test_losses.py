from __future__ import annotations

import itertools

import pytest
import torch

from geoarena.models.losses import CompositeLoss, lovasz_hinge, soft_dice
from geoarena.models.nets.blocks import NetOutput


def jaccard_loss(mispredicted: set[int], positives: set[int]) -> float:
    """Delta_J of Berman et al.: |M| / |positives U M| (0 for the empty set)."""
    union = positives | mispredicted
    return len(mispredicted) / len(union) if union else 0.0


def lovasz_brute_force(logits: list[float], labels: list[int]) -> float:
    """The Lovász extension of Delta_J at m = relu(1 - logit * sign), straight from its
    definition as a Choquet integral: the integral over t > 0 of Delta_J({i : m_i >= t})."""
    m = [max(0.0, 1.0 - x * (2 * y - 1)) for x, y in zip(logits, labels, strict=True)]
    positives = {i for i, y in enumerate(labels) if y == 1}
    levels = [*sorted({v for v in m if v > 0}, reverse=True), 0.0]
    total = 0.0
    for high, low in itertools.pairwise(levels):
        total += (high - low) * jaccard_loss({i for i, v in enumerate(m) if v >= high}, positives)
    return total


@pytest.mark.parametrize("seed", range(12))
def test_lovasz_hinge_matches_its_definition(seed: int):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 9, (), generator=gen))
    logits = torch.randn(2, n, generator=gen) * 2
    labels = (torch.rand(2, n, generator=gen) < 0.5).float()
    got = lovasz_hinge(logits, labels)
    for row in range(2):
        expected = lovasz_brute_force(logits[row].tolist(), [int(v) for v in labels[row]])
        assert got[row].item() == pytest.approx(expected, abs=1e-5)


def test_lovasz_hinge_is_zero_for_confident_correct_predictions():
    labels = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    assert lovasz_hinge(labels * 6 - 3, labels).item() == 0.0


def test_soft_dice_bounds():
    labels = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert soft_dice(labels * 40 - 20, labels).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_dice(20 - labels * 40, labels).item() > 0.6


@pytest.mark.parametrize("fill", ["mixed", "empty", "full"])
def test_composite_gradients_are_finite(fill: str):
    gen = torch.Generator().manual_seed(0)
    mask = {
        "mixed": (torch.rand(3, 1, 16, 16, generator=gen) > 0.5).float(),
        "empty": torch.zeros(3, 1, 16, 16),
        "full": torch.ones(3, 1, 16, 16),
    }[fill]
    energy = torch.rand(3, 1, 16, 16, generator=gen) * mask
    logits = torch.randn(3, 1, 16, 16, generator=gen, requires_grad=True)
    energy_logits = torch.randn(3, 1, 16, 16, generator=gen, requires_grad=True)
    loss = CompositeLoss(w_bce=1, w_lovasz=0.5, w_energy=2, w_dice=0.3)
    parts = loss(NetOutput(logits, energy_logits), mask, energy)
    parts.total.backward()
    assert torch.isfinite(parts.total)
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert torch.isfinite(energy_logits.grad).all() and energy_logits.grad.abs().sum() > 0
    assert parts.per_image.shape == (3,)
    assert set(parts.parts) == {"bce", "lovasz", "energy", "dice"}
    assert parts.total.item() == pytest.approx(parts.per_image.mean().item(), rel=1e-5)


def test_weights_select_the_terms():
    mask = torch.ones(1, 1, 4, 4)
    out = NetOutput(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    only_energy = CompositeLoss(w_bce=0, w_lovasz=0, w_energy=1)(out, mask, mask)
    assert set(only_energy.parts) == {"energy"}
    assert only_energy.total.item() == pytest.approx(0.25)  # (sigmoid(0) - 1) ** 2
    with pytest.raises(ValueError, match="all loss weights are 0"):
        CompositeLoss(0, 0, 0, 0)
