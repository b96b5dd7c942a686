"""How Optuna searches and prunes: the sampler and pruner sections, built into Optuna objects.

Steps of a pruner are epochs: every trial reports its validation metric after each one.
"""

from __future__ import annotations

from typing import Literal

import optuna
from pydantic import Field, model_validator

from geoarena.platform.sweep.space import Strict


class SamplerSpec(Strict):
    type: Literal["tpe", "random"] = "tpe"
    seed: int | None = 0
    #: TPE samples randomly until this many trials have finished.
    n_startup_trials: int = Field(5, ge=0)
    multivariate: bool = True

    def build(self, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
        """The sampler (``seed`` replaces the configured one, e.g. per worker)."""
        seed = self.seed if seed is None else seed
        if self.type == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        # constant_liar keeps parallel workers from sampling the same point
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=self.n_startup_trials,
            multivariate=self.multivariate,
            constant_liar=True,
        )


class PrunerSpec(Strict):
    """``hyperband`` (default), ``median``, ``threshold`` or ``none``; steps are epochs."""

    type: Literal["hyperband", "median", "threshold", "none"] = "hyperband"
    #: epochs before a trial may be pruned (hyperband: the first rung).
    min_resource: int = Field(1, ge=1)
    reduction_factor: int = Field(3, ge=2)
    #: median: trials that must finish before any is pruned.
    n_startup_trials: int = Field(2, ge=0)
    #: threshold: prune a trial whose validation F1 is below this after ``min_resource``.
    lower: float | None = None

    @model_validator(mode="after")
    def _threshold_needs_lower(self) -> PrunerSpec:
        if self.type == "threshold" and self.lower is None:
            raise ValueError("type 'threshold' needs 'lower' (the F1 a trial must reach)")
        return self

    def build(self, max_epochs: int) -> optuna.pruners.BasePruner:
        if self.type == "none":
            return optuna.pruners.NopPruner()
        if self.type == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=self.n_startup_trials, n_warmup_steps=self.min_resource
            )
        if self.type == "threshold":
            return optuna.pruners.ThresholdPruner(
                lower=self.lower, n_warmup_steps=self.min_resource
            )
        return optuna.pruners.HyperbandPruner(
            min_resource=self.min_resource,
            max_resource=max_epochs,
            reduction_factor=self.reduction_factor,
        )


__all__ = ["PrunerSpec", "SamplerSpec"]
