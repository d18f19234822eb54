"""``make bench``: blooio-dagster against the loop users write today with the official SDK.

Each scenario starts the bundled Blooio server in a process of its own and runs every
contender in a fresh interpreter (:mod:`benchmarks.contenders`), so two figures come out per
run: **whole process**, the wall time of the contender's process from spawn to exit (what a
script or CLI user waits for: interpreter, imports, crawl, DataFrame, exit), and
**in-process**, from the first request to the finished DataFrame. The whole process is also
split into its imports, the in-process work and the rest (starting the interpreter and
exiting it). Ratios are against the SDK loop measured in the same run, since these machines
are noisy.

Scenarios (default settings throughout):

1. 40,000 and 100,000 chats at 50 ms and at 0 ms per request: SDK loop versus library;
2. 300,000 and 1,000,000 chats at 20 ms: the library's time and peak memory;
3. churn against a still list: 100,000 chats at 20 ms, one chat moving to the front every
   20 requests, against the same crawl with nothing moving;
4. a one-day ``active_since`` crawl: requests made against the fewest possible;
5. a 20 requests/second limit the client is not told about: the share of the limit used and
   of requests answered 429;
6. the messages fan-out of a one-day crawl (``BlooioClient.fetch_messages``): requests
   against the fewest possible (one per chat) and seconds. Skipped while the client or the
   server lacks the messages API;
7. a week's backfill in one run, as the assets read it: one fan-out over the chats active in
   the week, against seven one-day runs.

``--quick`` runs smaller lists for a look in a minute or two; ``--smoke`` runs every scenario
once, at a few hundred to a few thousand chats, in about 20 seconds, to see that the bench
runs (its times mean nothing at those sizes, so only the targets on memory and requests are
judged); ``--scenario NAME`` runs only the named scenarios. The process exits 1 if a target
is missed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.server import DAY_MS, NOW_MS
from example_project.processes import free_port, stop_group, wait_for_http

API_KEY = "bl_test_bench"
PAGE = 200


@contextmanager
def served(
    chats: int,
    latency: float,
    *,
    requests_per_second: float | None = None,
    move_every: int = 0,
) -> Iterator[str]:
    """The bundled server in a process of its own; yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "benchmarks.server", "--port", str(port), "--chats", str(chats),
        "--latency", str(latency), "--api-key", API_KEY, "--move-every", str(move_every),
    ]  # fmt: skip
    if requests_per_second:
        command += ["--requests-per-second", str(requests_per_second)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v2/api"
    try:
        # A one-chat page, so a rate limit is barely touched.
        wait_for_http(
            f"{base_url}/chats?limit=1",
            process,
            timeout=600,
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        if requests_per_second:
            time.sleep(2)  # let the server's token bucket refill after the probes
        yield base_url
    finally:
        stop_group(process)


def run(contender: str, base_url: str, *extra: str) -> dict[str, Any]:
    """One contender in a fresh interpreter; its figures plus ``whole_seconds``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.contenders", contender, base_url, API_KEY, *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    whole = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{contender} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["whole_seconds"] = whole
    return result


def median_of(contender: str, base_url: str, repeat: int) -> dict[str, Any]:
    """The run with the median whole-process time; peak memory is the largest seen."""
    runs = [run(contender, base_url) for _ in range(repeat)]
    middle = sorted(runs, key=lambda r: r["whole_seconds"])[len(runs) // 2]
    middle["seconds"] = statistics.median(r["seconds"] for r in runs)
    middle["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return middle


@dataclass
class Report:
    """Printed figures and the targets, met, missed or, for times at --smoke sizes, not judged."""

    judge_times: bool = True
    checks: list[tuple[str, bool | None]] = field(default_factory=list)

    def check(self, text: str, ok: bool, *, timed: bool = False) -> None:
        self.checks.append((text, ok if self.judge_times or not timed else None))

    def finish(self) -> int:
        print("\nTargets:")
        labels = {True: "PASS", False: "MISS", None: "----"}
        for text, ok in self.checks:
            note = " (a time: not judged at --smoke sizes)" if ok is None else ""
            print(f"  {labels[ok]}  {text}{note}")
        return 1 if any(ok is False for _, ok in self.checks) else 0


def row(name: str, r: dict[str, Any]) -> str:
    # What the whole process spent outside imports and the measured work: starting the
    # interpreter, and exiting (freeing everything, tearing modules down).
    rest = r["whole_seconds"] - r["import_seconds"] - r["seconds"]
    return (
        f"  {name:30}{r['whole_seconds']:9.2f}{r['import_seconds']:10.2f}{r['seconds']:11.2f}"
        f"{rest:8.2f}{r['chats'] / r['seconds']:11,.0f}{r['peak_rss_mb']:9.0f}{r['requests']:10}"
    )


HEADER = (
    f"  {'':30}{'whole s':>9}{'import s':>10}{'in-proc s':>11}{'rest s':>8}{'chats/s':>11}"
    f"{'RSS MB':>9}{'requests':>10}"
)


def compare(chats: int, latency: float, repeat: int) -> tuple[float, float]:
    """SDK loop versus library on one server: the whole-process and in-process ratios."""
    with served(chats, latency) as base_url:
        sdk = median_of("sdk", base_url, repeat)
        ours = median_of("library", base_url, repeat)
    assert sdk["chats"] == ours["chats"], (sdk["chats"], ours["chats"])
    whole = sdk["whole_seconds"] / ours["whole_seconds"]
    inside = sdk["seconds"] / ours["seconds"]
    runs = f", median of {repeat}" if repeat > 1 else ""
    print(f"\n{chats:,} chats, {latency * 1000:.0f} ms per request{runs}")
    print(HEADER)
    print(row("official SDK + json_normalize", sdk))
    print(row("blooio-dagster", ours))
    print(f"  speed-up: {whole:.2f}x whole process, {inside:.2f}x in-process")
    return whole, inside


def large(report: Report, chats: int, target_mb: float) -> None:
    with served(chats, 0.02) as base_url:
        ours = run("library", base_url)
    print(f"\n{chats:,} chats, 20 ms per request (library only)")
    print(HEADER)
    print(row("blooio-dagster", ours))
    report.check(
        f"{chats:,} chats: peak RSS {ours['peak_rss_mb']:.0f} MB (target < {target_mb:,.0f} MB)",
        ours["peak_rss_mb"] < target_mb,
    )


def churn(report: Report, chats: int, repeat: int, every: int = 20) -> None:
    figures = {}
    for name, move_every in (("still", 0), ("churn", every)):
        with served(chats, 0.02, move_every=move_every) as base_url:
            figures[name] = median_of("library", base_url, repeat)
    still, moving = figures["still"], figures["churn"]
    whole = moving["whole_seconds"] / still["whole_seconds"]
    inside = moving["seconds"] / still["seconds"]
    print(
        f"\nChurn: {chats:,} chats, 20 ms, one chat moving every {every} requests "
        f"(median of {repeat})"
    )
    print(HEADER)
    print(row("still list", still))
    print(row(f"a chat moves every {every} requests", moving))
    print(f"  churn/still: {whole:.2f}x whole process, {inside:.2f}x in-process")
    report.check(
        f"churn/still: {inside:.2f}x in-process (target <= 1.5x)", inside <= 1.5, timed=True
    )


def one_day(report: Report, chats: int) -> None:
    since = NOW_MS - DAY_MS
    with served(chats, 0.05) as base_url:
        day = run("library", base_url, str(since))
        fan_out = messages_fan_out(base_url, since)
    fewest = math.ceil((day["chats"] + 1) / PAGE)
    extra = day["requests"] - fewest
    print(
        f"\nOne-day active_since crawl of {chats:,}: {day['chats']:,} chats in "
        f"{day['requests']} requests, {day['whole_seconds']:.2f}s whole process; "
        f"the fewest possible is {fewest} (+{extra})"
    )
    report.check(f"one day: {extra} requests over the fewest possible (target <= 4)", extra <= 4)
    if fan_out is None:
        print("\nMessages fan-out: skipped (the client or the server has no messages API yet)")
        return
    minimum = fan_out["chats"]
    print(
        f"\nMessages fan-out of that day: {fan_out['chats']:,} chats, "
        f"{fan_out['messages']:,} messages in {fan_out['requests']} requests (the fewest "
        f"possible is {minimum}, one per chat; +{fan_out['requests'] - minimum}), "
        f"{fan_out['seconds']:.2f}s in-process ({fan_out['crawl_seconds']:.2f}s of it the "
        f"chat crawl), {fan_out['whole_seconds']:.2f}s whole process"
    )


def week_backfill(report: Report, chats: int) -> None:
    """Messages for seven days in one run against seven runs of one day each."""
    with served(chats, 0.0) as base_url:
        week = messages_fan_out(base_url, NOW_MS - 7 * DAY_MS)
        if week is None:
            print("\nWeek backfill: skipped (no messages API)")
            return
        days = [run("messages", base_url, str(NOW_MS - n * DAY_MS)) for n in range(1, 8)]
    daily = sum(day["requests"] for day in days)
    extra = week["requests"] - week["chats"]
    print(
        f"\nA week's messages in one run: {week['requests']:,} requests for {week['chats']:,} "
        f"active chats (+{extra} over one per chat), {week['seconds']:.2f}s in-process; "
        f"seven one-day runs: {daily:,} requests, "
        f"{sum(day['seconds'] for day in days):.2f}s"
    )
    report.check(
        f"week backfill: each chat's messages read once ({extra} extra requests, target <= 1%)",
        extra <= week["chats"] // 100 + 1,
    )


def messages_fan_out(base_url: str, since: int) -> dict[str, Any] | None:
    """The messages scenario, if both the client and the server have the messages API."""
    from blooio_dagster.client import BlooioClient

    if not hasattr(BlooioClient, "fetch_messages"):
        return None
    with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}) as probe:
        first = probe.get(f"{base_url}/chats", params={"limit": 1}).json()["chats"][0]["id"]
        answer = probe.get(f"{base_url}/chats/{first}/messages", params={"limit": 1})
    if answer.status_code != 200:
        return None
    return run("messages", base_url, str(since))


def rate_limited(report: Report, chats: int, limit: float) -> None:
    with served(chats, 0.05, requests_per_second=limit) as base_url:
        ours = run("library", base_url)
    # The crawl's own time: the DataFrame built afterwards sends no requests.
    achieved = ours["pages"] / ours["crawl_seconds"]
    share_429 = ours["retries"] / ours["requests"]
    print(
        f"\n{limit:.0f} requests/second limit, unknown to the client: {ours['chats']:,} chats "
        f"crawled in {ours['crawl_seconds']:.1f}s, {achieved:.1f} successful requests/s "
        f"({achieved / limit:.0%} "
        f"of the limit), {ours['retries']} of {ours['requests']} requests answered 429 "
        f"({share_429:.1%})"
    )
    report.check(
        f"rate limit: {achieved / limit:.0%} used (target >= 90%)",
        achieved >= 0.9 * limit,
        timed=True,
    )
    report.check(
        f"rate limit: {share_429:.1%} answered 429 (target < 5%)", share_429 < 0.05, timed=True
    )


def speed(report: Report, scale: int, repeat: int, *, larger: bool = True) -> None:
    """The SDK loop against the library at 40,000 (and 100,000) chats, 50 ms and 0 ms."""
    chats = 40_000 // scale
    whole, _ = compare(chats, 0.05, repeat=1)
    report.check(
        f"{chats:,} chats, 50 ms: {whole:.2f}x the SDK loop, whole process (target >= 8x)",
        whole >= 8,
        timed=True,
    )
    whole, _ = compare(chats, 0.0, repeat=repeat)
    report.check(
        f"{chats:,} chats, 0 ms: {whole:.2f}x the SDK loop, whole process (target >= 1.5x)",
        whole >= 1.5,
        timed=True,
    )
    if larger:
        compare(100_000 // scale, 0.05, repeat=1)
        compare(100_000 // scale, 0.0, repeat=1)


#: The scenarios, in the order they run, and what each measures.
SCENARIOS = {
    "speed": "the SDK loop against the library: 40,000 and 100,000 chats, 50 ms and 0 ms",
    "memory": "the library's peak memory at 300,000 and 1,000,000 chats",
    "churn": "100,000 chats, one moving every 20 requests, against a still list",
    "one-day": "a one-day active_since crawl, and the messages of its chats",
    "week": "a week's messages in one run against seven one-day runs",
    "rate-limit": "a 20 requests/second limit the client is not told about",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.crawl_benchmark",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="scenarios: " + "; ".join(f"{name}: {what}" for name, what in SCENARIOS.items()),
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender at 0 ms")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller lists, one run each")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="every scenario once at a few hundred chats, to see that it runs; "
        "targets on time are not judged at these sizes",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run this scenario only (repeat the option for more); default: all",
    )
    # For the tests: a peak-memory target no process meets, to see that a missed target
    # ends the run with 1 and names itself.
    parser.add_argument("--rss-target-mb", type=float, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [name for name in SCENARIOS if name in (args.scenario or SCENARIOS)]
    if "speed" in chosen and importlib.util.find_spec("blooio") is None:
        print(
            "The speed scenario's baseline is the official Blooio SDK, which is not installed "
            "here: pip install -e '.[bench]' installs it (make bench's .venv has it); or name "
            "the other scenarios, each with --scenario, to leave it out.",
            file=sys.stderr,
        )
        return 2
    scale = 200 if args.smoke else 10 if args.quick else 1
    repeat = 1 if args.quick or args.smoke else args.repeat
    report = Report(judge_times=not args.smoke)
    started = time.monotonic()

    def memory() -> None:
        large(report, 300_000 // scale, args.rss_target_mb or 500)
        large(report, 1_000_000 // scale, args.rss_target_mb or 1300)

    run_scenario: dict[str, Callable[[], None]] = {
        # At smoke sizes the larger list would only run the same code again.
        "speed": lambda: speed(report, scale, repeat, larger=not args.smoke),
        "memory": memory,
        # A smoke run's crawl makes a handful of requests: a chat moves at every other one.
        "churn": lambda: churn(report, 100_000 // scale, repeat, every=2 if args.smoke else 20),
        "one-day": lambda: one_day(report, 100_000 // scale),
        "week": lambda: week_backfill(report, 20_000 // scale),
        "rate-limit": lambda: rate_limited(report, 100_000 // scale, 20.0),
    }
    for name in chosen:
        run_scenario[name]()

    print(f"\n(make bench took {time.monotonic() - started:.0f}s)")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
