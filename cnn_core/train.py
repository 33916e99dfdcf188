"""`python -m cnn_core.train`: train the seed CNN and write models/cnn.keras + cnn.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from cnn_core import config
from cnn_core.data import DataError, load_mnist
from cnn_core.model import TrainConfig, save_trained, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m cnn_core.train",
        description="Train the seed CNN (SGD + momentum, L2 on kernels, learning-rate schedule).",
    )
    parser.add_argument(
        "--data",
        help=f"mnist.npz or a folder of IDX files (default: ${config.ENV_DATA}, "
        "~/.keras/datasets/mnist.npz, else the embedded 5,000-digit subset)",
    )
    parser.add_argument("--out", type=Path, help="model file (default: models/cnn.keras)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--lr", type=float, default=defaults.learning_rate, help="initial learning rate"
    )
    parser.add_argument("--momentum", type=float, default=defaults.momentum)
    parser.add_argument("--l2", type=float, default=defaults.l2, help="L2 penalty on kernels")
    parser.add_argument(
        "--schedule", choices=("cosine", "step", "constant"), default=defaults.schedule
    )
    parser.add_argument(
        "--step-epochs", type=int, default=defaults.step_epochs, help="step schedule: halve every N"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            momentum=args.momentum,
            l2=args.l2,
            schedule=args.schedule,
            step_epochs=args.step_epochs,
            seed=args.seed,
        )
        data = load_mnist(args.data)
    except (ValueError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"data: {data.source}")
    steps = -(-len(data.x_train) // cfg.batch_size)
    with tqdm(total=cfg.epochs * steps, unit="batch", desc="training", dynamic_ncols=True) as bar:

        def on_batch(epoch: int, batch: int, logs: dict[str, float]) -> None:
            bar.update(1)
            if batch % 10 == 0:
                bar.set_postfix(
                    epoch=f"{epoch + 1}/{cfg.epochs}",
                    loss=f"{logs.get('loss', 0):.3f}",
                    acc=f"{logs.get('accuracy', 0):.3f}",
                )

        trained = train(data, cfg, on_batch=on_batch)
    path = save_trained(trained, args.out)
    meta = trained.meta
    print(
        f"test accuracy {meta['test_accuracy']:.4f} on {meta['data']['n_test']:,} digits, "
        f"{meta['seconds']:.1f} s; saved {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
