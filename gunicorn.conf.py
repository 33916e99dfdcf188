"""gunicorn settings for cnn-lens (`make serve`, the container), all read from app/settings.py.

No `preload_app`: TensorFlow is imported and the model loaded inside each worker, after the fork
(a process forked after TensorFlow is loaded hangs when it calls the model). Each worker loads
the dashboard in the background (`post_worker_init`): `/healthz` answers at once, `/readyz` once
the model is loaded and warmed. This file imports nothing heavy: it runs in the master.
"""

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # gunicorn reads this file before it puts its chdir on sys.path

from app.settings import SettingsError, check_model_file, load_settings  # noqa: E402

try:
    _settings = load_settings()
    check_model_file(_settings.model)
    _problem = _settings.problems_for_several_workers()
except SettingsError as _err:
    _problem = str(_err)
if _problem:
    # One line and a non-zero exit, before any worker is forked.
    print(f"cnn-lens: cannot start: {_problem}", file=sys.stderr, flush=True)
    sys.exit(2)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter

wsgi_app = "app.main:server"
chdir = str(ROOT)
bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
worker_class = "gthread"
threads = _settings.threads
preload_app = False
timeout = _settings.timeout
graceful_timeout = 20
keepalive = 5
max_requests = 0  # a worker reload would re-load TensorFlow and the model (seconds): never
limit_request_line = 8190
limit_request_fields = 100
loglevel = _settings.log_level
errorlog = "-"
accesslog = "-"
# one line per request, with the id the app puts in X-Request-Id (also in its own log lines)
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms id=%({x-request-id}o)s'
proc_name = "cnn-lens"
# heartbeat files in memory: /tmp may be read-only (the container test runs --read-only)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
control_socket_disable = True  # not used; several servers (tests, bench) would share its path

logging.basicConfig(
    level=_settings.log_level.upper(),
    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
    stream=sys.stderr,
)


def post_worker_init(worker):
    """Load the dashboard in this worker (after the fork), in the background."""
    worker.wsgi.start_loading(exit_on_failure=True)
