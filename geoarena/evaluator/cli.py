"""``geoarena score`` (a proposal file against a truth file), ``geoarena compare`` (two
proposal files against one truth, with a paired bootstrap) and ``geoarena prepare`` (a
truth parsed, filtered and repaired once, stored to score against fast)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import click
from rich.console import Console
from rich.table import Table

from geoarena.cli import exit_on_error

from . import report
from .breakdown import BreakdownSettings
from .compare import Comparison, Difference, compare
from .errors import InputError
from .io import DEFAULT_MAX_BYTES, load_bytes, read_proposals, read_truth
from .metrics import Metric
from .parallel import score_files
from .prepared import PreparedTruth
from .rules import CHOICES, PRESETS, Rules, get_rules
from .stored import is_prepared, load_prepared, prepared_from_cache, save_prepared
from .table import DEFAULT_MAX_VERTICES, OnError
from .vectors import (
    EQUAL_AREA_CRS,
    AreaUnits,
    GeoInputs,
    VectorOptions,
    in_pixels,
    is_vector_file,
    pixel_area,
    read_georeferenced,
)

if TYPE_CHECKING:
    from rasterio.crs import CRS

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
    """``--rules PRESET`` and an override option per knob: what ``score`` and ``compare``
    share, so that the two commands always take the same rules."""
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
            click.option("--truth-area-filter", default=None, help="e.g. '>=20', '>20' or 'none'."),
            click.option(
                "--proposal-area-filter", default=None, help="e.g. '>=20', '>20' or 'none'."
            ),
            _knob_options,
        ]
    ):
        command = option(command)
    return command


def _rules(preset: str, knobs: dict[str, object]) -> Rules:
    """The rules the options name; a bad knob value is a usage error (exit 2)."""
    try:
        return get_rules(preset, **knobs)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None


def _georeferenced_options(command: _Command) -> _Command:
    """The options of georeferenced inputs (``vectors.py``); :meth:`_Georeferenced.pop`
    takes them out of the command's keyword arguments."""
    for option in reversed(
        [
            click.option(
                "--image-id",
                help="One scene per file: its ImageId (default: the truth file's name).",
            ),
            click.option(
                "--image-id-field",
                metavar="PROPERTY",
                help="Many scenes per file: the property naming each feature's scene.",
            ),
            click.option("--building-id-field", metavar="PROPERTY", help="BuildingId property."),
            click.option("--confidence-field", metavar="PROPERTY", help="Confidence property."),
            click.option("--layer", help="Layer of a multi-layer file (GeoPackage)."),
            click.option(
                "--geometry-column",
                default="PolygonWKT_Pix",
                show_default=True,
                help="WKT column of a CSV: PolygonWKT_Geo scores its map coordinates.",
            ),
            click.option(
                "--crs",
                help="CRS of the coordinates, overriding the files' ('none': planar, pixels).",
            ),
            click.option(
                "--equal-area",
                is_flag=True,
                help=f"Reproject geographic (degree) inputs to the equal-area {EQUAL_AREA_CRS}.",
            ),
            click.option(
                "--area-units",
                type=click.Choice(["map", "pixels"]),
                default="map",
                show_default=True,
                help="Units of the area filters for georeferenced inputs.",
            ),
            click.option(
                "--pixel-size",
                type=click.FloatRange(min=0, min_open=True),
                help="--area-units pixels: a pixel's side in map units (square pixels).",
            ),
            click.option(
                "--raster",
                type=click.Path(dir_okay=False, path_type=Path),
                help="--area-units pixels: the imagery (GeoTIFF) whose pixel area to use.",
            ),
        ]
    ):
        command = option(command)
    return command


@dataclass(frozen=True)
class _Georeferenced:
    """What the georeferenced-input options say."""

    options: VectorOptions
    area_units: AreaUnits
    pixel_size: float | None
    raster: Path | None

    @classmethod
    def pop(cls, kwargs: dict[str, object]) -> _Georeferenced:
        """Take the options of :func:`_georeferenced_options` out of ``kwargs``."""
        names = [f.name for f in dataclasses.fields(VectorOptions)]
        options = VectorOptions(**{name: kwargs.pop(name) for name in names})  # type: ignore[arg-type]
        return cls(
            options,
            cast(AreaUnits, kwargs.pop("area_units")),
            cast("float | None", kwargs.pop("pixel_size")),
            cast("Path | None", kwargs.pop("raster")),
        )

    def applies(self, truth: Path, proposals: Path) -> bool:
        """Whether the inputs are read as georeferenced footprints, not pixel CSVs."""
        return (
            is_vector_file(truth, self.options)
            or is_vector_file(proposals, self.options)
            or self.options != VectorOptions()
            or self.area_units != "map"
        )

    def read(
        self, truth: Path, proposals: Path, rules: Rules, *, on_error: OnError, max_vertices: int
    ) -> tuple[GeoInputs, Rules]:
        """Both files in one CRS, and ``rules`` with area filters in its units."""
        pair = read_georeferenced(
            truth, proposals, self.options, on_error=on_error, max_vertices=max_vertices
        )
        return pair, self.rules(rules, pair.crs)

    def rules(self, rules: Rules, crs: CRS | None) -> Rules:
        """``rules`` with area filters in map units (converted when stated in pixels)."""
        if self.area_units == "map":
            if self.pixel_size is not None or self.raster is not None:
                raise click.UsageError("--pixel-size and --raster need --area-units pixels")
            return rules
        if crs is None:
            raise click.UsageError(
                "--area-units pixels: the coordinates have no CRS (pixels already?)"
            )
        if self.pixel_size is not None and self.raster is None:
            return in_pixels(rules, self.pixel_size**2)
        if self.raster is not None and self.pixel_size is None:
            return in_pixels(rules, pixel_area(self.raster, crs))
        raise click.UsageError("--area-units pixels needs one of --pixel-size or --raster")


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
    rules = _rules(preset, knobs)
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
@_georeferenced_options
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
@click.option(
    "--diagnostics",
    is_flag=True,
    help="Add FP/FN per error class and recall by building size (README: Diagnostics).",
)
@click.option(
    "--size-bins",
    default="1024,9216",
    show_default=True,
    metavar="SMALL,LARGE",
    help="Truth areas (px²) where small buildings end and large ones begin.",
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
    diagnostics: bool,
    size_bins: str,
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
    err = Console(stderr=True)
    geo = _Georeferenced.pop(knobs)
    rules = _rules(preset, knobs)
    breakdown = _breakdown_settings(size_bins) if diagnostics else False
    vertices = max_vertices or DEFAULT_MAX_VERTICES
    crs = None
    with exit_on_error():
        if geo.applies(truth, proposals):
            pair, rules = geo.read(
                truth, proposals, rules, on_error=on_error, max_vertices=vertices
            )
            crs = pair.crs
            prepared = PreparedTruth(pair.truth, rules, index=index)
            result = prepared.score(
                pair.proposals,
                bootstrap=bootstrap,
                seed=seed,
                details=bool(matches or plot),
                breakdown=breakdown,
            )
        else:
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
                    t = read_truth(
                        truth, on_error=on_error, max_vertices=vertices, max_bytes=max_bytes
                    )
                    source = PreparedTruth(t, rules, index=index)
                result = source.score(
                    p, bootstrap=bootstrap, seed=seed, details=True, breakdown=breakdown
                )
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
                    breakdown=breakdown,
                )
    for row in result.skipped:
        err.print(f"skipped {row}", highlight=False, markup=False, soft_wrap=True)
    report.render(result, Console())
    if crs is not None:
        filters = f"truth {rules.truth_area_filter}, proposals {rules.proposal_area_filter}"
        Console().print(f"[dim]coordinates in {crs}; area filters ({filters}) in square"
                        f" {crs.linear_units}s[/]")  # fmt: skip
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


def _breakdown_settings(size_bins: str) -> BreakdownSettings:
    """``--size-bins SMALL,LARGE`` as settings (a usage error, exit 2, when malformed)."""
    try:
        small, large = (float(v) for v in size_bins.split(","))
        return BreakdownSettings(size_bins=(small, large))
    except ValueError as exc:
        raise click.BadParameter(
            f"expected two areas SMALL,LARGE with 0 <= SMALL < LARGE ({exc})",
            param_hint="--size-bins",
        ) from None


@click.command("compare")
@click.argument("truth", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("a", metavar="A", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("b", metavar="B", type=click.Path(dir_okay=False, path_type=Path))
@_rule_options
@_georeferenced_options
@click.option(
    "--metric",
    type=click.Choice([m.value for m in Metric]),
    default=None,
    help="Overall metric compared (default: the preset's headline).",
)
@click.option(
    "--replicates", type=click.IntRange(min=1), default=1000, show_default=True,
    help="Paired bootstrap replicates.",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option(
    "--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
    show_default=True, help="Confidence level of the intervals and of significance.",
)  # fmt: skip
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the comparison as JSON ('-': standard output, no table).",
)  # fmt: skip
def compare_command(
    truth: Path,
    a: Path,
    b: Path,
    preset: str,
    metric: str | None,
    replicates: int,
    seed: int,
    level: float,
    json_out: Path | None,
    **knobs: object,
) -> None:
    """Is submission A better than B on TRUTH, or is the gap noise?

    Scores both against TRUTH, then a paired bootstrap over images (stratified by city)
    gives A - B overall and per city with its interval and two-sided p-value. Exit code 0
    whatever the verdict, 2 on bad input.
    """
    geo = _Georeferenced.pop(knobs)
    rules = _rules(preset, knobs)
    with exit_on_error():
        if geo.applies(truth, a) or geo.applies(truth, b):
            read = [
                geo.read(truth, path, rules, on_error="raise", max_vertices=DEFAULT_MAX_VERTICES)
                for path in (a, b)
            ]
            (pair_a, rules), (pair_b, _) = read
            if pair_a.crs != pair_b.crs:  # one reprojected, the other not: no common frame
                raise InputError.about(f"A and B are in different CRSs ({a}, {b})", file=str(b))
            prepared = PreparedTruth(pair_a.truth, rules)
            tables = [pair_a.proposals, pair_b.proposals]
        else:
            prepared = PreparedTruth(read_truth(truth), rules)
            tables = [read_proposals(path) for path in (a, b)]
        scores = [prepared.score(table) for table in tables]
    result = compare(
        scores[0].images,
        scores[1].images,
        metric=Metric(metric) if metric else rules.headline,
        replicates=replicates,
        seed=seed,
        level=level,
    )
    if json_out is None or str(json_out) != "-":
        _render_comparison(result, a.name, b.name, rules, Console())
    if json_out is not None:
        text = json.dumps(
            {"a": str(a), "b": str(b), "rules": rules.to_dict(), **result.to_dict()}, indent=2
        )
        if str(json_out) == "-":
            click.echo(text)
        else:
            json_out.write_text(text + "\n")


def _render_comparison(result: Comparison, a: str, b: str, rules: Rules, console: Console) -> None:
    """One row per city (its F1) and one for the overall metric: A, B, A - B with its
    interval and p-value, and the verdict (the better side, or a tie)."""
    table = Table(
        title=f"geoarena compare: A = {a}, B = {b}",
        caption=f"{rules.name} rules, {result.images} images, {result.replicates} paired"
        f" replicates; cities: F1, overall: {result.metric.label}",
    )
    for col in ("city", "A", "B", "A - B", f"{result.level:.0%} CI", "p", "verdict"):
        table.add_column(col, justify="left" if col == "city" else "right")

    def row(name: str, d: Difference) -> None:
        verdict = ("A" if d.delta > 0 else "B") if d.significant(result.level) else "tie"
        interval = f"[{d.low:+.3f}, {d.high:+.3f}]"
        cells = (f"{d.a:.4f}", f"{d.b:.4f}", f"{d.delta:+.4f}", interval, f"{d.p_value:.4f}")
        table.add_row(name, *cells, verdict)

    for city, d in result.cities.items():
        row(city, d)
    table.add_section()
    row("overall", result.overall)
    console.print(table)
