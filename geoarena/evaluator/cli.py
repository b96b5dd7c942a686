"""``geoarena score``: score a proposal CSV against a truth CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console

from geoarena.cli import exit_on_error

from . import report
from .io import DEFAULT_MAX_BYTES, read_proposals, read_truth
from .parallel import score_files
from .prepared import PreparedTruth
from .rules import CHOICES, PRESETS, get_rules
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


@click.command()
@click.argument("truth", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("proposals", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--rules",
    "preset",
    default="deepglobe",
    show_default=True,
    type=click.Choice(list(PRESETS)),
    help="Rule preset (see the README's preset table).",
)
@click.option("--iou-threshold", type=float, default=None, help="Override the IoU threshold.")
@click.option(
    "--inclusive/--strict",
    "threshold_inclusive",
    default=None,
    help="IoU >= threshold (inclusive) or > threshold (strict).",
)
@click.option("--truth-area-filter", default=None, help="e.g. '>=20', '>20' or 'none'.")
@click.option("--proposal-area-filter", default=None, help="e.g. '>=20', '>20' or 'none'.")
@_knob_options
@click.option(
    "--index",
    type=click.Choice(["grid", "strtree", "rtree"]),
    default="grid",
    show_default=True,
    help="Spatial index backend (identical results).",
)
@click.option(
    "--on-error",
    type=click.Choice(["raise", "skip"]),
    default="raise",
    show_default=True,
    help="raise: reject a file with bad rows (exit 2); skip: score the rest, list bad rows.",
)
@click.option("--max-vertices", type=int, default=None, help="Vertex cap per polygon.")
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Largest file accepted, in bytes, before or after gunzipping.",
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
    **knobs: object,
) -> None:
    """Score PROPOSALS against TRUTH (SpaceNet CSVs, optionally gzip'd).

    Prints per-city precision/recall/F1, micro F1 and mean per-city F1. Exit code 0 on
    success, 2 on bad input (file, line and reason printed).
    """
    err = Console(stderr=True)
    try:
        rules = get_rules(preset, **knobs)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None
    vertices = max_vertices or DEFAULT_MAX_VERTICES
    with exit_on_error():
        if matches or plot:  # geometries are needed: one process
            t, p = (
                reader(source, on_error=on_error, max_vertices=vertices, max_bytes=max_bytes)
                for reader, source in ((read_truth, truth), (read_proposals, proposals))
            )
            prepared = PreparedTruth(t, rules, index=index)
            result = prepared.score(p, bootstrap=bootstrap, seed=seed, details=True)
        else:
            result = score_files(
                truth,
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
