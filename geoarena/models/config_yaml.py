"""YAML config files whose every problem names its file, line and dotted field path.

A config is validated in full before anything runs, and all its problems are reported at
once: a typo found after the first hour of training costs an hour. This module keeps
the line of every key while parsing, and turns pydantic's ``ValidationError`` into
:class:`geoarena.errors.Problem` rows located in the document. The training config
(``geoarena.models.train_config``) and the sweep file (``geoarena.platform.sweep``) both
read their YAML through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from geoarena.errors import InvalidInput, Problem

#: keys and list indices from the document root to a node.
YamlPath = tuple[str | int, ...]
E = TypeVar("E", bound=InvalidInput)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document and the 1-based line of every key and list item."""

    source: str
    data: Any
    lines: Mapping[YamlPath, int]

    @classmethod
    def read(cls, path: str | Path, error: type[E]) -> YamlDocument:
        """Parse the file at ``path``; a missing file or bad YAML raises ``error``."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise error([Problem(str(path), 0, "", "file not found")]) from None
        return cls.parse(text, str(path), error)

    @classmethod
    def parse(cls, text: str, source: str, error: type[E]) -> YamlDocument:
        """Parse ``text``; a syntax error raises ``error`` with the line it was found on."""
        try:
            data = yaml.safe_load(text)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 0
            reason = f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
            raise error([Problem(source, line, "", reason)]) from None
        return cls(source, data, _line_map(root))

    def line_of(self, path: YamlPath) -> int:
        """The line of ``path``, or of its nearest ancestor in the document (0: none)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 0

    def problem(self, path: YamlPath, reason: str) -> Problem:
        return Problem(self.source, self.line_of(path), dotted(path), reason)

    def problems(self, exc: ValidationError, *, data: Any = None) -> list[Problem]:
        """Every error of ``exc`` located in this document (``data``: what was validated,
        when it differs from the parsed document, e.g. with resolved paths)."""
        return [
            self.problem(path, reason)
            for path, reason in validation_reasons(exc, self.data if data is None else data)
        ]


def dotted(path: Iterable[str | int]) -> str:
    """``("space", "crop_scale.1")`` -> ``"space.crop_scale.1"``."""
    return ".".join(map(str, path))


def validation_reasons(exc: ValidationError, data: Any) -> list[tuple[YamlPath, str]]:
    """``(path in data, reason)`` of every pydantic error.

    Locations are mapped onto ``data``: parts that are not in it (union tags such as
    ``float``, nested models filled from flat keys) are dropped, so the path is the one
    the user wrote. The offending value is shown for scalar inputs.
    """
    out: list[tuple[YamlPath, str]] = []
    for err in exc.errors():
        loc = err["loc"]
        path: list[str | int] = []
        node = data
        for part in loc:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
            if in_dict or in_list:
                node = node[part]
                path.append(part)
            elif err["type"] == "extra_forbidden" or (err["type"] == "missing" and part == loc[-1]):
                path.append(part)
        kind = err["type"]
        reason = "unknown field" if kind == "extra_forbidden" else err["msg"]
        reason = reason.removeprefix("Value error, ")
        value = err.get("input")
        if kind not in ("missing", "value_error") and not isinstance(value, dict | list):
            reason += f" (got {value!r})"
        out.append((tuple(path), reason))
    return out


def _line_map(root: yaml.Node | None) -> dict[YamlPath, int]:
    """YAML path (keys / indices) -> 1-based line, from the composed node tree."""
    lines: dict[YamlPath, int] = {}

    def walk(node: yaml.Node, path: YamlPath) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines
