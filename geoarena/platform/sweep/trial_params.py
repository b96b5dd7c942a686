"""Sampled parameters onto a training config: names are fields as users write them.

A parameter name is a ``TrainConfig`` field in its YAML spelling (``lr``, ``t_energy``) or
one element of a tuple field (``crop_scale.1``). The fixed training config of the sweep
plus a trial's parameters is that trial's config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from geoarena.models import TrainConfig

#: training fields the platform sets itself, per trial or per worker.
RESERVED_FIELDS: dict[str, str] = {
    "out_dir": "set per trial to <out_dir>/trials/<number>; set the sweep's top-level out_dir",
    "progress": "set by the worker (progress bars only in interactive single-worker runs)",
}
#: an ``enqueue`` entry naming the fixed training config itself (the paper's defaults).
BASELINE = "baseline"
#: one ``enqueue`` entry: ``baseline`` or explicit parameter values.
EnqueueEntry = Literal["baseline"] | dict[str, Any]


def split_name(name: str) -> tuple[str, int | None]:
    """``"crop_scale.1"`` -> ``("crop_scale", 1)``: an element of a tuple field."""
    field, _, index = name.partition(".")
    return field, (int(index) if index.isdigit() else None)


def addressable(config: TrainConfig, name: str) -> bool:
    """Whether ``name`` is a training field (or an existing element of a tuple field)."""
    field, index = split_name(name)
    if field not in TrainConfig.field_names():
        return False
    value = config.flat()[field]
    return index is None or (isinstance(value, tuple) and index < len(value))


def param_value(config: TrainConfig, name: str) -> Any:
    """The value ``config`` gives the parameter ``name``."""
    field, index = split_name(name)
    value = config.flat()[field]
    return value[index] if index is not None else value


def apply_params(config: TrainConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """Field values (YAML names) of ``config`` changed by ``params``, tuple elements merged."""
    flat = config.flat()
    changes: dict[str, Any] = {}
    for name, value in params.items():
        field, index = split_name(name)
        if index is None:
            changes[field] = value
        else:
            current = list(changes.get(field, flat[field]))
            current[index] = value
            changes[field] = tuple(current)
    return changes


def seed_params(base: TrainConfig, names: Iterable[str], entry: EnqueueEntry) -> dict[str, Any]:
    """The parameters of one ``enqueue`` entry; ``baseline`` = the fixed config's values."""
    if isinstance(entry, str):  # BASELINE, the only string an entry may be
        return {name: param_value(base, name) for name in names if addressable(base, name)}
    return dict(entry)


__all__ = [
    "BASELINE",
    "RESERVED_FIELDS",
    "EnqueueEntry",
    "addressable",
    "apply_params",
    "param_value",
    "seed_params",
    "split_name",
]
