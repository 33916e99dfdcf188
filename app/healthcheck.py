"""`python -m app.healthcheck`: exit 0 when the local server's /readyz answers 200 (HEALTHCHECK)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from app.settings import load_settings


def main() -> int:
    settings = load_settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    url = f"http://{host}:{settings.port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
