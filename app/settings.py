"""Every environment variable the dashboard reads, with its default, in one place.

Importing this module is cheap (no TensorFlow, no Dash): `gunicorn.conf.py` reads it in the
gunicorn master, before any worker forks. Values are read when `load_settings()` is called, so a
test can change the environment and read them again.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cnn_core.config import ENV_CACHE, ENV_CHECKPOINTS, ENV_DATA, ENV_MODEL, default_model_path

ENV_HOST = "CNN_LENS_HOST"
ENV_PORT = "CNN_LENS_PORT"
ENV_WORKERS = "CNN_LENS_WORKERS"
ENV_THREADS = "CNN_LENS_THREADS"
ENV_REDIS = "REDIS_URL"
ENV_SECRET = "CNN_LENS_SECRET_KEY"
ENV_LOG_LEVEL = "CNN_LENS_LOG_LEVEL"
ENV_DEBUG = "CNN_LENS_DEBUG"
ENV_MAX_BODY = "CNN_LENS_MAX_BODY_MB"
ENV_TIMEOUT = "CNN_LENS_TIMEOUT"
ENV_JOB_STALE = "CNN_LENS_JOB_STALE_S"
ENV_JOB_QUEUE = "CNN_LENS_JOB_QUEUE"
ENV_JOBS_PER_CLIENT = "CNN_LENS_JOBS_PER_CLIENT"

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

#: `(variable, default, meaning)` for the README's table and `python -m app.settings`.
DOCUMENTED: tuple[tuple[str, str, str], ...] = (
    (
        ENV_MODEL,
        "models/cnn.keras (installed: in the cache)",
        "model file: .keras, .h5 or .hdf5 (a sidecar `.json` beside it is optional)",
    ),
    (
        ENV_DATA,
        "the model's own",
        "images: an `.npz` (x_train, y_train, x_test, y_test), an MNIST IDX folder, or a folder "
        "of images, one sub-folder per class (default: the file the model's sidecar names, "
        "else MNIST for a 28x28 grey model, else none: the model alone)",
    ),
    (ENV_CHECKPOINTS, "beside the model", "the model's epoch checkpoints for the timeline page"),
    (
        ENV_CACHE,
        "$XDG_CACHE_HOME/cnn-lens, else ~/.cache/cnn-lens",
        "decoded image folders, so that one process decodes them; an installed package's "
        "trained models (models/)",
    ),
    (ENV_HOST, "127.0.0.1", "address to listen on (`0.0.0.0` in the container)"),
    (ENV_PORT, "8050", "port to listen on"),
    (ENV_WORKERS, "1", "gunicorn worker processes (more than 1 needs `REDIS_URL`)"),
    (ENV_THREADS, "8", "threads per gunicorn worker"),
    (ENV_TIMEOUT, "120", "gunicorn: seconds a silent worker may take before it is restarted"),
    (ENV_REDIS, "unset", "run OIP jobs on Celery workers through this Redis"),
    (ENV_JOB_STALE, "60", "a running OIP job silent this many seconds is reported dead"),
    (
        ENV_JOB_QUEUE,
        "32",
        "OIP jobs that may wait at once (all web processes); a Start past it gets a busy message",
    ),
    (
        ENV_JOBS_PER_CLIENT,
        "2",
        "OIP jobs one browser (its session cookie) may have waiting or running at once",
    ),
    (ENV_SECRET, "random per process", "signs job handles; the same in every web process"),
    (ENV_LOG_LEVEL, "info", "debug, info, warning, error or critical"),
    (ENV_MAX_BODY, "4", "largest request body in MB (uploads are limited to 2 MB files)"),
    (ENV_DEBUG, "0", "`1`: Dash debug mode (never in production)"),
)


class SettingsError(ValueError):
    """A setting that cannot be used; the message is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    """The dashboard's configuration, validated."""

    model: Path
    data: str | None
    host: str
    port: int
    workers: int
    threads: int
    timeout: int
    job_stale_s: int
    job_queue: int
    jobs_per_client: int
    redis_url: str | None
    secret_key: str | None
    log_level: str
    max_body_bytes: int
    debug: bool

    def problems_for_several_workers(self) -> str | None:
        """Why this configuration cannot run more than one web process, or None if it can."""
        if self.workers <= 1:
            return None
        if not self.redis_url:
            return (
                f"{ENV_WORKERS}={self.workers} needs {ENV_REDIS}: without it OIP jobs live inside "
                "one worker and another worker's poll cannot find them; set REDIS_URL (and run a "
                f"Celery worker) or use {ENV_WORKERS}=1"
            )
        if not self.secret_key:
            return (
                f"{ENV_WORKERS}={self.workers} needs {ENV_SECRET}: each worker would sign job "
                "handles with its own random key and reject the others'"
            )
        return None


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is outside {lo}..{hi}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from `env` (default: `os.environ`).

    Raises:
        SettingsError: a value that cannot be used (one line, naming the variable).
    """
    env = os.environ if env is None else env
    log_level = env.get(ENV_LOG_LEVEL, "info").strip().lower() or "info"
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"{ENV_LOG_LEVEL}={log_level!r}: choose one of {', '.join(LOG_LEVELS)}")
    model = Path(env[ENV_MODEL]).expanduser() if env.get(ENV_MODEL) else default_model_path()
    return Settings(
        model=model,
        data=env.get(ENV_DATA) or None,
        host=env.get(ENV_HOST, "").strip() or "127.0.0.1",
        port=_int(env, ENV_PORT, 8050, 1, 65535),
        workers=_int(env, ENV_WORKERS, 1, 1, 64),
        threads=_int(env, ENV_THREADS, 8, 1, 256),
        timeout=_int(env, ENV_TIMEOUT, 120, 10, 3600),
        job_stale_s=_int(env, ENV_JOB_STALE, 60, 2, 3600),
        job_queue=_int(env, ENV_JOB_QUEUE, 32, 1, 10_000),
        jobs_per_client=_int(env, ENV_JOBS_PER_CLIENT, 2, 1, 1000),
        redis_url=env.get(ENV_REDIS) or None,
        secret_key=env.get(ENV_SECRET) or None,
        log_level=log_level,
        max_body_bytes=_int(env, ENV_MAX_BODY, 4, 1, 1024) * 1024 * 1024,
        debug=env.get(ENV_DEBUG, "") == "1",
    )


#: The first bytes of every HDF5 file (legacy `.h5` / `.hdf5` Keras models).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def check_model_file(path: Path) -> None:
    """Cheap start-up check of a model file, without loading TensorFlow.

    The full load happens in each worker; this catches a missing, truncated or foreign file in
    the gunicorn master, before any worker forks, with a one-line reason. The sidecar
    (`<stem>.json`) is optional: a plain `model.save()` file is served as it is.

    Raises:
        SettingsError: missing, not a `.keras` archive or an HDF5 file, or damaged.
    """
    if not path.is_file():
        raise SettingsError(
            f"no trained model at {path} (set {ENV_MODEL}, or train one: cnn-lens train)"
        )
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise SettingsError(
            f"{path} is not a Keras model file: expected {', '.join(MODEL_SUFFIXES)}"
        )
    if path.suffix.lower() != ".keras":
        with path.open("rb") as file:
            if file.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
                raise SettingsError(f"{path} is not an HDF5 Keras model file")
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SettingsError(
            f"{path} is not a Keras model file ({exc}); retrain: cnn-lens train"
        ) from None
    if broken is not None or not {"config.json", "model.weights.h5"} <= names:
        raise SettingsError(f"{path} is a damaged Keras model file; retrain: cnn-lens train")


def main() -> None:
    """Print every setting with its current value (the secret masked)."""
    settings = load_settings()
    for name, default, meaning in DOCUMENTED:
        value = os.environ.get(name)
        shown = "(set)" if name == ENV_SECRET and value else value or f"(default: {default})"
        print(f"{name:22} {shown:32} {meaning}")
    if reason := settings.problems_for_several_workers():
        print(f"cnn-lens: {reason}")


if __name__ == "__main__":
    main()
