"""How much of a sweep trial is spent outside training (goal: under 5%).

A trial = claim (storage lock, stale-trial checks, ``ask``) + training (the same
``geoarena.models.train.train`` call a bare run makes) + the inner post-processing search
+ recording (MLflow child run, params, artifacts, overlays, ``tell``). This script runs
real trials of a small network on synthetic cities, with a real journal file and a real
MLflow SQLite store, and in the same process times bare ``train()`` runs of the same
config as the baseline. It prints medians (this machine is noisy) and the ratios.

    python bench/sweep_overhead.py                    # trials of 2 and 10 epochs
    python bench/sweep_overhead.py --epochs 30 --trials 5

Columns: medians of trial wall time, of the ``train()`` call inside it, of the claim
(storage), of the inner search with its predictions CSV and overlays, and of the MLflow
run and ``tell``; "outside" = (trial - train) / trial; trial/bare compares the trial with
a bare ``train()`` of the same config timed in between the trials.

The overhead is roughly constant per trial (a few MLflow writes, the fixed thresholds
scored on the validation maps), and the inner search stops at 2% of the training time by
default, so the fraction shrinks as trials grow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# imported after the environment above: huggingface_hub and mlflow read it at import
import yaml

from geoarena.models import TINY_NET, TrainConfig, one_torch_thread, train
from geoarena.models.data.synth import write_synthetic
from geoarena.platform import WorkerOptions, launch_study, load_sweep, run_worker

TRAIN: dict[str, Any] = {
    **TINY_NET,
    "batch_size": 8,
    "crops_per_tile": 8,
    "crop_size": 64,
    "upscale": 1.0,
    "val_fraction": 0.25,
    "num_workers": 0,
    "device": "cpu",
    "progress": False,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3, help="timed trials (after a warm-up)")
    parser.add_argument(
        "--epochs", type=int, nargs="+", default=[2, 10], help="trial lengths to compare"
    )
    parser.add_argument("--batches", type=int, default=16, help="training batches per epoch")
    parser.add_argument("--tiles", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sweep-overhead-"))
    write_synthetic(work / "data", tiles=args.tiles, size=args.size, seed=0)
    print(f"{args.tiles} synthetic tiles of {args.size} px, {args.batches} batches per epoch")
    print(
        f"{'epochs':>6s} {'trial s':>8s} {'train s':>8s} {'claim s':>8s} {'post s':>8s} "
        f"{'mlflow s':>8s} {'outside':>8s} {'trial/bare':>10s}"
    )
    with one_torch_thread():  # steadier timings on a shared machine
        for epochs in args.epochs:
            measure(work, epochs, args)


def measure(work: Path, epochs: int, args: argparse.Namespace) -> None:
    """Median timings of ``args.trials`` trials and bare runs of ``epochs`` epochs."""
    fixed = {
        **TRAIN,
        "data_dir": str(work / "data"),
        "epochs": epochs,
        "max_train_batches_per_epoch": args.batches,
    }

    def bare(i: int) -> float:
        config = TrainConfig.from_dict({**fixed, "out_dir": str(work / f"bare{epochs}-{i}")})
        started = time.perf_counter()
        train(config)
        return time.perf_counter() - started

    sweep_file = work / f"sweep{epochs}.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {
                "name": f"overhead-{epochs}",
                "train": {k: v for k, v in fixed.items() if k != "progress"},
                "space": {
                    "lr": {"type": "log", "low": 1e-3, "high": 1e-2},
                    "w_lovasz": {"type": "float", "low": 0.0, "high": 1.0},
                },
                "pruner": {"type": "none"},  # the default inner search (2% of training)
                "budget": {"n_trials": args.trials + 1},
            }
        )
    )
    sweep = load_sweep(sweep_file)
    launch_study(sweep)
    bare(-1)  # warm-up: imports, target cache, allocator
    bare_times, timings = [], []
    # interleave bare runs and trials so that slow spells hit both alike
    for i in range(args.trials + 1):
        if i > 0:
            bare_times.append(bare(i))
        budget = sweep.budget.model_copy(update={"n_trials": i + 1})  # one more trial
        report = run_worker(sweep.model_copy(update={"budget": budget}), WorkerOptions("bench"))
        timings.extend(report.trials)
    timed = timings[1:]  # the first trial pays MLflow's first writes and imports
    med = statistics.median
    total = med(t.total for t in timed)
    print(
        f"{epochs:6d} {total:8.2f} {med(t.train for t in timed):8.2f} "
        f"{med(t.claim for t in timed):8.3f} {med(t.post for t in timed):8.3f} "
        f"{med(t.record for t in timed):8.3f} {med(t.overhead / t.total for t in timed):8.1%} "
        f"{total / med(bare_times):10.3f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
