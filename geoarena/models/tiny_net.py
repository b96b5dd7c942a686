"""A network small enough to train in seconds on a CPU, and the one setting such runs need.

The demo, the benchmarks and the tests of the models and the platform all train this
network (timm's ``test_resnet`` encoder with narrow decoder and ASPP), so that a trial is
a real training job and still takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

#: ``encoder: tiny`` in a training config stands for every field of ``TINY_NET`` (the
#: fields set beside it win): one word for CPU dry runs such as ``gpu_smoke.sh``'s.
TINY = "tiny"
#: ``TrainConfig`` fields (YAML spelling) of the tiny network, both architectures.
TINY_NET: dict[str, Any] = {
    "encoder": "test_resnet",
    "decoder_channels": [32, 32, 16, 16],
    "aspp_channels": 32,
    "aspp_rates": [2, 4],
    "fpn_channels": 32,
}


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train with one intra-op thread inside the block (the previous count after it).

    With two threads on two busy cores, OpenMP spin-waits made the tiny network up to 10x
    slower and erratic (measured: the demo took 4 minutes instead of 20 s); one thread is
    steady everywhere.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


__all__ = ["TINY", "TINY_NET", "one_torch_thread"]
