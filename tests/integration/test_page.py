"""The chart page, rendered by headless Chromium against the real app served by uvicorn.

Needs Debian's ``chromium`` (``make system-deps``). The screenshot's pixels must show the
moving-average line colour and the volume bars in the chart for a seeded company, and
none of them for a company without snippets.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from finfeed.api.app import create_app
from finfeed.settings import AggregateSettings, ApiSettings
from pipeline.aspects import BUILTIN_ASPECTS, DEFAULT_ASPECT_NAMES
from tests.fakes.serving import serve_app
from tests.integration.aggregate_reference import scenario
from workers.aggregate_store import AggregateStore

pytestmark = pytest.mark.integration

LINE_RGB = (0x15, 0x65, 0xC0)  # the moving-average stroke in static/index.html
BAR_RGB = (0xA9, 0xBC, 0xD0)  # the volume bars


def decode_png(data: bytes) -> np.ndarray:
    """RGB(A) 8-bit non-interlaced PNG -> uint8 array [h, w, channels]."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(
            np.int32
        )
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        else:  # sub, average, paeth depend on the left neighbour: per pixel
            cur = np.zeros(stride, dtype=np.int32)
            for i in range(stride):
                a = cur[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                if ftype == 1:
                    pred = a
                elif ftype == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (line[i] + pred) & 0xFF
        out[y] = cur
        prev = cur
    return out.reshape(height, width, channels)[:, :, :3].astype(np.uint8)


def count_colour(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 24) -> int:
    diff = np.abs(img.astype(np.int32) - np.array(rgb, dtype=np.int32)).max(axis=2)
    return int((diff <= tol).sum())


@pytest.fixture
def served(redis_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC) - timedelta(minutes=5)
    store = AggregateStore(redis_client, AggregateSettings(), prefix="page:")
    store.apply(scenario(41, now=now, companies=("TSLA", "EMPTYCO"), n=500)[:400])
    # EMPTYCO keeps points but only outside the page's range: a company with no snippets
    redis_client.delete(*redis_client.keys("page:agg:{EMPTYCO}:*"))
    redis_client.zadd("page:agg:symbols", {"EMPTYCO": 1})
    aspects = tuple(BUILTIN_ASPECTS[n] for n in DEFAULT_ASPECT_NAMES)
    app = create_app(ApiSettings(), store, None, aspects)
    with serve_app(app, what="the finfeed API") as url:
        yield url


def screenshot(url: str, out: Path) -> np.ndarray:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium (make system-deps)")
    profile = out.parent / f"profile-{out.stem}"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=1200,800",
        "--virtual-time-budget=5000", url,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert out.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    return decode_png(out.read_bytes())


def test_page_draws_moving_average_and_volume(served: str, tmp_path: Path) -> None:
    full = screenshot(f"{served}/ui?symbol=TSLA&range=30", tmp_path / "tsla.png")
    empty = screenshot(f"{served}/ui?symbol=EMPTYCO&range=30", tmp_path / "empty.png")
    assert full.shape[:2] == (800, 1200)
    chart = (slice(150, 800), slice(0, 1200))  # below the header and summary
    line_px = count_colour(full[chart], LINE_RGB)
    bar_px = count_colour(full[chart], BAR_RGB, tol=10)
    assert line_px > 1500, f"moving-average line hardly drawn ({line_px} px)"
    assert bar_px > 3000, f"volume bars hardly drawn ({bar_px} px)"
    assert count_colour(empty[chart], LINE_RGB) < 200  # only the legend swatch
    assert count_colour(empty[chart], BAR_RGB, tol=10) < 400
    # the line spans the chart's width, not one corner
    cols = np.where((np.abs(full[chart].astype(int) - LINE_RGB).max(axis=2) <= 24).any(axis=0))[0]
    assert cols.max() - cols.min() > 800
