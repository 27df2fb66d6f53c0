"""The HTML report opened in headless Chromium: the browser's DOM and a screenshot.

Skipped when no Chromium is on PATH (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from provenance.report import RENDERERS
from tests.report.helpers import Scenarios
from tests.report.html_dom import parse

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 120


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless browser on PATH (looked for {', '.join(BROWSERS)})")


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)


@pytest.fixture(scope="module")
def page(scenarios: Scenarios, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("html-browser")
    path = folder / "audit.html"
    path.write_text(RENDERERS["html"].render(scenarios.rich.report), encoding="utf-8")
    return path


def test_browser_dom_shows_verdict_and_drawn_graph(
    page: Path, scenarios: Scenarios, tmp_path: Path
) -> None:
    browser = _browser()
    done = _run(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    dumped = done.stdout.decode("utf-8")
    assert '<svg id="lineage-graph"' in dumped
    dom = parse(dumped)
    verdict = dom.by_id("verdict")
    assert verdict is not None
    assert "FAIL" in verdict.text()
    assert verdict.attrs["data-verdict"] == scenarios.rich.report.verdict
    svg = dom.by_id("lineage-graph")
    assert svg is not None
    assert svg.tag == "svg"
    nodes = svg.with_class("node")
    assert len(nodes) >= len(scenarios.rich.report.graph.nodes)
    assert all(n.iter("rect") for n in nodes)
    assert len(svg.with_class("edge")) >= len(scenarios.rich.report.graph.edges)
    names = " ".join(n.text() for n in nodes)
    assert "fabrikam-7b" in names
    assert "contoso/api-terms@2024-01-01" in names


def _png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of pixels (RGB or RGBA, 8 bits) of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset = 8
    width = height = channels = 0
    idat = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if method == 1:
                line[i] = (line[i] + left) & 0xFF
            elif method == 2:
                line[i] = (line[i] + up) & 0xFF
            elif method == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif method == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def test_browser_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    browser = _browser()
    shot = tmp_path / "audit.png"
    done = _run(
        browser,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1280,1600",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert shot.is_file()
    assert shot.stat().st_size > 20_000
    width, height, rows = _png(shot)
    assert (width, height) == (1280, 1600)
    channels = len(rows[0]) // width
    colours = {
        rows[y][x * channels : x * channels + 3]
        for y in range(0, height, 7)
        for x in range(0, width, 7)
    }
    assert len(colours) > 32, "the screenshot is (nearly) one colour"
    red, green, blue = rows[10][10 * channels : 10 * channels + 3]
    assert red > 150 and green < 80 and blue < 80, "a failing report opens on a red verdict banner"
