"""Every error the Blooio client raises, under one base class.

None of these messages ever contains the API key: they are built from the status, the
API's own error body, the request path and the query, never from request headers; and
whatever a server sent that they quote, any key an open client holds is hidden in their
text and attributes (see :func:`~blooio_dagster.api.redaction.redact_held`).
"""

from __future__ import annotations

from typing import overload

from blooio_dagster.api.redaction import redact_held
from blooio_dagster.api.wording import counted, every_attempt


@overload
def _clean(text: str) -> str: ...


@overload
def _clean(text: None) -> None: ...


def _clean(text: str | None) -> str | None:
    return None if text is None else redact_held(text)


class BlooioError(Exception):
    """Base class of every error raised by blooio-dagster's Blooio client."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(_clean(arg) if isinstance(arg, str) else arg for arg in args))


class BlooioConfigError(BlooioError, ValueError):
    """A client setting or argument was invalid; raised before any request is sent."""


class BlooioAuthError(BlooioError):
    """Blooio rejected the API key (HTTP 401 or 403)."""

    def __init__(self, status_code: int, api_message: str | None) -> None:
        self.status_code = status_code
        self.api_message = api_message = _clean(api_message)
        if status_code == 401:
            what = "Blooio rejected the API key (HTTP 401: missing or invalid)."
        else:
            what = "The API key is valid but not allowed to do this (HTTP 403: permission denied)."
        detail = f" The API said: {api_message!r}." if api_message else ""
        super().__init__(
            f"{what}{detail} Check BLOOIO_API_KEY (or the resource's api_key): it must be a "
            "current key of your organization, such as bl_live_... or bl_test_..."
        )


class BlooioRequestError(BlooioError):
    """Blooio refused the request as invalid (a 4xx other than 401, 403, 408 and 429)."""

    def __init__(
        self,
        status_code: int,
        api_message: str | None,
        api_code: str | None,
        path: str,
        *,
        base_url: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.api_message = api_message = _clean(api_message)
        self.api_code = api_code = _clean(api_code)
        self.path = path
        code = f", code {api_code!r}" if api_code else ""
        said = api_message or "no message"
        refused = f"Blooio refused GET {path} with HTTP {status_code}{code}: {said}"
        hint = _api_root_hint(status_code, base_url)
        super().__init__(f"{refused.rstrip('.')}. {hint}" if hint else refused)


#: The path every Blooio V2 endpoint lives under; a base URL without it finds no endpoint.
API_ROOT_PATH = "/v2/api"


def _api_root_hint(status_code: int, base_url: str | None) -> str:
    """For a 404 from a ``base_url`` that does not end in ``/v2/api``: where the API lives.

    The host alone (``https://backend.blooio.com``) is the usual slip; every endpoint then
    answers 404, which says nothing about the cause.
    """
    if status_code != 404 or base_url is None:
        return ""
    if base_url.rstrip("/").endswith(API_ROOT_PATH):
        return ""
    return (
        f"base_url {base_url.rstrip('/')!r} does not end in {API_ROOT_PATH}, where Blooio's V2 "
        "endpoints live: set base_url (BLOOIO_BASE_URL) to the API root, such as "
        f"https://backend.blooio.com{API_ROOT_PATH}."
    )


class BlooioRateLimitError(BlooioError):
    """Blooio kept answering 429 (rate limited) after every retry."""

    def __init__(self, attempts: int, path: str) -> None:
        self.attempts = attempts
        self.path = path
        super().__init__(
            f"Blooio rate-limited GET {path} on {every_attempt(attempts)} (HTTP 429). Lower "
            "max_concurrency or set requests_per_second below your organization's limit, "
            "or raise max_retries."
        )


class BlooioServerError(BlooioError):
    """Blooio failed with 5xx (or 408) on every attempt."""

    def __init__(self, status_code: int, attempts: int, api_message: str | None, path: str) -> None:
        self.status_code = status_code
        self.attempts = attempts
        self.api_message = api_message = _clean(api_message)
        self.path = path
        said = f": {api_message}" if api_message else ""
        super().__init__(
            f"Blooio failed GET {path} with HTTP {status_code}{said} after "
            f"{counted(attempts, 'attempt')}. "
            "This is on Blooio's side; try again later, or raise max_retries."
        )


class BlooioConnectionError(BlooioError):
    """Blooio could not be reached, or timed out, on every attempt.

    ``hint`` says what to check for the cause at hand (a refused connection, a timeout, a
    name that does not resolve); without one, the network and ``base_url``.
    """

    def __init__(self, attempts: int, base_url: str, cause: str, hint: str | None = None) -> None:
        self.attempts = attempts
        self.base_url = base_url
        cause = _clean(cause)
        super().__init__(
            f"Could not reach Blooio at {base_url} after {counted(attempts, 'attempt')} "
            f"({cause}). {hint or 'Check the network and base_url (BLOOIO_BASE_URL).'}"
        )


class BlooioResponseError(BlooioError):
    """Blooio answered with something that is not the documented response shape."""

    def __init__(self, problem: str, path: str, offset: int | None = None) -> None:
        self.problem = problem = _clean(problem)
        self.path = path
        self.offset = offset
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(
            f"Blooio's response to GET {path}{where} is not in the documented shape: {problem}. "
            "If base_url points at something other than Blooio's V2 API, fix it; otherwise "
            "report this to Blooio."
        )


class BlooioIncompleteError(BlooioError):
    """A crawl could not show that it read every chat, so it returns nothing.

    Raised when the chats read fall short of what ``pagination.total`` (or, for
    ``active_since``, the positions around the boundary) says exists, and reading the
    unaccounted-for parts again in other windows did not close the gap; or when the API
    answers in a way that makes completeness impossible to check (pages not sorted newest
    first, ``offset`` ignored, a list that never stops changing).

    Attributes:
        missing: how many chats are unaccounted for; ``None`` when it cannot be counted.
        expected: how many chats the API says exist (in the ``active_since`` window), if known.
        unique_chats: how many distinct chats the crawl did read.
        regions: where the unaccounted-for chats lie, one line each.
    """

    def __init__(
        self,
        problem: str,
        *,
        missing: int | None = None,
        expected: int | None = None,
        unique_chats: int | None = None,
        regions: tuple[str, ...] = (),
    ) -> None:
        self.problem = problem = _clean(problem)
        self.missing = missing
        self.expected = expected
        self.unique_chats = unique_chats
        self.regions = regions
        where = "".join(f"\n  - {region}" for region in regions)
        super().__init__(
            f"Blooio's chat list could not be read completely: {problem}{where}\n"
            "Nothing was returned, so no short list is stored. Retrying later usually works; "
            "a persistent shortfall means the API hides or reorders chats, so report it to "
            "Blooio. To accept a small shortfall with a warning instead, set max_missing."
        )


class BlooioIncompleteMessagesError(BlooioIncompleteError):
    """A chat's messages could not be shown complete, so none are returned.

    Raised when the pages of ``GET /chats/{chat_id}/messages`` cannot be joined into the whole
    window: pages not newest first (``sort`` ignored), messages newer than the ``until`` asked
    for (``until`` ignored), empty pages where the total says messages exist, a millisecond
    holding more than a page that ``offset`` cannot page through, or a chat whose messages
    answer 404 while ``GET /chats/{chat_id}`` finds it. The message never names the chat (a customer's
    number or email); ``chat_id`` holds it for code that needs it.

    Attributes:
        problem: what could not be shown.
        chat_id: the chat whose read failed.
        missing, expected, unique_chats, regions: as for a chat crawl; unknown here.
    """

    def __init__(self, problem: str, *, chat_id: str | None = None) -> None:
        self.problem = problem = _clean(problem)
        self.chat_id = chat_id
        self.missing = None
        self.expected = None
        self.unique_chats = None
        self.regions = ()
        BlooioError.__init__(
            self,
            f"A chat's messages could not be read completely: {problem}. Nothing was "
            "returned, so no partial history is stored. Retrying later usually works; a "
            "persistent failure means the API pages messages in a way that cannot be joined, "
            "so report it to Blooio.",
        )
