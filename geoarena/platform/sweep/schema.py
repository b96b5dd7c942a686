"""The sweep file's schema: search space, fixed training config, objective, budget, storage,
tracking, and the values derived from them (paths, trial configs).

Build a :class:`SweepConfig` with ``geoarena.platform.sweep.load_sweep``, which resolves
relative paths against the file's folder and reports every problem with its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from geoarena.evaluator import Metric
from geoarena.models import TrainConfig
from geoarena.platform.sweep.space import Param, Strict
from geoarena.platform.sweep.strategy import PrunerSpec, SamplerSpec
from geoarena.platform.sweep.trial_params import EnqueueEntry, apply_params, seed_params

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class PostSearch(Strict):
    """The inner search over post-processing thresholds on one trial's cached validation maps.

    ``t_energy`` and ``t_mask`` are sampled (TPE, ``n_trials`` candidates, the training
    config's thresholds first); every ``min_area`` of the grid is scored for each candidate
    because area filtering reuses the candidate's polygons and costs almost nothing. Its
    cost is bounded by ``timeout``, ``max_fraction`` of the training time and ``max_tiles``.
    """

    enabled: bool = True
    n_trials: int = Field(24, ge=1)
    #: seconds; the search stops early when reached (the fixed thresholds always run).
    timeout: float | None = Field(None, gt=0)
    #: stop once the search has taken this fraction of the trial's training time, so that
    #: it never dominates a trial (null: no such limit).
    max_fraction: float | None = Field(0.02, gt=0)
    #: candidates are compared on at most this many validation tiles (cities taking
    #: turns); the winner is confirmed on all of them (null: always all tiles).
    max_tiles: int | None = Field(200, ge=1)
    t_energy: tuple[float, float] = (0.1, 0.8)
    t_mask: tuple[float, float] = (0.3, 0.7)
    min_area: list[float] = Field(default_factory=lambda: [0.0, 10.0, 20.0, 40.0, 80.0])
    #: also tune one set of thresholds per city (each city's search starts from the global
    #: winner, as the SpaceNet 2 winner tuned per city); kept only when the cities'
    #: thresholds together beat the global ones on every tile.
    per_city: bool = False
    seed: int = 0

    @field_validator("t_energy", "t_mask")
    @classmethod
    def _unit_interval(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] < 1:
            raise ValueError(f"needs 0 < low <= high < 1, got {list(value)}")
        return value

    @field_validator("min_area")
    @classmethod
    def _areas(cls, value: list[float]) -> list[float]:
        if not value or any(a < 0 for a in value):
            raise ValueError("needs at least one area, all >= 0")
        return sorted(set(value))


class Objective(Strict):
    """What a trial returns: the metric on the validation split after the inner search."""

    metric: Metric = Metric.F1
    post_search: PostSearch = PostSearch()


class Budget(Strict):
    """Total trials across every worker and machine, and/or wall-clock seconds per launch."""

    n_trials: int | None = Field(None, ge=1)
    #: seconds, or a string like "90m", "2h"; no new trial starts after it.
    timeout: float | None = Field(None, gt=0)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _DURATION.match(value)
            if not match:
                raise ValueError(f"expected seconds or a duration like '90m', '2h'; got {value!r}")
            return float(match.group(1)) * _UNITS[match.group(2)]
        return value

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.n_trials is None and self.timeout is None:
            raise ValueError("set n_trials and/or timeout: a sweep needs an end")
        return self


class StorageSpec(Strict):
    """Where the study lives. A path or ``*.journal`` file: Optuna's JournalStorage (safe for
    several processes on one machine). ``postgresql://...``: several machines, with
    heartbeats so that a dead worker's trial is failed and retried."""

    url: str | None = None
    #: seconds between heartbeats of a running trial (RDB storages only).
    heartbeat_interval: int = Field(60, ge=1)
    #: seconds without heartbeat before a trial counts as dead (default 2 intervals).
    grace_period: int | None = Field(None, ge=1)
    #: times a failed (dead, interrupted) trial is re-run with the same parameters.
    max_retry: int = Field(2, ge=0)


class TrackingSpec(Strict):
    enabled: bool = True
    #: MLflow tracking URI: ``sqlite:///path.db`` (default ``<out_dir>/mlflow.db``) or a server URL.
    uri: str | None = None
    experiment: str | None = None
    #: where artifacts go (default ``<out_dir>/mlartifacts``), as a path or URI.
    artifact_location: str | None = None
    #: prediction-vs-truth overlay PNGs logged per trial.
    overlays: int = Field(4, ge=0)
    #: files larger than this (MB) stay on disk, their path recorded as a run tag: cached
    #: validation maps of a real split are gigabytes per trial (null: log everything).
    max_artifact_mb: float | None = Field(1024.0, gt=0)


class SweepConfig(Strict):
    """A whole sweep; ``train`` is the fixed training config every trial starts from."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    out_dir: Path | None = None
    train: TrainConfig = TrainConfig()
    space: dict[str, Param] = Field(default_factory=dict)
    enqueue: list[EnqueueEntry] = Field(default_factory=list)
    objective: Objective = Objective()
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    budget: Budget
    storage: StorageSpec = StorageSpec()
    tracking: TrackingSpec = TrackingSpec()
    #: the YAML's folder; relative paths were resolved against it.
    base_dir: Path = Path(".")
    #: the YAML file itself (logged with the parent run), when loaded from a file.
    source: Path | None = None

    @field_validator("storage", mode="before")
    @classmethod
    def _storage_shorthand(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    # --- derived values ----------------------------------------------------------------------
    @property
    def root(self) -> Path:
        """The sweep's output folder (trials, journal, default MLflow store)."""
        return self.out_dir if self.out_dir is not None else self.base_dir / "runs" / self.name

    @property
    def storage_url(self) -> str:
        return self.storage.url or str(self.root / "optuna.journal")

    @property
    def tracking_uri(self) -> str:
        return self.tracking.uri or f"sqlite:///{(self.root / 'mlflow.db').resolve()}"

    @property
    def artifact_location(self) -> str:
        loc = self.tracking.artifact_location
        if loc is None:
            return (self.root / "mlartifacts").resolve().as_uri()
        return loc if "://" in loc else Path(loc).resolve().as_uri()

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.name

    def trial_dir(self, number: int) -> Path:
        return self.root / "trials" / f"{number:04d}"

    def trial_config(self, params: dict[str, Any], number: int, **overrides: Any) -> TrainConfig:
        """The training config of trial ``number``: the fixed config + sampled ``params``,
        in the trial's folder, monitoring the sweep's metric (``None`` overrides keep)."""
        changes = {
            **apply_params(self.train, params),
            "out_dir": self.trial_dir(number),
            "monitor": self.objective.metric,
            **{k: v for k, v in overrides.items() if v is not None},
        }
        return TrainConfig.from_dict(
            {**self.train.model_dump(), **changes}, source=f"trial {number}"
        )

    def enqueued_params(self) -> list[dict[str, Any]]:
        """Parameter sets for the first trials, in order (``baseline`` resolved)."""
        return [seed_params(self.train, self.space, entry) for entry in self.enqueue]


__all__ = [
    "Budget",
    "Objective",
    "PostSearch",
    "StorageSpec",
    "SweepConfig",
    "TrackingSpec",
]
