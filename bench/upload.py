"""Uploads through real gunicorn: the largest accepted pictures, and refused ones, answer fast.

The explorer's digit-picker callback is sent a drawn digit as a 4096x4096 RGBA PNG (the largest
side accepted), a 4096x3072 JPEG photo-like picture (what a phone sends), a decompression bomb
and an oversized file. Goal: the largest accepted upload answers in <= 0.5 s. One JSON line per
picture: bytes, p50_ms, p95_ms, and the message the page shows.
"""

from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
from _common import emit, percentile
from load import EXPLORER_PICKER, picker_body
from PIL import Image, ImageDraw

from tests.dash_http import dependencies, find, post_json
from tests.gunicorn_server import start_gunicorn

REPEATS = 12


def data_url(image: Image.Image, fmt: str, **save) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def drawn_seven(width: int, height: int, mode: str) -> Image.Image:
    paper = (255, 255, 255, 0) if mode == "RGBA" else (250, 248, 240)
    image = Image.new(mode, (width, height), paper)
    draw = ImageDraw.Draw(image)
    k = min(width, height) / 400
    ink = (20, 20, 30, 255) if mode == "RGBA" else (20, 20, 30)
    draw.line([(100 * k, 80 * k), (300 * k, 80 * k)], fill=ink, width=round(24 * k))
    draw.line([(300 * k, 80 * k), (170 * k, 330 * k)], fill=ink, width=round(24 * k))
    return image


def photo_like(width: int, height: int) -> Image.Image:
    image = drawn_seven(width, height, "RGB")
    noise = np.random.default_rng(0).integers(0, 12, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(np.asarray(image) - noise)


def pictures() -> dict[str, str]:
    bomb = io.BytesIO()
    Image.new("L", (20000, 20000), 255).save(bomb, format="PNG", optimize=True)
    return {
        "png_4096x4096_rgba": data_url(drawn_seven(4096, 4096, "RGBA"), "PNG"),
        "jpeg_4096x3072_photo": data_url(photo_like(4096, 3072), "JPEG", quality=80),
        "png_bomb_20000x20000": "data:image/png;base64,"
        + base64.b64encode(bomb.getvalue()).decode(),
        "oversize_2.4MB": "data:image/png;base64," + "A" * (3 * 1024 * 1024),
    }


def main() -> None:
    server = start_gunicorn({"CNN_LENS_LOG_LEVEL": "warning"}, name="bench-upload")
    try:
        choose = find(dependencies(server.url), '"subcomponent":"choice"}.data')
        for name, contents in pictures().items():
            values = {"upload.contents": contents, "upload.filename": f"{name}.png"}
            body = picker_body(choose, EXPLORER_PICKER, values, "upload.contents")
            times, message, status = [], "", 0
            for _ in range(REPEATS):
                start = time.perf_counter()
                status, payload = post_json(server.url, "/_dash-update-component", body)
                times.append((time.perf_counter() - start) * 1000)
            response = json.loads(payload).get("response", {}) if status == 200 else {}
            parts = {json.loads(key).get("subcomponent"): value for key, value in response.items()}
            choice = parts.get("choice", {}).get("data")
            if choice:
                message = f"accepted as a digit ({choice.get('kind')})"
            else:
                message = json.dumps(parts.get("message", {}))[:160]
            emit(
                "upload",
                picture=name,
                bytes=len(contents) * 3 // 4,
                status=status,
                p50_ms=round(percentile(times, 50), 1),
                p95_ms=round(percentile(times, 95), 1),
                n=REPEATS,
                answer=message,
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
