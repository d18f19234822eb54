"""Every client setting, declared once: its type, default, allowed range, unit, description and
the one check that refuses a value with the one message.

``BlooioClient`` checks its arguments here; ``BlooioResource`` takes its fields' defaults and
descriptions from here and checks through here; ``BlooioComponent`` takes its attributes'
defaults, descriptions and JSON-schema bounds from here. A value one of them refuses, all refuse,
with the same words. Why: docs/design.md, section 'Settings'.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast
from urllib.parse import unquote, urlsplit

from blooio_dagster.api.errors import BlooioConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Number(Generic[T]):
    """A numeric setting: a whole number (``int``) or any finite number (``int`` or ``float``).

    Attributes:
        name: the client's keyword argument, the resource's field and the component's
            attribute.
        default: the value when it is left unset.
        summary: what it is, as the description starts ("Chats per request").
        unit: what the number counts, for messages ("chats per request"); empty for none.
        whole: whether only whole numbers (``int``, not ``bool``) are allowed.
        minimum: the lowest value allowed (or just above it, see ``exclusive_minimum``).
        maximum: the highest value allowed; ``None`` for no upper bound.
        exclusive_minimum: whether ``minimum`` itself is refused (a timeout of 0 is).
        when_none: what ``None`` means, if it is allowed ("no cap: ..."); ``None`` if not.
            The description says it of an unset value when ``None`` is the default, else of
            ``null``.
        detail: a clause the description ends with, after the range.
        unbounded_harm: why an infinite value is refused, for its message.

    Every refusal says the same: "<name> must be <allowed>, got <value>. <fix>".
    """

    name: str
    default: T
    summary: str
    unit: str
    whole: bool
    minimum: int
    maximum: int | None = None
    exclusive_minimum: bool = False
    when_none: str | None = None
    detail: str = ""
    unbounded_harm: str = ""

    @property
    def range(self) -> str:
        """The allowed range in words: "1 to 200", "0 or more", "above 0", "above 0, up to 60"."""
        if self.exclusive_minimum:
            up_to = "" if self.maximum is None else f", up to {self.maximum}"
            return f"above {self.minimum}{up_to}"
        if self.maximum is None:
            return f"{self.minimum} or more"
        return f"{self.minimum} to {self.maximum}"

    @property
    def description(self) -> str:
        """One line for the docs, the resource's field and the component's attribute."""
        detail = f"; {self.detail}" if self.detail else ""
        none = "unset" if self.default is None else "null"
        unset = f"; {none}, {self.when_none}" if self.when_none is not None else ""
        return f"{self.summary}, {self.range}{detail}{unset}."

    @property
    def allowed(self) -> str:
        """What a value must be, for messages: "a whole number from 1 to 200 (chats per request)"."""
        kind = "a whole number" if self.whole else "a finite number"
        if self.exclusive_minimum:
            up_to = "" if self.maximum is None else f" and up to {self.maximum}"
            span = f" above {self.minimum}{up_to}"
        elif self.maximum is None:
            span = f", {self.minimum} or more"
        else:
            span = f" from {self.minimum} to {self.maximum}"
        unit = f" ({self.unit})" if self.unit else ""
        none = ", or None" if self.when_none is not None else ""
        return f"{kind}{span}{unit}{none}"

    @property
    def fix(self) -> str:
        """How to put it right, for messages."""
        if self.default is None:
            return f"Leave it unset (None) for {self.when_none}."
        return f"Leave it unset for the default, {_number(self.default)}."

    def json_schema(self) -> dict[str, int]:
        """The range as JSON-schema keywords, so that ``dg check yaml`` names field and bound.

        Numeric keywords apply to numbers only: a null or a template string still passes.
        """
        low = "exclusiveMinimum" if self.exclusive_minimum else "minimum"
        high = {} if self.maximum is None else {"maximum": self.maximum}
        return {low: self.minimum, **high}

    def check(self, value: object) -> T:
        """``value`` if it is allowed; otherwise a :class:`BlooioConfigError` naming this
        setting, what it must be, the value and how to fix it."""
        if value is None and self.when_none is not None:
            return cast(T, value)
        if isinstance(value, bool) or not isinstance(value, int if self.whole else int | float):
            raise self._refused(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise self._refused(value, f": {self.unbounded_harm}" if self.unbounded_harm else "")
        low, high = self.minimum, self.maximum
        if value < low or (self.exclusive_minimum and value == low):
            raise self._refused(value)
        if high is not None and value > high:
            raise self._refused(value)
        return cast(T, value)

    def _refused(self, value: object, why: str = "") -> BlooioConfigError:
        return BlooioConfigError(
            f"{self.name} must be {self.allowed}, got {value!r}{why}. {self.fix}"
        )


@dataclass(frozen=True)
class Text:
    """A text setting, checked by a rule of its own (a URL, a key).

    Attributes:
        name: the client's keyword argument and the resource's field.
        default: the value when it is left unset; ``None`` when it must be given.
        description: one line for the docs and the resource's field.
        rule: raises :class:`BlooioConfigError` naming the setting, what is wrong and how
            to fix it; never with a value that may be a secret.
    """

    name: str
    default: str | None
    description: str
    rule: Callable[[object], None]

    def check(self, value: object) -> str:
        """``value`` if it is allowed; otherwise the rule's :class:`BlooioConfigError`."""
        self.rule(value)
        return cast(str, value)


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


#: Blooio's own API root, the default ``base_url``.
DEFAULT_BASE_URL = "https://backend.blooio.com/v2/api"
#: The most chats Blooio sends in one page.
MAX_PAGE_SIZE = 200
#: The default cap on requests in flight; the adaptive limit stays below it.
DEFAULT_MAX_CONCURRENCY = 32


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """``url`` as errors may show it: scheme, host, port and path only (no user name,
    password, query or fragment); empty when it cannot be parsed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if not parts.scheme or not parts.hostname:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}{parts.path}"


def _check_base_url(value: object) -> None:
    """Refuse a base URL no request should go to, naming what is wrong.

    It must be an http(s) URL with a host, without user name or password, query string,
    fragment or whitespace (also percent-encoded), and plain http only to a loopback host.
    Trailing slashes do not count. Messages show at most the URL's scheme, host, port and
    path (see :func:`shown_url`), never a user name, password, query or fragment, which may
    be secrets; a value that is not an http(s) URL at all (an API key put in BLOOIO_BASE_URL
    by mistake) is not shown.
    """
    example = f"such as {DEFAULT_BASE_URL}"
    base_url = value.rstrip("/") if isinstance(value, str) else None
    try:
        parts = urlsplit(base_url) if base_url is not None else None
        hostname = parts.hostname if parts is not None else None
    except ValueError:  # for example an unclosed IPv6 bracket
        parts, hostname = None, None
    if parts is not None and "@" in parts.netloc:
        raise BlooioConfigError(
            "base_url must not contain a user name or password (user:password@host); Blooio "
            f"authenticates with the API key alone. Remove them from base_url, {example}."
        )
    if base_url is None or parts is None or parts.scheme not in ("http", "https") or not hostname:
        got = "a value that is not one (not shown, as it may be a secret)"
        if not isinstance(value, str):
            got = f"a value of type {type(value).__name__}"
        elif base_url and "://" not in base_url and _has_a_host(f"http://{base_url}"):
            got = (
                "an address without a scheme (not shown, as it may be a secret): start it "
                "with https://, or with http:// for a server on this machine such as the "
                "bundled test server"
            )
        raise BlooioConfigError(f"base_url must be an http(s) URL {example}, got {got}.")
    shown = shown_url(base_url)
    for mark, part in (("?", "a query string"), ("#", "a fragment")):
        if mark in base_url:
            raise BlooioConfigError(
                f"base_url must not have {part} ('{mark}...'); got one after {shown!r} (not "
                "shown). The client adds its own query parameters; give only the API root, "
                f"{example}."
            )
    if any(ch.isspace() for ch in unquote(base_url)):
        raise BlooioConfigError(
            f"base_url must not contain spaces or other whitespace (also not encoded as %20), "
            f"got {shown!r}. Remove them; often a stray space or newline was copied with it."
        )
    if parts.scheme == "http" and not is_loopback(hostname):
        raise BlooioConfigError(
            f"base_url {shown!r} uses plain http to {hostname}, which would send the "
            "API key in clear text. Use https, or http only to a loopback address (127.0.0.1, "
            "localhost, ::1) such as the bundled test server."
        )


def _has_a_host(url: str) -> bool:
    """Whether ``url`` names a host a request could go to: a name with a dot, ``localhost``
    or an IP address (an API key put in base_url by mistake names none)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and ("." in host or ":" in host or host == "localhost")


def _check_api_key(value: object) -> None:
    """Refuse a key no request could carry; the messages never show it."""
    key = "your organization's key (bl_live_... or bl_test_...)"
    if value is None:
        raise BlooioConfigError(f"api_key is not set. Set BLOOIO_API_KEY to {key}.")
    if not isinstance(value, str):
        raise BlooioConfigError(
            f"api_key must be a string, {key}; got a value of type {type(value).__name__}."
        )
    if not value:
        raise BlooioConfigError(f"api_key is empty. Set BLOOIO_API_KEY to {key}.")
    if value != value.strip() or any(ch.isspace() for ch in value):
        raise BlooioConfigError(
            "api_key contains whitespace (often a trailing newline from a file or a shell). "
            "Remove it from BLOOIO_API_KEY."
        )
    if not value.isascii() or not value.isprintable():
        raise BlooioConfigError(
            f"api_key contains characters an HTTP header cannot carry. Set BLOOIO_API_KEY to {key}."
        )


API_KEY = Text(
    name="api_key",
    default=None,
    description="The organization's Blooio API key (bl_live_... or bl_test_...).",
    rule=_check_api_key,
)
BASE_URL = Text(
    name="base_url",
    default=DEFAULT_BASE_URL,
    description="The API root. http:// is accepted only for loopback hosts.",
    rule=_check_base_url,
)
TIMEOUT: Number[float] = Number(
    name="timeout",
    default=30.0,
    summary="Seconds per attempt of a request",
    unit="seconds per attempt",
    whole=False,
    minimum=0,
    exclusive_minimum=True,
    unbounded_harm="without a limit a stalled connection would hang the run forever",
)
MAX_RETRIES: Number[int] = Number(
    name="max_retries",
    default=5,
    summary="Retries for connection errors, timeouts, 408, 429, 5xx and cut-off bodies",
    unit="retries after the first attempt",
    whole=True,
    minimum=0,
    maximum=20,
)
PAGE_SIZE: Number[int] = Number(
    name="page_size",
    default=MAX_PAGE_SIZE,
    summary="Chats per request",
    unit="chats per request",
    whole=True,
    minimum=1,
    maximum=MAX_PAGE_SIZE,
)
MAX_CONCURRENCY: Number[int] = Number(
    name="max_concurrency",
    default=DEFAULT_MAX_CONCURRENCY,
    summary="Most requests in flight at once",
    unit="requests in flight",
    whole=True,
    minimum=1,
    maximum=256,
    detail="the client starts lower and grows while the API keeps up",
)
REQUESTS_PER_SECOND: Number[float | None] = Number(
    name="requests_per_second",
    default=None,
    summary="A hard cap on requests per second",
    unit="",
    whole=False,
    minimum=0,
    exclusive_minimum=True,
    when_none="no cap: the client then learns Blooio's limit from its 429 answers",
)
MAX_MISSING: Number[int] = Number(
    name="max_missing",
    default=0,
    summary="Chats a crawl may leave unaccounted for and still return",
    unit="chats left unaccounted for",
    whole=True,
    minimum=0,
    detail="0: every chat, or an error",
)

#: Every client setting by name.
SETTINGS: dict[str, Number[Any] | Text] = {
    setting.name: setting
    for setting in (
        API_KEY,
        BASE_URL,
        TIMEOUT,
        MAX_RETRIES,
        PAGE_SIZE,
        MAX_CONCURRENCY,
        REQUESTS_PER_SECOND,
        MAX_MISSING,
    )
}


def settings_markdown() -> str:
    """A markdown table of every setting, its default and what it means, for the docs."""

    def default(setting: Number[Any] | Text) -> str:
        return "" if setting.default is None else f"`{_number(setting.default)}`"

    rows = [f"| `{s.name}` | {default(s)} | {s.description} |" for s in SETTINGS.values()]
    return "\n".join(["| setting | default | meaning |", "|---|---|---|", *rows])


def check_settings(**values: object) -> None:
    """Check each setting given by name; the first one refused raises its message."""
    for name, value in values.items():
        SETTINGS[name].check(value)


def to_epoch_ms(moment: datetime | int, name: str = "active_since") -> int:
    """An aware datetime or epoch milliseconds as epoch milliseconds."""
    if isinstance(moment, bool) or not isinstance(moment, datetime | int):
        raise BlooioConfigError(
            f"{name} must be a timezone-aware datetime or epoch milliseconds (int), "
            f"got {type(moment).__name__}."
        )
    if isinstance(moment, int):
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BlooioConfigError(
            f"{name} must be timezone-aware (for example datetime(2026, 1, 1, tzinfo=UTC)); "
            "a naive datetime is ambiguous."
        )
    return int(moment.timestamp() * 1000)
