"""The dashboard app in-process, for the HTTP-level page tests: one per test module."""

from __future__ import annotations

import pytest

from app import main


@pytest.fixture(scope="module")
def app(services):
    dash_app = main.create_app()
    dash_app.server.test_client().get("/_dash-layout")  # the first request registers callbacks
    return dash_app


@pytest.fixture(scope="module")
def client(app):
    return app.server.test_client()
