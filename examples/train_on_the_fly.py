#!/usr/bin/env python
"""Train on mixtures rendered on the fly, on the training device, new ones every epoch.

DataLoader workers only read audio (plan the example, load its clips and RIRs); the main
process mixes each batch on ``--device`` (rooms, convolution, gains, labels) and hands it to
the model. Epoch 0 is exactly the dataset ``audiosynth build`` writes from the same config;
epoch e > 0 draws new mixtures from (seed, e, i) (dynamic mixing).

    python examples/train_on_the_fly.py                          # CPU, the demo corpus, seconds
    python examples/train_on_the_fly.py --device cuda --num-workers 4 --num-examples 2000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from audiosynth.config import load_config
from audiosynth.torch import OnTheFlyLoader

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "denoising_demo.yaml"


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-examples", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=2)
    args = parser.parse_args(argv)

    config = load_config(args.config).with_overrides(num_examples=args.num_examples)
    loader = OnTheFlyLoader(
        config,
        roles=("mix", "clean"),
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.num_workers,
        shuffle=True,
    )
    model = torch.nn.Sequential(  # a toy mask estimator: any model taking (B, M, N) works
        torch.nn.Conv1d(1, 4, 9, padding=4), torch.nn.ReLU(), torch.nn.Conv1d(4, 1, 9, padding=4), torch.nn.Sigmoid()
    ).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    loss = torch.zeros(())
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)  # new mixtures every epoch, the same ones for the same seed
        for batch in loader:
            mix, clean, lengths = batch["mix"], batch["clean"], batch["lengths"]["mix"]  # (B, 1, N) on the device
            valid = torch.arange(mix.shape[-1], device=mix.device) < lengths[:, None, None]  # mask the zero padding
            estimate = model(mix) * mix
            loss = ((estimate - clean) ** 2 * valid).sum() / valid.sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: {len(loader)} batches, last loss {loss.item():.3e}, snr_db of the first: {batch['labels'][0]['snr_db']}")
    return float(loss.detach())


if __name__ == "__main__":
    main()
