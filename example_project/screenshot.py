"""``make screenshot``: the blooio lineage and the summary's per-day plots in the example project's UI.

The pictures are rendered from a fresh Dagster home in a temporary directory, where the demo
first backfills a week into a DuckDB file named by a relative path: the UI shows what the
IO manager recorded (``dagster/table_name`` holds the database's path), and a relative path
says nothing about the machine that rendered the pictures.

The pictures go to ``docs/``, where the README shows them; ``--output-dir DIR`` (``make
screenshot SCREENSHOT_DIR=DIR``) writes them to ``DIR`` instead, leaving the README's alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from blooio_dagster.testing import BlooioTestServer
from example_project.browser import chromium_page, open_lineage, open_plots
from example_project.processes import DAGSTER_HOME, dagster_webserver, free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: The pictures' file names, in the output directory.
LINEAGE = "lineage.png"
PLOTS = "response_summary_partition.png"
#: The window's height for the partition's figures, in pixels: enough to show every one.
PLOTS_HEIGHT = 1320
#: The DuckDB file, relative to the directory the demo runs in.
DATABASE = Path("data") / "warehouse.duckdb"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make screenshot",
        description="The example project's lineage and plots in the Dagster UI, as PNG files.",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DOCS,
        help=f"where to write {LINEAGE} and {PLOTS} (default: the README's, in docs/)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    output_dir: Path = parse_args(argv).output_dir
    lineage, plots = output_dir / LINEAGE, output_dir / PLOTS
    # Before the demo's minute, so that a directory that cannot be made fails at once.
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="blooio-example-") as work:
        place = Path(work)
        home = place / "dagster_home"
        home.mkdir()
        shutil.copy(DAGSTER_HOME / "dagster.yaml", home / "dagster.yaml")
        env = {
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        demo = subprocess.run(
            [sys.executable, "-m", "example_project.demo"],
            cwd=place,
            env={**os.environ, **env, "BLOOIO_EXAMPLE_DATABASE": str(DATABASE)},
            check=False,
        )
        if demo.returncode != 0:
            print("The demo failed; no picture was taken.", file=sys.stderr)
            return demo.returncode
        with BlooioTestServer(chats=100, seed=1) as server:
            env |= {
                "BLOOIO_API_KEY": server.api_key,
                "BLOOIO_BASE_URL": server.base_url,
                "BLOOIO_EXAMPLE_DATABASE": str(place / DATABASE),
            }
            with dagster_webserver(env=env, port=free_port()) as url, chromium_page() as page:
                open_lineage(page, url)
                # Let the nodes finish loading their latest events before the picture.
                page.get_by_text("Loading...").first.wait_for(state="detached", timeout=30_000)
                page.wait_for_timeout(1_000)
                # A fresh browser profile gets the UI's tips on a new feature, over the graph.
                for tip in page.get_by_role("button", name="Dismiss").all():
                    tip.click()
                page.mouse.move(0, 0)  # no node highlighted under the pointer
                page.wait_for_timeout(2_000)
                page.screenshot(path=str(lineage))
                # The figures' pane scrolls on its own, so a full-page picture would still be
                # cut at the window's height: the window grows to hold all of them instead.
                page.set_viewport_size({"width": 1400, "height": PLOTS_HEIGHT})
                open_plots(page, url, "response_summary")
                page.wait_for_timeout(3_000)
                page.screenshot(path=str(plots), full_page=True)
    print(f"Wrote {lineage} and {plots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
