"""Hard-example sampling: tiles are drawn with probability growing with their recent loss.

Two things make the estimate usable. A training crop covers only a few percent of an
upscaled tile, so one crop's loss says little about the tile: each tile keeps a running
(exponentially smoothed) loss over its crops. And the probabilities are refreshed for
every batch, not once per epoch: draws happen batch by batch, lazily, as the DataLoader
asks for them, so a tile that turns out hard is drawn more often within the same epoch
(with the DataLoader's prefetch of a few batches as the only lag).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler

#: what the sampler yields and the dataset receives: (tile index, crop seed).
SampleKey = tuple[int, int]


class HardExampleSampler(Sampler[SampleKey]):
    """Draw ``num_samples`` (tile index, crop seed) pairs per epoch, with replacement.

    ``p_i = mix / n + (1 - mix) * w_i / sum(w)`` with ``w_i = loss_i ** (1 / temperature)``,
    ``loss_i`` the tile's running loss (``smoothing`` = weight of the newest crop): ``mix``
    keeps a uniform share so no tile starves, a high ``temperature`` flattens the
    preference. Tiles never seen yet count as the hardest seen so far. ``mode="uniform"``
    ignores losses (the null object: callers never branch on "sampling off"). The crop
    seed places each crop, so draws and crops of epoch ``e`` depend only on ``seed``,
    ``e`` and the losses recorded so far: a resumed run repeats them.
    """

    def __init__(
        self,
        n_tiles: int,
        num_samples: int,
        *,
        mode: str = "hard",
        temperature: float = 1.0,
        mix: float = 0.5,
        smoothing: float = 0.3,
        batch_size: int = 1,
        seed: int = 0,
    ) -> None:
        if n_tiles < 1:
            raise ValueError("HardExampleSampler needs at least one tile")
        if mode not in ("hard", "uniform"):
            raise ValueError(f"sampling mode must be 'hard' or 'uniform', got {mode!r}")
        if not 0 < smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self.n_tiles, self.num_samples = n_tiles, num_samples
        self.mode, self.temperature, self.mix, self.seed = mode, temperature, mix, seed
        self.smoothing, self.batch_size = smoothing, max(batch_size, 1)
        self.losses = torch.full((n_tiles,), float("nan"), dtype=torch.float64)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def update(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        """Fold the per-crop losses of a batch into their tiles' running losses."""
        a = self.smoothing
        for i, loss in zip(
            indices.detach().cpu().long().tolist(),
            losses.detach().cpu().double().tolist(),
            strict=True,
        ):
            old = float(self.losses[i])
            self.losses[i] = loss if old != old else (1 - a) * old + a * loss  # NaN: first

    def probabilities(self) -> torch.Tensor:
        uniform = torch.full((self.n_tiles,), 1.0 / self.n_tiles, dtype=torch.float64)
        seen = ~torch.isnan(self.losses)
        if self.mode == "uniform" or not seen.any():
            return uniform
        losses = torch.where(seen, self.losses, self.losses[seen].max()).clamp(min=1e-8)
        weights = losses ** (1.0 / self.temperature)
        return self.mix * uniform + (1 - self.mix) * weights / weights.sum()

    def __iter__(self) -> Iterator[SampleKey]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        left = self.num_samples
        while left > 0:
            n = min(self.batch_size, left)
            draws = torch.multinomial(self.probabilities(), n, True, generator=gen)
            seeds = torch.randint(0, 2**31 - 1, (n,), generator=gen)
            yield from zip(draws.tolist(), seeds.tolist(), strict=True)
            left -= n

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        return {"losses": self.losses.clone(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses = state["losses"].clone().double()
        self.epoch = int(state["epoch"])


__all__ = ["HardExampleSampler", "SampleKey"]
