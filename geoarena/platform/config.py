"""The sweep YAML: search space, fixed training config, objective, budget, storage, tracking.

A sweep file is validated in full before anything runs: every bad field is reported at
once as ``file:line: path: reason`` (``SweepConfigError``), because a typo found after
the first trial has trained for an hour costs an hour. Relative paths (data, out_dir,
journal file, SQLite tracking store) are resolved against the YAML file's folder, so the
same command works from any working directory.

Example::

    name: unet-loss-search
    train: {data_dir: data/train, encoder: resnet34, epochs: 30}
    space:
      lr: {type: log, low: 1.0e-5, high: 1.0e-3}
      w_lovasz: {type: float, low: 0.0, high: 2.0}
      upscale: {type: categorical, choices: [1.5, 2.0, 2.5]}
    enqueue: [baseline]          # first trial = the fixed config as is (the paper's values)
    objective: {metric: mean_city_f1}
    budget: {n_trials: 40}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from geoarena.models.config import TrainConfig

#: training fields the platform sets itself, per trial or per worker.
RESERVED_FIELDS: dict[str, str] = {
    "out_dir": "set per trial to <out_dir>/trials/<number>; set the sweep's top-level out_dir",
    "progress": "set by the worker (progress bars only in interactive single-worker runs)",
}
#: post-processing knobs owned by the inner search when it is enabled.
POST_FIELDS = ("t_energy", "t_mask", "min_area")
#: an ``enqueue`` entry naming the fixed training config itself (the paper's defaults).
BASELINE = "baseline"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class SweepConfigError(ValueError):
    """A sweep file is invalid. ``errors`` holds ``(line, path, reason)`` for every problem."""

    def __init__(self, source: str, errors: list[tuple[int | None, str, str]]) -> None:
        self.source = source
        self.errors = sorted(errors, key=lambda e: (e[0] or 0, e[1]))
        lines = [f"{source}: invalid sweep file ({len(errors)} problem(s))"]
        for line, path, reason in self.errors:
            where = f"{source}:{line}" if line else source
            lines.append(f"  {where}: {path}: {reason}" if path else f"  {where}: {reason}")
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- search space ------------------------------------------------------------------------------
class FloatParam(_Strict):
    """Uniform float in ``[low, high]`` (log-uniform with ``log: true``; ``step`` discretises)."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError("step cannot be combined with log")
        return self

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def bounds(self) -> list[Any]:
        return [self.low, self.high]

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


class LogParam(FloatParam):
    """Shorthand for ``{type: float, log: true}``: learning rates, weight decay."""

    type: Literal["log"]  # type: ignore[assignment]
    log: bool = True

    @model_validator(mode="after")
    def _forced_log(self) -> LogParam:
        if not self.log:
            raise ValueError("type 'log' is always log-uniform; use type 'float' instead")
        return self


class IntParam(_Strict):
    """Integer in ``[low, high]`` with ``step`` (or log-uniform)."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("step cannot be combined with log")
        return self

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def bounds(self) -> list[Any]:
        return [self.low, self.high]

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (self.log or (value - self.low) % self.step == 0)
        )


class CategoricalParam(_Strict):
    """One of ``choices`` (numbers, strings, booleans)."""

    type: Literal["categorical"]
    choices: list[bool | int | float | str] = Field(min_length=1)

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

    def bounds(self) -> list[Any]:
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        return value in self.choices


Param = Annotated[FloatParam | LogParam | IntParam | CategoricalParam, Field(discriminator="type")]


def _check_range(low: float, high: float, log: bool) -> None:
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    if log and low <= 0:
        raise ValueError(f"log scale needs low > 0, got {low}")


# --- objective, sampler, pruner, budget ------------------------------------------------------
class PostSearch(_Strict):
    """The inner search over post-processing thresholds on one trial's cached validation maps.

    ``t_energy`` and ``t_mask`` are sampled (TPE, ``n_trials`` candidates, the training
    config's thresholds first); every ``min_area`` of the grid is scored for each candidate
    because area filtering reuses the candidate's polygons and costs almost nothing. Its
    cost is bounded by ``timeout``, ``max_fraction`` of the training time and ``max_tiles``.
    """

    enabled: bool = True
    n_trials: int = Field(24, ge=1)
    #: seconds; the search stops early when reached (the baseline candidate always runs).
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


class Objective(_Strict):
    """What a trial returns: F1 on the validation split after the inner threshold search."""

    metric: Literal["f1", "mean_city_f1"] = "f1"
    post_search: PostSearch = PostSearch()


class SamplerSpec(_Strict):
    type: Literal["tpe", "random"] = "tpe"
    seed: int | None = 0
    #: TPE samples randomly until this many trials have finished.
    n_startup_trials: int = Field(5, ge=0)
    multivariate: bool = True

    def build(self) -> Any:
        import optuna

        if self.type == "random":
            return optuna.samplers.RandomSampler(seed=self.seed)
        # constant_liar keeps parallel workers from sampling the same point
        return optuna.samplers.TPESampler(
            seed=self.seed,
            n_startup_trials=self.n_startup_trials,
            multivariate=self.multivariate,
            constant_liar=True,
        )


class PrunerSpec(_Strict):
    """``hyperband`` (default), ``median``, ``threshold`` or ``none``; steps are epochs."""

    type: Literal["hyperband", "median", "threshold", "none"] = "hyperband"
    #: epochs before a trial may be pruned (hyperband: the first rung).
    min_resource: int = Field(1, ge=1)
    reduction_factor: int = Field(3, ge=2)
    #: median: trials that must finish before any is pruned.
    n_startup_trials: int = Field(2, ge=0)
    #: threshold: prune a trial whose validation F1 is below this after ``min_resource``.
    lower: float | None = None

    @model_validator(mode="after")
    def _threshold_needs_lower(self) -> PrunerSpec:
        if self.type == "threshold" and self.lower is None:
            raise ValueError("type 'threshold' needs 'lower' (the F1 a trial must reach)")
        return self

    def build(self, max_epochs: int) -> Any:
        import optuna

        if self.type == "none":
            return optuna.pruners.NopPruner()
        if self.type == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=self.n_startup_trials, n_warmup_steps=self.min_resource
            )
        if self.type == "threshold":
            return optuna.pruners.ThresholdPruner(
                lower=self.lower, n_warmup_steps=self.min_resource
            )
        return optuna.pruners.HyperbandPruner(
            min_resource=self.min_resource,
            max_resource=max_epochs,
            reduction_factor=self.reduction_factor,
        )


class Budget(_Strict):
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


class StorageSpec(_Strict):
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


class TrackingSpec(_Strict):
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


class SweepConfig(_Strict):
    """A whole sweep. Build it with :func:`load_sweep` (which resolves paths and reports
    every problem with its line)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    out_dir: Path | None = None
    train: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, Param] = Field(default_factory=dict)
    enqueue: list[Literal["baseline"] | dict[str, Any]] = Field(default_factory=list)
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

    def base_config(self) -> TrainConfig:
        """The fixed training config (validated when the sweep was loaded)."""
        return TrainConfig.from_dict(self.train, source="train")

    def trial_dir(self, number: int) -> Path:
        return self.root / "trials" / f"{number:04d}"

    def trial_config(self, params: dict[str, Any], number: int, **overrides: Any) -> TrainConfig:
        """The training config of trial ``number``: fixed config + sampled ``params``."""
        data = dict(self.train)
        data.update(apply_params(self.base_config(), params))
        data["out_dir"] = self.trial_dir(number)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return TrainConfig.from_dict(data, source=f"trial {number}")

    def enqueued_params(self) -> list[dict[str, Any]]:
        """Parameter sets for the first trials, in order (``baseline`` resolved)."""
        base = self.base_config()
        return [seed_params(base, self.space, entry) for entry in self.enqueue]


# --- parameters <-> training config ------------------------------------------------------------
def split_name(name: str) -> tuple[str, int | None]:
    """``"crop_scale.1"`` -> ``("crop_scale", 1)``: an element of a tuple field."""
    field, _, index = name.partition(".")
    return field, (int(index) if index.isdigit() else None)


def seed_params(base: TrainConfig, space: dict[str, Any], entry: Any) -> dict[str, Any]:
    """The parameters of one ``enqueue`` entry; ``baseline`` = the fixed config's values."""
    if entry == BASELINE:
        return {name: param_value(base, name) for name in space if addressable(base, name)}
    return dict(entry)


def addressable(config: TrainConfig, name: str) -> bool:
    """Whether ``name`` is a training field (or an existing element of a tuple field)."""
    field, index = split_name(name)
    if field not in TrainConfig.model_fields:
        return False
    value = getattr(config, field)
    return index is None or (isinstance(value, tuple) and index < len(value))


def param_value(config: TrainConfig, name: str) -> Any:
    field, index = split_name(name)
    value = getattr(config, field)
    return value[index] if index is not None else value


def apply_params(config: TrainConfig, params: dict[str, Any]) -> dict[str, Any]:
    """Field values of ``config`` changed by ``params`` (tuple elements merged in)."""
    changes: dict[str, Any] = {}
    for name, value in params.items():
        field, index = split_name(name)
        if index is None:
            changes[field] = value
        else:
            current = list(changes.get(field, getattr(config, field)))
            current[index] = value
            changes[field] = tuple(current)
    return changes


# --- loading -------------------------------------------------------------------------------------
def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; raise :class:`SweepConfigError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SweepConfigError(str(path), [(None, "", "file not found")]) from None
    sweep = parse_sweep(text, source=str(path), base_dir=path.resolve().parent)
    return sweep.model_copy(update={"source": path.resolve()})


def parse_sweep(text: str, *, source: str = "<sweep>", base_dir: Path | None = None) -> SweepConfig:
    """Validate sweep YAML ``text``; relative paths resolve against ``base_dir``."""
    import yaml

    try:
        data = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
        raise SweepConfigError(source, [(mark.line + 1 if mark else None, "", reason)]) from None
    if not isinstance(data, dict):
        raise SweepConfigError(source, [(1, "", "expected a mapping of sweep settings")])
    base_dir = (base_dir or Path.cwd()).resolve()
    data = {**data, "base_dir": base_dir}
    try:
        sweep = SweepConfig.model_validate(data)
    except ValidationError as exc:
        errors = _pydantic_errors(exc, data, lines)
        # the fields checked against the training config are reported in the same pass
        train, space = data.get("train"), data.get("space")
        if isinstance(train, dict) and isinstance(space, dict):
            names = {name: None for name in space}
            problems = _semantic_errors(train, names, [], post_search=True)
            errors += _located(problems, lines, skip={e[1] for e in errors})
        raise SweepConfigError(source, errors) from None
    problems = _semantic_errors(
        sweep.train, sweep.space, sweep.enqueue, post_search=sweep.objective.post_search.enabled
    )
    if problems:
        raise SweepConfigError(source, _located(problems, lines))
    return _resolve_paths(sweep)


def _located(
    problems: list[tuple[tuple, str]], lines: dict[tuple, int], skip: set[str] = frozenset()
) -> list[tuple[int | None, str, str]]:
    out = []
    for path, reason in problems:
        dotted = ".".join(map(str, path))
        if dotted not in skip:
            out.append((_line_of(lines, path), dotted, reason))
    return out


def _line_map(node: Any) -> dict[tuple, int]:
    """YAML path (keys / indices) -> 1-based line, from the composed node tree."""
    import yaml

    lines: dict[tuple, int] = {}

    def walk(node: Any, path: tuple) -> None:
        if node is None:
            return
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    walk(node, ())
    return lines


def _line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _pydantic_errors(
    exc: ValidationError, data: Any, lines: dict[tuple, int]
) -> list[tuple[int | None, str, str]]:
    """Map pydantic locations onto the document, dropping union tags such as ``float``."""
    out = []
    for err in exc.errors():
        path: list[Any] = []
        node = data
        for part in err["loc"]:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
            if in_dict or in_list:
                node = node[part]
                path.append(part)
            elif err["type"] == "extra_forbidden" or (
                err["type"] == "missing" and part == err["loc"][-1]
            ):
                path.append(part)
        reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        reason = reason.removeprefix("Value error, ")
        plain = err["type"] not in ("missing", "extra_forbidden", "value_error")
        if plain and not isinstance(node, dict | list):
            reason += f" (got {node!r})"
        out.append((_line_of(lines, tuple(path)), ".".join(map(str, path)), reason))
    return out


def _semantic_errors(
    train: dict[str, Any],
    space: dict[str, Any],
    enqueue: list[Any],
    *,
    post_search: bool,
) -> list[tuple[tuple, str]]:
    """Checks that need the training config: field names, ranges a config accepts, seeds.

    ``space`` values may be ``None`` (names only, when the parameters themselves are invalid).
    """
    problems: list[tuple[tuple, str]] = []
    for field, why in RESERVED_FIELDS.items():
        if field in train:
            problems.append((("train", field), why))
    fixed = {k: v for k, v in train.items() if k not in RESERVED_FIELDS}
    try:
        base = TrainConfig.model_validate(fixed)
    except ValidationError as exc:
        for err in exc.errors():
            reason = "unknown training field" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append((("train", *err["loc"]), f"{reason} (got {err.get('input')!r})"))
        base = TrainConfig()  # keep checking the space against the defaults
    for name, param in space.items():
        field, index = split_name(name)
        if field not in TrainConfig.model_fields or field in RESERVED_FIELDS:
            problems.append((("space", name), "not a searchable training field"))
            continue
        if not addressable(base, name):
            problems.append((("space", name), f"{field} has no element {index}"))
            continue
        if post_search and field in POST_FIELDS:
            problems.append(
                (
                    ("space", name),
                    "tuned per trial by objective.post_search (no retraining needed); "
                    "set its range there, or disable post_search to search it here",
                )
            )
            continue
        for value in param.bounds() if param is not None else ():
            reason = _invalid_value(base, name, value)
            if reason:
                problems.append((("space", name), f"value {value!r} is invalid: {reason}"))
    bad = {path[1] for path, _ in problems if path[0] == "space"}
    for i, entry in enumerate(enqueue):
        seeds = seed_params(base, space, entry)
        for name, value in seeds.items():
            where = ("enqueue", i) if entry == BASELINE else ("enqueue", i, name)
            if name not in space:
                problems.append((where, "not a parameter of space"))
            elif name not in bad and not space[name].contains(value):
                what = f"baseline value of {name}" if entry == BASELINE else "value"
                problems.append(
                    (where, f"{what} {value!r} is outside space.{name} {space[name].bounds()}")
                )
    return problems


def _invalid_value(base: TrainConfig, name: str, value: Any) -> str | None:
    try:
        TrainConfig.model_validate({**base.model_dump(), **apply_params(base, {name: value})})
    except ValidationError as exc:
        return "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors())
    return None


def _resolve_paths(sweep: SweepConfig) -> SweepConfig:
    base = sweep.base_dir
    train = dict(sweep.train)
    for key in ("data_dir", "val_dir", "cache_dir"):
        if train.get(key) is not None:
            train[key] = _under(base, train[key])
    if isinstance(train.get("pretrained"), str) and train["pretrained"].lower() not in (
        "true",
        "false",
    ):
        train["pretrained"] = _under(base, train["pretrained"])
    changes: dict[str, Any] = {"train": train}
    if sweep.out_dir is not None:
        changes["out_dir"] = _under(base, sweep.out_dir)
    url = sweep.storage.url
    if url is not None and "://" not in url:
        changes["storage"] = sweep.storage.model_copy(update={"url": str(_under(base, url))})
    uri = sweep.tracking.uri
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        db = _under(base, uri[len("sqlite:///") :])
        changes["tracking"] = sweep.tracking.model_copy(update={"uri": f"sqlite:///{db}"})
    return sweep.model_copy(update=changes)


def _under(base: Path, value: Any) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()
