"""Helpers for the real processes the tests start (dashboard, redis-server, Celery worker)."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(*procs: subprocess.Popen, timeout: float = 20.0) -> None:
    """Terminate every one of `procs` at once, then wait for them: a TensorFlow process takes
    a second or more to exit, so stopping several one after the other adds up. Any still
    running after `timeout` seconds is killed."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
