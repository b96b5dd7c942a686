"""``geoarena data``, ``geoarena train`` and ``geoarena predict``.

torch, timm and scikit-image are imported inside the command bodies, so listing commands
or asking for ``--help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path

import click


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
def synth(out: Path, tiles: int, seed: int, size: int, cities: tuple[str, ...], bits: str) -> None:
    """Write synthetic city tiles plus a SpaceNet truth CSV."""
    from geoarena.models.data.synth import write_synthetic

    try:
        truth = write_synthetic(
            out, tiles=tiles, seed=seed, size=size, cities=list(cities) or None, bits=int(bits)
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"wrote {tiles} tiles to {out / 'images'} and truth to {truth}")


@data.command("info")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--truth-glob", default="**/*.csv", show_default=True)
def info(folder: Path, truth_glob: str) -> None:
    """Tiles, buildings and pixel types per city of a data folder (checks it loads)."""
    from collections import defaultdict

    from rich.console import Console
    from rich.table import Table

    from geoarena.models.data.spacenet import DataError, load_split, read_raw_tile

    try:
        tiles = load_split(folder, truth_glob)
        by_city: dict[str, list] = defaultdict(list)
        for tile in tiles:
            by_city[tile.city].append(tile)
        table = Table("city", "tiles", "buildings", "per tile", "empty tiles", "pixels")
        for city, group in sorted(by_city.items()):
            first = read_raw_tile(group[0].path)
            n = sum(len(t.wkts) for t in group)
            table.add_row(
                city,
                str(len(group)),
                str(n),
                f"{n / len(group):.1f}",
                str(sum(not t.wkts for t in group)),
                f"{first.shape[1]}x{first.shape[0]} {first.dtype}",
            )
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    Console(width=120).print(table)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Training YAML (fields of geoarena.models.config.TrainConfig).",
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
    import yaml

    from geoarena.models.config import ConfigError, TrainConfig

    try:
        config = TrainConfig.from_yaml(config_path)
        changes = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--set {item!r}: expected FIELD=VALUE")
            changes[key.strip()] = yaml.safe_load(value)
        if changes:
            config = TrainConfig.from_dict({**config.model_dump(), **changes}, source="--set")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    from geoarena.models.data.spacenet import DataError
    from geoarena.models.train import train as run_training

    try:
        result = run_training(config, resume=resume)
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"best {config.monitor} {result.best_f1:.4f} at epoch {result.best_epoch}: "
        f"{result.best_checkpoint} (validation maps: {result.val_maps})"
    )


@click.command()
@click.option(
    "--checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True
)
@click.option(
    "--images",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Folder of tiles (searched recursively).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Proposals CSV to write.",
)
@click.option("--tta", is_flag=True, help="Average over horizontal/vertical flips.")
@click.option("--t-energy", type=float, default=None, help="Default: the checkpoint's.")
@click.option("--t-mask", type=float, default=None, help="Default: the checkpoint's.")
@click.option(
    "--min-area", type=float, default=None, help="Original pixels; default: checkpoint's."
)
@click.option(
    "--cache-maps",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also save raw probability/energy maps (.npz) for threshold tuning.",
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
    device: str,
) -> None:
    """Predict building polygons for a folder of tiles (SpaceNet CSV)."""
    from geoarena.models.data.spacenet import DataError
    from geoarena.models.predict import predict as run_predict

    try:
        path = run_predict(
            checkpoint,
            images,
            out,
            tta=tta,
            t_energy=t_energy,
            t_mask=t_mask,
            min_area=min_area,
            cache_maps=cache_maps,
            device=device,
            progress=True,
        )
    except (DataError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path}")
