"""``geoarena score`` (a proposal file against a truth file) and ``geoarena prepare`` (a
truth parsed, filtered and repaired once, stored to score against fast)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from geoarena.cli import exit_on_error

from . import overlays, report
from .breakdown import BreakdownSettings
from .cli_options import (
    INDEX_OPTION,
    Georeferenced,
    georeferenced_options,
    reading_options,
    refuse_prepared,
    rule_options,
    rules_from,
)
from .errors import InputError
from .io import load_bytes, read_proposals, read_truth
from .metrics import MAX_REPLICATES
from .outputs import check_writable, check_writable_folder
from .parallel import score_files
from .prepared import PreparedTruth
from .stored import is_prepared, prepared_from_cache, save_prepared
from .table import DEFAULT_MAX_VERTICES, OnError, PolygonTable
from .vectors import read_planar


@click.command()
@click.argument("truth", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the prepared truth (an Arrow IPC file).",
)
@rule_options
@georeferenced_options
@reading_options
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

    TRUTH is a SpaceNet CSV, or GeoJSON, GeoPackage or GeoParquet footprints read as
    `geoarena score` reads them (stored in their projected CRS, or in the equal-area one
    with --equal-area). `geoarena score OUTPUT PROPOSALS` (with the same rules and area
    options) then scores without reading TRUTH again; footprints must come in the
    stored CRS. The file holds no code (Arrow columns, WKB geometries) and records the
    evaluator version, the rules, the CRS and the truth's sha256; scoring refuses it
    under other rules or another evaluator version.
    """
    geo = Georeferenced.pop(knobs)
    rules = rules_from(preset, knobs)
    vertices = max_vertices or DEFAULT_MAX_VERTICES
    with exit_on_error():
        if is_prepared(truth):
            raise InputError.about("already a prepared truth", file=str(truth))
        check_writable(output, "--output")
        crs = None
        if geo.applies(truth, truth):  # a GIS file, read by GDAL or pyarrow (not as text)
            side = read_planar(truth, geo.options, on_error=on_error, max_vertices=vertices)
            table, crs = side.table, side.crs
            rules = geo.rules(rules, crs)
            with truth.open("rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
        else:
            data, label = load_bytes(truth, None, max_bytes)
            table = read_truth(data, name=label, on_error=on_error, max_vertices=vertices)
            digest = hashlib.sha256(data).hexdigest()
        prepared = PreparedTruth(table, rules, crs=None if crs is None else crs.to_wkt())
        save_prepared(prepared, output, truth_sha256=digest)
    for row in table.skipped:
        click.echo(f"skipped {row}", err=True)
    where = "" if crs is None else f", coordinates in {crs}"
    click.echo(
        f"prepared {len(prepared.side.rows)} scored truths of {len(table)} rows "
        f"({len(prepared.image_ids)} images, rules {rules.name}{where}) in {output}"
    )


@click.command()
@click.argument("truth", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("proposals", type=click.Path(dir_okay=False, path_type=Path))
@rule_options
@georeferenced_options
@INDEX_OPTION
@reading_options
@click.option(
    "--cache/--no-cache",
    default=False,
    show_default=True,
    help="Keep the prepared truth in the user cache (keyed by the truth's sha256) and "
    "reuse it on the next score of the same truth and rules.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(0, MAX_REPLICATES),
    default=0,
    help="Bootstrap replicates for 95% CIs.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--per-image", type=click.Path(dir_okay=False, path_type=Path), help="Write CSV.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--matches",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every truth/proposal with its match and IoU as GeoJSON.",
)
@click.option(
    "--diagnostics",
    is_flag=True,
    help="Add FP/FN per error class and recall by building size (README: Diagnostics).",
)
@click.option(
    "--size-bins",
    metavar="SMALL,LARGE",
    help="Truth areas where small buildings end and large ones begin, in the area "
    "filters' units: px² for CSVs and under --area-units pixels, else square map units. "
    "[default: 1024,9216 px², COCO's 32² and 96² px; in map units the same at 0.3 m]",
)
@click.option(
    "--plot", multiple=True, metavar="IMAGE_ID", help="SVG overlay of one image (repeatable)."
)
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
    diagnostics: bool,
    size_bins: str | None,
    plot: tuple[str, ...],
    plot_dir: Path,
    cache: bool,
    **knobs: object,
) -> None:
    """Score PROPOSALS against TRUTH: SpaceNet CSVs (optionally gzip'd), or GeoJSON,
    GeoPackage or GeoParquet footprints in a projected CRS (see the README's
    "Georeferenced inputs"); TRUTH may also be a file written by `geoarena prepare`.

    Prints per-city precision/recall/F1, micro F1 and mean per-city F1. Exit code 0 on
    success, 2 on bad input (file, line or feature, and reason printed).
    """
    geo = Georeferenced.pop(knobs)
    rules = rules_from(preset, knobs)
    bins = _size_bins(size_bins) if size_bins is not None else None
    vertices = max_vertices or DEFAULT_MAX_VERTICES
    crs = None
    outputs = {"--per-image": per_image, "--json": json_out, "--matches": matches}
    with exit_on_error():
        # before any scoring: a path that cannot be written fails now, not after the work
        for option, path in outputs.items():
            if path is not None:
                check_writable(path, option)
        if plot:
            check_writable_folder(plot_dir, "--plot-dir")
        truth_in: Path | PreparedTruth | PolygonTable = truth
        proposals_in: Path | PolygonTable = proposals
        refuse_prepared([proposals], "given as the proposals (the order is TRUTH PROPOSALS)")
        if is_prepared(truth):
            truth_in, rules, crs = geo.stored_truth(truth, rules, index=index, max_bytes=max_bytes)
            proposals_in = geo.proposals_for(
                truth_in, crs, truth, proposals, on_error=on_error, max_vertices=vertices
            )
        elif geo.applies(truth, proposals):
            (pair,), rules = geo.read(
                truth, [proposals], rules, on_error=on_error, max_vertices=vertices
            )
            crs, truth_in, proposals_in = pair.crs, pair.truth, pair.proposals
            if cache:
                click.echo(f"note: --cache keeps CSV truths; {truth} is read each time", err=True)
        elif cache:
            truth_in = prepared_from_cache(
                truth,
                rules,
                index=index,
                on_error=on_error,
                max_vertices=vertices,
                max_bytes=max_bytes,
            )
        breakdown = geo.size_settings(bins, crs) if diagnostics else False
        if matches or plot:  # the matches' geometries are needed: one process
            if isinstance(proposals_in, Path):
                proposals_in = read_proposals(
                    proposals, on_error=on_error, max_vertices=vertices, max_bytes=max_bytes
                )
            if isinstance(truth_in, Path):
                truth_in = read_truth(
                    truth, on_error=on_error, max_vertices=vertices, max_bytes=max_bytes
                )
            if isinstance(truth_in, PolygonTable):
                truth_in = PreparedTruth(truth_in, rules, index=index)
            result = truth_in.score(
                proposals_in, bootstrap=bootstrap, seed=seed, details=True, breakdown=breakdown
            )
        else:
            result = score_files(
                truth_in,
                proposals_in,
                rules,
                index=index,
                on_error=on_error,
                max_vertices=vertices,
                max_bytes=max_bytes,
                bootstrap=bootstrap,
                seed=seed,
                breakdown=breakdown,
            )
    for row in result.skipped:
        click.echo(f"skipped {row}", err=True)
    for warning in report.submission_warnings(result):
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.render(result))
    if crs is not None:
        filters = f"truth {rules.truth_area_filter}, proposals {rules.proposal_area_filter}"
        units = f"coordinates in {crs}; area filters ({filters}) in square {crs.linear_units}s"
        click.echo(click.style(units, dim=True))
    with exit_on_error():
        if per_image:
            report.write_per_image(result, per_image)
        if json_out:
            report.write_json(result, json_out, crs=crs)
        if result.matches is not None:  # asked for by --matches or --plot
            if matches:
                report.write_matches(result.matches, matches, crs=crs)
            if plot:
                overlays.plot_overlays(result.matches, list(plot), plot_dir, y_up=crs is not None)


def _size_bins(size_bins: str) -> tuple[float, float]:
    """``--size-bins SMALL,LARGE`` as two areas (a usage error, exit 2, when malformed)."""
    try:
        small, large = (float(v) for v in size_bins.split(","))
        return BreakdownSettings(size_bins=(small, large)).size_bins
    except ValueError as exc:
        raise click.BadParameter(
            f"expected two areas SMALL,LARGE with 0 <= SMALL < LARGE ({exc})",
            param_hint="--size-bins",
        ) from None
