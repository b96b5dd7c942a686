"""The DeepGlobe 2018 3rd-place building detector: data, networks, losses, training, inference.

Contract used by ``geoarena.platform`` (the Optuna sweep) -- names and meanings are stable:

``TrainConfig`` (``geoarena.models.train_config``)
    Frozen pydantic model holding every knob as a plain value with a default (data_dir,
    val_dir / val_fraction, arch ``"unet_aspp" | "fpn"``, encoder, pretrained
    ``False | True | "path/to/weights"``, epochs, batch_size, lr, weight_decay, crop_size,
    upscale, crop_scale ``(lo, hi)``, w_bce, w_lovasz, w_energy, w_dice, the
    post-processing ``thresholds`` (written flat in YAML: t_energy, t_mask, min_area),
    monitor (a ``geoarena.evaluator.Metric``), sampling / hard_temperature / hard_mix,
    seed, device, num_workers, amp, out_dir, max_train_batches_per_epoch, ...).
    ``TrainConfig.from_yaml(path)``, ``.to_yaml(path)``, ``TrainConfig.from_dict(d)`` and
    ``cfg.replace(**changes)``; unknown or invalid fields raise ``ConfigError`` (an
    ``InvalidInput`` locating every bad field); ``None`` values mean "keep the default".

``Thresholds`` (``geoarena.models.postprocess``)
    ``t_energy``, ``t_mask``, ``min_area`` (original-tile pixels): one frozen value, used by
    the training config, checkpoints, ``predict`` and the sweep's inner search.

``train(config, *, callbacks=(), logger=None, resume=False) -> TrainResult``
    Trains; after every epoch it saves ``out_dir/last.pt``, runs validation with the full
    post-processing and ``geoarena.evaluator.score`` and calls each callback with an
    ``EpochResult`` (``val_f1`` = overall micro F1, ``val_mean_city_f1``, per city,
    ``.value(metric)``). A callback may raise (e.g. ``optuna.TrialPruned``): the checkpoint
    of that epoch is already written and the exception propagates. ``logger`` follows
    ``MetricLogger``. ``TrainResult.best_f1`` is the monitored metric and ``val_maps`` the
    cached validation maps of the best epoch.

Cached maps (post-processing tuning without the network), ``geoarena.models.maps``
    ``MapCache`` = per-tile float16 sigmoid mask probability and energy maps at original
    tile resolution, one ``.npz`` per split; ``save_maps``, ``load_maps``,
    ``maps_to_table(maps, thresholds)``, ``maps_to_instances`` + ``instances_to_table``.

``predict(checkpoint, images_dir, out_csv, *, thresholds=None, tta=False, cache_maps=None)``
    Writes the SpaceNet proposals CSV; thresholds default to the checkpoint's.
    ``Detector.load(checkpoint)`` keeps the network loaded for several folders.

``load_model(checkpoint) -> (model, meta)``
    Rebuilds the network from the checkpoint alone (arch, encoder, kwargs stored inside).
"""

from geoarena.models.maps import (
    MapCache,
    instances_to_table,
    load_maps,
    maps_to_instances,
    maps_to_table,
    save_maps,
)
from geoarena.models.nets import CheckpointError, create_model, load_model
from geoarena.models.postprocess import Instance, Thresholds, maps_to_polygons
from geoarena.models.predict import Detector, predict
from geoarena.models.tiny_net import TINY_NET, one_torch_thread
from geoarena.models.train import EpochResult, MetricLogger, TrainResult, train
from geoarena.models.train_config import ConfigError, TrainConfig

__all__ = [
    "TINY_NET",
    "CheckpointError",
    "ConfigError",
    "Detector",
    "EpochResult",
    "Instance",
    "MapCache",
    "MetricLogger",
    "Thresholds",
    "TrainConfig",
    "TrainResult",
    "create_model",
    "instances_to_table",
    "load_maps",
    "load_model",
    "maps_to_instances",
    "maps_to_polygons",
    "maps_to_table",
    "one_torch_thread",
    "predict",
    "save_maps",
    "train",
]
