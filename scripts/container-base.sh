#!/usr/bin/env bash
# Makes the podman base image cnn-lens-base:bookworm (Debian bookworm, minbase) when it is missing.
# No container registry is reachable here, so the Dockerfile's base is made locally with
# debootstrap and imported into podman (elsewhere: docker build uses debian:bookworm-slim).
set -euo pipefail
IMAGE="${CNN_LENS_BASE_IMAGE:-localhost/cnn-lens-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
bash "$(dirname "$0")/system-deps.sh"  # podman, runc, debootstrap; containers.conf
if podman --runtime runc image exists "$IMAGE"; then
  exit 0
fi
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
echo "container-base: debootstrap bookworm into $rootfs (about a minute)" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman --runtime runc import - "$IMAGE" >/dev/null
echo "container-base: imported $IMAGE" >&2
