"""``make bench``: blooio-dagster against the loop users write today with the official SDK.

Starts the bundled Blooio server in its own process (100,000 chats by default) and, in the
same run, times each contender in a fresh interpreter:

1. 50 ms latency per request: the SDK paged by hand into ``pd.json_normalize`` versus
   ``BlooioClient.crawl_chats`` + ``chats_to_frame`` (seconds, chats/s, peak RSS, ratio);
2. the same at 0 ms latency;
3. a one-day ``active_since`` crawl: requests made against the fewest possible;
4. a crawl against a 20 requests/second limit: rate achieved and share of 429 answers.

Ratios are against the baseline measured in this run, since these machines are noisy. The
process exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from example_project.processes import free_port, stop_group, wait_for_http

API_KEY = "bl_test_bench"
PAGE = 200
DEFAULT_MAX_CONCURRENCY = 8


@contextmanager
def blooio_server(
    chats: int, latency: float, requests_per_second: float | None = None
) -> Iterator[str]:
    """The bundled server in a process of its own; yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "blooio_dagster.testing", "--port", str(port),
        "--chats", str(chats), "--latency", str(latency), "--api-key", API_KEY,
    ]  # fmt: skip
    if requests_per_second:
        command += ["--requests-per-second", str(requests_per_second)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v2/api"
    try:
        # A one-chat page, so the rate limit of scenario 4 is barely touched.
        wait_for_http(
            f"{base_url}/chats?limit=1",
            process,
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        if requests_per_second:
            time.sleep(2)  # let the server's token bucket refill after the probes
        yield base_url
    finally:
        stop_group(process)


def run(contender: str, base_url: str, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.contenders", contender, base_url, API_KEY, *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_of(contender: str, base_url: str, repeat: int) -> dict[str, Any]:
    runs = [run(contender, base_url) for _ in range(repeat)]
    best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    best["seconds"] = statistics.median(r["seconds"] for r in runs)
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return best


def compare(title: str, base_url: str, repeat: int) -> float:
    sdk = median_of("sdk", base_url, repeat)
    ours = median_of("library", base_url, repeat)
    assert sdk["chats"] == ours["chats"], (sdk["chats"], ours["chats"])
    print(f"\n{title} ({sdk['chats']:,} chats, median of {repeat})")
    print(f"  {'':28}{'seconds':>9}{'chats/s':>10}{'peak RSS MB':>13}{'requests':>10}")
    for name, r in (("official SDK + json_normalize", sdk), ("blooio-dagster", ours)):
        rate = r["chats"] / r["seconds"]
        print(
            f"  {name:28}{r['seconds']:9.2f}{rate:10,.0f}{r['peak_rss_mb']:13.0f}{r['requests']:10}"
        )
    ratio = float(sdk["seconds"] / ours["seconds"])
    print(f"  speed-up: {ratio:.2f}x")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender at 0 ms")
    args = parser.parse_args(argv)
    checks: list[tuple[str, bool]] = []

    with blooio_server(args.chats, latency=0.05) as base_url:
        ratio_50 = compare("50 ms per request", base_url, repeat=1)
        peak = run("library", base_url)["peak_rss_mb"]
        since_ms = int((time.time() - 86_400) * 1000)
        day = run("library", base_url, str(since_ms))
    checks.append(
        (f"50 ms: {ratio_50:.2f}x faster than the SDK loop (target >= 6x)", ratio_50 >= 6)
    )
    checks.append(
        (f"peak RSS for {args.chats:,} chats: {peak:.0f} MB (target < 600 MB)", peak < 600)
    )
    minimum = math.ceil((day["chats"] + 1) / PAGE)
    extra = day["requests"] - minimum
    print(f"\nOne-day active_since crawl: {day['chats']:,} chats in {day['requests']} requests; "
          f"the fewest possible is {minimum} (+{extra})")  # fmt: skip
    checks.append((
        f"active_since: {extra} requests over the minimum (target <= {DEFAULT_MAX_CONCURRENCY + 2})",
        extra <= DEFAULT_MAX_CONCURRENCY + 2,
    ))  # fmt: skip

    with blooio_server(args.chats, latency=0.0) as base_url:
        ratio_0 = compare("0 ms per request", base_url, repeat=args.repeat)
    checks.append(
        (f"0 ms: {ratio_0:.2f}x faster than the SDK loop (target >= 1.5x)", ratio_0 >= 1.5)
    )

    limit = 20.0
    with blooio_server(args.chats, latency=0.05, requests_per_second=limit) as base_url:
        limited = run("library", base_url)
    achieved = limited["pages"] / limited["seconds"]
    share_429 = limited["retries"] / limited["requests"]
    print(f"\n{limit:.0f} requests/second limit, default settings: {limited['chats']:,} chats in "
          f"{limited['seconds']:.1f}s, {achieved:.1f} successful requests/s "
          f"({achieved / limit:.0%} of the limit), {limited['retries']} of "
          f"{limited['requests']} requests answered 429 ({share_429:.1%})")  # fmt: skip
    checks.append(
        (
            f"rate limit: {achieved / limit:.0%} of the limit (target >= 85%)",
            achieved >= 0.85 * limit,
        )
    )
    checks.append((f"rate limit: {share_429:.1%} answered 429 (target < 5%)", share_429 < 0.05))

    print("\nTargets:")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
