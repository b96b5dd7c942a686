"""Loading a sweep file: YAML -> :class:`SweepConfig`, every problem reported at once.

A sweep file is validated in full before anything runs: every bad field is reported at
once with its file, line and dotted path (``SweepConfigError``), because a typo found
after the first trial has trained for an hour costs an hour. Besides the schema, the
space and the ``enqueue`` seeds are checked against the training config itself (a
``t_mask`` of 1.0 or a negative loss weight is refused). Relative paths (data, out_dir,
journal file, SQLite tracking store) are resolved against the YAML file's folder, so the
same command works from any working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from geoarena.errors import InvalidInput, Problem
from geoarena.models import Thresholds, TrainConfig
from geoarena.models.config_yaml import YamlDocument, YamlPath, dotted
from geoarena.platform.sweep.schema import SweepConfig
from geoarena.platform.sweep.space import Param
from geoarena.platform.sweep.trial_params import (
    BASELINE,
    RESERVED_FIELDS,
    EnqueueEntry,
    addressable,
    apply_params,
    seed_params,
    split_name,
)

_PARAM: TypeAdapter[Param] = TypeAdapter(Param)


class SweepConfigError(InvalidInput):
    """A sweep file is invalid; ``problems`` holds every problem (file, line, dotted path)."""


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; raise :class:`SweepConfigError` listing every problem."""
    path = Path(path)
    doc = YamlDocument.read(path, SweepConfigError)
    sweep = _validate(doc, path.resolve().parent)
    return sweep.model_copy(update={"source": path.resolve()})


def parse_sweep(text: str, *, source: str = "<sweep>", base_dir: Path | None = None) -> SweepConfig:
    """Validate sweep YAML ``text``; relative paths resolve against ``base_dir``."""
    doc = YamlDocument.parse(text, source, SweepConfigError)
    return _validate(doc, (base_dir or Path.cwd()).resolve())


def _validate(doc: YamlDocument, base_dir: Path) -> SweepConfig:
    if not isinstance(doc.data, dict):
        problem = Problem(doc.source, 1, "", "expected a mapping of sweep settings")
        raise SweepConfigError([problem])
    data = {**_resolve_paths(doc.data, base_dir), "base_dir": base_dir}
    problems: list[Problem] = []
    sweep: SweepConfig | None = None
    try:
        sweep = SweepConfig.model_validate(data)
    except ValidationError as exc:
        problems = doc.problems(exc, data=data)
    reported = {p.column for p in problems}
    problems += [
        doc.problem(path, reason)
        for path, reason in _semantic_problems(data, sweep)
        if dotted(path) not in reported
    ]
    if problems:
        raise SweepConfigError(sorted(problems, key=lambda p: (p.line, p.column)))
    assert sweep is not None
    return sweep


def _semantic_problems(
    data: dict[str, Any], sweep: SweepConfig | None
) -> list[tuple[YamlPath, str]]:
    """Checks that need the training config: field names, ranges a config accepts, seeds.

    With an invalid file (``sweep`` None) the space's names are still checked against the
    training config (or its defaults), in the same report.
    """
    train = data.get("train")
    train = train if isinstance(train, dict) else {}
    problems: list[tuple[YamlPath, str]] = [
        (("train", field), why) for field, why in RESERVED_FIELDS.items() if field in train
    ]
    if sweep is not None:
        base = sweep.train
    else:
        try:
            base = TrainConfig.model_validate(
                {k: v for k, v in train.items() if k not in RESERVED_FIELDS}
            )
        except ValidationError:
            base = TrainConfig()  # keep checking the space against the defaults
    raw_space = data.get("space")
    raw_space = raw_space if isinstance(raw_space, dict) else {}
    post_search = sweep.objective.post_search.enabled if sweep is not None else True
    for name, raw in raw_space.items():
        param = sweep.space[name] if sweep is not None else _param_or_none(raw)
        reason = _space_problem(base, name, param, post_search=post_search)
        if reason:
            problems.append((("space", name), reason))
    if sweep is not None:
        bad = {path[1] for path, _ in problems if path[0] == "space"}
        problems += _seed_problems(base, sweep.space, sweep.enqueue, bad)
    return problems


def _param_or_none(raw: object) -> Param | None:
    """A space entry of a file that failed validation, if this entry itself is valid."""
    try:
        return _PARAM.validate_python(raw)
    except ValidationError:
        return None


def _space_problem(
    base: TrainConfig, name: str, param: Param | None, *, post_search: bool
) -> str | None:
    field, index = split_name(name)
    if field not in TrainConfig.field_names() or field in RESERVED_FIELDS:
        return "not a searchable training field"
    if not addressable(base, name):
        return f"{field} has no element {index}"
    if post_search and field in Thresholds.names():
        return (
            "tuned per trial by objective.post_search (no retraining needed); "
            "set its range there, or disable post_search to search it here"
        )
    for value in param.bounds() if param is not None else ():
        reason = _invalid_value(base, name, value)
        if reason:
            return f"value {value!r} is invalid: {reason}"
    return None


def _seed_problems(
    base: TrainConfig, space: dict[str, Param], enqueue: list[EnqueueEntry], bad: set[str | int]
) -> list[tuple[YamlPath, str]]:
    problems: list[tuple[YamlPath, str]] = []
    for i, entry in enumerate(enqueue):
        for name, value in seed_params(base, space, entry).items():
            where: YamlPath = ("enqueue", i) if entry == BASELINE else ("enqueue", i, name)
            if name not in space:
                problems.append((where, "not a parameter of space"))
            elif name not in bad and not space[name].contains(value):
                what = f"baseline value of {name}" if entry == BASELINE else "value"
                problems.append(
                    (where, f"{what} {value!r} is outside space.{name} {space[name].bounds()}")
                )
    return problems


def _invalid_value(base: TrainConfig, name: str, value: Any) -> str | None:
    """Why the training config refuses ``value`` for parameter ``name`` (None: it accepts it)."""
    try:
        TrainConfig.model_validate({**base.model_dump(), **apply_params(base, {name: value})})
    except ValidationError as exc:
        return "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors())
    return None


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """``data`` with relative paths made absolute under ``base`` (values of a wrong type are
    left for validation to report)."""
    data = dict(data)
    train = data.get("train")
    if isinstance(train, dict):
        train = dict(train)
        for key in ("data_dir", "val_dir", "cache_dir"):
            if isinstance(train.get(key), str):
                train[key] = _under(base, train[key])
        pretrained = train.get("pretrained")
        if isinstance(pretrained, str) and pretrained.lower() not in ("true", "false"):
            train["pretrained"] = _under(base, pretrained)
        data["train"] = train
    if isinstance(data.get("out_dir"), str):
        data["out_dir"] = _under(base, data["out_dir"])
    storage = data.get("storage")
    if isinstance(storage, str):
        storage = {"url": storage}
    if isinstance(storage, dict):
        url = storage.get("url")
        if isinstance(url, str) and "://" not in url:
            storage = {**storage, "url": str(_under(base, url))}
        data["storage"] = storage
    tracking = data.get("tracking")
    if isinstance(tracking, dict):
        uri = tracking.get("uri")
        if (
            isinstance(uri, str)
            and uri.startswith("sqlite:///")
            and not uri.startswith("sqlite:////")
        ):
            db = _under(base, uri[len("sqlite:///") :])
            data["tracking"] = {**tracking, "uri": f"sqlite:///{db}"}
    return data


def _under(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


__all__ = ["SweepConfigError", "load_sweep", "parse_sweep"]
