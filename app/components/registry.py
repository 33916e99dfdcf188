"""Callbacks declared once with decorators and handed to every Dash app that loads the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash import _callback as dash_callbacks


class CallbackSet:
    """The callbacks of one page or component, declared with `@callbacks.callback(...)`.

    Why not `dash.callback` directly at import: Dash hands the callbacks registered so far to
    the next app that starts serving, and a module is imported once per process, while the
    tests (and a process that builds its app again) create several apps. Dash executes a page's
    registering module once per app; that module calls `register()`, so every app gets the
    callbacks. Registering again before an app has taken them is a no-op (two pages that share
    a component both call its `register()`).
    """

    def __init__(self) -> None:
        self._server: list[tuple[tuple, dict, Callable[..., Any]]] = []
        self._client: list[tuple[str, tuple, dict]] = []
        self._waiting: set[str] = set()

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[Callable], Callable]:
        """Declare a server callback; the same arguments as `dash.callback`."""

        def declare(function: Callable[..., Any]) -> Callable[..., Any]:
            self._server.append((args, kwargs, function))
            return function

        return declare

    def clientside(self, code: str, *args: Any, **kwargs: Any) -> None:
        """Declare a clientside callback; the same arguments as `dash.clientside_callback`."""
        self._client.append((code, args, kwargs))

    def register(self) -> None:
        """Hand every declared callback to the next app that starts serving (once)."""
        pending = set(dash_callbacks.GLOBAL_CALLBACK_MAP)
        if self._waiting and self._waiting <= pending:
            return
        for args, kwargs, function in self._server:
            dash.callback(*args, **kwargs)(function)
        for code, args, kwargs in self._client:
            dash.clientside_callback(code, *args, **kwargs)
        self._waiting = set(dash_callbacks.GLOBAL_CALLBACK_MAP) - pending
