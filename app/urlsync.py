"""Keep the address bar in step with a page's view, without Dash re-running the page's layout."""

from __future__ import annotations

from dash import Input, Output, clientside_callback

# replaceState, not a dcc.Location search update: a pushed search makes Dash's page router
# rebuild the whole page. The path check keeps a late update from writing onto another page.
_SYNC_JS = """
function(search) {
    if (search && window.location.pathname.endsWith("%s")
            && window.location.search !== search) {
        window.history.replaceState(null, "", window.location.pathname + search);
    }
    return search || null;
}
"""


def sync_code(path: str) -> str:
    """The clientside function writing a query store's "?..." to the address bar on `path`."""
    return _SYNC_JS % path


def keep_address_in_step(query_store: str, sink_store: str, path: str) -> None:
    """Register a clientside callback that writes `query_store`'s "?..." string to the URL.

    Args:
        query_store: id of a `dcc.Store` whose data is the view's query string.
        sink_store: id of a `dcc.Store` the callback writes to (Dash needs an output).
        path: the page's path, e.g. "/compare".
    """
    clientside_callback(sync_code(path), Output(sink_store, "data"), Input(query_store, "data"))
