"""`python -m cnn_core.oip`: OIPs of a layer's units in one batch, saved as arrays and PNGs.

Example: `python -m cnn_core.oip --layer Conv2D_3 --units all --steps 200 --out oips/`
writes `oips/Conv2D_3.npz` (images, history, activations, probabilities, descriptions, seeds),
`oips/Conv2D_3.png` (plain gallery) and `oips/Conv2D_3_enhanced.png` (contrast-enhanced).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm


def parse_units(text: str) -> list[int] | str:
    """`"all"`, or comma-separated indices and inclusive ranges: `"0,5,10-15"`."""
    if text.strip() == "all":
        return "all"
    units: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            units.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"units must be 'all' or indices like 0,5,10-15; got {text!r}"
        ) from None
    return units


def build_parser() -> argparse.ArgumentParser:
    from cnn_core.oip.options import INITS, AscentOptions

    defaults = AscentOptions()
    parser = argparse.ArgumentParser(
        prog="python -m cnn_core.oip", description=__doc__.split("\n")[0].split(": ", 1)[1]
    )
    parser.add_argument(
        "--layer", required=True, help="a layer of the model (checked once it is loaded)"
    )
    parser.add_argument("--units", type=parse_units, default="all", help="'all' or 0,5,10-15")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seed", type=int, default=0, help="starting-noise seed")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--model", type=Path, default=None, help="trained model (.keras)")
    parser.add_argument("--step-size", type=float, default=defaults.step_size)
    parser.add_argument("--wavelength", type=float, default=defaults.wavelength)
    parser.add_argument("--octaves", type=int, default=defaults.octaves)
    parser.add_argument("--init", choices=INITS, default=defaults.init)
    parser.add_argument("--blur-every", type=int, default=defaults.blur_every)
    parser.add_argument("--blur-sigma", type=float, default=defaults.blur_sigma)
    parser.add_argument("--jitter", type=int, default=defaults.jitter)
    parser.add_argument("--tv", type=float, default=defaults.tv)
    parser.add_argument("--l2", type=float, default=defaults.l2)
    parser.add_argument(
        "--post-relu", action="store_true", help="ascend the post-ReLU value (the seed's way)"
    )
    parser.add_argument("--colormap", default="jet", help="jet, viridis, inferno, magma, gray")
    parser.add_argument("--per-row", type=int, default=16, help="OIPs per gallery row")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the command line `argv`; `prog` names the command in messages (`cnn-lens oip`)."""
    parser = build_parser()
    if prog:
        parser.prog = prog
    args = parser.parse_args(argv)
    import numpy as np

    from cnn_core import imaging
    from cnn_core.model.trained import ModelLoadError, ModelNotFoundError, load_trained
    from cnn_core.oip.ascent import OipProgress, optimize_maps
    from cnn_core.oip.objectives import OipError

    try:
        imaging.check_colormap(args.colormap)
        trained = load_trained(args.model)
    except (ModelNotFoundError, ModelLoadError, imaging.ImagingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = trained.desc.names
    if args.layer not in names:  # the layers depend on the model: checked here, not by argparse
        parser.error(
            f"argument --layer: invalid choice: {args.layer!r} (this model has {', '.join(names)})"
        )
    try:
        options = dict(
            step_size=args.step_size,
            wavelength=args.wavelength,
            octaves=args.octaves,
            init=args.init,
            blur_every=args.blur_every,
            blur_sigma=args.blur_sigma,
            jitter=args.jitter,
            tv=args.tv,
            l2=args.l2,
            pre_relu=not args.post_relu,
        )
        started = time.perf_counter()
        with tqdm(total=args.steps, desc=f"OIP {args.layer}", unit="step") as bar:

            def advance(progress: OipProgress) -> None:
                bar.update(progress.step - bar.n)
                bar.set_postfix(mean_objective=f"{float(np.mean(progress.values)):.3g}")

            result = optimize_maps(
                trained, args.layer, args.units, args.steps, args.seed, advance, 5, **options
            )
        seconds = time.perf_counter() - started
    except (OipError, ModelNotFoundError, ModelLoadError, imaging.ImagingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / args.layer
    units = [int(t.unit) for o in result.objectives for _, t in o.terms]
    np.savez_compressed(
        stem.with_suffix(".npz"),
        images=result.images,
        history=result.history,
        initial=result.initial,
        activations=result.activations,
        probabilities=result.probabilities,
        units=np.asarray(units, np.int32),
        seeds=np.asarray(result.seeds, np.int64),
        descriptions=np.asarray(result.descriptions),
        options=json.dumps(dataclasses.asdict(result.options)),
    )
    gallery = dict(colormap=args.colormap, per_row=args.per_row)
    stem.with_suffix(".png").write_bytes(imaging.oip_gallery_png(result.images, **gallery))
    enhanced = args.out / f"{args.layer}_enhanced.png"
    enhanced.write_bytes(imaging.oip_gallery_png(result.images, view="enhanced", **gallery))
    print(
        f"{len(units)} OIPs of {args.layer}, {result.steps_done} steps in {seconds:.1f} s; "
        f"median objective {float(np.median(result.activations)):.4g}\n"
        f"wrote {stem.with_suffix('.npz')}, {stem.with_suffix('.png')}, {enhanced}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
