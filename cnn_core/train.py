"""`python -m cnn_core.train`: train the seed CNN (models/cnn.keras) or the colour example."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from cnn_core import config
from cnn_core.data.sources import DataError, load_mnist
from cnn_core.training_options import ShapesTrainConfig, TrainConfig

EXAMPLES = ("seed", "shapes", "residual")
#: Options that only the seed CNN's training understands (argument names).
SEED_ONLY = ("data", "momentum", "l2", "schedule", "step_epochs")


PROG = "python -m cnn_core.train"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The training command's parser (also `cnn-lens train`'s, with `prog="cnn-lens train"`)."""
    seed, shapes = TrainConfig(), ShapesTrainConfig()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train the seed CNN (SGD + momentum, L2 on kernels, learning-rate schedule), "
        "or with --example shapes / residual a colour example (coloured shapes, Adam).",
    )
    parser.add_argument(
        "--example",
        choices=EXAMPLES,
        default="seed",
        help="seed: the MNIST seed CNN, models/cnn.keras (default); shapes: the coloured-shapes "
        "CNN, models/shapes.keras with its data shapes.npz and sidecar shapes.json; residual: "
        "a nested residual base on the same shapes, models/residual.keras (.npz, .json)",
    )
    parser.add_argument(
        "--data",
        help=f"seed only: mnist.npz or a folder of IDX files (default: ${config.ENV_DATA}, "
        "~/.keras/datasets/mnist.npz, else the embedded 5,000-digit subset)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="model file (default: models/cnn.keras, shapes.keras, residual.keras in a checkout, "
        f"else in the per-user cache: ${config.ENV_CACHE}, $XDG_CACHE_HOME/cnn-lens or "
        "~/.cache/cnn-lens, under models/)",
    )
    parser.add_argument(
        "--epochs", type=int, help=f"default {seed.epochs} (seed), {shapes.epochs} (shapes)"
    )
    parser.add_argument(
        "--batch-size", type=int, help=f"default {seed.batch_size} / {shapes.batch_size}"
    )
    parser.add_argument(
        "--lr",
        type=float,
        help=f"initial learning rate (default {seed.learning_rate} / {shapes.learning_rate})",
    )
    parser.add_argument("--momentum", type=float, help=f"seed only (default {seed.momentum})")
    parser.add_argument(
        "--l2", type=float, help=f"seed only: L2 penalty on kernels (default {seed.l2})"
    )
    parser.add_argument(
        "--schedule",
        choices=("cosine", "step", "constant"),
        help=f"seed only (default {seed.schedule})",
    )
    parser.add_argument(
        "--step-epochs",
        type=int,
        help=f"seed only: step schedule halves every N epochs (default {seed.step_epochs})",
    )
    parser.add_argument("--seed", type=int, help=f"default {seed.seed}")
    return parser


def parse_args(argv: list[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    return build_parser(prog).parse_args(argv)


@contextmanager
def progress_bar(
    epochs: int, steps_per_epoch: int
) -> Iterator[Callable[[int, int, dict[str, float]], None]]:
    """A tqdm bar over all batches; yields the `on_batch(epoch, batch, logs)` that advances it."""
    with tqdm(
        total=epochs * steps_per_epoch, unit="batch", desc="training", dynamic_ncols=True
    ) as bar:

        def on_batch(epoch: int, batch: int, logs: dict[str, float]) -> None:
            bar.update(1)
            if batch % 10 == 0:
                bar.set_postfix(
                    epoch=f"{epoch + 1}/{epochs}",
                    loss=f"{logs.get('loss', 0):.3f}",
                    acc=f"{logs.get('accuracy', 0):.3f}",
                )

        yield on_batch


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Train and save; returns the exit status (2: options that cannot be used).

    Args:
        argv: the arguments (default: the command line's).
        parser: the parser to read them with (default: `build_parser()`).
    """
    args = (parser or build_parser()).parse_args(argv)
    if args.example != "seed":
        return main_shapes(args)
    from cnn_core.model.seed import save_trained, train  # TensorFlow: after the options

    try:
        given = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "momentum": args.momentum,
            "l2": args.l2,
            "schedule": args.schedule,
            "step_epochs": args.step_epochs,
            "seed": args.seed,
        }
        cfg = TrainConfig(**{key: value for key, value in given.items() if value is not None})
        data = load_mnist(args.data)
    except (ValueError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"data: {data.source}")
    steps = -(-len(data.x_train) // cfg.batch_size)
    with progress_bar(cfg.epochs, steps) as on_batch:
        trained = train(data, cfg, on_batch=on_batch)
    path = save_trained(trained, args.out)
    meta = trained.meta
    print(
        f"test accuracy {meta['test_accuracy']:.4f} on {meta['data']['n_test']:,} digits, "
        f"{meta['seconds']:.1f} s; saved {path}"
    )
    return 0


def main_shapes(args: argparse.Namespace) -> int:
    """Train a colour example and write `<example>.keras`, `.npz`, `.json`."""
    seed_only = [name for name in SEED_ONLY if getattr(args, name) is not None]
    if seed_only:
        options = ", ".join(f"--{name.replace('_', '-')}" for name in seed_only)
        print(
            f"error: {options}: for the seed CNN only, not --example {args.example}",
            file=sys.stderr,
        )
        return 2
    given = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "seed": args.seed,
    }
    try:
        cfg = ShapesTrainConfig(**{key: value for key, value in given.items() if value is not None})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from cnn_core.shapes import save_shapes, shapes_dataset, shapes_files, train_shapes

    data = shapes_dataset()
    print(f"data: {data.source}")
    steps = -(-len(data.x_train) // cfg.batch_size)
    with progress_bar(cfg.epochs, steps) as on_batch:
        model, meta = train_shapes(data, cfg, on_batch=on_batch, example=args.example)
    out = args.out or config.models_dir() / f"{args.example}.keras"
    files = shapes_files(save_shapes(model, meta, data, out))
    print(
        f"test accuracy {meta['test_accuracy']:.4f} on {meta['data']['n_test']:,} images, "
        f"{meta['seconds']:.1f} s; saved {', '.join(str(f) for f in files)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
