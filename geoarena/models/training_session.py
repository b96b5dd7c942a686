"""One training run's moving parts: data, model, optimiser, schedule, sampler, one step.

``TrainingSession`` is what ``geoarena.models.train.train`` drives epoch by epoch and what
``bench/train_throughput.py`` times (``step``, data pipeline included, against
``optimize`` on ready-made tensors).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from geoarena.errors import Problem
from geoarena.models.data.augment import AugmentSettings, augment_batch
from geoarena.models.data.dataset import CropDataset, build_cache, window_size
from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.data.sampler import HardExampleSampler
from geoarena.models.data.spacenet import Tile, load_split, split_by_city
from geoarena.models.device import (
    autocast,
    autocast_dtype,
    resolve_device,
    runtime_summary,
    use_channels_last,
)
from geoarena.models.inference import TilePredictor
from geoarena.models.losses import CompositeLoss, LossParts
from geoarena.models.nets import create_model
from geoarena.models.train_config import ConfigError, TrainConfig


def lr_lambda(total_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    """Linear warmup from 10% to 100%, then cosine decay to ``min_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.1 + 0.9 * step / max(warmup_steps, 1)
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


@dataclass
class TrainData:
    """The tiles of both splits, their normalisation and their cached targets."""

    train: list[Tile]
    val: list[Tile]
    normalizer: CityNormalizer
    train_cache: list[Path]
    val_cache: list[Path]


def prepare_data(config: TrainConfig) -> TrainData:
    """Load the splits, fit the 16-bit normalisation and build the target cache."""

    def load(folder: Path) -> list[Tile]:
        return load_split(
            folder, config.truth_glob, product=config.image_product, labels=config.labels
        )

    tiles = load(config.data_dir)
    if config.val_dir is not None:
        train_tiles, val_tiles = tiles, load(config.val_dir)
    else:
        train_tiles, val_tiles = split_by_city(tiles, config.val_fraction, config.seed)
    if not val_tiles:
        field = "val_dir" if config.val_dir is not None else "val_fraction"
        reason = "no validation tiles (validation runs every epoch)"
        raise ConfigError([Problem(str(config.val_dir or config.data_dir), 0, field, reason)])
    if not train_tiles:
        reason = "no training tiles left (every tile went to validation)"
        raise ConfigError([Problem(str(config.data_dir), 0, "data_dir", reason)])
    normalizer = CityNormalizer(config.norm_percentiles).fit(
        {t.image_id: t.path for t in [*train_tiles, *val_tiles]},
        bands=config.bands,
        seed=config.seed,
    )
    cache = config.resolved_cache_dir
    bands, progress = config.bands, config.progress
    return TrainData(
        train_tiles,
        val_tiles,
        normalizer,
        build_cache(train_tiles, cache, normalizer, bands=bands, progress=progress),
        build_cache(val_tiles, cache, normalizer, bands=bands, progress=progress),
    )


class TrainingSession:
    """Model, optimiser, schedule, sampler and the per-batch step of one training run.

    ``train`` drives it epoch by epoch; ``bench/train_throughput.py`` times ``step``
    (data pipeline included) against ``optimize`` on ready-made tensors.
    """

    def __init__(self, config: TrainConfig, data: TrainData) -> None:
        self.config = config
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.device = device = resolve_device(config.device)
        self.amp_dtype = autocast_dtype(config.amp, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        self.channels_last = use_channels_last(config.channels_last, device)
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
            smoothing=config.hard_smoothing,
            batch_size=config.batch_size,
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
        self._loader: DataLoader[tuple[torch.Tensor, int]] | None = None
        self._loader_workers = -1

    def describe(self) -> str:
        """What this run computes on: device, precision, versions, threads, workers."""
        workers = self.config.num_workers
        return f"{runtime_summary(self.device, self.amp_dtype)}, {workers} loader workers"

    def loader(self, epoch: int) -> DataLoader[tuple[torch.Tensor, int]]:
        """This epoch's batches. One DataLoader for the whole run (its worker processes
        persist across epochs); every crop is placed by its own seed, drawn by the
        sampler from (seed, epoch), so a resumed run replays the same crops."""
        self.sampler.set_epoch(epoch)
        workers = self.config.num_workers
        if self._loader is None or self._loader_workers != workers:
            self._loader = DataLoader(
                self.dataset,
                batch_size=self.config.batch_size,
                sampler=self.sampler,
                num_workers=workers,
                pin_memory=self.device.type == "cuda",
                persistent_workers=workers > 0,
            )
            self._loader_workers = workers
        return self._loader

    def step(self, windows: torch.Tensor, *, generator: torch.Generator | None = None) -> LossParts:
        """Augment a batch of uint8 windows on the device and take one optimiser step."""
        windows = windows.to(self.device, non_blocking=True)
        image, mask, energy = augment_batch(
            windows, self.augment, self.mean, self.std, generator=generator
        )
        return self.optimize(image, mask, energy)

    def optimize(self, image: torch.Tensor, mask: torch.Tensor, energy: torch.Tensor) -> LossParts:
        """Forward, composite loss, backward, clipping, AdamW and schedule step."""
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp_dtype):
            out = self.model(image)
        loss: LossParts = self.criterion(out, mask, energy)
        self.optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(self.scaler.scale(loss.total))
        if self.config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss

    def predictor(self) -> TilePredictor:
        """Validation inference as ``predict`` will run it (windows of the crop size)."""
        config = self.config
        return TilePredictor(
            self.model,
            self.mean,
            self.std,
            config.upscale,
            self.device,
            self.amp_dtype,
            config.val_tta,
            mode=config.inference,
            window=config.crop_size,
            overlap=config.window_overlap,
            batch_size=config.val_batch_size or config.batch_size,
            channels_last=self.channels_last,
        )


__all__ = ["TrainData", "TrainingSession", "lr_lambda", "prepare_data"]
