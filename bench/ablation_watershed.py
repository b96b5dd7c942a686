"""Ablation: energy + watershed against plain connected components of the mask.

The paper's central claim is that the energy head plus watershed separates buildings that
touch, which connected components of the mask merge (and the metric then counts as
misses). This bench trains a small model on the four synthetic cities (Oldtown's
terraces share walls, Sandfield's compounds touch), caches its validation maps, and
scores both post-processings on the same maps with the real evaluator -- at the training
thresholds and at the best thresholds of a small grid (each method tuned on its own).
The same comparison on perfect maps (truth mask + truth energy) gives the ceiling.

Per-city thresholds: the sweep's inner search (``tune_post``) is run on the validation
maps once with one global set of thresholds and once with ``per_city``; both choices are
then scored on a held-out synthetic test set (other seed) predicted by the same model, so
the gain is not the in-sample fit of a few tiles per city.

It also times post-processing per 650x650 tile (one CPU thread; goal < 30 ms) and
inference tiles/s on the CPU, for the small model and the full SE-ResNeXt-50 UNetASPP.

    python bench/ablation_watershed.py            # ~5-10 min on 2 CPU cores
    python bench/ablation_watershed.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from geoarena.evaluator import Metric, city_of, score
from geoarena.models import (
    MapCache,
    Thresholds,
    TrainConfig,
    instances_to_table,
    load_maps,
    maps_to_table,
    train,
)
from geoarena.models.data.raster import read_raw_tile
from geoarena.models.data.spacenet import load_split
from geoarena.models.data.synth import write_synthetic
from geoarena.models.data.targets import make_targets, polygons_from_wkt
from geoarena.models.inference import TilePredictor
from geoarena.models.nets import create_model, load_model
from geoarena.models.postprocess import maps_to_polygons
from geoarena.models.predict import predict
from geoarena.models.training_session import TrainingSession, prepare_data
from geoarena.models.validation import validate
from geoarena.platform.post_search import tune_post
from geoarena.platform.sweep import PostSearch


def score_methods(maps, grid_mask, grid_energy, defaults: Thresholds):
    """F1 of both methods at the default thresholds and at their best grid point."""
    truth = maps.truth_table()

    def f1(method, t_mask, t_energy):
        table = maps_to_table(
            maps, defaults.replace(t_energy=t_energy, t_mask=t_mask), method=method
        )
        return score(truth, table, rules="deepglobe").micro

    out = {}
    for method in ("components", "watershed"):
        energies = grid_energy if method == "watershed" else [defaults.t_energy]
        at_default = f1(method, defaults.t_mask, defaults.t_energy)
        best = max(
            ((f1(method, m, e), m, e) for m, e in itertools.product(grid_mask, energies)),
            key=lambda r: r[0].f1,
        )
        out[method] = (at_default, best)
    return out


def perfect_maps(val_tiles, cache_files):
    """Maps equal to the truth targets: the ceiling of each post-processing."""
    maps = MapCache(truth={t.image_id: list(t.wkts) for t in val_tiles})
    for tile, path in zip(val_tiles, cache_files, strict=True):
        stack = np.load(path)
        maps.add(tile.image_id, stack[..., 3].astype(np.float32), stack[..., 4] / 255.0)
    return maps


def report(title, results):
    print(f"\n{title}")
    print(f"  {'method':<11} {'F1 @train thresholds':>22} {'best F1 (t_mask, t_energy)':>34}")
    for method, (default, (best, t_mask, t_energy)) in results.items():
        thresholds = f"({t_mask}, {t_energy})" if method == "watershed" else f"({t_mask}, -)"
        print(
            f"  {method:<11} {default.f1:>10.4f} (tp {default.tp:>4}) "
            f"{best.f1:>10.4f} {thresholds:>14} tp {best.tp} fp {best.fp} fn {best.fn}"
        )
    gain = results["watershed"][0].f1 - results["components"][0].f1
    best_gain = results["watershed"][1][0].f1 - results["components"][1][0].f1
    print(f"  watershed - components: {gain:+.4f} at train thresholds, {best_gain:+.4f} tuned")


def per_city_gain(maps: MapCache, test: MapCache, defaults: Thresholds) -> None:
    """The inner search with one global set of thresholds against one set per city:
    tuned on the validation maps, scored there and on the held-out test maps."""
    print(f"\nper-city thresholds (inner search, {len(test)} held-out test tiles):")
    print(f"  {'objective':<13} {'thresholds':<10} {'val (tuned on)':>15} {'test':>8}")
    for metric in (Metric.F1, Metric.MEAN_CITY_F1):
        search = PostSearch(n_trials=24, max_fraction=None, max_tiles=None)
        test_values = {}
        for label, per_city in (("global", False), ("per city", True)):
            tuned = tune_post(
                maps,
                metric=metric,
                search=search.model_copy(update={"per_city": per_city}),
                fixed=defaults,
            )
            found = {
                image_id: maps_to_polygons(
                    prob, energy, tuned.city_thresholds.get(city_of(image_id), tuned.thresholds)
                )
                for image_id, prob, energy in test.items()
            }
            scored = score(test.truth_table(), instances_to_table(found), rules="deepglobe")
            test_values[label] = scored.value(metric)
            print(f"  {metric:<13} {label:<10} {tuned.value:>15.4f} {test_values[label]:>8.4f}")
            if per_city:
                for city, t in sorted(tuned.city_thresholds.items()):
                    print(f"    {city}: {t.to_dict()} (global {tuned.thresholds.to_dict()})")
        gain = test_values["per city"] - test_values["global"]
        print(f"  {metric}: per-city - global on the test tiles {gain:+.4f}")


def test_maps(checkpoint: Path, folder: Path, out: Path) -> MapCache:
    """The model's maps of every tile of ``folder``, with the folder's truth."""
    predict(checkpoint, folder / "images", out / "test.csv", cache_maps=out / "test.npz")
    maps = load_maps(out / "test.npz")
    truth = {t.image_id: list(t.wkts) for t in load_split(folder)}
    return MapCache(maps.prob, maps.energy, truth)


def time_postprocessing(maps_by_tile, thresholds: Thresholds, repeats):
    rows = []
    for image_id, (prob, energy) in maps_by_tile.items():
        for method in ("watershed", "components"):
            times, n = [], 0
            for _ in range(repeats):
                t = time.perf_counter()
                n = len(maps_to_polygons(prob, energy, thresholds, method=method))
                times.append(time.perf_counter() - t)
            rows.append((image_id, method, n, statistics.median(times) * 1000))
    return rows


def aspp_consistency(config: TrainConfig, result) -> None:
    """Validation F1 of the best checkpoint with windowed inference (crops of the training
    size: ASPP and image pooling see what they saw in training) and with one pass over
    each whole tile (the old behaviour)."""
    data = prepare_data(config)
    model, _ = load_model(result.best_checkpoint)
    print("\nASPP train/test consistency (best checkpoint, same validation tiles):")
    for mode in ("window", "whole"):
        session = TrainingSession(config.replace(inference=mode), data)
        session.model.load_state_dict(model.state_dict())
        session.model.eval()
        scored = validate(session.predictor(), data.val, data.val_cache, config.thresholds)
        print(f"  {mode:<7} F1 {scored.micro.f1:.4f}  mean-city F1 {scored.mean_city_f1:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", type=int, default=40)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--crops-per-tile", type=int, default=12)
    parser.add_argument("--gsd", type=float, default=0.6, help="metres per pixel of the tiles")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--no-full-model", action="store_true", help="skip SE-ResNeXt-50 timing")
    args = parser.parse_args()
    if args.quick:
        args.tiles, args.size, args.epochs, args.crops_per_tile = 12, 128, 1, 2

    torch.set_num_threads(1)  # steady timings on a shared, noisy machine
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_dir = tmp / "dense"
        write_synthetic(data_dir, tiles=args.tiles, size=args.size, seed=0, gsd=args.gsd)
        config = TrainConfig(
            data_dir=data_dir,
            val_fraction=0.25,
            encoder="test_resnet",
            decoder_channels=(64, 48, 32, 32),
            aspp_channels=64,
            aspp_rates=(2, 4, 6),
            epochs=args.epochs,
            warmup_epochs=0.5,
            batch_size=8,
            lr=3e-3,
            crop_size=96,
            upscale=1.0,
            crop_scale=(0.8, 1.25),
            crops_per_tile=args.crops_per_tile,
            num_workers=0,
            min_area=10,
            out_dir=tmp / "run",
            progress=False,
        )
        started = time.perf_counter()
        result = train(config)
        print(
            f"trained {config.encoder} UNetASPP for {config.epochs} epochs on "
            f"{args.tiles} synthetic {args.size}px tiles (gsd {args.gsd} m) in "
            f"{time.perf_counter() - started:.0f} s"
        )
        for h in result.history:
            print(
                f"  epoch {h.epoch}: loss {h.train_loss:.4f}  val F1 {h.val_f1:.4f}  "
                f"mean-city F1 {h.val_mean_city_f1:.4f}"
            )
        aspp_consistency(config, result)

        defaults = config.thresholds
        grid_mask, grid_energy = [0.3, 0.4, 0.5, 0.6, 0.7], [0.2, 0.3, 0.4, 0.5, 0.6]
        maps = load_maps(result.val_maps)
        n_truth = sum(len(v) for v in maps.truth.values())
        report(
            f"trained model, {len(maps)} validation tiles, {n_truth} buildings",
            score_methods(maps, grid_mask, grid_energy, defaults),
        )
        data = prepare_data(config)
        report(
            "perfect maps (truth mask and energy): the ceiling of each method",
            score_methods(perfect_maps(data.val, data.val_cache), [0.5], [0.3], defaults),
        )
        test_dir = tmp / "test"
        write_synthetic(test_dir, tiles=args.tiles, size=args.size, seed=7, gsd=args.gsd)
        per_city_gain(maps, test_maps(result.best_checkpoint, test_dir, tmp), defaults)

        # timing on 650x650 tiles of every city, maps from the trained model
        big_dir = tmp / "big"
        write_synthetic(big_dir, tiles=4, size=650, seed=1)
        model, meta = load_model(result.best_checkpoint)
        device = torch.device("cpu")
        mean, std = torch.tensor(meta["mean"]), torch.tensor(meta["std"])
        predictor = TilePredictor(model, mean, std, 1.0, device)
        tiles = load_split(big_dir)
        images = {t.image_id: read_raw_tile(t.path) for t in tiles}
        maps_by_tile, infer = {}, []
        for image_id, image in images.items():
            t = time.perf_counter()
            maps_by_tile[image_id] = predictor(image)
            infer.append(time.perf_counter() - t)
        truth_by_tile = {}
        for tile in tiles:
            mask, energy = make_targets(
                polygons_from_wkt(tile.wkts), images[tile.image_id].shape[:2]
            )
            truth_by_tile[tile.image_id] = (mask.astype(np.float32), energy)
        for label, source in (("maps from the model", maps_by_tile), ("truth maps", truth_by_tile)):
            print(f"\npost-processing per 650x650 tile, {label} (1 thread, median of 5):")
            for image_id, method, n, ms in time_postprocessing(source, defaults, repeats=5):
                print(f"  {image_id:<24} {method:<11} {n:>4} buildings {ms:7.1f} ms")
        print(
            f"\nCPU inference, 1 thread: small model {1 / statistics.median(infer):.2f} tiles/s "
            f"(650x650, upscale 1, median of {len(infer)})"
        )
        if not args.no_full_model:
            full = create_model("unet_aspp", "seresnext50_32x4d").eval()
            predictor = TilePredictor(full, mean, std, 2.0, device)
            torch.set_num_threads(2)
            image = next(iter(images.values()))
            predictor(image[:64, :64])  # warm-up
            t = time.perf_counter()
            predictor(image)
            seconds = time.perf_counter() - t
            print(
                f"CPU inference, 2 threads: SE-ResNeXt-50 UNetASPP {1 / seconds:.3f} tiles/s "
                f"({seconds:.1f} s per 650x650 tile at upscale 2 = 1300x1300 input)"
            )


if __name__ == "__main__":
    main()
