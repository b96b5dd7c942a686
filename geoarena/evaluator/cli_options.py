"""The command-line options the evaluator's commands share (``score``, ``compare``,
``prepare``): one definition of each, so that every command takes the same rules, reads
files the same way and states georeferenced inputs alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import click

from .breakdown import PIXEL_SIZE_BINS, SPACENET_GSD_M, BreakdownSettings
from .errors import InputError
from .io import DEFAULT_MAX_BYTES
from .prepared import PreparedTruth
from .rules import CHOICES, PRESETS, Rules, get_rules
from .stored import is_prepared, load_prepared, require_rules
from .table import OnError, PolygonTable
from .vectors import (
    EQUAL_AREA_CRS,
    AreaUnits,
    GeoInputs,
    VectorOptions,
    in_pixels,
    is_vector_file,
    parse_crs,
    pixel_area,
    read_for_truth,
    read_submissions,
)

if TYPE_CHECKING:
    from rasterio.crs import CRS

_Command = TypeVar("_Command", bound=Callable[..., None])


def knob_options(command: _Command) -> _Command:
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


def rule_options(command: _Command) -> _Command:
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
            knob_options,
        ]
    ):
        command = option(command)
    return command


def rules_from(preset: str, knobs: dict[str, object]) -> Rules:
    """The rules the options name; a bad knob value is a usage error (exit 2)."""
    try:
        return get_rules(preset, **knobs)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None


def georeferenced_options(command: _Command) -> _Command:
    """The options of georeferenced inputs (``vectors.py``); :meth:`Georeferenced.pop`
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
class Georeferenced:
    """What the georeferenced-input options say."""

    options: VectorOptions
    area_units: AreaUnits
    pixel_size: float | None
    raster: Path | None

    @classmethod
    def pop(cls, kwargs: dict[str, object]) -> Georeferenced:
        """Take the options of :func:`georeferenced_options` out of ``kwargs``."""
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
        self,
        truth: Path,
        submissions: Sequence[Path],
        rules: Rules,
        *,
        on_error: OnError,
        max_vertices: int,
    ) -> tuple[list[GeoInputs], Rules]:
        """The truth with each proposal file in one CRS (the truth read once), and
        ``rules`` with area filters in the first pair's units."""
        pairs = read_submissions(
            truth, submissions, self.options, on_error=on_error, max_vertices=max_vertices
        )
        return pairs, self.rules(rules, pairs[0].crs)

    def rules(self, rules: Rules, crs: CRS | None) -> Rules:
        """``rules`` with area filters in map units (converted when stated in pixels)."""
        area = self._pixel_area(crs)
        return rules if area is None else in_pixels(rules, area)

    def stored_truth(
        self, truth: Path, rules: Rules, *, index: str, max_bytes: int
    ) -> tuple[PreparedTruth, Rules, CRS | None]:
        """A truth stored by ``geoarena prepare``, the rules it is scored under (area
        filters stated as these options state them, in its coordinates' units) and the
        CRS of those coordinates (None: pixels); refused under other rules."""
        stored = load_prepared(truth, index=index, max_bytes=max_bytes)
        crs = parse_crs(stored.crs, str(truth))
        rules = self.rules(rules, crs)
        require_rules(stored.rules, rules, str(truth))
        return stored, rules, crs

    def proposals_for(
        self,
        stored: PreparedTruth,
        crs: CRS | None,
        truth: Path,
        proposals: Path,
        *,
        on_error: OnError,
        max_vertices: int,
    ) -> Path | PolygonTable:
        """A proposal file for a stored truth: a pixel CSV as it is (the scorer reads it);
        footprints, or any file for a truth in map units, read into the truth's CRS."""
        if crs is None and not self.applies(truth, proposals):
            return proposals
        return read_for_truth(
            crs,
            stored.image_ids.tolist(),
            str(truth),
            proposals,
            self.options,
            on_error=on_error,
            max_vertices=max_vertices,
        )

    def size_settings(
        self, size_bins: tuple[float, float] | None, crs: CRS | None
    ) -> BreakdownSettings:
        """The diagnostics' size bins (``--size-bins``, None when not given) in the
        coordinates' units, stated as the area filters are: in pixels for pixel
        coordinates and under ``--area-units pixels``, else in square map units, where
        the default is the pixel bins at SpaceNet's 0.3 m (COCO's 32² px in UTM is
        92.16 m², not 1,024)."""
        if crs is None:
            return BreakdownSettings(size_bins=size_bins or PIXEL_SIZE_BINS)
        unit, metres = crs.linear_units_factor
        square = "m²" if metres == 1.0 else f"square {unit}"
        area = self._pixel_area(crs)
        if area is None and size_bins is not None:
            return BreakdownSettings(size_bins=size_bins, size_unit=square)
        scale = area if area is not None else (SPACENET_GSD_M / metres) ** 2
        small, large = size_bins or PIXEL_SIZE_BINS
        return BreakdownSettings(size_bins=(small * scale, large * scale), size_unit=square)

    def _pixel_area(self, crs: CRS | None) -> float | None:
        """A pixel's area in map units when areas are stated in pixels, else None."""
        if self.area_units == "map":
            if self.pixel_size is not None or self.raster is not None:
                raise click.UsageError("--pixel-size and --raster need --area-units pixels")
            return None
        if crs is None:
            raise click.UsageError(
                "--area-units pixels: the coordinates have no CRS (pixels already?)"
            )
        if self.pixel_size is not None and self.raster is None:
            return self.pixel_size**2
        if self.raster is not None and self.pixel_size is None:
            return pixel_area(self.raster, crs)
        raise click.UsageError("--area-units pixels needs one of --pixel-size or --raster")


def refuse_prepared(paths: Sequence[Path], misuse: str) -> None:
    """A stored truth given where a command takes proposals is named as such, not
    misread as a CSV that is "not UTF-8 text"; ``misuse`` says how it was given."""
    for path in paths:
        if is_prepared(path):
            raise InputError.about(f"a truth stored by geoarena prepare, {misuse}", file=str(path))


def reading_options(command: _Command) -> _Command:
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
            click.option(
                "--max-vertices",
                type=click.IntRange(min=4),
                default=None,
                help="Vertex cap per polygon (a ring has at least 4).",
            ),
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


INDEX_OPTION = click.option(
    "--index",
    type=click.Choice(["grid", "strtree", "rtree"]),
    default="grid",
    show_default=True,
    help="Spatial index backend (identical results).",
)
