"""A real `gunicorn --config gunicorn.conf.py` on a free loopback port, for tests and benches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".pytest_cache"


@dataclass
class Gunicorn:
    """A running gunicorn: its process, base URL and log file (stdout and stderr)."""

    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.proc)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    """`(status, body, headers)` of a GET; HTTP errors are answers too, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def start_gunicorn(
    env_extra: dict[str, str] | None = None,
    name: str = "gunicorn",
    wait_ready: bool = True,
    timeout: float = 120.0,
) -> Gunicorn:
    """Start gunicorn with the project's config; wait until `/readyz` answers 200.

    Args:
        env_extra: environment on top of this process's (CNN_LENS_* settings, REDIS_URL...).
        name: log file stem under .pytest_cache/.
        wait_ready: wait for a ready `/readyz` (False: return once the port answers).
        timeout: seconds to wait.

    Raises:
        RuntimeError: it exited or did not become ready in time (the log's tail is in the message).
    """
    port = free_port()
    env = {
        **os.environ,
        "CNN_LENS_HOST": "127.0.0.1",
        "CNN_LENS_PORT": str(port),
        "CNN_LENS_SECRET_KEY": "test-secret",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(env_extra or {}),
    }
    env.pop("CNN_LENS_DEBUG", None)
    LOG_DIR.mkdir(exist_ok=True)
    log_path = LOG_DIR / f"{name}-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(proc, f"http://127.0.0.1:{port}", log_path)
    path = "/readyz" if wait_ready else "/healthz"
    workers = int(env.get("CNN_LENS_WORKERS") or 1)
    ready_pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{server.log()[-3000:]}")
        try:
            status, body, _ = http_get(server.url + path, timeout=2)
            if status == 200 and not wait_ready:
                return server
            if status == 200:
                # every worker answers for itself: wait until each one has said it is ready
                ready_pids.add(json.loads(body).get("pid", 0))
                if len(ready_pids) >= workers:
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"gunicorn not ready within {timeout} s:\n{server.log()[-3000:]}")


def run_gunicorn_to_exit(env_extra: dict[str, str], timeout: float = 120.0):
    """Run gunicorn expecting it to refuse to start; returns the finished process's
    `(returncode, output)` (it is killed, with returncode None, if it is still up at `timeout`)."""
    env = {**os.environ, "CNN_LENS_PORT": str(free_port()), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update(env_extra)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = [
            part.decode() if isinstance(part, bytes) else part or ""
            for part in (exc.stdout, exc.stderr)
        ]
        return None, "".join(out)
    return done.returncode, done.stdout + done.stderr
