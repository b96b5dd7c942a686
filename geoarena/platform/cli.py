"""``geoarena sweep ...`` and ``geoarena demo``.

The root command group imports this module only when one of these commands runs (it
loads optuna, mlflow and torch). Errors are mapped to exit codes by
:func:`geoarena.cli.exit_on_error`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
import optuna
from rich.console import Console
from rich.table import Table

from geoarena.cli import exit_on_error
from geoarena.leaderboard import LeaderboardClient
from geoarena.leaderboard.cli.options import remote
from geoarena.models import Thresholds
from geoarena.models.cli import IMAGES, TTA
from geoarena.models.device import DeviceError
from geoarena.platform.best_prediction import predict_best
from geoarena.platform.demo import run_demo
from geoarena.platform.launcher import gpus_for, launch, run_worker_process
from geoarena.platform.results import (
    TrialRow,
    best_trial,
    export_best,
    post_search_gain,
    trial_rows,
)
from geoarena.platform.storage import is_rdb
from geoarena.platform.studies import load_study
from geoarena.platform.sweep import SweepConfig, load_sweep

SWEEP_FILE = click.argument(
    "sweep_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


def _load(sweep_file: Path) -> SweepConfig:
    with exit_on_error():
        return load_sweep(sweep_file)


def _quiet_optuna() -> None:
    """Our own progress replaces Optuna's per-trial INFO lines."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@click.group()
def sweep() -> None:
    """Optuna sweeps over training jobs, every trial logged to MLflow.

    \b
    geoarena sweep run sweep.yaml --gpus 0,1,2,3     # one worker per GPU (resumes if it exists)
    geoarena sweep status sweep.yaml                 # trials: state, params, F1, duration, GPU
    geoarena sweep best sweep.yaml --export best.yaml
    geoarena sweep submit sweep.yaml --images test/ --server URL --token T --challenge SLUG
    """


@sweep.command()
@SWEEP_FILE
@click.option("--gpus", help="Comma-separated GPU ids, one worker each (or 'all').")
@click.option("--workers", type=click.IntRange(min=1), help="CPU workers (without --gpus).")
@click.option(
    "--per-gpu",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Workers (trials at once) per GPU.",
)
@click.option("--no-progress", is_flag=True, help="Plain output (no progress bars).")
def run(
    sweep_file: Path, gpus: str | None, workers: int | None, per_gpu: int, no_progress: bool
) -> None:
    """Create or resume the study and run workers until the budget is spent.

    Workers on other machines join by running the same command against the same
    (PostgreSQL) storage. Ctrl-C stops cleanly: running trials are re-queued, and running
    the command again resumes.
    """
    sweep_cfg = _load(sweep_file)
    if gpus and workers:
        raise click.UsageError("--gpus and --workers are exclusive: one worker per GPU")
    with exit_on_error():
        try:
            gpu_list = gpus_for(gpus)
        except DeviceError:
            raise
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--gpus") from None
    _quiet_optuna()
    console = Console(stderr=True)
    result = launch(
        sweep_cfg,
        gpus=gpu_list,
        workers=workers,
        per_gpu=per_gpu,
        progress=not no_progress,
        console=console,
    )
    _print_status(sweep_cfg, result.study, console)
    if result.interrupted:
        console.print("[yellow]interrupted[/]: run the same command again to resume")
        sys.exit(130)


@sweep.command(hidden=True)
@SWEEP_FILE
@click.option("--name", default="w0")
@click.option("--index", type=int, default=0)
@click.option("--gpu", default=None)
@click.option("--deadline", type=float, default=None)
def worker(
    sweep_file: Path, name: str, index: int, gpu: str | None, deadline: float | None
) -> None:
    """One worker process (started by `sweep run`)."""
    _quiet_optuna()
    sys.exit(run_worker_process(sweep_file, name=name, index=index, gpu=gpu, deadline=deadline))


@sweep.command()
@SWEEP_FILE
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def status(sweep_file: Path, fmt: str) -> None:
    """Table of trials: state, parameters, F1 (tuned and fixed), duration, GPU."""
    sweep_cfg = _load(sweep_file)
    with exit_on_error():
        study = load_study(sweep_cfg)
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in trial_rows(study)], indent=2, default=str))
    elif fmt == "csv":
        _write_csv(sweep_cfg, trial_rows(study))
    else:
        _print_status(sweep_cfg, study, Console())


def _write_csv(sweep_cfg: SweepConfig, rows: list[TrialRow]) -> None:
    """One line per trial, parameters and tuned thresholds as their own columns."""
    names = list(sweep_cfg.space)
    post = Thresholds.names()
    writer = csv.writer(sys.stdout)
    writer.writerow(
        [
            "number",
            "state",
            "value",
            "fixed_value",
            *names,
            *(f"thresholds.{p}" for p in post),
            "epochs",
            "seconds",
            "gpu",
            "worker",
            "mlflow_run_id",
            "note",
        ]
    )
    for r in rows:
        record = r.record
        tuned = record.thresholds.to_dict() if record and record.thresholds else {}
        writer.writerow(
            [
                r.number,
                r.state,
                r.value,
                record.fixed_value if record else None,
                *(r.params.get(n) for n in names),
                *(tuned.get(p) for p in post),
                r.epochs,
                r.seconds,
                r.gpu,
                r.worker,
                r.mlflow_run_id,
                r.note,
            ]
        )


def _print_status(sweep_cfg: SweepConfig, study: optuna.Study, console: Console) -> None:
    rows = trial_rows(study)
    names = list(sweep_cfg.space)
    metric = sweep_cfg.objective.metric
    table = Table(title=f"study {sweep_cfg.name} ({metric}, maximize)")
    columns = ("#", "state", "value", "fixed", *names, "post t_e/t_m/area", "epochs", "time", "gpu")
    for col in columns:
        table.add_column(col, justify="left" if col in ("state", "gpu") else "right")
    table.add_column("note")
    done = [r.value for r in rows if r.state == "COMPLETE" and r.value is not None]
    best = max(done, default=None)
    for r in rows:
        top = best is not None and r.value == best and r.state == "COMPLETE"
        tuned = r.record.thresholds if r.record else None
        table.add_row(
            str(r.number),
            r.state,
            _fmt(r.value),
            _fmt(r.record.fixed_value if r.record else None),
            *[_fmt(r.params.get(n)) for n in names],
            f"{tuned.t_energy:.2f}/{tuned.t_mask:.2f}/{tuned.min_area:g}" if tuned else "",
            str(r.epochs),
            f"{r.seconds:.0f}s" if r.seconds is not None else "",
            r.gpu,
            r.note,
            style="bold green" if top else None,
        )
    console.print(table)
    gain = post_search_gain(study)
    if gain:
        console.print(
            f"post-processing search added {gain.mean:+.4f} {metric} on average over fixed "
            f"thresholds (max {gain.max:+.4f}, {gain.trials} trials)"
        )
    storage = sweep_cfg.storage_url
    dashboard = storage if is_rdb(storage) else str(Path(storage).resolve())
    console.print(
        f"MLflow UI:        mlflow ui --backend-store-uri {sweep_cfg.tracking_uri}\n"
        f"optuna-dashboard: optuna-dashboard {dashboard}",
        highlight=False,
        soft_wrap=True,
    )


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 and value != 0 else f"{value:.4f}"
    return str(value)


@sweep.command()
@SWEEP_FILE
@click.option(
    "--export",
    "export",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the best trial's training config (tuned thresholds included) here.",
)
def best(sweep_file: Path, export: Path | None) -> None:
    """The best completed trial; optionally export it as a training config."""
    sweep_cfg = _load(sweep_file)
    with exit_on_error():
        study = load_study(sweep_cfg)
        trial, record = best_trial(study)
        if export is not None:
            export_best(sweep_cfg, study, export)
    click.echo(f"best trial: #{trial.number}  {sweep_cfg.objective.metric} {trial.value:.4f}")
    for name, value in trial.params.items():
        click.echo(f"  {name}: {value}")
    if record.thresholds is not None:
        for name, tuned in record.thresholds.to_dict().items():
            click.echo(f"  {name} (tuned): {tuned}")
        for city, tuned_city in sorted(record.city_thresholds.items()):
            values = ", ".join(f"{k} {v:g}" for k, v in tuned_city.to_dict().items())
            click.echo(f"  {city} (tuned for the city): {values}")
    click.echo(f"  checkpoint: {record.checkpoint}")
    if export is not None:
        click.echo(f"config written to {export} (geoarena train {export} / geoarena predict ...)")


@sweep.command()
@SWEEP_FILE
@IMAGES
@remote
@click.option("--challenge", required=True, help="Challenge slug.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to keep the predictions CSV (default <out_dir>/best_predictions.csv).",
)
@TTA
def submit(
    sweep_file: Path,
    images: Path,
    server: str,
    token: str,
    challenge: str,
    out: Path | None,
    tta: bool,
) -> None:
    """Predict the test tiles with the best trial and submit the CSV to a leaderboard."""
    sweep_cfg = _load(sweep_file)
    out = out or sweep_cfg.root / "best_predictions.csv"
    with exit_on_error():
        pred = predict_best(sweep_cfg, images, out, tta=tta)
        click.echo(f"predicted {images} with trial #{pred.trial.number} -> {pred.csv}")
        with LeaderboardClient(server, token) as client:
            answer = client.submit(
                challenge, pred.csv, description=f"{sweep_cfg.name} trial {pred.trial.number}"
            )
    click.echo(answer.model_dump_json(indent=2))


@click.command()
@click.option(
    "--dir",
    "work_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("geoarena-demo"),
    show_default=True,
    help="Working folder.",
)
@click.option("--trials", type=click.IntRange(min=3), default=3, show_default=True)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epochs per trial (default 16: enough for the tiny net to find buildings).",
)
@click.option("--fresh", is_flag=True, help="Delete the working folder first.")
def demo(work_dir: Path, trials: int, epochs: int | None, fresh: bool) -> None:
    """Synthetic cities -> sweep -> best model -> test predictions -> local leaderboard."""
    _quiet_optuna()
    with exit_on_error():
        run_demo(work_dir, trials=trials, fresh=fresh, train={"epochs": epochs} if epochs else None)
