"""Headless Chromium (Debian's ``chromium``) driven by Playwright, for the UI test and screenshots."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from example_project.processes import ASSET_NAMES, LINEAGE_PATH

# This machine's network is closed: keep Chromium from reaching out on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> Path | None:
    """Debian's Chromium, or any ``chromium`` on PATH; ``None`` when there is none."""
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@contextmanager
def chromium_page(width: int = 1400, height: int = 800) -> Iterator[Page]:
    """A page in a fresh headless Chromium, closed on exit."""
    executable = find_chromium()
    if executable is None:
        raise RuntimeError("No Chromium found; install Debian's package: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def open_lineage(page: Page, base_url: str, timeout_ms: float = 60_000) -> None:
    """Open the blooio lineage view and wait until its assets are drawn."""
    page.goto(base_url + LINEAGE_PATH, wait_until="networkidle", timeout=timeout_ms)
    for name in ASSET_NAMES:
        page.get_by_text(name, exact=True).first.wait_for(timeout=timeout_ms)


def open_plots(page: Page, base_url: str, asset: str, timeout_ms: float = 60_000) -> None:
    """Open an asset's plots of its per-partition metadata."""
    page.goto(
        f"{base_url}/assets/blooio/{asset}?view=events",
        wait_until="networkidle",
        timeout=timeout_ms,
    )
