"""The composite loss: BCE + Lovász hinge (+ soft Dice) on the mask, MSE on the energy.

The functional cores are plain tensor functions; ``CompositeLoss`` takes the weights as
constructor arguments so the sweep can search them. Every loss is computed per image
first, because the hard-example sampler needs each tile's own loss.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from geoarena.models.nets.blocks import NetOutput


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. sorted errors.

    ``gt_sorted``: (..., P) 0/1 labels ordered by decreasing error along the last axis.
    Entry i is ``J(first i+1 errors) - J(first i errors)``, J the Jaccard loss of the set.
    """
    gts = gt_sorted.sum(-1, keepdim=True)
    intersection = gts - gt_sorted.cumsum(-1)
    union = gts + (1.0 - gt_sorted).cumsum(-1)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)


def lovasz_hinge(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-image Lovász hinge (Berman et al. 2018): (N, ...) logits, 0/1 labels -> (N,).

    Batched: one sort per row instead of a Python loop over images.
    """
    flat_logits = logits.reshape(logits.shape[0], -1).float()
    flat_labels = labels.reshape(labels.shape[0], -1).float()
    errors = 1.0 - flat_logits * (2.0 * flat_labels - 1.0)
    errors_sorted, perm = torch.sort(errors, dim=1, descending=True)
    grad = lovasz_grad(torch.gather(flat_labels, 1, perm))
    return (F.relu(errors_sorted) * grad).sum(1)


def soft_dice(logits: torch.Tensor, labels: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Per-image soft Dice loss (1 - Dice of sigmoid probabilities): (N,) losses."""
    probs = torch.sigmoid(logits.float()).reshape(logits.shape[0], -1)
    target = labels.float().reshape(labels.shape[0], -1)
    inter = (probs * target).sum(1)
    return 1.0 - (2.0 * inter + eps) / (probs.sum(1) + target.sum(1) + eps)


class LossParts(NamedTuple):
    """Mean total loss (for backward), its named components, and per-image totals."""

    total: torch.Tensor
    parts: dict[str, float]
    per_image: torch.Tensor


class CompositeLoss(nn.Module):
    """``w_bce*BCE + w_lovasz*LovaszHinge + w_dice*Dice`` (mask) ``+ w_energy*MSE`` (energy).

    The energy head's logits pass through a sigmoid before the MSE, so predictions live in
    [0, 1] like the target. Components with weight 0 are skipped (no compute).
    """

    def __init__(
        self, w_bce: float = 1.0, w_lovasz: float = 0.5, w_energy: float = 1.0, w_dice: float = 0.0
    ) -> None:
        super().__init__()
        self.weights = {"bce": w_bce, "lovasz": w_lovasz, "energy": w_energy, "dice": w_dice}
        if all(w == 0 for w in self.weights.values()):
            raise ValueError("all loss weights are 0: nothing to train")
        if min(self.weights.values()) < 0:
            raise ValueError(f"loss weights must be >= 0, got {self.weights}")

    def forward(self, out: NetOutput, mask: torch.Tensor, energy: torch.Tensor) -> LossParts:
        mask_logits = out.mask.float()
        n = mask_logits.shape[0]
        terms: dict[str, torch.Tensor] = {}
        if self.weights["bce"]:
            bce = F.binary_cross_entropy_with_logits(mask_logits, mask, reduction="none")
            terms["bce"] = bce.reshape(n, -1).mean(1)
        if self.weights["lovasz"]:
            terms["lovasz"] = lovasz_hinge(mask_logits, mask)
        if self.weights["dice"]:
            terms["dice"] = soft_dice(mask_logits, mask)
        if self.weights["energy"]:
            err = (torch.sigmoid(out.energy.float()) - energy) ** 2
            terms["energy"] = err.reshape(n, -1).mean(1)
        per_image = functools.reduce(torch.add, [self.weights[k] * v for k, v in terms.items()])
        parts = {k: float(v.detach().mean()) for k, v in terms.items()}
        return LossParts(per_image.mean(), parts, per_image.detach())
