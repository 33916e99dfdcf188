#!/usr/bin/env bash
# Builds the cnn-lens image with podman on this machine: `scripts/container.sh [TAG]`.
# No registry is reachable here, so the base image is made locally (container-base.sh) and the
# Python wheels are downloaded on the host into .container/wheels (pip inside the build cannot
# reach an index). Elsewhere a plain `docker build -t cnn-lens .` does the same from the registry.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-localhost/cnn-lens:latest}"
BASE="${CNN_LENS_BASE_IMAGE:-localhost/cnn-lens-base:bookworm}"
PY="${PYTHON:-.venv/bin/python}"
CNN_LENS_BASE_IMAGE="$BASE" bash scripts/container-base.sh
wheels=.container/wheels
stamp="$wheels/.requirements"
if ! cmp -s requirements.txt "$stamp"; then
  echo "container: downloading wheels into $wheels" >&2
  # `pip wheel`: a package published only as source (dash-cytoscape 1.0.2) is built here
  "$PY" -m pip wheel -q -r requirements.txt -w "$wheels"
  # bookworm's Python is 3.11.2: redis then also wants async-timeout (host Pythons may not)
  "$PY" -m pip download -q --no-deps async-timeout==5.0.1 -d "$wheels"
  cp requirements.txt "$stamp"
fi
# The image the tag names now: once the tag moves to the new build, it is removed (each build
# would otherwise leave a 2 GB untagged image behind; its layers the new one shares stay).
old="$(podman --runtime runc image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)"
# docker format: OCI images drop HEALTHCHECK. runc: crun fails here (cgroups hybrid mode).
podman --runtime runc build --format docker --network host \
  --build-arg BASE="$BASE" -t "$TAG" .
new="$(podman --runtime runc image inspect --format '{{.Id}}' "$TAG")"
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  podman --runtime runc rmi "$old" >/dev/null 2>&1 || true  # still used by a container: kept
fi
