"""A mutation pass: hand-written breakages the tests must catch.

Each :class:`Mutant` replaces one exact snippet of the package with a plausible bug (a crawl
that gives up without reading, a reader that drops messages at a page boundary, a reply time
measured to the wrong message, a component setting left behind) and names the test files
that must fail on it. Run it from the repository's root::

    python -m tests.mutations            # every mutant
    python -m tests.mutations sla cron   # those whose name contains any of these words

For each mutant, the repository is copied to a temporary directory (the working tree is never
touched), the replacement is written into the copy, and the named tests run there with
``-x -q -p no:randomly``. A mutant they do not fail on *survived*; one that stops them
from running at all (an import or collection error) is an *error*. The exit status is non-zero
when a mutant survives or a snippet is no longer found exactly once in the code (a refactor
made the mutant stale: update its snippet). ``tests/test_mutations.py`` checks the snippets
on every test run, so a stale mutant fails ``make test`` too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CRAWL = "blooio_dagster/crawl/chats.py"
PAGE_READER = "blooio_dagster/crawl/reading.py"
MESSAGES = "blooio_dagster/crawl/messages.py"
REPLY_TIMES = "blooio_dagster/tables/reply_times.py"
COMPONENT = "blooio_dagster/components/blooio_component.py"
FRESHNESS = "blooio_dagster/assets/freshness.py"
TRANSLATOR = "blooio_dagster/translator.py"

CRAWL_TESTS = ("tests/test_completeness_properties.py", "tests/test_completeness.py")
MESSAGES_TESTS = ("tests/test_messages_properties.py", "tests/test_messages_client.py")
REPLY_TESTS = ("tests/test_reply_times.py",)
EVERY_SETTING = ("tests/test_component.py::test_every_setting_reaches_the_resource_and_the_assets",)
SETTINGS_TESTS = "tests/test_component_settings.py"
FRESHNESS_TESTS = ("tests/test_freshness.py",)
#: -x: the first failure kills the mutant; no shrinking (see tests/conftest.py): any failing
#: example will do.
PYTEST_OPTIONS = (
    *("-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"),
    "--hypothesis-profile=mutations",
)


def settings_test(name: str) -> tuple[str, ...]:
    return (f"{SETTINGS_TESTS}::{name}",)


@dataclass(frozen=True)
class Mutant:
    """One breakage: in ``module`` (a path from the repository's root), ``original`` (found
    exactly once) becomes ``replacement``; ``tests`` (files or pytest node ids) must fail."""

    name: str
    module: str
    original: str
    replacement: str
    description: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    # -- the crawl
    Mutant(
        "crawl-raises-at-once",
        CRAWL,
        "        self._started = time.monotonic()\n        with ThreadPoolExecutor(",
        '        raise BlooioIncompleteError("the list could not be read", unique_chats=0)\n'
        "        self._started = time.monotonic()\n        with ThreadPoolExecutor(",
        "the crawl reads nothing and raises BlooioIncompleteError at once",
        CRAWL_TESTS,
    ),
    Mutant(
        "crawl-drops-the-last-page",
        PAGE_READER,
        "            self._newest.add(page, records)\n",
        "            if len(page) == self._cap or page.offset == 0:\n"
        "                self._newest.add(page, records)\n",
        "the crawl reads the last (short) page of the list but never keeps its chats",
        CRAWL_TESTS,
    ),
    Mutant(
        "crawl-returns-all-but-the-last-page",
        CRAWL,
        "            chats = self._newest.newest_first()\n",
        "            chats = self._newest.newest_first()[: -self._cap]\n",
        "a verified crawl returns its chats less the last page's worth",
        CRAWL_TESTS,
    ),
    # -- the messages reader
    Mutant(
        "messages-raise-at-once",
        MESSAGES,
        "    floor = None if since is None or preceding else since - 1\n",
        '    raise _incomplete("the pages could not be joined")\n'
        "    floor = None if since is None or preceding else since - 1\n",
        "the messages reader reads nothing and raises BlooioIncompleteMessagesError at once",
        MESSAGES_TESTS,
    ),
    Mutant(
        "messages-drop-at-a-page-boundary",
        MESSAGES,
        "        top = oldest + 1 if top is None else min(top, oldest + 1)\n",
        "        top = oldest if top is None else min(top, oldest)\n",
        "the next window starts below the last millisecond read, losing its unread messages",
        MESSAGES_TESTS,
    ),
    # -- the reply-time rules
    Mutant(
        "reply-is-the-last-outbound",
        REPLY_TIMES,
        "    replies = np.where(answered, ends + 1, 0)\n",
        "    next_start = np.r_[starts, len(kept)][np.searchsorted(starts, ends, side='right')]\n"
        "    replies = np.where(answered, next_start - 1, 0)\n",
        "a turn's reply is the last outbound message before the next turn, not the first",
        REPLY_TESTS,
    ),
    Mutant(
        "failed-outbound-kept",
        REPLY_TIMES,
        "keep = (sent.notna() & (sent <= as_of)).to_numpy(dtype=bool) & (inbound_all | ~failed)",
        "keep = (sent.notna() & (sent <= as_of)).to_numpy(dtype=bool)",
        "failed outbound messages are not dropped, so they count as replies",
        REPLY_TESTS,
    ),
    Mutant(
        "sla-off-by-one",
        REPLY_TIMES,
        "(reply_measure <= sla)",
        "(reply_measure < sla)",
        "a reply exactly at the SLA counts as a breach (< instead of <=)",
        REPLY_TESTS,
    ),
    # -- freshness: the newest day's, not any day's
    Mutant(
        "freshness-any-stored-day-counts",
        FRESHNESS,
        "            if due is None or (age is not None and age <= after):\n",
        "            if due is None or age is not None:\n",
        "a table with any day stored passes, however old its newest day (a backfill looks fresh)",
        FRESHNESS_TESTS,
    ),
    Mutant(
        "freshness-warn-window-ignored",
        FRESHNESS,
        "        return fail + ([(self.warn_after, dg.AssetCheckSeverity.WARN)] if self.warn_after else [])\n",
        "        return fail\n",
        "the newest-day check never warns, it only fails",
        FRESHNESS_TESTS,
    ),
    Mutant(
        "freshness-sensor-never-sees-a-day-due",
        FRESHNESS,
        '        return "|".join(str(self.due(now, after)) for after, _ in self.windows())\n',
        '        return ""\n',
        "the sensor runs the checks once and never again as days become due",
        FRESHNESS_TESTS,
    ),
    # -- the component: each setting left behind by build_defs
    Mutant(
        "component-ignores-reply_sla_minutes",
        COMPONENT,
        "reply_sla=REPLY_SLA.span(self.reply_sla_minutes),",
        "reply_sla=REPLY_SLA.default_span,",
        "the component ignores reply_sla_minutes",
        EVERY_SETTING,
    ),
    Mutant(
        "component-ignores-business_hours",
        COMPONENT,
        "business_hours=self.business_hours.to_business_hours() if self.business_hours else None,",
        "business_hours=None,",
        "the component ignores business_hours",
        EVERY_SETTING,
    ),
    Mutant(
        "component-ignores-preview",
        COMPONENT,
        "preview=self.preview,",
        "preview=False,",
        "the component ignores preview",
        EVERY_SETTING,
    ),
    Mutant(
        "component-ignores-reply_lookback_days",
        COMPONENT,
        "reply_lookback_days=self.reply_lookback_days,",
        "reply_lookback_days=REPLY_LOOKBACK_DAYS.default,",
        "the component ignores reply_lookback_days",
        EVERY_SETTING,
    ),
    Mutant(
        "component-ignores-the-automation_cron-value",
        COMPONENT,
        "dg.AutomationCondition.on_cron(self.automation_cron, cron_timezone=self.timezone)",
        'dg.AutomationCondition.on_cron("30 0 * * *", cron_timezone=self.timezone)',
        "the component sets an on_cron condition, but not at automation_cron",
        EVERY_SETTING,
    ),
    Mutant(
        "component-ignores-freshness_warn_hours",
        COMPONENT,
        "warn_window=FRESHNESS_WARN.span(warn) if warn is not None else None,",
        "warn_window=None,",
        "the component ignores freshness_warn_hours",
        EVERY_SETTING,
    ),
    Mutant(
        "component-ignores-freshness_fail_hours",
        COMPONENT,
        "fail_window=FRESHNESS_FAIL.span(self.freshness_fail_hours),",
        "fail_window=FRESHNESS_FAIL.span(48),",
        "the component ignores freshness_fail_hours",
        EVERY_SETTING,
    ),
    Mutant(
        "component-ignores-pool",
        COMPONENT,
        "pool=self.pool,",
        'pool="blooio",',
        "the component ignores pool",
        settings_test("test_the_pool_reaches_the_api_assets"),
    ),
    Mutant(
        "component-ignores-start_date",
        COMPONENT,
        "start_date=self.start_date,",
        "start_date=DEFAULT_START_DATE,",
        "the component ignores start_date",
        settings_test("test_start_date_is_the_first_partition"),
    ),
    Mutant(
        "component-ignores-messages-false",
        COMPONENT,
        "messages=self.messages,",
        "messages=True,",
        "the component adds the messages assets even with messages: false",
        settings_test("test_messages_false_leaves_the_messages_tables_out"),
    ),
    Mutant(
        "component-ignores-schedule-false",
        COMPONENT,
        "            if self.schedule\n",
        "            if True\n",
        "the component adds the schedule even with schedule: false",
        settings_test("test_schedule_false_leaves_the_schedule_out"),
    ),
    Mutant(
        "component-ignores-resource_key",
        COMPONENT,
        "resource_key=self.resource_key,",
        'resource_key="blooio",',
        "the assets ask for the default resource key whatever resource_key says",
        settings_test("test_resource_key_names_the_resource_the_assets_ask_for"),
    ),
    Mutant(
        "component-ignores-base_url_env_var",
        COMPONENT,
        "                    self.base_url_env_var,\n",
        '                    "BLOOIO_BASE_URL",\n',
        "the resource reads BLOOIO_BASE_URL whatever base_url_env_var says",
        settings_test("test_base_url_env_var_is_read_when_the_resource_starts"),
    ),
    # -- the translator: where each table is stored
    Mutant(
        "translator-ignores-the-io-manager-key",
        TRANSLATOR,
        "            io_manager_key=spec.metadata.get(IO_MANAGER_KEY_METADATA),\n",
        "",
        "every table is stored with io_manager whatever with_io_manager_key says",
        ("tests/test_translator_io_manager.py",),
    ),
)


def stale(mutants: Sequence[Mutant] = MUTANTS, root: Path = ROOT) -> list[str]:
    """Why each mutant that no longer applies does not: its snippet is not found exactly once
    in its module, or a test file it names does not exist."""
    problems = []
    for mutant in mutants:
        source = (root / mutant.module).read_text()
        found = source.count(mutant.original)
        if found != 1:
            problems.append(f"{mutant.name}: its snippet is found {found} times in {mutant.module}")
        for test in mutant.tests:
            if not (root / test.split("::")[0]).is_file():
                problems.append(f"{mutant.name}: no test file {test}")
    return problems


def _copy_of_the_repository(into: Path) -> Path:
    copy = into / "repo"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "__pycache__",
            "*_cache",
            ".hypothesis",
            ".artifacts",
            "*.duckdb*",
            "dagster_home",
            "data",
        ),
    )
    return copy


def run(mutant: Mutant, copy: Path) -> tuple[bool, str]:
    """Whether the mutant's tests fail on it (it is killed), in ``copy``, restored after, and
    the first failure pytest reports.

    Only failing tests kill a mutant (pytest's status 1): a mutant that breaks the import or
    the collection of its tests (status 2 or more) is reported as an error instead, as the
    tests never ran against it.
    """
    module = copy / mutant.module
    source = module.read_text()
    module.write_text(source.replace(mutant.original, mutant.replacement))
    try:
        tested = subprocess.run(
            [sys.executable, "-m", "pytest", *mutant.tests, *PYTEST_OPTIONS],
            cwd=copy,
            env={**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        module.write_text(source)
    lines = tested.stdout.splitlines()
    failed = next((line for line in lines if line.startswith(("FAILED", "ERROR"))), "")
    if tested.returncode not in (0, 1):
        raise RuntimeError(
            f"{mutant.name}: pytest stopped with status {tested.returncode}, so no test ran "
            f"against the mutant: {failed or lines[-1:] or tested.stderr[-500:]}"
        )
    return tested.returncode == 1, failed[:160]


def main(argv: Sequence[str]) -> int:
    problems = stale()
    for problem in problems:
        print(f"STALE     {problem}")
    chosen = [m for m in MUTANTS if not argv or any(word in m.name for word in argv)]
    survivors = []
    with tempfile.TemporaryDirectory(prefix="blooio-mutants-") as temporary:
        copy = _copy_of_the_repository(Path(temporary))
        for mutant in chosen:
            if stale([mutant], copy):
                continue
            started = time.monotonic()
            try:
                killed, failure = run(mutant, copy)
            except RuntimeError as broken:
                print(f"ERROR     {broken}", flush=True)
                survivors.append(mutant.name)
                continue
            verdict = "killed  " if killed else "SURVIVED"
            print(
                f"{verdict}  {mutant.name} ({time.monotonic() - started:.0f} s): "
                f"{mutant.description}" + (f"\n            by {failure}" if failure else ""),
                flush=True,
            )
            if not killed:
                survivors.append(mutant.name)
    print(
        f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed"
        + (f"; not killed: {', '.join(survivors)}" if survivors else "")
        + (f"; {len(problems)} stale" if problems else "")
    )
    return 1 if survivors or problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
