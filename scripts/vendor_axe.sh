#!/usr/bin/env bash
# Re-fetch the vendored axe-core (accessibility checks of the browser tests) from the npm registry.
set -euo pipefail
version="${1:-4.14.1}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "axe-core@$version" >/dev/null && tar xzf axe-core-*.tgz)
dest="$(dirname "$0")/../tests/browser/vendor"
cp "$tmp/package/axe.min.js" "$dest/axe.min.js"
cp "$tmp/package/LICENSE" "$dest/axe-LICENSE.txt"
echo "axe-core $version -> $dest/axe.min.js"
