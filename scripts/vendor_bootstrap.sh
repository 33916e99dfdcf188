#!/usr/bin/env bash
# Re-vendors Bootstrap's CSS into assets/vendor/ from the npm registry (the browser may be offline,
# so the dashboard never loads CSS from a CDN). Version matches dash-bootstrap-components' theme.
set -euo pipefail
version="${1:-5.3.6}"
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "bootstrap@${version}" >/dev/null && tar xzf "bootstrap-${version}.tgz")
sed 's|/\*# sourceMappingURL=bootstrap.min.css.map \*/||' \
  "$tmp/package/dist/css/bootstrap.min.css" > "$here/assets/vendor/bootstrap.min.css"
echo "vendored bootstrap ${version} (MIT) into assets/vendor/bootstrap.min.css"
