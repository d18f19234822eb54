"""``make screenshot``: the blooio lineage and the summary's per-day plots in the example project's UI.

Run ``make demo`` first so the assets show their latest materializations.
"""

from __future__ import annotations

import sys
from pathlib import Path

from blooio_dagster.testing import BlooioTestServer
from example_project.browser import chromium_page, open_lineage, open_plots
from example_project.processes import DAGSTER_HOME, dagster_webserver, free_port

DOCS = Path(__file__).resolve().parent.parent / "docs"
OUTPUT = DOCS / "lineage.png"
PLOTS = DOCS / "response_summary_partition.png"


def main() -> int:
    with BlooioTestServer(chats=100, seed=1) as server:
        env = {
            "DAGSTER_HOME": str(DAGSTER_HOME),
            "BLOOIO_API_KEY": server.api_key,
            "BLOOIO_BASE_URL": server.base_url,
        }
        with dagster_webserver(env=env, port=free_port()) as url, chromium_page() as page:
            open_lineage(page, url)
            # Let the nodes finish loading their latest events before the picture.
            page.get_by_text("Loading...").first.wait_for(state="detached", timeout=30_000)
            page.wait_for_timeout(1_000)
            OUTPUT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT))
            open_plots(page, url, "response_summary")
            page.wait_for_timeout(3_000)
            page.screenshot(path=str(PLOTS), full_page=True)
    print(f"Wrote {OUTPUT} and {PLOTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
