"""`make serve`'s gunicorn, for real: start-up checks, health routes, logs, several workers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.dash_http import request, run_oip_job
from tests.gunicorn_server import run_gunicorn_to_exit
from tests.redis_fixtures import SHARED_SECRET

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(gunicorn_server):
    """The session's gunicorn: two workers on Redis with a shared secret (`SHARED_SECRET`)."""
    return gunicorn_server


def test_healthz_readyz_and_pages_answer(server):
    assert request(server.url, "GET", "/healthz") == (200, b'{"status":"up"}\n')
    status, body = request(server.url, "GET", "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"
    status, body = request(server.url, "GET", "/compare")
    assert status == 200 and b"cnn-lens" in body


def test_one_access_log_line_per_request_with_its_id(server):
    request(server.url, "GET", "/healthz", headers={"X-Request-Id": "trace-me-42"})
    time.sleep(0.3)
    lines = [line for line in server.log().splitlines() if "trace-me-42" in line]
    assert len(lines) == 1 and '"GET /healthz HTTP/1.1" 200' in lines[0]


def test_tensorflow_is_not_loaded_in_the_gunicorn_master(server):
    # no --preload: the master must stay free of TensorFlow (a fork after it hangs)
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "tensorflow" not in maps
    assert "preload" not in server.log().lower()


def test_the_secret_key_is_never_logged_nor_printed(server):
    request(server.url, "GET", "/oip")
    time.sleep(0.3)
    assert SHARED_SECRET not in server.log()
    shown = subprocess.run(
        [sys.executable, "-m", "app.settings"],
        env={**os.environ, "CNN_LENS_SECRET_KEY": SHARED_SECRET},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CNN_LENS_SECRET_KEY" in shown and SHARED_SECRET not in shown


def one_line_reason(output: str) -> list[str]:
    return [line for line in output.splitlines() if "cnn-lens: cannot start:" in line]


def test_several_workers_without_redis_refuse_to_start_with_one_line(trained):
    code, output = run_gunicorn_to_exit({"CNN_LENS_WORKERS": "2", "REDIS_URL": ""})
    assert code not in (0, None)
    assert output.strip().splitlines() == one_line_reason(output)  # nothing but the reason
    assert "CNN_LENS_WORKERS=2 needs REDIS_URL" in output


def test_several_workers_without_a_shared_secret_refuse_to_start(trained):
    env = {"CNN_LENS_WORKERS": "2", "REDIS_URL": "redis://127.0.0.1:1/0", "CNN_LENS_SECRET_KEY": ""}
    code, output = run_gunicorn_to_exit(env)
    assert code not in (0, None)
    assert "needs CNN_LENS_SECRET_KEY" in output and len(one_line_reason(output)) == 1


def test_a_missing_model_stops_the_server_with_one_line(tmp_path):
    code, output = run_gunicorn_to_exit({"CNN_LENS_MODEL": str(tmp_path / "none.keras")})
    assert code not in (0, None)
    assert output.strip().splitlines() == one_line_reason(output)
    assert "no trained model at" in output


def test_a_file_that_is_not_a_model_stops_the_server_with_one_line(tmp_path):
    model = tmp_path / "cnn.keras"
    model.write_bytes(b"this is not a zip archive")
    (tmp_path / "cnn.json").write_text("{}")
    code, output = run_gunicorn_to_exit({"CNN_LENS_MODEL": str(model)})
    assert code not in (0, None)
    assert "is not a Keras model file" in output and len(one_line_reason(output)) == 1


def test_corrupt_weights_inside_a_valid_archive_stop_the_server(trained, tmp_path):
    # passes the master's cheap check; the worker's real load fails: one line, gunicorn halts
    model = tmp_path / "cnn.keras"
    with zipfile.ZipFile(_model_path()) as src, zipfile.ZipFile(model, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "model.weights.h5":
                data = data[: len(data) // 3]  # truncated weights
            dst.writestr(item, data)
    shutil.copy(_model_path().with_suffix(".json"), tmp_path / "cnn.json")
    code, output = run_gunicorn_to_exit({"CNN_LENS_MODEL": str(model)}, timeout=120)
    assert code not in (0, None), output[-2000:]
    reasons = one_line_reason(output)
    assert len(reasons) == 1, output[-3000:]
    assert "Traceback" not in output


def _model_path():
    from cnn_core.config import default_model_path

    return default_model_path()


@pytest.mark.redis
def test_two_workers_on_redis_share_job_handles(server, celery_worker):
    pids = set(re.findall(r"Booting worker with pid: (\d+)", server.log()))
    assert len(pids) == 2
    # each poll on a new connection: gunicorn hands them to either worker
    seed = int(time.time()) % 100000  # not in the result cache
    messages = run_oip_job(server.url, timeout=90, poll_s=0.2, seed=seed)
    for message in messages:
        assert "no longer exists" not in message and "invalid job handle" not in message
    assert "done in" in messages[-1], messages[-3:]
    # one log line ties the job to the request that started it
    assert re.search(
        r"job [0-9a-f]{32} .*: queued on celery \(request [0-9a-f]{16}\)", server.log()
    )


def test_the_development_server_refuses_a_missing_model_with_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app", "--model", str(tmp_path / "none.keras")],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode != 0
    imported = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert imported, done.stderr[-2000:]  # (-X importtime lists every module imported)
    stderr = "\n".join(line for line in done.stderr.splitlines() if line not in imported)
    assert one_line_reason(stderr) == [
        f"cnn-lens: cannot start: no trained model at {tmp_path / 'none.keras'} "
        "(set CNN_LENS_MODEL, or train one: cnn-lens train)"
    ]
    # said before TensorFlow or Dash is imported: at once, not after seconds of loading
    assert not [line for line in imported if re.search(r"\| +(tensorflow|keras|dash)$", line)]
