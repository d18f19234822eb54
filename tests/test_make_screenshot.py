"""``make screenshot``: the demo, a real dagster-webserver and headless Chromium, two pictures.

Run through make as a user runs it, with ``SCREENSHOT_DIR`` pointing into the test's own
directory so that the README's pictures in docs/ stay as committed.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.make_targets import REPO, make, shown

# The demo stores into DuckDB; the pictures are of dagster-webserver in Chromium.
pytestmark = [pytest.mark.webserver, pytest.mark.browser, pytest.mark.duckdb, pytest.mark.make]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Bytes per pixel of the 8-bit PNG colour types: grey, RGB, grey and alpha, RGBA.
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def png_pixels(data: bytes) -> npt.NDArray[np.uint8]:
    """The pixels of an 8-bit, non-interlaced PNG as rows of pixels of channels.

    A decoder of its own, as the environments have no imaging library: the rows are
    inflated and their filters undone (PNG specification, section 9).
    """
    assert data[:8] == PNG_SIGNATURE, f"not a PNG: it starts {data[:8]!r}"
    header: tuple[int, ...] = ()
    compressed = []
    position = 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert (depth, interlace, colour_type in CHANNELS) == (8, 0, True), header
    channels = CHANNELS[colour_type]
    stride = width * channels
    raw = zlib.decompress(b"".join(compressed))
    assert len(raw) == height * (stride + 1), f"{len(raw):,} bytes for {width}x{height}"
    rows = np.zeros((height, stride), dtype=np.uint8)
    above = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 2:  # Up, the commonest, at numpy's speed
            line = bytearray(np.frombuffer(line, np.uint8) + np.frombuffer(above, np.uint8))
        elif kind in (1, 3, 4):  # Sub, Average and Paeth, each byte after its left neighbour's
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up_left = above[i - channels] if i >= channels else 0
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + above[i]) >> 1
                else:
                    guess = left + above[i] - up_left
                    distances = abs(guess - left), abs(guess - above[i]), abs(guess - up_left)
                    predicted = (left, above[i], up_left)[distances.index(min(distances))]
                line[i] = (line[i] + predicted) & 0xFF
        else:
            assert kind == 0, f"row {y} has filter type {kind}, which PNG does not define"
        rows[y] = np.frombuffer(line, np.uint8)
        above = line
    return rows.reshape(height, width, channels)


def picture_figures(path: Path) -> dict[str, float]:
    """Width and height, the number of colours, and the share of pixels off the commonest."""
    pixels = png_pixels(path.read_bytes())
    height, width, channels = pixels.shape
    _, found = np.unique(pixels.reshape(-1, channels), axis=0, return_counts=True)
    counts: list[int] = found.tolist()
    return {
        "width": width,
        "height": height,
        "colours": len(counts),
        "off_background": round(1 - max(counts) / sum(counts), 3),
    }


def problems(figures: dict[str, float]) -> list[str]:
    """What makes a picture not a screenshot of the UI: too small, or blank or nearly so.

    A blank page has one colour; a page with one line of text ("Loading...") has a hundred
    or so shades of its antialiasing and under 0.1% of its pixels off the background. The
    lineage and the partition's page have thousands of colours over more than 5% of them.
    """
    found = []
    if figures["width"] < 800 or figures["height"] < 600:
        found.append("smaller than 800x600")
    if figures["colours"] < 500:
        found.append("fewer than 500 colours")
    if figures["off_background"] < 0.02:
        found.append("under 2% of its pixels off the background")
    return found


@pytest.mark.long
def test_make_screenshot_writes_both_pictures_where_asked(tmp_path: Path) -> None:
    committed = {path: path.read_bytes() for path in sorted((REPO / "docs").glob("*.png"))}
    output = tmp_path / "pictures"

    done = make("screenshot", f"SCREENSHOT_DIR={output}", timeout=240)

    assert done.returncode == 0, shown(done)
    lineage, plots = output / "lineage.png", output / "response_summary_partition.png"
    assert f"Wrote {lineage} and {plots}" in done.stdout.splitlines(), shown(done)
    assert sorted(output.iterdir()) == sorted([lineage, plots])
    figures = {path.name: picture_figures(path) for path in (lineage, plots)}
    flawed = {name: problems(found) for name, found in figures.items() if problems(found)}
    assert flawed == {}, figures
    unchanged = {path: path.read_bytes() == data for path, data in committed.items()}
    assert list(committed) != [], "docs/ has no pictures to keep"
    assert unchanged == dict.fromkeys(committed, True), "the README's pictures were rewritten"


def test_a_nearly_blank_page_fails_the_check_the_screenshots_pass(tmp_path: Path) -> None:
    """A white page with a word and a small green square, as Chromium draws it, decoded."""
    from example_project.browser import chromium_page

    picture = tmp_path / "nearly_blank.png"
    with chromium_page() as page:
        page.set_content(
            "<body style='margin: 0; background: white'>Loading..."
            "<div style='width: 40px; height: 40px; background: rgb(10, 200, 30)'></div></body>"
        )
        page.screenshot(path=str(picture))

    pixels = png_pixels(picture.read_bytes())
    figures = picture_figures(picture)

    assert [pixels[y, x].tolist() for y, x in ((50, 20), (700, 1000))] == [
        [10, 200, 30],
        [255, 255, 255],
    ]
    assert (figures["width"], figures["height"]) == (1400, 800)
    assert problems(figures) == [
        "fewer than 500 colours",
        "under 2% of its pixels off the background",
    ], figures
