"""The package layout: no import circle in `cnn_core` or `app`, and the core stays web-free."""

from __future__ import annotations

import pytest

from tests.imports import project_modules, reachable

MODULES = project_modules()


def test_the_import_graph_reads_the_regrouped_core():
    assert "cnn_core.model.graph" in reachable("cnn_core.explain.activations")
    assert "cnn_core.model.seed" not in reachable("cnn_core.model.trained")


@pytest.mark.parametrize("module", MODULES)
def test_no_module_reaches_itself_through_its_imports(module):
    assert module not in reachable(module)


def test_cnn_core_imports_no_app_module():
    for module in (m for m in MODULES if m.startswith("cnn_core")):
        assert not any(name.startswith("app") for name in reachable(module)), module
