"""HTTP hygiene of the app: health routes, 4xx for unknown paths, body limit, security headers."""

from __future__ import annotations

import json

import pytest

from app import main
from app.settings import SettingsError, load_settings


@pytest.fixture(scope="module")
def app(services):
    return main.create_app()


def test_healthz_answers_without_dash(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "up"}


def test_readyz_is_ready_once_the_warm_up_is_done(app, client):
    assert app.server.config[main.READY_KEY].wait(timeout=120)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-component-suites/nope/x.js",
        "/_dash-component-suites/dash/nope.js",
        "/_dash-component-suites/dash/deps/x.js",
        "/_dash-component-suites/dash/../../etc/passwd",
        "/_dash-component-suites/dash_bootstrap_components/../../../README.md",
        "/assets/nope.css",
        "/assets/../app/main.py",
        "/assets/%2e%2e/README.md",
        "/_dash-layout/nope",
        "/_dash-update-component",  # GET: only POST is a callback
        "/no-such-page",
        "/activations/deeper",
    ],
)
def test_unknown_or_forged_paths_are_4xx(client, path):
    response = client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert b"Traceback" not in response.data


def test_pages_and_dash_routes_still_answer_200(client):
    for path in ("/", "/activations", "/compare", "/oip", "/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 200, path


def test_request_bodies_over_the_limit_get_413(client):
    limit = load_settings().max_body_bytes
    response = client.post(
        "/_dash-update-component",
        data=b"x" * (limit + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_security_headers_on_pages_and_api(client):
    for path in ("/", "/_dash-layout", "/healthz"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'self'" in csp
        assert "'unsafe-eval'" not in csp
        assert headers["X-Frame-Options"] == "DENY"


def test_csp_allows_exactly_dashs_inline_scripts(app, client):
    page = client.get("/activations")
    csp = page.headers["Content-Security-Policy"]
    for digest in app.csp_hashes():
        assert digest in csp


def test_a_request_id_is_echoed_and_a_forged_one_replaced(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == (
        "abc-123"
    )
    forged = client.get("/healthz", headers={"X-Request-Id": "a b;<c>"}).headers["X-Request-Id"]
    assert forged != "a b;<c>" and len(forged) == 16


def test_repeated_url_parameters_the_last_one_wins(app, client):
    key = next(k for k in app.callback_map if "_pages_content.children" in k)
    body = {
        "output": key,
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": "/activations"},
            {
                "id": "_pages_location",
                "property": "search",
                "value": "?index=1&layer=Conv2D_2&index=312",
            },
        ],
        "state": [],
        "changedPropIds": ["_pages_location.pathname"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    text = json.dumps(response.get_json())
    assert '"value": 312' in text and "Conv2D_2" in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CNN_LENS_PORT": "eighty"}, "CNN_LENS_PORT='eighty' is not a whole number"),
        ({"CNN_LENS_WORKERS": "0"}, "CNN_LENS_WORKERS=0 is outside 1..64"),
        ({"CNN_LENS_LOG_LEVEL": "loud"}, "CNN_LENS_LOG_LEVEL='loud'"),
    ],
)
def test_bad_settings_are_named_in_one_line(env, message):
    with pytest.raises(SettingsError, match=message) as err:
        load_settings(env)
    assert "\n" not in str(err.value)


def test_settings_defaults():
    settings = load_settings({})
    assert (settings.host, settings.port, settings.workers, settings.threads) == (
        "127.0.0.1",
        8050,
        1,
        8,
    )
    assert settings.redis_url is None and settings.secret_key is None
    assert not settings.debug


def test_several_workers_need_redis_and_a_shared_secret():
    assert (
        "needs REDIS_URL" in load_settings({"CNN_LENS_WORKERS": "2"}).problems_for_several_workers()
    )
    no_secret = load_settings({"CNN_LENS_WORKERS": "2", "REDIS_URL": "redis://x"})
    assert "needs CNN_LENS_SECRET_KEY" in no_secret.problems_for_several_workers()
    both = {"CNN_LENS_WORKERS": "2", "REDIS_URL": "redis://x", "CNN_LENS_SECRET_KEY": "s"}
    assert load_settings(both).problems_for_several_workers() is None


def test_a_plain_model_file_without_sidecar_passes_the_start_up_check(trained, tmp_path):
    from app.settings import SettingsError, check_model_file

    for name in ("plain.keras", "legacy.h5", "legacy.hdf5"):
        trained.model.save(tmp_path / name)  # model.save() alone: no <stem>.json beside it
        check_model_file(tmp_path / name)
    (tmp_path / "fake.h5").write_text("not a model")
    with pytest.raises(SettingsError, match="fake.h5 is not an HDF5 Keras model file"):
        check_model_file(tmp_path / "fake.h5")
    (tmp_path / "model.pt").write_bytes(b"\x80\x02")
    with pytest.raises(
        SettingsError, match=r"model.pt is not a Keras model file: expected \.keras"
    ):
        check_model_file(tmp_path / "model.pt")
