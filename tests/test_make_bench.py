"""``make bench``: its smallest run through make, a missed target's exit, and the figures' sources.

The full bench takes minutes; ``BENCH_ARGS=--smoke`` runs every scenario the same way (the
server in its own process, each contender in a fresh interpreter) at a few hundred chats.
Times are printed, never asserted here: only the format of what is printed, and the targets
that do not depend on the machine's speed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from benchmarks import crawl_benchmark
from tests.conftest import ServerFactory
from tests.make_targets import REPO, make, recipe_status, shown

NUMBER = r"\d[\d,]*(?:\.\d+)?"
#: A contender's row: its name, then whole, import, in-process and other seconds, chats per
#: second, peak memory and requests.
ROW = re.compile(rf"^  (\S.*?) +{' +'.join([f'({NUMBER})'] * 7)}$", re.M)
RATIOS = re.compile(r"^  (speed-up|churn/still): (.*)x whole process, (.*)x in-process$", re.M)
TARGET = re.compile(r"^  (PASS|MISS|----)  (.*)$", re.M)


def targets(output: str) -> list[tuple[str, str]]:
    """The target lines after ``Targets:``, as (PASS, MISS or ----, what)."""
    assert "\nTargets:\n" in output, output[-3000:]
    return TARGET.findall(output.split("\nTargets:\n")[1])


@pytest.mark.sdk
@pytest.mark.make
@pytest.mark.long
def test_make_bench_smoke_runs_every_scenario_and_prints_ratios_to_the_baseline() -> None:
    done = make("bench", "BENCH_ARGS=--smoke", timeout=240)

    assert done.returncode == 0, shown(done)
    out = done.stdout
    ratios = RATIOS.findall(out)
    assert [kind for kind, _, _ in ratios] == ["speed-up"] * 2 + ["churn/still"], out
    not_numbers = [
        figure for _, *figures in ratios for figure in figures if not re.fullmatch(NUMBER, figure)
    ]
    assert not_numbers == [], out
    rows = [name for name, *_ in ROW.findall(out)]
    # The SDK against the library at 50 and 0 ms, two memory sizes, then still against moving.
    contenders = ["official SDK + json_normalize", "blooio-dagster"]
    assert rows == [
        *contenders * 2,
        *["blooio-dagster"] * 2,
        *["still list", "a chat moves every 2 requests"],
    ], out
    summaries = [
        "One-day active_since crawl of ",
        "Messages fan-out of that day: ",
        "A week's messages in one run: ",
        "20 requests/second limit, unknown to the client: ",
    ]
    assert [line for line in summaries if f"\n{line}" not in out] == [], out
    judged = [(label, re.sub(NUMBER, "N", text)) for label, text in targets(out)]
    unjudged = " (a time: not judged at --smoke sizes)"
    assert judged == [
        *[("----", "N chats, N ms: Nx the SDK loop, whole process (target >= Nx)" + unjudged)] * 2,
        *[("PASS", "N chats: peak RSS N MB (target < N MB)")] * 2,
        ("----", "churn/still: Nx in-process (target <= Nx)" + unjudged),
        ("PASS", "one day: N requests over the fewest possible (target <= N)"),
        ("PASS", "week backfill: each chat's messages read once (N extra requests, target <= N%)"),
        ("----", "rate limit: N% used (target >= N%)" + unjudged),
        ("----", "rate limit: N% answered N (target < N%)" + unjudged),
    ], out


@pytest.mark.make
def test_a_missed_target_ends_make_bench_with_1_and_names_it() -> None:
    done = make("bench", "BENCH_ARGS=--smoke --scenario memory --rss-target-mb 1", timeout=120)

    assert (done.returncode, recipe_status(done, "bench")) == (2, 1), shown(done)
    missed = rf"{NUMBER} chats: peak RSS {NUMBER} MB \(target < 1 MB\)"
    found = targets(done.stdout)
    assert [(label, bool(re.fullmatch(missed, text))) for label, text in found] == [
        ("MISS", True),
        ("MISS", True),
    ], shown(done)


def test_without_the_official_sdk_the_speed_scenario_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "blooio", None)  # as if not installed

    assert crawl_benchmark.main(["--smoke", "--scenario", "speed"]) == 2

    out, err = capsys.readouterr()
    assert "the official Blooio SDK, which is not installed here" in err
    assert "pip install -e '.[bench]'" in err
    assert out == "", "nothing is measured without the baseline"


# A parent whose own memory peaked at 512 MiB runs the contender, then prints its own peak.
_BIG_PARENT = """
import subprocess, sys
from benchmarks.contenders import peak_rss_mb
held = b"x" * (512 << 20)
child = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True)
print(child.stdout.strip().splitlines()[-1])
print(peak_rss_mb())
"""


def test_a_contender_reports_its_own_peak_memory_not_its_parents(
    start_server: ServerFactory,
) -> None:
    server = start_server(chats=500, seed=1)
    contender = [sys.executable, "-m", "benchmarks.contenders", "library", server.base_url]

    ran = subprocess.run(
        [sys.executable, "-c", _BIG_PARENT, *contender, server.api_key],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr[-3000:]
    figures, parent_peak = ran.stdout.splitlines()[-2:]
    peaks = {"parent": float(parent_peak), "contender": json.loads(figures)["peak_rss_mb"]}
    assert peaks["parent"] >= 512, peaks
    assert peaks["contender"] < 300, peaks
