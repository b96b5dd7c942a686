"""Training throughput: the full pipeline against the bare model step, in one process.

Times training steps of the full SE-ResNeXt-50 UNetASPP at 256x256 two ways:

* **bare**: forward + composite loss + backward + AdamW on tensors already on the device
  (the compute floor);
* **pipeline**: the real ``TrainingSession.step`` fed by the real DataLoader (memory-mapped
  target cache, hard-example sampler, workers, on-device augmentation).

The ratio pipeline/bare shows the data pipeline's overhead (goal: <= 1.3x). The modes run
as separate contiguous blocks, each after its own warm-up (bare, pipeline, bare again):
interleaved steps let the DataLoader's workers prefetch during the bare steps, which
flatters the pipeline. The bare time is the median over both bare blocks, and their
difference shows how much the machine drifted meanwhile. It runs channels-last on CUDA and
on the CPU (the training default), with bf16 autocast on CUDA, and reports peak GPU memory
there; on CPU, peak RSS.

    python bench/train_throughput.py                    # CPU: batch 2, few steps
    python bench/train_throughput.py --batch-size 16 --steps 30   # on a GPU
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from geoarena.models import TrainConfig
from geoarena.models.data.synth import write_synthetic
from geoarena.models.device import resolve_device
from geoarena.models.training_session import TrainingSession, prepare_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="seresnext50_32x4d")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 16 GPU, 2 CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="default: 8 GPU, 2 CPU")
    parser.add_argument("--tiles", type=int, default=16, help="synthetic 650x650 tiles")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch_size or (16 if cuda else 2)
    steps = args.steps or (30 if cuda else 6)
    workers = args.workers if args.workers is not None else (8 if cuda else 2)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        write_synthetic(data_dir, tiles=args.tiles, size=650, seed=0)
        config = TrainConfig(
            data_dir=data_dir,
            encoder=args.encoder,
            batch_size=batch,
            crops_per_tile=64,
            num_workers=workers,
            device=str(device),
            out_dir=Path(tmp) / "run",
            progress=False,
        )
        data = prepare_data(config)
        session = TrainingSession(config, data)
        session.model.train()

        def sync() -> None:
            if cuda:
                torch.cuda.synchronize()

        # bare: the same optimize() on fixed tensors already on the device;
        # pipeline: DataLoader + on-device augmentation + the same optimize().
        c = config.crop_size
        image = torch.randn(batch, 3, c, c, device=device)
        mask = (torch.rand(batch, 1, c, c, device=device) > 0.6).float()
        energy = torch.rand(batch, 1, c, c, device=device) * mask
        gen = torch.Generator().manual_seed(0)

        def bare_step() -> None:
            session.optimize(image, mask, energy)

        def block(step: Callable[[], None]) -> tuple[list[float], int]:
            """``steps`` timed calls after ``warmup`` untimed ones; times and peak memory."""
            times = []
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            for i in range(args.warmup + steps):
                sync()
                t = time.perf_counter()
                step()
                sync()
                if i >= args.warmup:
                    times.append(time.perf_counter() - t)
            return times, torch.cuda.max_memory_allocated() if cuda else 0

        bare_first, peak_bare = block(bare_step)
        batches = iter(session.loader(epoch=1))  # workers start only now: no prefetch ahead

        def pipeline_step() -> None:
            windows, _ = next(batches)
            session.step(windows, generator=gen)

        pipe, peak_pipe = block(pipeline_step)
        batches = iter(())  # drops the DataLoader iterator: its workers stop before the last block
        bare_again, _ = block(bare_step)

    bare_s, pipe_s = statistics.median(bare_first + bare_again), statistics.median(pipe)
    drift = statistics.median(bare_again) / statistics.median(bare_first)
    what = f"{args.encoder} UNetASPP, {c}x{c}, batch {batch}, {workers} workers, {device.type}"
    if cuda:
        what += f" ({torch.cuda.get_device_name()}, bf16 autocast, channels_last)"
    else:
        what += f" ({torch.get_num_threads()} threads)"
    print(what)
    modes = (("bare step    ", bare_s, 2 * steps), ("full pipeline", pipe_s, steps))
    for name, seconds, n in modes:
        rate = batch / seconds
        print(f"{name}: {seconds * 1000:8.1f} ms  {rate:7.1f} images/s (median of {n})")
    print(f"pipeline / bare time ratio: {pipe_s / bare_s:.2f}x (goal <= 1.3x)")
    print(f"drift: second bare block / first {drift:.2f}x")
    if cuda:
        gib = (peak_bare / 2**30, peak_pipe / 2**30)
        print(f"peak GPU memory: bare {gib[0]:.2f} GiB, pipeline {gib[1]:.2f} GiB")
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"peak RSS (process): {rss:.2f} GiB")


if __name__ == "__main__":
    main()
