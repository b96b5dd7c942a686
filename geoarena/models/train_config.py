"""The training config: every knob the sweeps tune is a plain, validated value.

``TrainConfig`` is the one place where defaults live. The sweep (``geoarena.platform``)
builds configs from YAML plus sampled parameters; ``None`` for any field means "keep the
default" (the timm ``create_model`` habit), so a search space that leaves a parameter
unset never has to know its default.

The post-processing thresholds are one :class:`~geoarena.models.postprocess.Thresholds`
value (``config.thresholds``), written flat in YAML as users always have
(``t_energy: 0.4``); :meth:`TrainConfig.flat` and :meth:`TrainConfig.to_dict` give that
spelling back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from geoarena.errors import InvalidInput, Problem
from geoarena.evaluator import Metric
from geoarena.models.config_yaml import YamlDocument, validation_reasons
from geoarena.models.postprocess import Thresholds
from geoarena.models.tiny_net import TINY, TINY_NET


class ConfigError(InvalidInput):
    """A training config is invalid; ``problems`` locates each bad field (file, line,
    field) with its reason, all of them at once."""


class TrainConfig(BaseModel):
    """All settings of one training run (data, model, loss, schedule, post-processing).

    Units: ``crop_size`` in network pixels (after upscaling), ``min_area`` in original-tile
    pixels, ``lr`` per AdamW step. The thresholds (``t_energy``, ``t_mask``, ``min_area``) are
    used by per-epoch validation and stored in checkpoints as prediction defaults.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # --- data -----------------------------------------------------------------------------
    data_dir: Path = Path("data")
    #: separate validation folder (tiles + truth CSV); when unset ``val_fraction`` of
    #: ``data_dir`` is held out, per city, with ``seed``.
    val_dir: Path | None = None
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    #: glob (relative to the data folder) of truth CSVs; tiles are every *.tif / *.tiff.
    truth_glob: str = "**/*.csv"
    #: labels: truth CSVs, one GeoJSON per tile in map coordinates, or CSVs when present.
    labels: Literal["auto", "csv", "geojson"] = "auto"
    #: image product to train on when a folder holds several (SpaceNet's RGB-PanSharpen,
    #: MUL, PAN, ...); None: the only one present, else RGB-PanSharpen.
    image_product: str | None = None
    #: the three bands (1-based) the network sees; None: RGB of a 3/4-band product,
    #: (5, 3, 2) of an 8-band WorldView-3 product, a single band repeated.
    bands: tuple[int, int, int] | None = None
    #: where per-tile targets are cached; default ``<data_dir>/.geoarena-cache``.
    cache_dir: Path | None = None
    #: percentiles used to map 16-bit tiles to 8 bits, fitted per city and band.
    norm_percentiles: tuple[float, float] = (1.0, 99.0)

    # --- model ----------------------------------------------------------------------------
    arch: Literal["unet_aspp", "fpn"] = "unet_aspp"
    #: a timm encoder name, or ``tiny`` for the tiny network of CPU dry runs and tests.
    encoder: str = "seresnext50_32x4d"
    #: False: random init; True: ImageNet weights through timm; a path: a local weights file.
    pretrained: bool | Path = False
    decoder_channels: tuple[int, int, int, int] = (256, 128, 64, 32)
    aspp_channels: int = Field(256, gt=0)
    aspp_rates: tuple[int, ...] = (6, 12, 18)
    fpn_channels: int = Field(256, gt=0)

    # --- optimisation -----------------------------------------------------------------------
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)
    #: final learning rate of the cosine schedule, as a fraction of ``lr``.
    min_lr_ratio: float = Field(0.01, ge=0, le=1)
    #: max gradient norm; 0 disables clipping.
    grad_clip: float = Field(5.0, ge=0)
    #: crops drawn per training tile and epoch (tiles are upscaled and much larger than crops).
    crops_per_tile: int = Field(1, ge=1)
    max_train_batches_per_epoch: int | None = Field(None, ge=1)

    # --- augmentation -------------------------------------------------------------------------
    crop_size: int = Field(256, ge=32)
    upscale: float = Field(2.0, gt=0)
    #: extra random scale factor range applied on top of ``upscale``.
    crop_scale: tuple[float, float] = (0.75, 1.25)
    rot90: bool = True
    flips: bool = True
    brightness: float = Field(0.2, ge=0, lt=1)
    contrast: float = Field(0.2, ge=0, lt=1)

    # --- hard-example sampling ------------------------------------------------------------------
    sampling: Literal["uniform", "hard"] = "hard"
    #: weight of a tile ~ last_loss ** (1 / hard_temperature): large = flatter.
    hard_temperature: float = Field(1.0, gt=0)
    #: share of draws that stay uniform, so no tile is ever starved.
    hard_mix: float = Field(0.5, ge=0, le=1)
    #: weight of the newest crop's loss in a tile's running loss (1: last crop only); a
    #: crop covers a few percent of an upscaled tile, so one crop is a noisy estimate.
    hard_smoothing: float = Field(0.3, gt=0, le=1)

    # --- loss -------------------------------------------------------------------------------------
    w_bce: float = Field(1.0, ge=0)
    #: the paper sums BCE, Lovász hinge and energy MSE with equal weights (1.0); 0.5 is
    #: kept as the default because it trained markedly better in our measurements (see
    #: docs/models.md, "Deviations from the paper"); sweeps search it.
    w_lovasz: float = Field(0.5, ge=0)
    w_energy: float = Field(1.0, ge=0)
    w_dice: float = Field(0.0, ge=0)

    # --- post-processing (validation and prediction defaults) --------------------------------
    #: written flat in YAML (``t_energy``, ``t_mask``, ``min_area``), stored in checkpoints.
    thresholds: Thresholds = Thresholds()
    #: thresholds of single cities (the city of an ImageId, e.g. ``AOI_2_Oldtown``) that
    #: replace ``thresholds`` on that city's tiles when predicting; ``sweep best --export``
    #: writes them when the inner search tuned per city. Validation during training uses
    #: ``thresholds`` (epochs are compared at fixed post-processing).
    city_thresholds: dict[str, Thresholds] = Field(default_factory=dict)
    #: the validation metric that picks ``best.pt``.
    monitor: Metric = Metric.F1
    val_tta: bool = False

    # --- inference (validation and prediction) ------------------------------------------
    #: "window": the network runs on crops of the training size (``crop_size``) with
    #: overlap, so ASPP rates and image pooling see what they saw in training;
    #: "whole": one pass over the whole upscaled tile (faster, a train/test mismatch).
    inference: Literal["window", "whole"] = "window"
    #: overlap of neighbouring inference windows, as a fraction of the window.
    window_overlap: float = Field(0.25, ge=0, lt=1)
    #: inference windows per forward pass (None: ``batch_size``).
    val_batch_size: int | None = Field(None, ge=1)
    #: processes turning validation maps into polygons while the network goes on
    #: (None: 2 on CUDA, 0 = in the training process, on CPU).
    postprocess_workers: int | None = Field(None, ge=0)

    # --- runtime ----------------------------------------------------------------------------------
    seed: int = 0
    device: str = "auto"
    num_workers: int = Field(2, ge=0)
    #: "auto" = bf16 autocast on a CUDA device that supports it, else fp16 with a gradient
    #: scaler; off on CPU.
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"
    #: "auto" = channels-last memory format on CUDA and on the CPU (faster on both).
    channels_last: Literal["auto", "on", "off"] = "auto"
    #: let cuDNN pick the fastest convolution algorithms (fixed crop sizes: worth it).
    cudnn_benchmark: bool = True
    #: intra-op threads of this process (None: torch's default, or OMP_NUM_THREADS).
    threads: int | None = Field(None, ge=1)
    out_dir: Path = Path("runs/train")
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _drop_none_and_nest_thresholds(cls, data: Any) -> Any:
        """``None`` means "keep the default" for every field; the flat threshold fields
        users write (``t_energy: 0.4``) update ``thresholds``; ``encoder: tiny`` expands
        to the tiny network's fields."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v is not None}
        if data.get("encoder") == TINY:
            data = {**TINY_NET, **{k: v for k, v in data.items() if k != "encoder"}}
        flat = {k: data.pop(k) for k in Thresholds.names() if k in data}
        if flat:
            nested = data.get("thresholds", {})
            nested = nested.to_dict() if isinstance(nested, Thresholds) else nested
            data["thresholds"] = {**nested, **flat} if isinstance(nested, dict) else nested
        return data

    @field_validator("bands")
    @classmethod
    def _bands(cls, value: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(f"bands are 1-based, got {list(value)}")
        return value

    @field_validator("crop_scale", "norm_percentiles")
    @classmethod
    def _ordered_pair(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError(f"needs 0 <= low <= high, got {list(value)}")
        return value

    @field_validator("crop_scale")
    @classmethod
    def _positive_scale(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0:
            raise ValueError("scales must be > 0")
        return value

    @field_validator("pretrained", mode="before")
    @classmethod
    def _pretrained(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        return value

    # --- construction and the flat (YAML) spelling ------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every field as users write it (the thresholds flat)."""
        names = [n for n in cls.model_fields if n != "thresholds"]
        return (*names, *Thresholds.names())

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "config") -> TrainConfig:
        """Validate ``data``; raise ``ConfigError`` naming every bad field."""
        if not isinstance(data, dict):
            reason = f"expected a mapping of field: value, got {type(data).__name__}"
            raise ConfigError([Problem(source, 0, "", reason)])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = [
                Problem(source, 0, ".".join(map(str, path)), reason)
                for path, reason in validation_reasons(exc, data)
            ]
            raise ConfigError(problems) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a YAML mapping of fields; every problem is reported with its line."""
        doc = YamlDocument.read(path, ConfigError)
        data = {} if doc.data is None else doc.data
        if not isinstance(data, dict):
            raise ConfigError([doc.problem((), "expected a mapping of field: value")])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(doc.problems(exc)) from None

    def flat(self, *, only_set: bool = False) -> dict[str, Any]:
        """Field values under their YAML names (``only_set``: those given explicitly)."""
        values = self.model_dump(exclude_unset=only_set)
        values.update(values.pop("thresholds", {}))
        return values

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-ready values under their YAML names (paths as strings, tuples as
        lists): what YAML files, checkpoints and MLflow params hold."""
        values = self.model_dump(mode="json")
        values.update(values.pop("thresholds"))
        return values

    def to_yaml(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with ``changes`` (YAML names) applied; ``None`` keeps a value."""
        kept = {k: v for k, v in changes.items() if v is not None}
        return self.from_dict({**self.model_dump(), **kept}, source="replace()")

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.data_dir / ".geoarena-cache"


__all__ = ["ConfigError", "TrainConfig"]
