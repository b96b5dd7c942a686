"""Hard-example sampling: tiles are drawn with probability growing with their last loss."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler


class HardExampleSampler(Sampler[int]):
    """Draw ``num_samples`` tile indices per epoch, with replacement.

    ``p_i = mix / n + (1 - mix) * w_i / sum(w)`` with ``w_i = loss_i ** (1 / temperature)``:
    ``mix`` keeps a uniform share so no tile starves, a high ``temperature`` flattens the
    preference. Tiles never seen yet count as the hardest seen so far. ``mode="uniform"``
    ignores losses (the null object: callers never branch on "sampling off").
    Draws for epoch ``e`` depend only on ``seed``, ``e`` and the recorded losses, so a
    resumed run repeats them.
    """

    def __init__(
        self,
        n_tiles: int,
        num_samples: int,
        *,
        mode: str = "hard",
        temperature: float = 1.0,
        mix: float = 0.5,
        seed: int = 0,
    ) -> None:
        if n_tiles < 1:
            raise ValueError("HardExampleSampler needs at least one tile")
        if mode not in ("hard", "uniform"):
            raise ValueError(f"sampling mode must be 'hard' or 'uniform', got {mode!r}")
        self.n_tiles, self.num_samples = n_tiles, num_samples
        self.mode, self.temperature, self.mix, self.seed = mode, temperature, mix, seed
        self.losses = torch.full((n_tiles,), float("nan"), dtype=torch.float64)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def update(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        """Record the latest per-tile losses of a batch (the last one wins for repeats)."""
        self.losses[indices.detach().cpu().long()] = losses.detach().cpu().double()

    def probabilities(self) -> torch.Tensor:
        uniform = torch.full((self.n_tiles,), 1.0 / self.n_tiles, dtype=torch.float64)
        seen = ~torch.isnan(self.losses)
        if self.mode == "uniform" or not seen.any():
            return uniform
        losses = torch.where(seen, self.losses, self.losses[seen].max()).clamp(min=1e-8)
        weights = losses ** (1.0 / self.temperature)
        return self.mix * uniform + (1 - self.mix) * weights / weights.sum()

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        draws = torch.multinomial(self.probabilities(), self.num_samples, True, generator=gen)
        return iter(draws.tolist())

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        return {"losses": self.losses.clone(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses = state["losses"].clone().double()
        self.epoch = int(state["epoch"])
