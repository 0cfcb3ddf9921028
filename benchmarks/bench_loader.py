#!/usr/bin/env python
"""DataLoader throughput of audiosynth's three PyTorch datasets over the same data.

The data: ``--num-examples`` examples (default 200) of the demo corpus (3-6 s, no reverb,
16 kHz FLAC PCM_16), built once as a folder and once as WebDataset shards (``--shard-size``
examples a tar). Each dataset yields the ``mix`` and ``clean`` roles through
``DataLoader(num_workers=2, batch_size=8, collate_fn=collate_pad)``:

- ``stored``: `StoredDataset` over the folder (decodes two FLAC files an example);
- ``shards``: `ShardDataset` over the tars (sequential reads, same decoding);
- ``shards_shuffled``: the same with a 100-example shuffle buffer;
- ``on_the_fly``: `OnTheFlyDataset`, every example rendered from the config in the worker.

An epoch is timed from creating the loader's iterator (worker start-up included, as at the
start of every epoch without persistent workers) to its last batch; throughput is examples
per second of the median epoch over ``--epochs``. Results: ``benchmarks/results/loader.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data_manifests" / "demo"
RESULTS = ROOT / "benchmarks" / "results" / "loader.json"


def make_config(num_examples: int, shard_size: int) -> Any:
    from audiosynth.config import config_from_dict

    return config_from_dict(
        {
            "catalogs": {"speech": [str(DEMO / "speech.jsonl")], "noise": [str(DEMO / "noise.jsonl")]},
            "seed": 0,
            "num_examples": num_examples,
            "sample_rate": 16000,
            "duration_s": [3.0, 6.0],
            "reverb": {"probability": 0.0},
            "output": {"format": "flac", "subtype": "PCM_16", "shard_size": shard_size},
        }
    )


def time_epochs(dataset: Any, epochs: int, workers: int, batch_size: int) -> list[float]:
    """Wall seconds of each epoch; checks every example is seen once."""
    from torch.utils.data import DataLoader

    from audiosynth.torch import collate_pad

    times = []
    for epoch in range(epochs):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_pad)
        start = time.perf_counter()
        ids = [i for batch in loader for i in batch["id"]]
        times.append(time.perf_counter() - start)
        assert len(ids) == len(set(ids)), "an example was seen twice"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-examples", type=int, default=200)
    parser.add_argument("--shard-size", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    import torch

    from audiosynth.build import build
    from audiosynth.dataset.rows import iter_manifest
    from audiosynth.torch import OnTheFlyDataset, ShardDataset, StoredDataset

    torch.set_num_threads(1)
    config = make_config(args.num_examples, args.shard_size)
    roles = ("mix", "clean")
    with tempfile.TemporaryDirectory() as tmp:
        build(config, Path(tmp) / "folder", workers=args.workers, progress=False)
        build(config, Path(tmp) / "wds", workers=args.workers, progress=False, format="webdataset")
        audio_s = sum(r["duration"] for r in iter_manifest(Path(tmp) / "folder" / "manifest.jsonl"))
        datasets = {
            "stored": StoredDataset(Path(tmp) / "folder", roles),
            "shards": ShardDataset(Path(tmp) / "wds", roles),
            "shards_shuffled": ShardDataset(Path(tmp) / "wds", roles, shuffle_buffer=100),
            "on_the_fly": OnTheFlyDataset(config, roles),
        }
        rows = []
        for name, dataset in datasets.items():
            times = time_epochs(dataset, args.epochs, args.workers, args.batch_size)
            median = statistics.median(times)
            rows.append(
                {
                    "dataset": name,
                    "epoch_s": [round(t, 3) for t in times],
                    "examples_per_s": round(args.num_examples / median, 1),
                    "audio_s_per_s": round(audio_s / median, 1),
                }
            )
    print(
        f"{args.num_examples} examples ({audio_s:.0f} s of audio, roles mix+clean), {args.workers} workers, batch {args.batch_size}, "
        f"median of {args.epochs} epochs"
    )
    print(f"{'dataset':16s} {'examples/s':>11s} {'audio s/s':>10s}  epochs (s)")
    for row in rows:
        print(f"{row['dataset']:16s} {row['examples_per_s']:11.1f} {row['audio_s_per_s']:10.1f}  {row['epoch_s']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                },
                "settings": {**vars(args), "roles": list(roles), "audio_s": round(audio_s, 3)},
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
