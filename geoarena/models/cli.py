"""``geoarena data``, ``geoarena train`` and ``geoarena predict``.

The root command group imports this module only when one of these commands runs, so
``geoarena --help`` stays instant although torch loads here. Errors are mapped to exit
codes by :func:`geoarena.cli.exit_on_error`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table

from geoarena.cli import exit_on_error
from geoarena.models.data.raster import raster_info
from geoarena.models.data.spacenet import Tile, load_split
from geoarena.models.data.synth import write_synthetic
from geoarena.models.predict import Detector
from geoarena.models.train import train as run_training
from geoarena.models.train_config import TrainConfig

#: a threshold on a probability map.
UNIT = click.FloatRange(0, 1, min_open=True, max_open=True)
#: the folder of tiles to predict (``predict``, ``sweep submit``).
IMAGES = click.option(
    "--images",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="Folder of tiles (searched recursively) or one GeoTIFF of any size.",
)
#: test-time augmentation, as ``geoarena.models.inference.TilePredictor`` does it.
TTA = click.option("--tta", is_flag=True, help="Test-time augmentation: average over 4 flips.")


@click.group()
def data() -> None:
    """Make and inspect training data (synthetic cities)."""


@data.command("synth")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write images/ and truth.csv into.",
)
@click.option("--tiles", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--size",
    type=click.IntRange(min=32),
    default=650,
    show_default=True,
    help="Tile side in pixels.",
)
@click.option(
    "--city",
    "cities",
    multiple=True,
    help="Only these cities (Gridvale, Oldtown, Towerpark, Sandfield); repeatable.",
)
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", show_default=True)
@click.option(
    "--bands",
    type=click.Choice(["3", "8"]),
    default="3",
    show_default=True,
    help="RGB, or the 8 WorldView-3 bands.",
)
@click.option(
    "--gsd",
    type=click.FloatRange(0.05, 5),
    default=0.3,
    show_default=True,
    help="Metres per pixel (building sizes are in metres).",
)
@click.option(
    "--layout",
    type=click.Choice(["flat", "spacenet"]),
    default="flat",
    show_default=True,
    help="images/ + truth.csv, or the SpaceNet 2 download layout (products, GeoJSON labels).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (never mixed).")
def synth(
    out: Path,
    tiles: int,
    seed: int,
    size: int,
    cities: tuple[str, ...],
    bits: str,
    bands: str,
    gsd: float,
    layout: str,
    overwrite: bool,
) -> None:
    """Write synthetic city tiles plus their SpaceNet truth (all or nothing)."""
    with exit_on_error():
        try:
            truth = write_synthetic(
                out,
                tiles=tiles,
                seed=seed,
                size=size,
                cities=list(cities) or None,
                bits=int(bits),
                bands=int(bands),
                gsd=gsd,
                layout="spacenet" if layout == "spacenet" else "flat",
                overwrite=overwrite,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"wrote {tiles} tiles to {out} (truth: {truth})")


@data.command("info")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--truth-glob", default="**/*.csv", show_default=True)
@click.option(
    "--product", default=None, help="Image product (default: the only one, else RGB-PanSharpen)."
)
@click.option(
    "--labels", type=click.Choice(["auto", "csv", "geojson"]), default="auto", show_default=True
)
def info(folder: Path, truth_glob: str, product: str | None, labels: str) -> None:
    """Tiles, buildings and pixel types per city of a data folder (checks it loads)."""
    with exit_on_error():
        tiles = load_split(folder, truth_glob, product=product, labels=labels)  # type: ignore[arg-type]
        by_city: dict[str, list[Tile]] = defaultdict(list)
        for tile in tiles:
            by_city[tile.city].append(tile)
        table = Table("city", "tiles", "buildings", "per tile", "empty tiles", "pixels")
        for city, group in sorted(by_city.items()):
            first = raster_info(group[0].path)
            n = sum(len(t.wkts) for t in group)
            table.add_row(
                city,
                str(len(group)),
                str(n),
                f"{n / len(group):.1f}",
                str(sum(not t.wkts for t in group)),
                f"{first.width}x{first.height} {first.dtype} x{first.count}",
            )
    Console(width=120).print(table)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Training YAML (fields of geoarena.models.TrainConfig).",
)
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/last.pt.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a config field (YAML value), e.g. --set epochs=3; repeatable.",
)
def train(config_path: Path, resume: bool, overrides: tuple[str, ...]) -> None:
    """Train the building detector from a YAML config."""
    changes = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected FIELD=VALUE", param_hint="--set")
        changes[key.strip()] = yaml.safe_load(value)
    with exit_on_error():
        config = TrainConfig.from_yaml(config_path)
        if changes:
            config = TrainConfig.from_dict({**config.model_dump(), **changes}, source="--set")
        result = run_training(config, resume=resume)
    click.echo(
        f"best {config.monitor} {result.best_f1:.4f} at epoch {result.best_epoch}: "
        f"{result.best_checkpoint} (validation maps: {result.val_maps})"
    )


@click.command()
@click.option(
    "--checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True
)
@IMAGES
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Proposals CSV to write.",
)
@TTA
@click.option("--t-energy", type=UNIT, default=None, help="Default: the checkpoint's.")
@click.option("--t-mask", type=UNIT, default=None, help="Default: the checkpoint's.")
@click.option(
    "--min-area",
    type=click.FloatRange(min=0),
    default=None,
    help="Original pixels; default: checkpoint's.",
)
@click.option(
    "--cache-maps",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also save raw probability/energy maps (.npz) for threshold tuning.",
)
@click.option(
    "--vector-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the footprints as GeoJSON (.geojson) or GeoPackage (.gpkg), image CRS.",
)
@click.option("--device", default="auto", show_default=True)
def predict(
    checkpoint: Path,
    images: Path,
    out: Path,
    tta: bool,
    t_energy: float | None,
    t_mask: float | None,
    min_area: float | None,
    cache_maps: Path | None,
    vector_out: Path | None,
    device: str,
) -> None:
    """Predict building polygons for a folder of tiles or one large GeoTIFF (SpaceNet CSV
    with pixel and map WKT; optionally GeoJSON / GeoPackage)."""
    with exit_on_error():
        detector = Detector.load(checkpoint, tta=tta, device=device)
        given = (t_energy, t_mask, min_area) != (None, None, None)
        # thresholds given on the command line apply to every city
        thresholds = (
            detector.thresholds.replace(t_energy=t_energy, t_mask=t_mask, min_area=min_area)
            if given
            else None
        )
        path = detector.predict(
            images,
            out,
            thresholds=thresholds,
            cache_maps=cache_maps,
            vector_out=vector_out,
            progress=True,
        )
    click.echo(f"wrote {path}")
