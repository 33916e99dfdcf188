"""`cnn-lens`: the one command of an installed cnn-lens, with sub-commands `serve`, `train`,
`oip` and `describe`.

Arguments are read and checked with the standard library only (no TensorFlow, no Dash): a wrong
option or path is reported in one line (exit status 2) at once, not after the seconds TensorFlow
takes to import. `train` and `oip` are the core's own commands (`python -m cnn_core.train`,
`python -m cnn_core.oip`) under another name; their parsers need the core's defaults, so their
options are read after it is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.cli import OneLineParser, add_serve_arguments, apply, one_line_error
from app.settings import Settings, SettingsError, check_model_file
from cnn_core import config

PROG = "cnn-lens"
DISTRIBUTION = "cnn-lens"
#: Sub-commands whose options the core's own parser reads (after the core is imported).
DELEGATED = ("train", "oip")


def version() -> str:
    """The installed package's version, else (a checkout never installed) pyproject's."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        import tomllib

        pyproject = config.PROJECT_ROOT / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The `cnn-lens` parser: `serve` and `describe` in full, `train` and `oip` by name only."""
    parser = OneLineParser(
        prog=PROG,
        description="See what a CNN learned: serve the dashboard for any Keras image "
        "classifier, train the seed CNN, compute optimal input patterns, describe a model.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser
    )
    serve = commands.add_parser(
        "serve",
        help="serve the dashboard (development server)",
        description="Serve the dashboard for MODEL (default: the seed CNN, trained first if "
        "there is none: about 25 s, once, with a progress bar).",
    )
    serve.add_argument(
        "model_file",
        nargs="?",
        metavar="MODEL",
        help="a .keras / .h5 / .hdf5 image classifier (the same as --model)",
    )
    add_serve_arguments(serve)
    commands.add_parser(
        "train",
        help="train the seed CNN or a colour example (cnn-lens train --help)",
        add_help=False,
    )
    commands.add_parser(
        "oip",
        help="optimal input patterns of a layer's units, saved as arrays and PNGs "
        "(cnn-lens oip --help)",
        add_help=False,
    )
    describe = commands.add_parser(
        "describe",
        help="the model's shown layers as a table (or JSON)",
        description="Describe MODEL as cnn-lens sees it: the layers it shows, their kinds, "
        "shapes, units, activations, parameters and what each reads from.",
    )
    describe.add_argument("model", nargs="?", metavar="MODEL", help="default: the seed CNN")
    describe.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `cnn-lens ARGS`; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up lines
    if argv and argv[0] in DELEGATED:
        return train(argv[1:]) if argv[0] == "train" else oip(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "describe":
        return describe(args)
    return serve(args)


# --------------------------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    """`cnn-lens serve`: `python -m app`'s checks and server; the seed trained first if the
    default model is served and missing."""
    if args.model_file and args.model and args.model_file != args.model:
        print(
            f"{PROG} serve: error: give the model once, as MODEL or --model "
            f"(see: {PROG} serve --help)",
            file=sys.stderr,
        )
        return 2
    args.model = args.model or args.model_file
    default = not args.model and not os.environ.get(config.ENV_MODEL)
    args, settings = apply(args, before_check=train_seed_if_missing if default else None)
    from app.main import serve as serve_app  # after the checks: they must not wait for it

    serve_app(args, settings)
    return 0


def train_seed_if_missing(settings: Settings) -> None:
    """Train the seed CNN into `settings.model` (its default place) if no file is there, in a
    new process (`python -m cnn_core.train`, its progress bar on this terminal), on its own
    data whatever `--data` says. Exits with one line if the training fails."""
    path = settings.model
    if path.exists():
        return
    print(
        f"cnn-lens: no trained seed CNN at {path}: training it now (about 25 s on 2 cores, once)",
        file=sys.stderr,
        flush=True,
    )
    env = {key: value for key, value in os.environ.items() if key != config.ENV_DATA}
    command = [sys.executable, "-m", "cnn_core.train", "--out", str(path)]
    if subprocess.run(command, env=env, check=False).returncode != 0:
        sys.exit(f"cnn-lens: cannot start: training the seed CNN into {path} failed (above)")


# --------------------------------------------------------------------------------------------
# train, oip: the core's commands
# --------------------------------------------------------------------------------------------


def train(argv: list[str]) -> int:
    """`cnn-lens train`: `python -m cnn_core.train` with the same options."""
    from cnn_core import train as training

    parser = training.build_parser(f"{PROG} train")
    parser.error = lambda message: one_line_error(parser, message)  # type: ignore[method-assign]
    return training.main(argv, parser)


def oip(argv: list[str]) -> int:
    """`cnn-lens oip [MODEL] --layer L --units U --out DIR`: `python -m cnn_core.oip` with the
    model as its first argument (or `--model`)."""
    if argv and not argv[0].startswith("-"):
        argv = ["--model", argv[0], *argv[1:]]
    from cnn_core.oip.__main__ import build_parser as oip_parser
    from cnn_core.oip.__main__ import main as oip_main

    parser = oip_parser()
    parser.prog = f"{PROG} oip"
    parser.usage = f"{PROG} oip [MODEL] --layer LAYER [--units UNITS] --out DIR [options]"
    parser.error = lambda message: one_line_error(parser, message)  # type: ignore[method-assign]
    args = parser.parse_args(argv)  # usage errors and --help here, under this command's name
    if args.model is not None and not args.model.is_file():
        one_line_error(parser, f"no model file {args.model}")
    return oip_main(argv, prog=parser.prog)


# --------------------------------------------------------------------------------------------
# describe
# --------------------------------------------------------------------------------------------


def describe(args: argparse.Namespace) -> int:
    """`cnn-lens describe [MODEL] [--json]`."""
    path = Path(args.model).expanduser() if args.model else config.default_model_path()
    try:
        if args.model and not path.is_file():
            raise SettingsError(f"no model file {path}")
        check_model_file(path)
    except SettingsError as err:
        print(f"{PROG} describe: error: {err}", file=sys.stderr)
        return 2
    from app.main import one_line
    from cnn_core.model.trained import ModelLoadError, load_trained

    try:
        trained = load_trained(path)
    except ModelLoadError as exc:
        print(f"{PROG} describe: error: {one_line(exc)}", file=sys.stderr)
        return 2
    described = description(trained.desc)
    try:
        print(json.dumps(described, indent=2) if args.json else description_table(described))
        sys.stdout.flush()
    except BrokenPipeError:  # `cnn-lens describe | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def description(desc: Any) -> dict[str, Any]:
    """A `cnn_core.model.anatomy.ModelDescription` as plain JSON-able values."""
    return {
        "name": desc.name,
        "input_shape": list(desc.input_shape),
        "classes": list(desc.class_names),
        "parameters": int(desc.parameters),
        "normalization": desc.normalization.describe(),
        "preprocessing": list(desc.preprocessing),
        "output_is_logits": bool(desc.output_is_logits),
        "nested": list(desc.nested),
        "not_shown": [{"layer": name, "reason": why} for name, why in desc.not_shown],
        "layers": [
            {key: list(value) if isinstance(value, tuple) else value for key, value in row.items()}
            for row in desc.summary()
        ],
    }


#: `describe`'s table: (heading, how a layer's row shows it).
COLUMNS = (
    ("layer", lambda row: row["layer"]),
    ("type", lambda row: row["type"]),
    ("kind", lambda row: row["kind"]),
    ("output", lambda row: "x".join(str(v) for v in row["shape"])),
    ("units", lambda row: f"{row['units']:,}"),
    ("activation", lambda row: row["activation"]),
    ("params", lambda row: f"{row['params']:,}"),
    ("reads from", lambda row: ", ".join(row["inputs"])),
)


def description_table(described: dict[str, Any]) -> str:
    """`description(...)` as a text table: a header of the model's facts, one row per layer."""
    classes = described["classes"]
    shown = ", ".join(classes[:10]) + (f", ... ({len(classes)})" if len(classes) > 10 else "")
    lines = [
        f"model {described['name']}: input {'x'.join(map(str, described['input_shape']))}, "
        f"{len(classes)} classes ({shown}), {described['parameters']:,} parameters",
        f"input normalization: {described['normalization']}",
        "",
    ]
    cells = [[show(row) for _, show in COLUMNS] for row in described["layers"]]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, (h, _) in enumerate(COLUMNS)]
    for row in [[h for h, _ in COLUMNS], ["-" * w for w in widths], *cells]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    for item in described["not_shown"][:20]:
        lines.append(f"not shown: {item['layer']}: {item['reason']}")
    return "\n".join(line.rstrip() for line in lines)


if __name__ == "__main__":
    sys.exit(main())
