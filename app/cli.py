"""`python -m app`'s command line, read and checked before the dashboard is imported.

Only the standard library and `app.settings` (no TensorFlow, no Dash): a wrong path or setting
is reported in a fraction of a second instead of after the seconds TensorFlow takes to import.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from app.settings import (
    ENV_HOST,
    ENV_PORT,
    Settings,
    SettingsError,
    check_model_file,
    load_settings,
)
from cnn_core.config import ENV_CHECKPOINTS, ENV_DATA, ENV_MODEL


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str):  # type: ignore[override]
        one_line_error(self, message)


def one_line_error(parser: argparse.ArgumentParser, message: str):
    """Print `PROG: error: MESSAGE (PROG --help)` on one line and exit with status 2."""
    text = " ".join(message.split())
    parser.exit(2, f"{parser.prog}: error: {text} (see: {parser.prog} --help)\n")


def port_number(text: str) -> int:
    """A TCP port, 1-65535 (argparse `type`)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 1-65535")
    return port


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """`--host --port --data --model --checkpoints`, shared by `python -m app` and
    `cnn-lens serve`. `--host` and `--port` default to None: the settings fill them in."""
    parser.add_argument("--host", help=f"default ${ENV_HOST} or 127.0.0.1")
    parser.add_argument("--port", type=port_number, help=f"default ${ENV_PORT} or 8050")
    parser.add_argument(
        "--data",
        help=f"an .npz of images (x_train, y_train, x_test, y_test), an MNIST IDX folder, or a "
        f"folder of images (DIR/<class>/*.png, or DIR/train/<class>/ and DIR/test/<class>/), "
        f"cropped and resized to the model's input (sets ${ENV_DATA}; default: the model's own "
        f"data, else MNIST)",
    )
    parser.add_argument(
        "--model",
        help=f"any Keras image classifier, .keras / .h5 / .hdf5, sidecar optional (sets "
        f"${ENV_MODEL}; default: the seed)",
    )
    parser.add_argument(
        "--checkpoints",
        help=f"a folder of the model's epoch checkpoints for the timeline "
        f"(sets ${ENV_CHECKPOINTS}; default: the folder training wrote beside the model)",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="python -m app", description="Serve the cnn-lens dashboard (development server)."
    )
    add_serve_arguments(parser)
    return parser.parse_args(argv)


def configure_logging(level: str = "info") -> None:
    """One line per record, with time, level and logger."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def startup_problem(settings: Settings) -> str | None:
    """Why the server cannot start with these settings (one line), or None."""
    try:
        check_model_file(settings.model)
    except SettingsError as err:
        return str(err)
    return settings.problems_for_several_workers()


def prepare(argv: list[str] | None = None) -> tuple[argparse.Namespace, Settings]:
    """Parse the arguments, put `--data`, `--model`, `--checkpoints` in the environment (where
    the app's loader reads them), load the settings and check the model file.

    Exits with one line (status 1, or 2 for a usage error) when any of this fails.
    """
    return apply(parse_args(argv))


def apply(
    args: argparse.Namespace,
    before_check: Callable[[Settings], None] | None = None,
) -> tuple[argparse.Namespace, Settings]:
    """`prepare` for arguments already parsed (`add_serve_arguments`): `before_check(settings)`
    runs between loading the settings and checking the model file (`cnn-lens serve` trains the
    seed there when it is missing)."""
    try:
        if args.data:
            os.environ[ENV_DATA] = args.data
        if args.model:
            os.environ[ENV_MODEL] = args.model
        if args.checkpoints:
            os.environ[ENV_CHECKPOINTS] = args.checkpoints
        settings = load_settings()
    except SettingsError as err:
        sys.exit(f"cnn-lens: {err}")
    args.host = args.host or settings.host
    args.port = settings.port if args.port is None else args.port
    configure_logging(settings.log_level)
    if before_check is not None:
        before_check(settings)
    if problem := startup_problem(settings):
        sys.exit(f"cnn-lens: cannot start: {problem}")
    return args, settings
