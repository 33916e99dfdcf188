#!/usr/bin/env bash
# Installs the system packages the browser, Redis and container tests need (Debian), when missing,
# and writes /etc/containers/containers.conf without default ulimits (podman's setrlimit is
# refused on this kind of machine). Needs root (or sudo). Without either it says what to install
# and leaves the decision to you.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo)
  else
    if [ ${#missing[@]} -gt 0 ]; then
      echo "system-deps: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
      echo "system-deps: until then the browser/redis/container tests are skipped (they fail under CI=true)" >&2
    fi
    exit 0
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
conf=/etc/containers/containers.conf
if command -v podman >/dev/null && ! grep -qs "default_ulimits" "$conf"; then
  "${as_root[@]}" mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n' | "${as_root[@]}" tee -a "$conf" >/dev/null
fi
