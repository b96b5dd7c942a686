"""Training loop: AdamW + warmup/cosine, AMP, hard-example sampling, per-epoch validation.

Every epoch ends with the full pipeline on the validation tiles (whole-tile inference,
watershed post-processing, ``geoarena.evaluator.score``), so the F1 the sweep prunes on is
the metric the leaderboard reports, not a pixel proxy. The same code runs on CUDA and CPU.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from geoarena.evaluator import Metric
from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.maps import MapWriter
from geoarena.models.nets import DetectorNet, load_checkpoint, model_state
from geoarena.models.train_config import TrainConfig
from geoarena.models.training_session import TrainData, TrainingSession, prepare_data
from geoarena.models.validation import PostprocessPool, validate


class MetricLogger(Protocol):
    """What ``train`` needs from an experiment tracker (MLflow is wired in by the platform)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_params(self, params: dict[str, Any]) -> None: ...

    def log_artifact(self, path: str | Path) -> None: ...


class NullLogger:
    """The default logger: records nothing (callers never branch on "no logger")."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_artifact(self, path: str | Path) -> None:
        pass


@dataclass(frozen=True)
class EpochResult:
    """Metrics of one finished epoch, handed to every callback."""

    epoch: int
    train_loss: float
    #: overall micro F1 over all validation buildings
    val_f1: float
    #: mean of the per-city F1 (the DeepGlobe headline)
    val_mean_city_f1: float
    val_city_f1: dict[str, float]
    seconds: float
    lr: float = 0.0
    val_precision: float = 0.0
    val_recall: float = 0.0
    loss_parts: dict[str, float] = field(default_factory=dict)
    train_images_per_s: float = 0.0

    def value(self, metric: Metric) -> float:
        """The validation value of ``metric`` (what ``monitor`` and pruning compare)."""
        return self.val_f1 if Metric(metric) is Metric.F1 else self.val_mean_city_f1

    def metrics(self) -> dict[str, float]:
        """Flat metric dict for loggers (``val_f1_<city>`` per city)."""
        flat = {k: v for k, v in asdict(self).items() if isinstance(v, int | float)}
        flat.pop("epoch")
        flat.update({f"val_f1_{c}": f for c, f in self.val_city_f1.items()})
        flat.update({f"loss_{k}": v for k, v in self.loss_parts.items()})
        return flat


@dataclass
class TrainResult:
    best_checkpoint: Path
    #: best value of the monitored metric (``config.monitor``)
    best_f1: float
    best_epoch: int
    last_checkpoint: Path
    history: list[EpochResult]
    #: cached validation maps of the best epoch (``geoarena.models.maps.load_maps``)
    val_maps: Path


Callback = Callable[[EpochResult], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def checkpoint_meta(
    model: DetectorNet, config: TrainConfig, normalizer: CityNormalizer
) -> dict[str, Any]:
    """Everything ``predict`` needs besides the weights (plain values: checkpoints load
    with ``weights_only``)."""
    return {
        **model_state(model),
        "mean": list(model.encoder.mean),
        "std": list(model.encoder.std),
        "upscale": config.upscale,
        "postprocess": config.thresholds.to_dict(),
        "normalizer": normalizer.to_dict(),
        "config": config.to_dict(),
    }


def train(
    config: TrainConfig,
    *,
    callbacks: Sequence[Callback] = (),
    logger: MetricLogger | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train the detector described by ``config``; see ``geoarena.models`` for the contract.

    Writes ``out_dir/last.pt`` (full training state, every epoch), ``out_dir/best.pt``
    (best monitored F1) and ``out_dir/val_maps.npz`` (validation maps of the best epoch).
    With ``resume=True`` training continues from ``last.pt`` (same config expected).
    """
    logger = logger or NullLogger()
    console = Console(quiet=not config.progress, stderr=True)
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    data = prepare_data(config)
    session = TrainingSession(config, data)
    console.print(session.describe(), highlight=False, soft_wrap=True)
    workers = config.postprocess_workers
    if workers is None:
        workers = 2 if session.device.type == "cuda" else 0
    with PostprocessPool(workers) as pool:
        return _train_epochs(config, data, session, pool, callbacks, logger, console, resume)


def _train_epochs(
    config: TrainConfig,
    data: TrainData,
    session: TrainingSession,
    pool: PostprocessPool,
    callbacks: Sequence[Callback],
    logger: MetricLogger,
    console: Console,
    resume: bool,
) -> TrainResult:
    out_dir = Path(config.out_dir)
    last_path, best_path, maps_path = (
        out_dir / "last.pt",
        out_dir / "best.pt",
        out_dir / "val_maps.npz",
    )
    model, optimizer, scheduler, sampler = (
        session.model,
        session.optimizer,
        session.scheduler,
        session.sampler,
    )
    predictor = session.predictor()

    history: list[EpochResult] = []
    best_f1, best_epoch, start_epoch = -1.0, 0, 1
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.load_state_dict(state["sampler"])
        history = [EpochResult(**h) for h in state["history"]]
        best_f1, best_epoch = state["best_f1"], state["best_epoch"]
        start_epoch = state["epoch"] + 1
        console.print(f"resumed from {last_path} at epoch {state['epoch']}")
    else:
        logger.log_params(config.to_dict())

    for epoch in range(start_epoch, config.epochs + 1):
        started = time.perf_counter()
        loader = session.loader(epoch)
        aug_gen = torch.Generator().manual_seed(config.seed * 104729 + epoch)
        model.train()
        total, count = 0.0, 0
        parts_sum: dict[str, float] = {}
        progress = Progress(
            TextColumn(f"epoch {epoch}/{config.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # a bar in a log file is just noise
        )
        with progress:
            task = progress.add_task("train", total=session.steps, loss=float("nan"))
            for windows, index in loader:
                loss = session.step(windows, generator=aug_gen)
                value = float(loss.total.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"non-finite training loss ({value}) at epoch {epoch}, batch "
                        f"{int(progress.tasks[0].completed) + 1}: lower lr or check loss weights"
                    )
                sampler.update(index, loss.per_image)
                n = windows.shape[0]
                total += value * n
                count += n
                for k, v in loss.parts.items():
                    parts_sum[k] = parts_sum.get(k, 0.0) + v * n
                progress.update(task, advance=1, loss=total / count)
        train_seconds = time.perf_counter() - started

        model.eval()
        writer = MapWriter(maps_path, {t.image_id: list(t.wkts) for t in data.val})
        try:
            result = validate(
                predictor,
                data.val,
                data.val_cache,
                config.thresholds,
                writer=writer,
                pool=pool,
                console=console,
            )
        except BaseException:
            writer.discard()
            raise
        model.train()
        epoch_result = EpochResult(
            epoch=epoch,
            train_loss=total / max(count, 1),
            val_f1=result.micro.f1,
            val_mean_city_f1=result.mean_city_f1,
            val_city_f1={c: counts.f1 for c, counts in sorted(result.cities.items())},
            seconds=time.perf_counter() - started,
            lr=optimizer.param_groups[0]["lr"],
            val_precision=result.micro.precision,
            val_recall=result.micro.recall,
            loss_parts={k: v / max(count, 1) for k, v in parts_sum.items()},
            train_images_per_s=count / max(train_seconds, 1e-9),
        )
        history.append(epoch_result)
        monitored = epoch_result.value(config.monitor)
        meta = checkpoint_meta(model, config, data.normalizer)
        if monitored > best_f1:
            best_f1, best_epoch = monitored, epoch
            _atomic_save({**meta, "epoch": epoch, "metrics": asdict(epoch_result)}, best_path)
            writer.close()  # streamed to disk during validation; kept for the best epoch
        else:
            writer.discard()
        _atomic_save(
            {
                **meta,
                "epoch": epoch,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "sampler": sampler.state_dict(),
                "history": [asdict(h) for h in history],
                "best_f1": best_f1,
                "best_epoch": best_epoch,
            },
            last_path,
        )
        console.print(
            f"epoch {epoch}: loss {epoch_result.train_loss:.4f}  F1 {epoch_result.val_f1:.4f}  "
            f"mean-city F1 {epoch_result.val_mean_city_f1:.4f}  "
            + "  ".join(f"{c} {f:.3f}" for c, f in epoch_result.val_city_f1.items())
            + f"  ({epoch_result.seconds:.1f} s)",
            soft_wrap=True,
        )
        logger.log_metrics(epoch_result.metrics(), step=epoch)
        for callback in callbacks:
            callback(epoch_result)  # may raise (e.g. optuna.TrialPruned): checkpoint is saved

    for path in (best_path, maps_path):
        logger.log_artifact(path)
    return TrainResult(best_path, best_f1, best_epoch, last_path, history, maps_path)


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
