"""The DeepGlobe 2018 3rd-place building detector: data, networks, losses, training, inference.

Importing this package is cheap (no torch): the public names below load on first access.

Contract used by ``geoarena.platform`` (the Optuna sweep) -- names and meanings are stable:

``geoarena.models.config.TrainConfig``
    Frozen pydantic model holding every knob as a plain value with a default (data_dir,
    val_dir / val_fraction, arch ``"unet_aspp" | "fpn"``, encoder, pretrained
    ``False | True | "path/to/weights"``, epochs, batch_size, lr, weight_decay, crop_size,
    upscale, crop_scale ``(lo, hi)``, w_bce, w_lovasz, w_energy, w_dice, t_energy, t_mask,
    min_area, sampling / hard_temperature / hard_mix, seed, device, num_workers, amp,
    out_dir, max_train_batches_per_epoch, ...). ``TrainConfig.from_yaml(path)``,
    ``.to_yaml(path)``, ``TrainConfig.from_dict(d)`` and ``cfg.replace(**changes)``; unknown
    or invalid fields raise ``ConfigError`` naming the field; ``None`` values mean "keep the
    default". ``min_area`` is in original-tile pixels.

``geoarena.models.train.train(config, *, callbacks=(), logger=None, resume=False) -> TrainResult``
    Trains; after every epoch it saves ``out_dir/last.pt``, runs validation with the full
    post-processing and ``geoarena.evaluator.score`` and calls each callback with an
    ``EpochResult(epoch, train_loss, val_f1, val_mean_city_f1, val_city_f1, seconds, lr,
    val_precision, val_recall)`` (``val_f1`` = overall micro F1). A callback may raise (e.g.
    ``optuna.TrialPruned``): the checkpoint of that epoch is already written and the
    exception propagates. ``logger`` follows ``geoarena.models.train.MetricLogger``
    (``log_metrics(dict, step)``, ``log_params(dict)``, ``log_artifact(path)``).
    ``TrainResult(best_checkpoint, best_f1, best_epoch, last_checkpoint, history,
    val_maps)``: ``best_f1`` is the monitored metric (``config.monitor``, default micro F1)
    and ``val_maps`` the cached validation maps of the best epoch (see below).

Cached maps (post-processing tuning without the network), ``geoarena.models.maps``
    ``MapCache`` = per-tile float16 sigmoid mask probability and energy maps at original
    tile resolution, one ``.npz`` per split. ``save_maps(path, maps)``,
    ``load_maps(path) -> MapCache``, ``maps_to_table(maps, *, t_energy, t_mask, min_area,
    method="watershed") -> PolygonTable`` (proposals ready for ``geoarena.evaluator.score``;
    ``MapCache.truth_table()`` gives the truth stored with validation maps).
    ``geoarena.models.postprocess.maps_to_polygons(prob, energy, *, t_energy, t_mask,
    min_area, scale=1.0) -> list[Instance]`` (``Instance(polygon, confidence, area)``).

``geoarena.models.predict.predict(checkpoint, images_dir, out_csv, *, tta=False,
t_energy=None, t_mask=None, min_area=None, cache_maps=None) -> Path``
    Writes the SpaceNet proposals CSV (``ImageId,BuildingId,PolygonWKT_Pix,Confidence``;
    ``POLYGON EMPTY`` row for tiles without buildings). Thresholds default to those stored
    in the checkpoint; ``cache_maps`` is a path for the ``.npz`` of raw maps.

``geoarena.models.nets.load_model(checkpoint) -> (model, meta)``
    Rebuilds the network from the checkpoint alone (arch, encoder, kwargs stored inside).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it (imported lazily so that torch loads on demand).
_LAZY: dict[str, str] = {
    "TrainConfig": "geoarena.models.config",
    "ConfigError": "geoarena.models.config",
    "train": "geoarena.models.train",
    "EpochResult": "geoarena.models.train",
    "TrainResult": "geoarena.models.train",
    "MetricLogger": "geoarena.models.train",
    "predict": "geoarena.models.predict",
    "load_model": "geoarena.models.nets",
    "create_model": "geoarena.models.nets",
    "maps_to_polygons": "geoarena.models.postprocess",
    "MapCache": "geoarena.models.maps",
    "save_maps": "geoarena.models.maps",
    "load_maps": "geoarena.models.maps",
    "maps_to_table": "geoarena.models.maps",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'geoarena.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
