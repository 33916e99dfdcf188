"""The app shell: factory, pages, debug off, malformed requests answered with a 4xx."""

from __future__ import annotations

import json

import pytest

from app import main


@pytest.fixture(scope="module")
def client(services):
    return main.create_app().server.test_client()


def test_model_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"cnn-lens" in response.data


def test_debug_is_off_unless_asked(monkeypatch):
    monkeypatch.delenv(main.ENV_DEBUG, raising=False)
    assert not main.debug_enabled()
    monkeypatch.setenv(main.ENV_DEBUG, "1")
    assert main.debug_enabled()


def test_layout_contains_the_model_page(client):
    layout = json.loads(client.get("/_dash-layout").data)
    assert "navbar" in json.dumps(layout)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        json.dumps({"output": "nope.children", "inputs": [], "changedPropIds": []}),
    ],
)
def test_malformed_callback_request_is_a_4xx(client, body):
    response = client.post(
        "/_dash-update-component", data=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert b"Traceback" not in response.data


def _wsgi_get(server, path: str = "/") -> tuple[str, bytes]:
    """`(status, body)` of a GET of `path` straight through a WSGI callable."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
        "QUERY_STRING": "",
    }
    statuses = []
    body = b"".join(server(environ, lambda status, headers: statuses.append(status)))
    return statuses[0], body


def test_lazy_gunicorn_server_builds_the_app_once(services):
    server = main.LazyServer()
    status, body = _wsgi_get(server)
    assert status == "200 OK" and body
    first = server._server
    _wsgi_get(server)
    assert server._server is first


def test_a_page_request_to_a_worker_still_loading_waits_for_it_instead_of_a_503(services):
    # gunicorn with two workers: /readyz answered 200 by one, the next request went to the
    # other, still loading its model, and got 503 (CI, the compose test, 2026-12-02)
    server = main.LazyServer()

    def get(path):
        return _wsgi_get(server, path)

    server.start_loading(exit_on_failure=False)
    assert server._server is None  # the load has only begun
    assert get("/readyz")[0].startswith("503")  # a probe is answered at once
    assert get("/healthz")[0] == "200 OK"
    status, body = get("/_dash-dependencies")  # waits for the load, then served
    assert status == "200 OK" and json.loads(body), body[:200]
    assert server._server is not None  # loaded: the app itself answers the probe now
    assert json.loads(get("/readyz")[1])["status"] != "loading the model"
