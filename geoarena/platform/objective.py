"""One trial's work: train it, tune its thresholds, record what it produced.

The objective trains with ``geoarena.models.train`` (reporting each epoch's validation
metric for pruning), runs the inner post-processing search on the best epoch's cached
validation maps, writes the trial's :class:`TrialRecord` to Optuna, to its folder and to
MLflow, and returns the tuned value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import optuna

from geoarena.evaluator import PolygonTable
from geoarena.models import EpochResult, MetricLogger, TrainConfig, TrainResult, load_maps, train
from geoarena.models.data.spacenet import find_tiles
from geoarena.models.device import resolve_device
from geoarena.models.postprocess import Row, write_proposals_csv
from geoarena.models.train import Callback
from geoarena.platform.interrupt import StopRequest
from geoarena.platform.overlays import draw_overlays
from geoarena.platform.post_search import PostSearchResult, tune_post
from geoarena.platform.sweep import SweepConfig
from geoarena.platform.tracking import BaseTracker
from geoarena.platform.trial_record import TrialAttr, TrialRecord


class TrainFn(Protocol):
    """``geoarena.models.train.train``'s signature (the benchmark times the loop around
    the same call)."""

    def __call__(
        self,
        config: TrainConfig,
        *,
        callbacks: Sequence[Callback] = (),
        logger: MetricLogger | None = None,
        resume: bool = False,
    ) -> TrainResult: ...


@dataclass
class TrialTiming:
    """Where one trial's wall time went (``bench/sweep_overhead.py`` reads these)."""

    number: int
    state: str
    total: float
    train: float = 0.0
    post: float = 0.0
    claim: float = 0.0
    record: float = 0.0

    @property
    def overhead(self) -> float:
        return max(self.total - self.train, 0.0)


class TrialObjective:
    """Train one trial and return its tuned validation value."""

    def __init__(
        self,
        sweep: SweepConfig,
        tracker: BaseTracker,
        *,
        worker: str,
        gpu: str | None = None,
        progress: bool = False,
        train_fn: TrainFn = train,
    ) -> None:
        self.sweep = sweep
        self.tracker = tracker
        self.worker = worker
        self.gpu = gpu
        self.progress = progress
        self.train_fn = train_fn
        self.timing: TrialTiming | None = None
        self.stop = StopRequest()
        #: what `sweep status` shows in its GPU column: the pinned GPU, else the device
        #: (``cpu``, or ``cuda`` when an unpinned worker's ``auto`` device finds a GPU)
        self.device_label = gpu if gpu is not None else resolve_device(sweep.train.device).type

    def __call__(self, trial: optuna.Trial) -> float:
        sweep, metric = self.sweep, self.sweep.objective.metric
        params = {name: param.suggest(trial, name) for name, param in sweep.space.items()}
        # a retried trial continues in the folder (and from the checkpoint) of the first try
        root = int(trial.user_attrs.get(TrialAttr.RETRY_OF, trial.number))
        config = sweep.trial_config(
            params,
            root,
            progress=self.progress,
            device="cuda" if self.gpu is not None else None,
        )
        out_dir = Path(config.out_dir)
        resume = root != trial.number and (out_dir / "last.pt").is_file()
        config_path = config.to_yaml(out_dir / "config.yaml")
        self.tracker.start_trial(
            trial,
            tags={
                "geoarena.worker": self.worker,
                "geoarena.gpu": self.device_label,
                "geoarena.searched": ",".join(sweep.space),
                **({f"geoarena.{TrialAttr.RETRY_OF}": root} if root != trial.number else {}),
            },
        )
        if resume:  # train() logs the config only on a fresh start
            self.tracker.log_params(config.to_dict())
        self.tracker.log_artifact(config_path)

        def report(epoch: EpochResult) -> None:
            self.stop.check()  # a Ctrl-C swallowed during the epoch stops here
            value = epoch.value(metric)
            trial.report(value, epoch.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch.epoch} ({metric} {value:.4f})")

        started = time.perf_counter()
        try:
            result = self.train_fn(config, callbacks=[report], logger=self.tracker, resume=resume)
        except optuna.TrialPruned:
            seconds = time.perf_counter() - started
            self._timing(train=seconds)
            self.tracker.log_artifact(out_dir / "best.pt")
            pruned = TrialRecord(checkpoint=out_dir / "best.pt", train_seconds=round(seconds, 3))
            trial.set_user_attr(TrialAttr.RECORD, pruned.to_attr())
            raise
        trained = time.perf_counter()
        self._timing(train=trained - started)

        post = tune_post(
            load_maps(result.val_maps),
            metric=metric,
            search=sweep.objective.post_search,
            fixed=config.thresholds,
            train_seconds=trained - started,
        )
        record = self._record(post, result, config, config_path, trained - started)
        trial.set_user_attr(TrialAttr.RECORD, record.to_attr())
        self._timing(post=time.perf_counter() - trained)
        return post.value

    def _record(
        self,
        post: PostSearchResult,
        result: TrainResult,
        config: TrainConfig,
        config_path: Path,
        train_seconds: float,
    ) -> TrialRecord:
        """Write and log the trial's tuned predictions, overlays and record."""
        table, score, out_dir = post.proposals, post.score, Path(config.out_dir)
        csv_path = write_proposals_csv(_rows(table), out_dir / "val_predictions.csv")
        record = TrialRecord(
            checkpoint=result.best_checkpoint,
            train_seconds=round(train_seconds, 3),
            best_epoch=result.best_epoch,
            value=post.value,
            fixed_value=post.fixed_value,
            thresholds=post.thresholds,
            city_thresholds=post.city_thresholds,
            f1=score.micro.f1,
            mean_city_f1=score.mean_city_f1,
            precision=score.micro.precision,
            recall=score.micro.recall,
            city_f1={c: counts.f1 for c, counts in sorted(score.cities.items())},
            candidates=post.candidates,
            post_seconds=round(post.seconds, 3),
            predictions=csv_path,
            val_maps=result.val_maps,
            config=config_path,
        )
        summary_path = out_dir / "post_search.json"
        summary_path.write_text(json.dumps(record.to_attr(), indent=2) + "\n")
        self.tracker.log_params(record.mlflow_params())
        self.tracker.log_metrics(record.mlflow_metrics(), step=result.best_epoch)
        for path in (csv_path, summary_path):
            self.tracker.log_artifact(path)
        overlays = self.sweep.tracking.overlays
        if overlays:
            worst = sorted(score.images, key=lambda i: -(i.counts.fp + i.counts.fn))[:overlays]
            matches = post.truth.score(table, details=True).matches
            assert matches is not None, "details=True keeps the matches"
            tiles = find_tiles(config.val_dir or config.data_dir, config.image_product)
            ids = [i.image_id for i in worst if i.image_id in tiles]
            if draw_overlays(matches, tiles, ids, out_dir / "overlays", bands=config.bands):
                self.tracker.log_artifact(out_dir / "overlays", "overlays")
        return record

    def _timing(self, **values: float) -> None:
        if self.timing is not None:
            for key, value in values.items():
                setattr(self.timing, key, value)


def _rows(table: PolygonTable) -> list[Row]:
    """The proposals CSV rows of a table built from instances (it has confidences)."""
    confidence = [1.0] * len(table) if table.confidence is None else table.confidence.tolist()
    wkts = [g.wkt if not g.is_empty else "POLYGON EMPTY" for g in table.geometry]
    return list(
        zip(table.image_id.tolist(), table.building_id.tolist(), wkts, confidence, strict=True)
    )


__all__ = ["TrainFn", "TrialObjective", "TrialTiming"]
