#!/usr/bin/env bash
# Builds a Redis image from the local base (no registry here for docker.io/library/redis):
# `scripts/container-redis.sh [TAG]`, for compose.yaml's CNN_LENS_REDIS_IMAGE.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-localhost/cnn-lens-redis:bookworm}"
BASE="${CNN_LENS_BASE_IMAGE:-localhost/cnn-lens-base:bookworm}"
CNN_LENS_BASE_IMAGE="$BASE" bash scripts/container-base.sh
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cat > "$context/Containerfile" <<'CONTAINERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
CONTAINERFILE
podman --runtime runc build --network host --build-arg BASE="$BASE" -t "$TAG" "$context"
