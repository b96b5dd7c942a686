"""``geoarena demo``: the whole pipeline on synthetic cities, on CPU, in a few minutes.

Steps: synthetic train and test cities -> a 3-trial sweep of a tiny network (each trial a
real training job, scored with the competition metric, tuned thresholds, MLflow runs)
-> predictions of the test tiles with the best trial -> a local SQLite leaderboard with
the paper-default trial as the baseline -> the board, and where to look next.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState
from rich.console import Console
from rich.panel import Panel

from geoarena.evaluator import ScoreResult, score
from geoarena.leaderboard import Board, run_local_demo
from geoarena.models import TINY_NET, one_torch_thread, predict
from geoarena.models.data.synth import write_synthetic
from geoarena.platform.best_prediction import predict_best
from geoarena.platform.launcher import launch
from geoarena.platform.results import post_search_gain
from geoarena.platform.sweep import SweepConfig, load_sweep
from geoarena.platform.trial_record import TrialAttr

#: the tiny network, trained briefly: seconds per trial on two cores.
DEMO_TRAIN: dict[str, Any] = {
    **TINY_NET,
    "epochs": 16,
    "batch_size": 8,
    "crops_per_tile": 4,
    "crop_size": 64,
    "upscale": 1.0,
    "crop_scale": [0.9, 1.1],
    "lr": 1.0e-2,
    "warmup_epochs": 0.5,
    "max_train_batches_per_epoch": 16,
    "val_fraction": 0.25,
    "num_workers": 0,
    "device": "cpu",
    "t_energy": 0.3,
    "t_mask": 0.5,
    "min_area": 10.0,
}
DEMO_SPACE: dict[str, Any] = {
    "lr": {"type": "log", "low": 3.0e-3, "high": 2.0e-2},
    "w_lovasz": {"type": "float", "low": 0.0, "high": 1.0},
    "w_energy": {"type": "float", "low": 0.5, "high": 2.0},
}
TRAIN_TILES, TEST_TILES, TILE_SIZE = 32, 8, 128


def write_demo_sweep(work: Path, *, trials: int, train: dict[str, Any] | None = None) -> Path:
    """The demo's sweep file (a readable example of the format, too)."""
    sweep = {
        "name": "demo",
        "out_dir": "sweep",
        "train": {"data_dir": "data/train", **DEMO_TRAIN, **(train or {})},
        "space": DEMO_SPACE,
        "enqueue": ["baseline"],
        "objective": {
            "metric": "f1",
            # trials last seconds here: let the inner search take longer than its usual 2%
            "post_search": {"n_trials": 8, "min_area": [0, 10, 20], "max_fraction": None},
        },
        "sampler": {"type": "tpe", "seed": 0, "n_startup_trials": 2},
        "pruner": {"type": "median", "min_resource": 4, "n_startup_trials": 1},
        "budget": {"n_trials": trials},
    }
    path = work / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def run_demo(
    work: Path,
    *,
    trials: int = 3,
    fresh: bool = False,
    train: dict[str, Any] | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the demo in ``work``; return a summary (also printed).

    ``train`` overrides fixed training settings (the tests shorten the epochs).
    """
    with one_torch_thread():
        return _run(Path(work), trials, fresh, train, console or Console(stderr=True))


def _run(
    work: Path, trials: int, fresh: bool, train: dict[str, Any] | None, console: Console
) -> dict[str, Any]:
    started = time.perf_counter()
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)

    with console.status("[1/5] making synthetic cities"):
        if not (work / "data" / "train" / "truth.csv").is_file():
            write_synthetic(work / "data" / "train", tiles=TRAIN_TILES, seed=0, size=TILE_SIZE)
        if not (work / "data" / "test" / "truth.csv").is_file():
            write_synthetic(work / "data" / "test", tiles=TEST_TILES, seed=1, size=TILE_SIZE)
    console.print(
        f"[1/5] synthetic cities: {TRAIN_TILES} train + {TEST_TILES} test tiles in {work / 'data'}"
    )

    console.print(f"[2/5] sweep: {trials} trials of a tiny U-Net (each a real training job)")
    sweep = load_sweep(write_demo_sweep(work, trials=trials, train=train))
    result = launch(sweep, progress=True, console=console)
    study = result.study
    if result.interrupted:
        console.print("[yellow]interrupted[/]: `geoarena demo` again resumes the sweep")
        return {"interrupted": True}

    with console.status("[3/5] predicting the test tiles with the best trial"):
        best = predict_best(sweep, work / "data" / "test" / "images", work / "best.csv")
        baseline = _baseline_predictions(sweep, study, work)
    console.print(f"[3/5] best trial #{best.trial.number} -> {best.csv}")

    console.print("[4/5] local leaderboard (SQLite) with the paper-default trial as baseline")
    board = _leaderboard(work, best.csv, baseline)
    stats = _test_score(work, best.csv)

    gain = post_search_gain(study)
    fixed_value = best.record.fixed_value
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    summary = {
        "trials": states,
        "best_trial": best.trial.number,
        "best_val": best.trial.value,
        "val_at_fixed_thresholds": fixed_value,
        "post_search_gain_mean": gain.mean if gain else None,
        "test_f1": stats.micro.f1,
        "test_mean_city_f1": stats.mean_city_f1,
        "seconds": time.perf_counter() - started,
        "leaderboard": board,
    }
    board_db = (work / "leaderboard.db").resolve()
    tuned = best.record.thresholds.to_dict() if best.record.thresholds is not None else {}
    fixed = f"{fixed_value:.3f}" if fixed_value is not None else "-"
    lines = [
        f"trials: {', '.join(f'{n} {s.lower()}' for s, n in sorted(states.items()))}",
        f"best trial #{best.trial.number}: validation F1 {best.trial.value:.3f} "
        f"(fixed thresholds {fixed}; tuned "
        + ", ".join(f"{k} {v:g}" for k, v in tuned.items())
        + ")",
        f"test split: F1 {stats.micro.f1:.3f}, mean per-city F1 {stats.mean_city_f1:.3f}",
        f"MLflow:  mlflow ui --backend-store-uri {sweep.tracking_uri}   (experiment 'demo')",
        f"Optuna:  optuna-dashboard {Path(sweep.storage_url).resolve()}",
        f"leaderboard: geoarena leaderboard show demo --db sqlite:///{board_db}",
        f"files: {work.resolve()}   total {summary['seconds']:.0f} s",
    ]
    console.print(Panel("\n".join(lines), title="[5/5] geoarena demo summary", expand=False))
    return summary


def _baseline_predictions(sweep: SweepConfig, study: optuna.Study, work: Path) -> Path:
    """The seed trial (the fixed config's values, untuned thresholds) on the test tiles."""
    seed = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if t.user_attrs.get(TrialAttr.SEED)
    ]
    trial = seed[0] if seed else study.get_trials(deepcopy=False)[0]
    checkpoint = sweep.trial_dir(trial.number) / "best.pt"
    return predict(checkpoint, work / "data" / "test" / "images", work / "baseline.csv")


def _leaderboard(work: Path, best_csv: Path, baseline_csv: Path) -> Board:
    truth = (work / "data" / "test" / "truth.csv").read_bytes()
    return run_local_demo(
        database=str(work / "leaderboard.db"),
        truth=truth,
        submissions={"sweep-best": best_csv.read_bytes()},
        baseline=baseline_csv.read_bytes(),
        slug="demo",
        title="geoarena demo: synthetic cities",
    )


def _test_score(work: Path, csv: Path) -> ScoreResult:
    return score(work / "data" / "test" / "truth.csv", csv, rules="deepglobe")
