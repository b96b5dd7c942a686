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
from torch.utils.data import DataLoader

from geoarena.models.config import ConfigError, TrainConfig
from geoarena.models.data.augment import AugmentSettings, augment_batch
from geoarena.models.data.dataset import CropDataset, build_cache, window_size
from geoarena.models.data.sampler import HardExampleSampler
from geoarena.models.data.spacenet import CityNormalizer, Tile, load_split, split_by_city
from geoarena.models.inference import TilePredictor, autocast, autocast_dtype, resolve_device
from geoarena.models.losses import CompositeLoss
from geoarena.models.maps import MapCache, maps_to_table, save_maps
from geoarena.models.nets import create_model, load_checkpoint, model_state


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


def lr_lambda(total_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    """Linear warmup from 10% to 100%, then cosine decay to ``min_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.1 + 0.9 * step / max(warmup_steps, 1)
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


@dataclass
class _Data:
    train: list[Tile]
    val: list[Tile]
    normalizer: CityNormalizer
    train_cache: list[Path]
    val_cache: list[Path]


def prepare_data(config: TrainConfig) -> _Data:
    """Load the splits, fit the 16-bit normalisation and build the target cache."""
    tiles = load_split(config.data_dir, config.truth_glob)
    if config.val_dir is not None:
        train_tiles, val_tiles = tiles, load_split(config.val_dir, config.truth_glob)
    else:
        train_tiles, val_tiles = split_by_city(tiles, config.val_fraction, config.seed)
    if not val_tiles:
        raise ConfigError("val_fraction/val_dir: no validation tiles (validation runs every epoch)")
    if not train_tiles:
        raise ConfigError(f"data_dir: no training tiles left in {config.data_dir}")
    normalizer = CityNormalizer(config.norm_percentiles).fit(
        {t.image_id: t.path for t in [*train_tiles, *val_tiles]}, seed=config.seed
    )
    cache = config.resolved_cache_dir
    return _Data(
        train_tiles,
        val_tiles,
        normalizer,
        build_cache(train_tiles, cache, normalizer, progress=config.progress),
        build_cache(val_tiles, cache, normalizer, progress=config.progress),
    )


def validate(
    predictor: TilePredictor,
    val: Sequence[Tile],
    cache_files: Sequence[Path],
    config: TrainConfig,
    console: Any = None,
) -> tuple[Any, MapCache]:
    """Full pipeline on the validation tiles: maps -> watershed -> polygons -> evaluator."""
    from rich.progress import track

    from geoarena.evaluator import score

    maps = MapCache(truth={t.image_id: list(t.wkts) for t in val})
    show = console is not None and console.is_terminal
    pairs = zip(val, cache_files, strict=True)
    for tile, path in track(
        pairs, "validating", total=len(val), console=console, transient=True, disable=not show
    ):
        image = np.load(path, mmap_mode="r")[..., :3]
        maps.add(tile.image_id, *predictor(image))
    proposals = maps_to_table(
        maps, t_energy=config.t_energy, t_mask=config.t_mask, min_area=config.min_area
    )
    return score(maps.truth_table(), proposals, rules="deepglobe"), maps


def checkpoint_meta(
    model: torch.nn.Module, config: TrainConfig, normalizer: CityNormalizer
) -> dict[str, Any]:
    """Everything ``predict`` needs besides the weights."""
    return {
        **model_state(model),
        "mean": list(model.encoder.mean),
        "std": list(model.encoder.std),
        "upscale": config.upscale,
        "postprocess": {
            "t_energy": config.t_energy,
            "t_mask": config.t_mask,
            "min_area": config.min_area,
        },
        "normalizer": normalizer.to_dict(),
        "config": config.to_dict(),
    }


class TrainingSession:
    """Model, optimiser, schedule, sampler and the per-batch step of one training run.

    ``train`` drives it epoch by epoch; ``bench/train_throughput.py`` times ``step``
    (data pipeline included) against ``optimize`` on ready-made tensors.
    """

    def __init__(self, config: TrainConfig, data: _Data) -> None:
        self.config = config
        self.device = device = resolve_device(config.device)
        self.amp_dtype = autocast_dtype(config.amp, device)
        self.channels_last = config.channels_last == "on" or (
            config.channels_last == "auto" and device.type == "cuda"
        )
        arch_kwargs = (
            {
                "decoder_channels": config.decoder_channels,
                "aspp_channels": config.aspp_channels,
                "aspp_rates": config.aspp_rates,
            }
            if config.arch == "unet_aspp"
            else {"fpn_channels": config.fpn_channels}
        )
        model = create_model(
            config.arch, config.encoder, pretrained=config.pretrained, **arch_kwargs
        ).to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.mean = torch.tensor(model.encoder.mean, device=device)
        self.std = torch.tensor(model.encoder.std, device=device)
        self.criterion = CompositeLoss(
            config.w_bce, config.w_lovasz, config.w_energy, config.w_dice
        )
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        n_train = len(data.train)
        steps = max(n_train * config.crops_per_tile // config.batch_size, 1)
        if config.max_train_batches_per_epoch:
            steps = min(steps, config.max_train_batches_per_epoch)
        self.steps = steps
        self.sampler = HardExampleSampler(
            n_train,
            steps * config.batch_size,
            mode=config.sampling,
            temperature=config.hard_temperature,
            mix=config.hard_mix,
            seed=config.seed,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lr_lambda(
                config.epochs * steps, round(config.warmup_epochs * steps), config.min_lr_ratio
            ),
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.augment = AugmentSettings(
            config.crop_size,
            config.upscale,
            config.crop_scale,
            config.rot90,
            config.flips,
            config.brightness,
            config.contrast,
        )
        self.dataset = CropDataset(
            data.train_cache, window_size(config.crop_size, config.upscale, config.crop_scale)
        )

    def loader(self, epoch: int) -> DataLoader:
        """This epoch's batches; seeded by (seed, epoch) so a resumed run replays them."""
        torch.manual_seed(self.config.seed * 1009 + epoch)
        self.sampler.set_epoch(epoch)
        return DataLoader(
            self.dataset,
            batch_size=self.config.batch_size,
            sampler=self.sampler,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.config.seed * 7919 + epoch),
        )

    def step(self, windows: torch.Tensor, *, generator: torch.Generator | None = None):
        """Augment a batch of uint8 windows on the device and take one optimiser step."""
        windows = windows.to(self.device, non_blocking=True)
        image, mask, energy = augment_batch(
            windows, self.augment, self.mean, self.std, generator=generator
        )
        return self.optimize(image, mask, energy)

    def optimize(self, image: torch.Tensor, mask: torch.Tensor, energy: torch.Tensor):
        """Forward, composite loss, backward, clipping, AdamW and schedule step."""
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp_dtype):
            out = self.model(image)
        loss = self.criterion(out, mask, energy)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.total).backward()
        if self.config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss

    def predictor(self) -> TilePredictor:
        return TilePredictor(
            self.model,
            self.mean,
            self.std,
            self.config.upscale,
            self.device,
            self.amp_dtype,
            self.config.val_tta,
        )


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
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    logger = logger or NullLogger()
    console = Console(quiet=not config.progress, stderr=True)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, maps_path = (
        out_dir / "last.pt",
        out_dir / "best.pt",
        out_dir / "val_maps.npz",
    )
    seed_everything(config.seed)
    data = prepare_data(config)
    session = TrainingSession(config, data)
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
        total, count, parts_sum = 0.0, 0, {}
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
        result, maps = validate(predictor, data.val, data.val_cache, config, console)
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
        monitored = epoch_result.val_f1 if config.monitor == "f1" else epoch_result.val_mean_city_f1
        meta = checkpoint_meta(model, config, data.normalizer)
        if monitored > best_f1:
            best_f1, best_epoch = monitored, epoch
            _atomic_save({**meta, "epoch": epoch, "metrics": asdict(epoch_result)}, best_path)
            save_maps(maps_path, maps)
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
