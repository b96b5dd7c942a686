"""Deprecated name of :mod:`geoarena.models.train_config` (renamed when the models package
was restructured), kept as a shim so scripts written against it -- the GPU smoke test --
still run. Import ``geoarena.models.train_config`` (or ``geoarena.models``) instead."""

import warnings

from geoarena.models.train_config import ConfigError, TrainConfig

warnings.warn(
    "geoarena.models.config is deprecated; import TrainConfig from geoarena.models",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["ConfigError", "TrainConfig"]
