"""pyproject.toml's package list and package data against the tree: a new sub-package or asset
that the list misses would be left out of the wheel (the wheel itself: test_install.py)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_of_the_tree_is_listed():
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for package in ("app", "cnn_core")
        for init in (ROOT / package).rglob("__init__.py")
    }
    assert set(SETUPTOOLS["packages"]) == found | {"app.assets"}


def test_the_root_assets_folder_ships_whole_as_app_assets():
    assert SETUPTOOLS["package-dir"] == {"app.assets": "assets"}
    patterns = SETUPTOOLS["package-data"]["app.assets"]
    files = [p.relative_to(ROOT / "assets").as_posix() for p in (ROOT / "assets").rglob("*")]
    missed = [f for f in files if (ROOT / "assets" / f).is_file()
              and not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]  # fmt: skip
    assert not missed


def test_the_dependencies_are_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dynamic"] == ["dependencies"]
    assert SETUPTOOLS["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]  # fmt: skip
    assert pins and all("==" in line for line in pins)  # pinned, nothing pip-only (-r, -e)
