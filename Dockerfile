# cnn-lens in a container: a slim Debian with Python 3.11, runtime dependencies only, the seed CNN
# trained at build time (about 25 s), served by gunicorn as a non-root user.
#
#   docker build -t cnn-lens .            # anywhere with a registry (BASE=debian:bookworm-slim)
#   scripts/container.sh build             # here: podman, a locally made base, local wheels
#
# No --preload anywhere: TensorFlow is loaded in each gunicorn worker, after the fork.
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PATH=/opt/venv/bin:$PATH \
    CNN_LENS_HOST=0.0.0.0 \
    CNN_LENS_PORT=8050 \
    CNN_LENS_MODEL=/srv/cnn-lens/models/cnn.keras

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && useradd --system --uid 10001 --create-home --home-dir /home/cnn --shell /usr/sbin/nologin cnn

WORKDIR /srv/cnn-lens
COPY requirements.txt ./
# .container/wheels: a local wheel folder for machines that cannot reach PyPI (filled by
# scripts/container.sh); when it holds no wheels, pip installs from the index as usual.
RUN --mount=type=bind,source=.container/wheels,target=/wheels \
    python3 -m venv /opt/venv \
 && if ls /wheels/*.whl >/dev/null 2>&1; then from="--no-index --find-links /wheels"; else from=""; fi \
 && pip install --no-cache-dir $from -r requirements.txt \
 && rm -rf /root/.cache

COPY cnn_core cnn_core
COPY app app
COPY assets assets
COPY gunicorn.conf.py ./
RUN python -m cnn_core.train && python -m compileall -q cnn_core app

USER cnn
EXPOSE 8050
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "app.healthcheck"]
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
