"""The OIP page's view: the objective, the ascent's parameters, the gallery; kept in the URL."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from app.components.urlview import UrlView
from app.components.validate import choice, number, text, whole_number
from app.jobspec import ENGINE_DEFAULTS, LIMITS, JobSpec, JobSpecError
from app.services import get_services
from cnn_core import imaging
from cnn_core.explain.compare import default_pair
from cnn_core.oip import default_method
from cnn_core.oip.ascent import METHOD_OPTIONS

KINDS = ("map", "node", "class", "contrast")
WATCH_PACE = 40.0  # steps per second when watching: 200 steps in 5 s
#: `?run=...` starts a job when the page opens: "1" a single run, "gallery" the gallery.
RUN_FLAGS = {"1": "single", "gallery": "gallery"}
#: The fields that make a single run's job request (`OipView.spec`).
SPEC_FIELDS = (
    "kind", "layer", "unit", "a", "b", "steps", "step_size", "wavelength", "blur_sigma", "method",
    "transforms", "seed", "n_seeds", "images_per_unit", "diversity",
)  # fmt: skip
#: The page's diversity λ once a seed gets several images (README "OIP quality", diversity
#: table, 4 images of a unit, two seeds: λ 1 lowers their mean Gram cosine from 0.89-0.90 to
#: 0.74-0.77 on the colour example with 86-100% of the images keeping 70% of a plain run's
#: activation, and from 0.97 to 0.94-0.95 with 100% on the residual example; λ 3 no lower on
#: the colour example and keeping less).
DIVERSITY = 1.0
#: Written to the URL only with several images per seed: an address of one stays as it was.
DIVERSE_FIELDS = ("images_per_unit", "diversity")


@dataclass(frozen=True)
class OipView(UrlView):
    """What the page's controls hold. Layers and classes depend on the model: `defaults()`.

    Values from the controls are kept as sent (`from_controls`): `JobSpec.parse` checks them
    when a job starts, so a view is only written to the URL once its job was accepted.
    """

    kind: str = "map"
    layer: str | None = None
    unit: int = 0
    a: int = 0
    b: int = 1
    steps: int = ENGINE_DEFAULTS.steps
    step_size: float = ENGINE_DEFAULTS.step_size
    wavelength: float = ENGINE_DEFAULTS.wavelength
    blur_sigma: float = ENGINE_DEFAULTS.blur_sigma
    method: str = "pixel"
    transforms: bool = False
    seed: int = 0
    n_seeds: int = 3
    images_per_unit: int = 1
    diversity: float = DIVERSITY
    cmap: str = imaging.DEFAULT_COLORMAP
    gallery_layer: str | None = None
    gallery_steps: int = 200
    watch: bool = True

    PARSERS: ClassVar[dict[str, Any]] = {
        "kind": lambda raw, _view: choice(raw, "kind", KINDS),
        "layer": lambda raw, _view: text(raw),
        "unit": lambda raw, _view: whole_number(raw, "unit"),
        "a": lambda raw, _view: whole_number(raw, "class a"),
        "b": lambda raw, _view: whole_number(raw, "class b"),
        "steps": lambda raw, _view: whole_number(raw, "steps"),
        "step_size": lambda raw, _view: number(raw, "step size"),
        "wavelength": lambda raw, _view: number(raw, "wavelength"),
        "blur_sigma": lambda raw, _view: number(raw, "blur sigma"),
        "method": lambda raw, _view: choice(raw, "method", tuple(METHOD_OPTIONS)),
        "transforms": lambda raw, _view: raw != "0",
        "seed": lambda raw, _view: whole_number(raw, "seed"),
        "n_seeds": lambda raw, _view: whole_number(raw, "n_seeds"),
        "images_per_unit": lambda raw, _view: whole_number(raw, "images_per_unit"),
        # checked here, not only as a job: with one image per seed no job carries it
        "diversity": lambda raw, _view: number(
            raw, "diversity", LIMITS.diversity.lo, LIMITS.diversity.hi
        ),
        "cmap": lambda raw, _view: imaging.check_colormap(raw),
        "gallery_layer": lambda raw, _view: text(raw),
        "gallery_steps": lambda raw, _view: whole_number(raw, "gallery steps"),
        "watch": lambda raw, _view: raw != "0",
    }
    EXTRA_PARAMS: ClassVar[tuple[str, ...]] = ("run",)

    @classmethod
    def defaults(cls) -> OipView:
        """Map 0 of the model's last map layer (its gallery too), its default class pair, its
        default parameterization (`cnn_core.oip.default_method`); a model without map layers
        opens on a class."""
        desc = get_services().desc
        layer = desc.last_map_layer
        a, b = default_pair(desc.num_classes)
        method, transforms = default_method(desc)
        return cls(
            kind="map" if layer else "class",
            layer=layer,
            gallery_layer=layer,
            a=a,
            b=b,
            method=method,
            transforms=transforms,
        )

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> tuple[OipView, list[str]]:
        """The view of URL parameters (see `UrlView.from_query`), then checked as jobs: a
        gallery the model cannot run falls back to the default gallery, an objective it cannot
        run to the default objective, each with a message."""
        view, problems = super().from_query(query)
        defaults, desc = cls.defaults(), get_services().desc
        try:
            JobSpec.parse(view.gallery_spec(), desc)
        except JobSpecError as exc:
            problems.append(f"gallery: {exc}")
            view = dataclasses.replace(
                view, gallery_layer=defaults.gallery_layer, gallery_steps=defaults.gallery_steps
            )
        try:
            JobSpec.parse(view.spec(), desc)
        except JobSpecError as exc:
            problems.append(str(exc))
            view = dataclasses.replace(view, **{f: getattr(defaults, f) for f in SPEC_FIELDS})
        return view, problems

    @classmethod
    def from_controls(cls, **controls: Any) -> OipView:
        """The controls' values as a view (`watch`, `transforms`: the switches' value lists,
        empty when off)."""
        switches = {name: bool(controls.get(name)) for name in ("watch", "transforms")}
        return cls(**{**controls, **switches})

    def spec(self) -> dict[str, Any]:
        """The job request of a single run (checked by `JobSpec.parse`); diversity only with
        several images per seed (its input is disabled with one)."""
        spec = {name: getattr(self, name) for name in SPEC_FIELDS}
        spec["pace"] = WATCH_PACE if self.watch else 0.0
        if self.images_per_unit == 1:
            spec["diversity"] = 0.0
        return {key: value for key, value in spec.items() if value is not None}

    def gallery_spec(self) -> dict[str, Any]:
        """The job request of the gallery: every map of a layer, one seed, full speed."""
        return {
            **self.spec(),
            "kind": "gallery",
            "layer": self.gallery_layer,
            "units": "all",
            "steps": self.gallery_steps,
            "n_seeds": 1,
            "images_per_unit": 1,  # one OIP per map (a single run may have several)
            "diversity": 0.0,
            "pace": 0.0,
        }

    def job_spec(self, what: str) -> dict[str, Any]:
        """The request of `what` ("single" or "gallery")."""
        return self.gallery_spec() if what == "gallery" else self.spec()

    def omitted(self) -> tuple[str, ...]:
        """Images per seed and diversity stay out of the URL with one image per seed: the
        address of such a view is the same as before they existed."""
        return DIVERSE_FIELDS if self.images_per_unit == 1 else ()

    def run_query(self, what: str | None) -> str:
        """The URL query of this view; with `what`, opening it starts that job (`?run=...`)."""
        flags = {run: flag for flag, run in RUN_FLAGS.items()}
        return self.query(run=flags.get(what or "", ""))


def autostart(query: Mapping[str, Any], problems: list[str]) -> str | None:
    """The job an address starts when opened ("single" / "gallery"), if all its parameters
    were understood."""
    return None if problems else RUN_FLAGS.get(query.get("run"))
