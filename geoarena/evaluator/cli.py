"""``geoarena score``: score a proposal CSV against a truth; ``geoarena prepare``: store a
truth parsed, filtered and repaired once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console

from geoarena.cli import exit_on_error

from . import report
from .io import DEFAULT_MAX_BYTES, load_bytes, read_proposals, read_truth
from .parallel import score_files
from .prepared import PreparedTruth
from .rules import CHOICES, PRESETS, Rules, get_rules
from .stored import is_prepared, load_prepared, prepared_from_cache, save_prepared
from .table import DEFAULT_MAX_VERTICES, OnError

_Command = TypeVar("_Command", bound=Callable[..., None])


def _knob_options(command: _Command) -> _Command:
    """One ``--knob`` option per string knob of :class:`Rules`, generated from CHOICES."""
    for knob, choices in reversed(CHOICES.items()):
        command = click.option(
            "--" + knob.replace("_", "-"),
            knob,
            type=click.Choice(list(choices)),
            default=None,
            help="Override the preset: " + "; ".join(f"{k}: {v}" for k, v in choices.items()),
        )(command)
    return command


def _rule_options(command: _Command) -> _Command:
    """The options that choose the rules: a preset, then any knob overridden."""
    for option in reversed(
        [
            click.option(
                "--rules",
                "preset",
                default="deepglobe",
                show_default=True,
                type=click.Choice(list(PRESETS)),
                help="Rule preset (see the README's preset table).",
            ),
            click.option(
                "--iou-threshold", type=float, default=None, help="Override the IoU threshold."
            ),
            click.option(
                "--inclusive/--strict",
                "threshold_inclusive",
                default=None,
                help="IoU >= threshold (inclusive) or > threshold (strict).",
            ),
            click.option("--truth-area-filter", default=None, help="e.g. '>=20', '>20', 'none'."),
            click.option(
                "--proposal-area-filter", default=None, help="e.g. '>=20', '>20' or 'none'."
            ),
            _knob_options,
        ]
    ):
        command = option(command)
    return command


def _reading_options(command: _Command) -> _Command:
    """The options that say how CSVs are read and checked."""
    for option in reversed(
        [
            click.option(
                "--on-error",
                type=click.Choice(["raise", "skip"]),
                default="raise",
                show_default=True,
                help="raise: reject a file with bad rows (exit 2); skip: score the rest, "
                "list bad rows.",
            ),
            click.option("--max-vertices", type=int, default=None, help="Vertex cap per polygon."),
            click.option(
                "--max-bytes",
                type=click.IntRange(min=1),
                default=DEFAULT_MAX_BYTES,
                show_default=True,
                help="Largest file accepted, in bytes, before or after gunzipping.",
            ),
        ]
    ):
        command = option(command)
    return command


def _rules_from(preset: str, knobs: dict[str, object]) -> Rules:
    try:
        return get_rules(preset, **knobs)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None


_INDEX_OPTION = click.option(
    "--index",
    type=click.Choice(["grid", "strtree", "rtree"]),
    default="grid",
    show_default=True,
    help="Spatial index backend (identical results).",
)


@click.command()
@click.argument("truth", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the prepared truth (an Arrow IPC file).",
)
@_rule_options
@_reading_options
def prepare(
    truth: Path,
    output: Path,
    preset: str,
    on_error: OnError,
    max_vertices: int | None,
    max_bytes: int,
    **knobs: object,
) -> None:
    """Parse, check, filter and repair TRUTH once, for these rules, into OUTPUT.

    `geoarena score OUTPUT PROPOSALS.csv` (with the same rules) then scores without
    reading the CSV again. The file holds no code (Arrow columns, WKB geometries) and
    records the evaluator version, the rules and the truth's sha256; scoring refuses it
    under other rules or another evaluator version.
    """
    rules = _rules_from(preset, knobs)
    with exit_on_error():
        data, label = load_bytes(truth, None, max_bytes)
        table = read_truth(
            data,
            name=label,
            on_error=on_error,
            max_vertices=max_vertices or DEFAULT_MAX_VERTICES,
        )
        prepared = PreparedTruth(table, rules)
        save_prepared(prepared, output, truth_sha256=hashlib.sha256(data).hexdigest())
    err = Console(stderr=True)
    for row in table.skipped:
        err.print(f"skipped {row}", highlight=False, markup=False, soft_wrap=True)
    click.echo(
        f"prepared {len(prepared.side.rows)} scored truths of {len(table)} rows "
        f"({len(prepared.image_ids)} images, rules {rules.name}) in {output}"
    )


@click.command()
@click.argument("truth", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("proposals", type=click.Path(dir_okay=False, path_type=Path))
@_rule_options
@_INDEX_OPTION
@_reading_options
@click.option(
    "--cache/--no-cache",
    default=False,
    show_default=True,
    help="Keep the prepared truth in the user cache (keyed by the truth's sha256) and "
    "reuse it on the next score of the same truth and rules.",
)
@click.option("--bootstrap", type=int, default=0, help="Bootstrap replicates for 95% CIs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--per-image", type=click.Path(dir_okay=False, path_type=Path), help="Write CSV.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--matches",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every truth/proposal with its match and IoU as GeoJSON.",
)
@click.option("--plot", multiple=True, metavar="IMAGE_ID", help="PNG overlay (repeatable).")
@click.option(
    "--plot-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
)
def score(
    truth: Path,
    proposals: Path,
    preset: str,
    index: str,
    on_error: OnError,
    max_vertices: int | None,
    max_bytes: int,
    bootstrap: int,
    seed: int,
    per_image: Path | None,
    json_out: Path | None,
    matches: Path | None,
    plot: tuple[str, ...],
    plot_dir: Path,
    cache: bool,
    **knobs: object,
) -> None:
    """Score PROPOSALS against TRUTH (SpaceNet CSVs, optionally gzip'd; TRUTH may also be
    a file written by `geoarena prepare`).

    Prints per-city precision/recall/F1, micro F1 and mean per-city F1. Exit code 0 on
    success, 2 on bad input (file, line and reason printed).
    """
    err = Console(stderr=True)
    rules = _rules_from(preset, knobs)
    vertices = max_vertices or DEFAULT_MAX_VERTICES
    with exit_on_error():
        source: Path | PreparedTruth = truth
        if is_prepared(truth):
            source = load_prepared(truth, rules=rules, index=index, max_bytes=max_bytes)
        elif cache:
            source = prepared_from_cache(
                truth,
                rules,
                index=index,
                on_error=on_error,
                max_vertices=vertices,
                max_bytes=max_bytes,
            )
        if matches or plot:  # geometries are needed: one process
            p = read_proposals(
                proposals, on_error=on_error, max_vertices=vertices, max_bytes=max_bytes
            )
            if not isinstance(source, PreparedTruth):
                t = read_truth(truth, on_error=on_error, max_vertices=vertices, max_bytes=max_bytes)
                source = PreparedTruth(t, rules, index=index)
            result = source.score(p, bootstrap=bootstrap, seed=seed, details=True)
        else:
            result = score_files(
                source,
                proposals,
                rules,
                index=index,
                on_error=on_error,
                max_vertices=vertices,
                max_bytes=max_bytes,
                bootstrap=bootstrap,
                seed=seed,
            )
    for row in result.skipped:
        err.print(f"skipped {row}", highlight=False, markup=False, soft_wrap=True)
    report.render(result, Console())
    if per_image:
        report.write_per_image(result, per_image)
    if json_out:
        report.write_json(result, json_out)
    if result.matches is not None:  # asked for by --matches or --plot
        if matches:
            report.write_matches(result.matches, matches)
        if plot:
            with exit_on_error():
                report.plot_overlays(result.matches, list(plot), plot_dir)
