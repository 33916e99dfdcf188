"""Shared fixtures: the real embedded MNIST subset and the real trained model."""

from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cnn_core import config
from cnn_core.data.sources import MnistData

# redis_url, celery_worker and gunicorn_server: real processes, shared by the session
pytest_plugins = ["tests.redis_fixtures"]


@pytest.fixture(scope="session")
def data() -> MnistData:
    """The embedded subset (4,000 train / 1,000 test), whatever CNN_LENS_DATA says."""
    from cnn_core.data.sources import load_embedded

    return load_embedded()


@pytest.fixture(scope="session")
def trained(data):
    """The default trained model (`models/cnn.keras`); trained once here if it does not exist."""
    from cnn_core.model.seed import save_trained, train
    from cnn_core.model.trained import load_trained

    path = config.default_model_path()
    if not path.exists():
        save_trained(train(data), path)
    return load_trained(path)


@pytest.fixture(scope="session")
def shapes_path():
    """`models/shapes.keras` with `shapes.npz` and `shapes.json`; trained once here if missing."""
    from cnn_core.shapes import save_shapes, shapes_dataset, shapes_files, train_shapes

    path = config.shapes_model_path()
    if not all(file.exists() for file in shapes_files(path)):
        data = shapes_dataset()
        model, meta = train_shapes(data)
        save_shapes(model, meta, data, path)
    return path


@pytest.fixture(scope="session")
def residual_path():
    """`models/residual.keras` (a nested residual base on the shapes) with its `.npz` and
    `.json`; trained once here if missing."""
    from cnn_core.shapes import save_shapes, shapes_dataset, shapes_files, train_shapes

    path = config.residual_model_path()
    if not all(file.exists() for file in shapes_files(path)):
        data = shapes_dataset()
        model, meta = train_shapes(data, example="residual")
        save_shapes(model, meta, data, path)
    return path


@pytest.fixture(scope="session")
def shapes_model(shapes_path):
    """The colour example's Keras model: `(N, 32, 32, 3)` raw pixels 0-255 -> `(N, 6)` softmax."""
    import keras

    return keras.saving.load_model(shapes_path, compile=False, safe_mode=True)


@pytest.fixture(scope="session")
def shapes_data(shapes_path):
    """The colour example's data as shipped beside the model (`shapes.npz`, via load_dataset)."""
    from cnn_core.data.sources import load_dataset

    return load_dataset(shapes_path.with_suffix(".npz"))


@pytest.fixture(scope="session")
def acts(trained):
    from cnn_core.explain.activations import ActivationModel

    return ActivationModel(trained)


@pytest.fixture(scope="session")
def services(data, trained, acts):
    """The app's services, loaded once for the whole session (the app's own loader)."""
    from app.services import Services, set_services

    services = Services.load()
    set_services(services)
    return services


@pytest.fixture(autouse=True)
def _no_warm_up_left_running():
    """Each test ends with the warm-up threads it started (the app's OIP and timeline warm-ups)
    finished: one still building models when a later test in the process trains would draw
    from Keras's process-wide random state meanwhile, and that training would not repeat."""
    yield
    for thread in threading.enumerate():
        if thread.name.endswith("warm-up") and thread is not threading.current_thread():
            thread.join(timeout=300)


# --------------------------------------------------------------------------------------------
# Test processes: `make test` runs pytest-xdist with `--dist loadgroup`, scheduled below
# --------------------------------------------------------------------------------------------

#: Which tests share a process, by file: the tests of a group run one after the other in one
#: process, which starts their servers (and browser) once. Any other file is a group of its
#: own (its module fixtures start once). The browser group comes first, being the longest.
#: (By file because xdist's own `xdist_group` marks are lost on pytest 9, and the scheduler
#: sees only test ids; the fixtures are checked against this at collection.)
PATH_GROUPS = {
    "tests/app/test_gunicorn.py": "served",
    "tests/app/test_fuzz_callbacks.py": "served",
    "tests/app/test_celery_jobs.py": "served",
    "tests/browser/test_security_headers.py": "served",
    "tests/browser/": "browser",
}
#: The fixtures behind each group: a test that uses one must be in a file of its group (the
#: first group that applies: a browser test on the shared gunicorn is "served").
GROUP_FIXTURES = {
    "served": {"gunicorn_server", "celery_worker"},
    "browser": {"browser", "live_server", "colour_server", "folder_server", "alone_server"},
}
#: The order in which groups and files are handed out: the three long groups first, then the
#: files that take longest alone (seconds in one process, 2026-11-26), so that the short ones
#: fill the end of both processes instead of one long file running on alone.
ORDER = (
    "tests/install/test_install.py",  # ~230 s, mostly pip and training
    "browser",  # ~130 s
    "served",  # ~45 s
    "tests/app/test_commands.py",  # ~100 s
    "tests/app/test_faults.py",  # ~30 s
    "tests/core/test_graphs.py",  # ~45 s
    "tests/core/test_oip_ascent.py",  # ~18 s
    "tests/core/test_any_model.py",  # ~10 s
    "tests/core/test_oip_cli.py",  # ~7 s
    "tests/core/test_timeline.py",  # ~8 s
    "tests/core/test_attribution.py",  # ~7 s
    "tests/core/test_shapes.py",  # ~5 s
    "tests/app/test_timeline.py",  # ~5 s
    "tests/core/test_model.py",  # ~5 s
)


def group_of(nodeid: str) -> str:
    """The process group of a test id: its file's group (PATH_GROUPS), else its file."""
    path = nodeid.split("::")[0]
    if path in PATH_GROUPS:
        return PATH_GROUPS[path]
    for prefix, group in PATH_GROUPS.items():
        if prefix.endswith("/") and path.startswith(prefix):
            return group
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    misplaced = []
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for group, fixtures in GROUP_FIXTURES.items():  # the first that applies
            if used & fixtures:
                if group_of(item.nodeid) != group:
                    misplaced.append(f"{item.nodeid} (uses {sorted(used & fixtures)}: {group})")
                break
    if misplaced:
        raise pytest.UsageError(
            "tests/conftest.py PATH_GROUPS puts these tests away from the servers they use:\n"
            + "\n".join(misplaced)
        )
    rank = {group: n for n, group in enumerate(ORDER)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(ORDER)))


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` schedules by `group_of`: whole groups in the order of the items
    (ORDER first), each to the next process that has (almost) nothing left to do. xdist would
    otherwise reorder them by their number of tests, which put a long file of 3 tests last."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)
