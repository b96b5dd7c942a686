"""The ``geoarena`` command line.

Subcommands live with their component and are imported only when invoked: torch, timm,
mlflow and optuna together cost seconds to import, and ``geoarena --help`` or
``geoarena score`` must start instantly.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from geoarena.errors import GeoarenaError, InvalidInput

#: command name -> "module:attribute" of the click command or group that implements it.
COMMANDS: dict[str, str] = {
    "score": "geoarena.evaluator.cli:score",
    "compare": "geoarena.evaluator.compare_cli:compare_command",
    "prepare": "geoarena.evaluator.cli:prepare",
    "leaderboard": "geoarena.leaderboard.cli:leaderboard",
    "data": "geoarena.models.cli:data",
    "train": "geoarena.models.cli:train",
    "predict": "geoarena.models.cli:predict",
    "sweep": "geoarena.platform.cli:sweep",
    "demo": "geoarena.platform.cli:demo",
}

#: one-line help shown by ``geoarena --help`` without importing the command's module.
SHORT_HELP: dict[str, str] = {
    "score": "Score a proposal CSV against a truth CSV (polygon F1).",
    "compare": "Compare two submissions on one truth: paired bootstrap, p-values.",
    "prepare": "Store a truth parsed, checked and repaired once, to score against fast.",
    "leaderboard": "Host a challenge: database, teams, tokens, server, workers.",
    "data": "Make and inspect training data (synthetic cities).",
    "train": "Train the building detector from a YAML config.",
    "predict": "Predict building polygons for a folder of tiles.",
    "sweep": "Optuna hyperparameter sweeps logged to MLflow.",
    "demo": "Run the whole pipeline end to end on synthetic data.",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List subcommands from ``SHORT_HELP`` so that ``--help`` imports nothing."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, SHORT_HELP[name]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geoarena")
def cli() -> None:
    """geoarena: exact scoring, leaderboards and model sweeps for building footprints."""


@contextmanager
def exit_on_error() -> Iterator[None]:
    """The command line's one mapping of geoarena's errors: the message (every located
    problem) on stderr, then exit 2 for bad input or 1 for a refused action. Any other
    exception is a bug and keeps its traceback."""
    try:
        yield
    except InvalidInput as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except GeoarenaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


#: the evaluator's commands, short-lived processes whose time is mostly start-up and
#: GEOS. Each ends with ``os._exit`` once its output is flushed: it leaves nothing for
#: Python's shutdown to do (its files are written and closed, its workers joined), and
#: that shutdown, freeing the scored files' objects and modules, took ~35 ms of a ~0.7 s
#: `geoarena score` from a prepared truth. And numpy's OpenBLAS starts no thread pool for
#: them (they multiply no matrices worth one): its threads spin ~0.1 s of CPU after
#: numpy's import, a core's worth while the files are read on a 2-core machine. Nor does
#: Python's cyclic collector run: such a process makes ~100k acyclic objects per 1,000
#: tiles (the modules' while importing, then geometries and strings), and the collector
#: would only scan them again and again (~0.05 s at 1,000 tiles)
SCORING = frozenset({"score", "compare", "prepare"})


def main() -> None:
    """Console-script entry point."""
    scoring = len(sys.argv) > 1 and sys.argv[1] in SCORING
    if scoring:  # before anything imports numpy
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        gc.disable()
    try:
        cli()
    except SystemExit as exc:
        if scoring:
            _quick_exit(exc.code)
        raise


def _quick_exit(code: str | int | None) -> None:
    """End the process as ``sys.exit(code)`` would, without the interpreter's shutdown."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
