"""The Dash application: `create_app()`, a module-level `server` for gunicorn, `python -m app`."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import threading
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import html
from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from app import ids, jobs
from app.services import Services, get_services, set_services
from cnn_core.config import ENV_DATA, ENV_MODEL, PROJECT_ROOT

log = logging.getLogger("cnn_lens")

ENV_DEBUG = "CNN_LENS_DEBUG"
ENV_SECRET = "CNN_LENS_SECRET_KEY"
ENV_HOST = "CNN_LENS_HOST"
ENV_PORT = "CNN_LENS_PORT"
PAGES_FOLDER = Path(__file__).resolve().parent / "pages"


def debug_enabled() -> bool:
    """Dash debug mode only when `CNN_LENS_DEBUG=1`."""
    return os.environ.get(ENV_DEBUG, "") == "1"


def _secret_key() -> str:
    key = os.environ.get(ENV_SECRET)
    if key:
        return key
    log.warning(
        "%s is not set: using a random key for this process; set it (the same in every web "
        "process) so that signed job handles stay valid across processes and restarts",
        ENV_SECRET,
    )
    return secrets.token_hex(32)


def _on_callback_error(err: Exception) -> None:
    # Last line of defence: callbacks catch the errors they expect and show them; anything
    # else is logged here and the page keeps its previous view instead of getting a 500.
    log.error("callback failed: %s", err, exc_info=err)


def _warm_up(services: Services) -> None:
    """Trace the OIP engine and tabulate the test digits' unit values (OIP results need both)."""
    services.oip_engine()
    services.unit_tables("test")


def navbar() -> dbc.NavbarSimple:
    """The top bar: one link per registered page, in page order."""
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
    ]
    return dbc.NavbarSimple(
        links, brand="cnn-lens", brand_href="/", color="dark", dark=True, id=ids.NAVBAR, fluid=True
    )


def create_app(services: Services | None = None) -> dash.Dash:
    """Build the dashboard. Loads data and model once (now), unless `services` is given."""
    if services is not None:
        set_services(services)
    loaded = get_services()  # load before the first request; a missing model fails here, clearly
    app = dash.Dash(
        "app",  # the package's name: Dash then imports pages as app.pages.<name>
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(PROJECT_ROOT / "assets"),
        title="cnn-lens",
        update_title=None,
        suppress_callback_exceptions=True,
        on_error=_on_callback_error,
    )
    app.server.secret_key = _secret_key()
    manager = jobs.make_manager(
        app.server.secret_key, loaded.oip_engine, jobs.model_id(loaded.trained.meta)
    )
    jobs.set_manager(manager)
    if manager.backend == "local":
        # trace the OIP graph now, off the request path, so the first Start answers at once.
        # Not a daemon: a process that exits while a daemon thread is inside TensorFlow aborts
        # ("terminate called ..."); exit waits the second or two the warm-up takes instead.
        threading.Thread(target=_warm_up, args=(loaded,), name="oip-warm-up").start()
    log.info("OIP jobs run on the %s backend", manager.backend)
    app.layout = html.Div(
        [navbar(), dbc.Container(dash.page_container, fluid=True, className="py-3")]
    )
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: dash.Dash) -> None:
    server = app.server

    @server.errorhandler(Exception)
    def _handle(exc: Exception):
        if isinstance(exc, HTTPException):
            return exc
        # A request Dash could not even dispatch (malformed JSON body, unknown output id...)
        # is the client's fault: say so with a 400 instead of a 500 and a traceback.
        if request.path.startswith("/_dash-update-component"):
            log.warning("malformed callback request: %r", exc)
            return jsonify(error=f"malformed callback request: {type(exc).__name__}"), 400
        log.exception("unhandled error on %s", request.path)
        return jsonify(error="internal error"), 500


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="Serve the cnn-lens dashboard."
    )
    parser.add_argument("--host", default=os.environ.get(ENV_HOST, "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get(ENV_PORT, "8050")))
    parser.add_argument("--data", help=f"mnist.npz or IDX folder (sets ${ENV_DATA})")
    parser.add_argument("--model", help=f"trained model file (sets ${ENV_MODEL})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.data:
        os.environ[ENV_DATA] = args.data
    if args.model:
        os.environ[ENV_MODEL] = args.model
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app()
    print(f"cnn-lens: serving on http://{args.host}:{args.port}", flush=True)
    # threaded server, no reloader: a reloader forks after TensorFlow is loaded, which hangs.
    try:
        app.run(
            host=args.host, port=args.port, debug=debug_enabled(), use_reloader=False, threaded=True
        )
    finally:
        jobs.get_manager().shutdown()  # a running OIP job must not hold up the exit


class _LazyServer:
    """`app.main:server` for gunicorn, built on first use inside each worker (after its fork)."""

    def __init__(self) -> None:
        self._server = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if self._server is None:
            with self._lock:
                if self._server is None:
                    self._server = create_app().server
        return self._server(environ, start_response)


server = _LazyServer()
