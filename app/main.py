"""The Dash application: `create_app()`, a module-level `server` for gunicorn, `python -m app`."""

from __future__ import annotations

import argparse
import contextvars
import json
import logging
import os
import re
import secrets
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import html
from dash.exceptions import DependencyException
from flask import Flask, Response, g, jsonify, request
from plotly.utils import PlotlyJSONEncoder
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app import ids, jobs
from app.cli import prepare
from app.components import colormap, digit_picker
from app.services import LOGITS, Services, get_services, set_services, trust_images
from app.settings import (
    ENV_DEBUG,
    ENV_HOST,
    ENV_PORT,
    ENV_SECRET,
    Settings,
    load_settings,
)
from cnn_core.config import PROJECT_ROOT

log = logging.getLogger("cnn_lens")

__all__ = ["ENV_DEBUG", "ENV_HOST", "ENV_PORT", "ENV_SECRET", "create_app", "main", "server"]
PAGES_FOLDER = Path(__file__).resolve().parent / "pages"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Dash's own routes: a path under these that Dash cannot serve is the client's mistake (404).
DASH_ROUTE_PREFIXES = ("/_dash-", "/_favicon", "/_reload-hash", "/assets/")
READY_KEY = "CNN_LENS_READY"


def assets_folder() -> Path:
    """The Dash assets (CSS, scripts, vendored plotly.js and Bootstrap): `app/assets` in an
    installed package (the wheel ships the repository's root `assets/` there), else the
    checkout's `assets/`."""
    packaged = Path(__file__).resolve().parent / "assets"
    return packaged if packaged.is_dir() else PROJECT_ROOT / "assets"


def debug_enabled() -> bool:
    """Dash debug mode only when `CNN_LENS_DEBUG=1`."""
    return os.environ.get(ENV_DEBUG, "") == "1"


def _secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    log.warning(
        "%s is not set: using a random key for this process; set it (the same in every web "
        "process) so that signed job handles stay valid across processes and restarts",
        ENV_SECRET,
    )
    return secrets.token_hex(32)


def _warm_up(services: Services, ready: threading.Event) -> None:
    """Trace the OIP engine and tabulate the test digits' unit values (OIP results need both)."""
    try:
        services.oip_engine(services.desc.last_map_layer)  # the OIP page's default layer
        desc = services.desc
        x = services.x_std["test"][:1] if services.has_data else np.zeros((1, *desc.input_shape))
        services.acts.layer(x, desc.first_look_layer)  # the explorer's first node
        services.acts.predict_proba(x)
        services.unit_table("test", services.desc.last_map_layer or LOGITS)
    except Exception:  # the dashboard still serves; /readyz stays 503 and the log says why
        log.exception("warm-up failed")
        return
    ready.set()


def navbar() -> dbc.NavbarSimple:
    """The top bar: one link per registered page, in page order."""
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
    ]
    return dbc.NavbarSimple(
        links, brand="cnn-lens", brand_href="/", color="dark", dark=True, id=ids.NAVBAR, fluid=True
    )


def create_app(services: Services | None = None, settings: Settings | None = None) -> dash.Dash:
    """Build the dashboard. Loads data and model once (now), unless `services` is given."""
    settings = settings or load_settings()
    if services is not None:
        set_services(services)
    loaded = get_services()  # load before the first request; a missing model fails here, clearly
    app = dash.Dash(
        "app",  # the package's name: Dash then imports pages as app.pages.<name>
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(assets_folder()),
        title="cnn-lens",
        update_title=None,
        suppress_callback_exceptions=True,
        on_error=_on_callback_error,
    )
    app.index_string = app.index_string.replace("<html>", '<html lang="en">', 1)
    app.server.secret_key = _secret_key(settings)
    app.server.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    ready = threading.Event()
    app.server.config[READY_KEY] = ready
    manager = jobs.make_manager(
        app.server.secret_key,
        loaded.oip_engine,
        jobs.model_id(loaded.trained.meta),
        loaded.desc,
        lambda: trust_images(loaded.data),
    )
    jobs.set_manager(manager)
    if manager.backend == "local":
        # trace the OIP graph now, off the request path, so the first Start answers at once.
        # Not a daemon: a process that exits while a daemon thread is inside TensorFlow aborts
        # ("terminate called ..."); exit waits the second or two the warm-up takes instead.
        threading.Thread(target=_warm_up, args=(loaded, ready), name="oip-warm-up").start()
    else:
        ready.set()  # jobs run on Celery workers; the activations were warmed by loading
    log.info("OIP jobs run on the %s backend", manager.backend)
    app.layout = html.Div(
        [
            navbar(),
            html.Main(dbc.Container(dash.page_container, fluid=True, className="py-3"), id="main"),
            colormap.store(),
        ]
    )
    _install_health_routes(app.server, manager)
    _install_error_handlers(app)
    _install_http_hardening(app)
    _install_body_cap(app)  # before the guard: it reads the body
    _install_callback_guard(app)
    return app


# --------------------------------------------------------------------------------------------
# Plain Flask routes and HTTP hygiene (no Dash machinery)
# --------------------------------------------------------------------------------------------


def _install_health_routes(server: Flask, manager: jobs.JobManager) -> None:
    """`/healthz`: the process answers. `/readyz`: model loaded and warmed (200), else 503."""

    def healthz():
        return jsonify(status="up")

    def readyz():
        ready = server.config[READY_KEY].is_set()
        body = {
            "status": "ready" if ready else "warming up",
            "jobs": manager.backend,
            "pid": os.getpid(),  # each gunicorn worker answers for itself
        }
        if manager.backend == "celery":
            # reported, not required: pages that need no job keep working without Redis
            body["redis"] = "up" if manager.store_reachable() else "unreachable"
        return jsonify(body), 200 if ready else 503

    server.add_url_rule("/healthz", "healthz", healthz, methods=["GET", "HEAD"])
    server.add_url_rule("/readyz", "readyz", readyz, methods=["GET", "HEAD"])


def content_security_policy(app: dash.Dash) -> str:
    """A Content-Security-Policy under which Dash and Plotly work.

    Scripts only from this server plus Dash's own inline scripts by hash; no framing. Inline
    styles stay allowed: React and Plotly set style attributes.
    """
    scripts = " ".join(["'self'", *app.csp_hashes()])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _known_page(path: str) -> bool:
    path = path.rstrip("/") or "/"
    return any(
        path == (page["relative_path"].rstrip("/") or "/") for page in dash.page_registry.values()
    )


def _install_http_hardening(app: dash.Dash) -> None:
    """Request ids, security headers, and 404 (with Dash's own not-found page) for unknown pages."""
    server = app.server
    csp: list[str] = []  # computed on the first response, once Dash has gathered inline scripts

    @server.before_request
    def _request_id() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]

    @server.after_request
    def _headers(response: Response) -> Response:
        if not csp:
            csp.append(content_security_policy(app))
        headers = response.headers
        headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        headers.setdefault("Content-Security-Policy", csp[0])
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        rule = request.url_rule.rule if request.url_rule else ""
        # Dash answers every unknown path with the app, which then shows its "404" page; say so
        # in the status too, so that link checkers and monitors see a 404.
        unknown = not _known_page(request.path) or request.path.startswith(DASH_ROUTE_PREFIXES)
        if rule.endswith("<path:path>") and response.status_code == 200 and unknown:
            response.status_code = 404
        return response


def callback_body_problem(body: object, callback_map: dict) -> str | None:
    """Why a `/_dash-update-component` body is malformed, or None if its shape is right.

    Only the envelope is checked here, against the app's `callback_map` (Dash's own code indexes
    into it without looking, and its page router calls `.startswith` on the address); each
    callback validates its values itself.
    """
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return "a callback request is a JSON object with an output"
    spec = callback_map.get(body["output"])
    if spec is None:
        return "no callback has this output"
    outputs = body.get("outputs")
    n_outputs = body["output"].count("...") + 1 if body["output"].startswith("..") else 1
    if outputs is not None and (
        (n_outputs > 1 and (not isinstance(outputs, list) or len(outputs) != n_outputs))
        or (n_outputs == 1 and not isinstance(outputs, dict | list))
    ):
        return "outputs do not match the callback"
    for key in ("inputs", "state"):
        items = body.get(key, [])
        if not isinstance(items, list):
            return f"{key} must be a list"
        if len(items) != len(spec.get(key, [])):
            return f"{key} do not match the callback ({len(spec.get(key, []))} expected)"
        for item, expected in zip(items, spec.get(key, []), strict=True):
            pattern = isinstance(expected.get("id"), str) and expected["id"].startswith("{")
            # ALL / ALLSMALLER give a list of matches; MATCH gives one object with a dict id
            multi = pattern and ('["ALL"]' in expected["id"] or '["ALLSMALLER"]' in expected["id"])
            if multi != isinstance(item, list) or not isinstance(item, list | dict):
                return f"{key} do not match the callback (a list for ALL, else an object)"
            if not pattern and item.get("id") != expected.get("id"):
                return f"{key} do not match the callback (unexpected id)"
            if pattern and not multi and not isinstance(item.get("id"), dict):
                return f"{key} do not match the callback (a pattern's id is an object)"
            for entry in item if multi else [item]:
                if not isinstance(entry, dict) or not isinstance(entry.get("property"), str):
                    return f"each of {key} must be an object with an id and a property"
                if "id" not in entry:
                    return f"each of {key} must be an object with an id and a property"
                value = entry.get("value")
                if entry["id"] == "_pages_location" and not isinstance(value, str | None):
                    return "the page address must be text"
                is_path = entry["id"] == "_pages_location" and entry["property"] == "pathname"
                if is_path and isinstance(value, str) and not value.startswith("/"):
                    return "the page path must start with /"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds must be a list of strings"
    return None


#: The start of an over-the-cap body kept to see which callback it was for (its `output` and
#: `outputs` come first); bodies up to `DRAIN_FACTOR` x the cap are read to their end first, so
#: that the browser, still sending, gets the answer instead of a reset connection.
BODY_HEAD_BYTES = 64 * 1024
DRAIN_FACTOR = 4
_OUTPUT = re.compile(r'\s*\{\s*"output"\s*:')
_INPUTS = re.compile(r',\s*"inputs"\s*:')


def too_large_body(length: int, limit: int) -> Response:
    """413 with a one-line JSON reason (not Flask's HTML page)."""
    size = f"has {length / 1e6:.1f} MB" if length else "is larger"
    reason = f"the request {size}; the limit is {limit / 1e6:.0f} MB"
    response = jsonify(error=reason)
    response.status_code = 413
    return response


def _read_head(environ: dict, length: int, limit: int) -> tuple[bytes, bool]:
    """The body's first `BODY_HEAD_BYTES`, and whether the rest was read too (drained)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b"", False
    head = stream.read(min(BODY_HEAD_BYTES, length))
    left = length - len(head)
    if left > DRAIN_FACTOR * limit:
        return head, False
    while left > 0:
        chunk = stream.read(min(1 << 20, left))
        if not chunk:
            break
        left -= len(chunk)
    return head, True


def oversized_callback_answer(head: bytes, length: int) -> Response | None:
    """The answer to a callback request over the cap, if its callback can say so on the page
    (a digit picker's upload sent without the browser's size check: its size message)."""
    text = head.decode("utf-8", "replace")
    end = _INPUTS.search(text)  # the renderer sends output, outputs, inputs... in this order
    if not _OUTPUT.match(text) or end is None:
        return None
    try:
        envelope = json.loads(text[: end.start()] + "}")
    except ValueError:
        return None
    if not isinstance(envelope, dict):
        return None
    answer = digit_picker.oversized_answer(envelope.get("outputs"), length)
    if answer is None:
        return None
    return Response(json.dumps(answer, cls=PlotlyJSONEncoder), mimetype="application/json")


def _install_body_cap(app: dash.Dash) -> None:
    """A body over `CNN_LENS_MAX_BODY_MB`: the upload's size message for a picker's callback,
    else 413 with a JSON reason; read to its end first (up to `DRAIN_FACTOR` x the cap)."""
    server = app.server
    limit = server.config["MAX_CONTENT_LENGTH"]

    @server.before_request
    def _over_the_cap():
        length = request.content_length
        if length is None or length <= limit:
            return None
        head, drained = _read_head(request.environ, length, limit)
        log.warning("request %s over the body cap: %d bytes", g.get("request_id", "-"), length)
        answer = None
        if request.path == "/_dash-update-component" and request.method == "POST":
            answer = oversized_callback_answer(head, length)
        answer = answer or too_large_body(length, limit)
        if not drained:
            answer.headers["Connection"] = "close"
        return answer


def _install_callback_guard(app: dash.Dash) -> None:
    @app.server.before_request
    def _guard():
        if request.path != "/_dash-update-component" or request.method != "POST":
            return None
        body = request.get_json(silent=True)
        problem = callback_body_problem(body, app.callback_map)
        if problem:
            log.warning("malformed callback request %s: %s", g.get("request_id", "-"), problem)
            return jsonify(error=f"malformed callback request: {problem}"), 400
        last_query_value_wins(body)
        return None


def last_query_value_wins(body: dict) -> None:
    """Keep only the last value of a repeated URL parameter (`?index=1&index=2` -> `index=2`).

    Dash hands a page's `layout(**query)` a list for a repeated parameter; every page expects
    text. Done here, once, on the JSON body Flask has parsed (and Dash reads next).
    """
    for item in body.get("inputs", []):
        if not isinstance(item, dict) or item.get("id") != "_pages_location":
            continue
        search = item.get("value")
        if item.get("property") != "search" or not isinstance(search, str) or "&" not in search:
            continue
        pairs = parse_qsl(search.lstrip("?"), keep_blank_values=True)
        last = dict(pairs)
        if len(last) < len(pairs):
            item["value"] = "?" + urlencode(last)


def _on_callback_error(err: Exception) -> None:
    # Last line of defence: callbacks catch the errors they expect and show them; anything
    # else is logged here and the page keeps its previous view instead of getting a 500.
    log.error("callback failed (request %s): %s", g.get("request_id", "-"), err, exc_info=err)


def _install_error_handlers(app: dash.Dash) -> None:
    server = app.server

    @server.errorhandler(Exception)
    def _handle(exc: Exception):
        if isinstance(exc, RequestEntityTooLarge):  # a body without a length, over the cap
            return too_large_body(request.content_length or 0, server.config["MAX_CONTENT_LENGTH"])
        if isinstance(exc, HTTPException):
            return exc
        # A path under Dash's component-suite route that names no file Dash serves.
        if isinstance(exc, DependencyException) or request.path.startswith(
            "/_dash-component-suites/"
        ):
            return jsonify(error="no such file"), 404
        # A request Dash could not even dispatch (malformed JSON body, unknown output id...)
        # is the client's fault: say so with a 400 instead of a 500 and a traceback.
        if request.path.startswith("/_dash-update-component"):
            log.warning(
                "malformed callback request %s: %s: %.200s",
                g.get("request_id", "-"),
                type(exc).__name__,
                str(exc).replace("\n", " "),
            )
            return jsonify(error=f"malformed callback request: {type(exc).__name__}"), 400
        log.exception("unhandled error on %s (request %s)", request.path, g.get("request_id", "-"))
        return jsonify(error="internal error"), 500


# --------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def main(argv: list[str] | None = None) -> None:
    """`python -m app`: check the command line (`app.cli.prepare`), then `serve`."""
    serve(*prepare(argv))


def serve(args: argparse.Namespace, settings: Settings) -> None:
    """Build the dashboard and serve it on the development server until interrupted; exits
    with one line if the model passes the file check but does not load."""
    try:
        app = create_app(settings=settings)
    except Exception as exc:  # a model that passes the cheap check but does not load
        sys.exit(f"cnn-lens: cannot start: {one_line(exc)}")
    print(f"cnn-lens: serving on http://{args.host}:{args.port}", flush=True)
    # threaded server, no reloader: a reloader forks after TensorFlow is loaded, which hangs.
    try:
        app.run(
            host=args.host, port=args.port, debug=debug_enabled(), use_reloader=False, threaded=True
        )
    finally:
        jobs.get_manager().shutdown()  # a running OIP job must not hold up the exit


class LazyServer:
    """`app.main:server` for gunicorn: the dashboard, built inside each worker after its fork.

    gunicorn's `post_worker_init` hook calls `start_loading()`: the app then loads in a thread
    while `/healthz` already answers 200 and `/readyz` 503 with `Retry-After`. Any other request
    that reaches a worker still loading waits for the load (up to `LOAD_WAIT_S`) and is then
    served: with several workers, `/readyz` may be answered by one that is ready while the next
    page request goes to one that is not, and a user must not see a 503 for that.
    A load that fails logs one line and ends the worker with gunicorn's boot-error
    code, so that gunicorn stops with a non-zero status instead of restarting it forever.
    Called without `start_loading()` (tests, other WSGI servers), the first request loads it.
    """

    BOOT_ERROR_EXIT = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR: the master halts
    LOAD_WAIT_S = 120.0  # how long a page request waits for its worker's model to load
    PROBES = frozenset({"/healthz", "/readyz"})  # answered at once, never held

    def __init__(self) -> None:
        self._server: Flask | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def start_loading(self, exit_on_failure: bool = True) -> None:
        """Build the app in a background thread (once)."""
        with self._lock:
            if self._thread is None and self._server is None:
                # Dash's page registration reads a context variable set in the importing
                # thread's context: run the loader in a copy of this one (a bare thread has none).
                context = contextvars.copy_context()
                self._thread = threading.Thread(
                    target=context.run,
                    args=(self._load_or_exit, exit_on_failure),
                    name="app-loader",
                )
                self._thread.start()

    def _build(self) -> Flask:
        with self._lock:
            if self._server is None:
                self._server = create_app().server
            return self._server

    def _load_or_exit(self, exit_on_failure: bool) -> None:
        try:
            self._build()
        except Exception as exc:
            self.error = one_line(exc)
            log.critical("cnn-lens: cannot start: %s", self.error)
            if exit_on_failure:
                logging.shutdown()
                os._exit(self.BOOT_ERROR_EXIT)

    def __call__(self, environ, start_response):
        server = self._server
        if server is None:
            thread = self._thread
            if thread is None:
                server = self._build()
            elif environ.get("PATH_INFO", "") in self.PROBES:
                return self._loading(environ, start_response)
            else:
                thread.join(self.LOAD_WAIT_S)
                server = self._server
                if server is None:  # still loading, or the load failed (the log says why)
                    return self._loading(environ, start_response)
        return server(environ, start_response)

    def _loading(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            status, body = "200 OK", b'{"status":"up"}'
        else:
            status, body = "503 Service Unavailable", b'{"status":"loading the model"}'
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Retry-After", "2"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [body]


server = LazyServer()
