"""The pages call a colour model's pictures images; the seed's keep calling theirs digits."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.services import Services, get_services, set_services

WORD = re.compile(r"\bdigits?\b", re.IGNORECASE)


def texts(tree: Any) -> list[str]:
    """Every string a reader meets in a component tree: children, titles, alt texts, labels."""
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, list | tuple):
        return [t for child in tree for t in texts(child)]
    if not hasattr(tree, "to_plotly_json"):
        return []
    props = tree.to_plotly_json()["props"]
    out = [
        props[k] for k in ("title", "alt", "label", "placeholder") if isinstance(props.get(k), str)
    ]
    return out + texts(props.get("children"))


def page_texts() -> dict[str, list[str]]:
    from app.pages.activations import layout as explorer
    from app.pages.attribution import layout as attribution
    from app.pages.compare import layout as compare
    from app.pages.compare import render
    from app.pages.timeline import layout as timeline

    services = get_services()
    a, b = services.compare_pair
    return {
        "explorer": texts(explorer.layout()),
        "compare": texts(compare.layout()),
        "compare cell": texts(render.cell_listing(a, b, a, b, services.desc.map_layers[-1], "jet"))
        + texts(render.cell_listing(a, a, a, b, services.desc.map_layers[-1], "jet")),
        "attribution": texts(attribution.layout()),
        "timeline": texts(timeline.layout()),
    }


@pytest.fixture
def colour_pages(app, shapes_path):  # the seed back before the next test
    seed = get_services()
    set_services(Services.load(model_path=str(shapes_path)))
    try:
        yield page_texts()
    finally:
        set_services(seed)


def test_a_colour_models_pages_never_call_its_pictures_digits(colour_pages):
    for page, strings in colour_pages.items():
        said = [s for s in strings if WORD.search(s)]
        assert not said, f"{page} says digit: {said[:3]}"
    joined = " ".join(s for strings in colour_pages.values() for s in strings)
    for phrase in ("Pick an image and a layer", "random image of class", "or draw an image"):
        assert phrase in joined
    assert "the same image's activations" in " ".join(colour_pages["timeline"])


def test_the_seeds_pages_keep_their_words(app):
    pages = page_texts()
    assert any(s.startswith("Pick a digit and a layer") for s in pages["explorer"])
    assert "random digit of class" in pages["explorer"]
    assert any("activations of a few digits of two classes" in s for s in pages["compare"])
    assert "One more digit (test split or drawn)" in pages["compare"]
    assert any("Click a digit to open it" in s for s in pages["compare cell"])
