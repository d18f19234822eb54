"""Reading one HTTP response for :class:`~blooio_dagster.client.BlooioClient`.

httpx's ``timeout`` bounds each socket read, not a whole response: a server that sends one
byte just inside every read timeout can hold a request open forever, and nothing bounds how
much it sends. :func:`read_body` reads a streamed response within a deadline for the whole
attempt and under a size cap. :func:`describe_unexpected_status` words the answers that are
neither success nor an API error (redirects and 2xx other than 200).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

#: The largest body the client reads. A ``GET /chats`` page of 200 chats is about 200 KB;
#: anything near this is not a Blooio page, and reading it would only exhaust memory.
MAX_BODY_BYTES = 64 * 1024 * 1024


class BodyTooLarge(Exception):
    """A response body is larger than :data:`MAX_BODY_BYTES`; it was not read in full."""

    def __init__(self, size: int, cap: int, *, declared: bool) -> None:
        self.size = size
        self.cap = cap
        if declared:
            what = f"the body is {size:,} bytes (its Content-Length)"
        else:
            what = f"the body grew past {size:,} bytes while being read"
        super().__init__(
            f"{what}, over the {cap:,}-byte limit this client reads (a page of 200 chats "
            "is about 200 KB)"
        )


def read_body(response: httpx.Response, *, deadline: float, timeout: float) -> bytes:
    """The whole (decoded) body of a streamed ``response``, read by ``deadline``.

    ``deadline`` is a :func:`time.monotonic` moment, checked as each chunk arrives; the
    per-read ``timeout`` the response was sent with still bounds a server that goes silent.
    Chunks are read as the network delivers them (up to 64 KiB) and joined once.

    Raises:
        httpx.ReadTimeout: the body was still arriving at ``deadline`` (retryable, like any
            other timeout).
        BodyTooLarge: the body declares or reaches more than :data:`MAX_BODY_BYTES`.
    """
    cap = MAX_BODY_BYTES
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(int(declared), cap, declared=True)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(size, cap, declared=False)
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(
                f"the response body took longer than timeout={timeout:g} s to arrive in full "
                f"({size:,} bytes by then)",
                request=response.request,
            )
    return b"".join(chunks)


def describe_unexpected_status(response: httpx.Response) -> str:
    """Why a response that is neither 200 nor an error status cannot be used, for an error.

    A redirect is named by the host it points to (never its query, which may carry tokens).
    """
    status = response.status_code
    if 300 <= status < 400:
        return (
            f"HTTP {status} ({response.reason_phrase}), a redirect {_redirect_target(response)}. "
            "Redirects are not followed, so that the API key is never sent to another host; "
            "set base_url (BLOOIO_BASE_URL) to the API root itself"
        )
    return (
        f"HTTP {status} ({response.reason_phrase}) where only 200 with a JSON body is a "
        "successful answer"
    )


def _redirect_target(response: httpx.Response) -> str:
    location = response.headers.get("location")
    if not location:
        return "without a Location"
    try:
        parts = urlsplit(location.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "to a Location that is not a valid URL"
    if not host:
        return f"to another path on {response.request.url.host}"
    scheme = f"{parts.scheme}://" if parts.scheme else "//"
    return f"to host {scheme}{host}{f':{port}' if port else ''}"


def checked_pagination(
    payload: dict[str, Any], bad: Callable[[str], Exception]
) -> tuple[dict[str, Any], int | None]:
    """A list response's ``pagination`` object and its ``total``, both checked.

    Raises what ``bad`` makes of the problem when ``pagination`` is not an object or
    ``total`` is neither absent nor a whole number >= 0.
    """
    pagination = payload.get("pagination", {})
    if not isinstance(pagination, dict):
        raise bad(f"'pagination' must be an object, got {type(pagination).__name__}")
    total = pagination.get("total")
    if total is not None and (type(total) is not int or total < 0):
        raise bad(f"'pagination.total' must be a whole number >= 0, got {total!r}")
    return pagination, total
