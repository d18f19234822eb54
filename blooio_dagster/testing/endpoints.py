"""The test server's three GET endpoints: which one a path names, and its JSON page.

``GET /chats`` lists like ``ORDER BY last_message_time DESC LIMIT limit OFFSET offset``
(``sort=oldest``: the exact reverse); ``GET /chats/{chat_id}/messages`` like ``ORDER BY
time_sent`` (ties by ``message_id``) with ``WHERE`` for ``since``/``until``/``direction``;
``pagination.total`` is ``COUNT(*)`` at the moment of the request. Each page is read from the
store (:mod:`blooio_dagster.testing.store`) under the server's lock, so from one consistent
snapshot, after the faults that change the data per request, and bent by the page faults
(:mod:`blooio_dagster.testing.faults`): caps, short and empty pages, totals, ties, offsets.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from bisect import bisect_left
from typing import Any
from urllib.parse import unquote

from blooio_dagster.testing.faults import Faults, FaultState, empty_replica_page, page_bounds
from blooio_dagster.testing.history import queued_messages
from blooio_dagster.testing.http import API_PREFIX, MESSAGES, Answer, error, int_param, paging
from blooio_dagster.testing.store import ChatStore, Key


class Endpoints:
    """The API's endpoints over one store; called under the server's lock."""

    def __init__(self, store: ChatStore, state: FaultState) -> None:
        self._store = store
        self._state = state

    def answer(self, faults: Faults, path: str, query: dict[str, str]) -> Answer:
        """The answer to ``GET path?query`` (404 for a path no endpoint serves)."""
        store = self._store
        if path == f"{API_PREFIX}/chats":
            store.receive_messages(faults.messages_per_request)
            store.add_chats(faults.new_chats_per_request)
            store.delete_chats(faults.deletions_per_request)
            store.deliver_late(faults.late_messages_per_request)
            store.unsend(faults.unsent_per_request)
            if self._state.replica_lags(faults):
                return empty_replica_page(query)
            return self._list_chats(query, faults)
        if path.startswith(f"{API_PREFIX}/chats/"):
            chat_path = path[len(API_PREFIX) + 7 :]
            if chat_path.endswith(MESSAGES):
                chat_id = unquote(chat_path[: -len(MESSAGES)])
                return self._list_messages(chat_id, query, faults)
            return self._one_chat(unquote(chat_path))
        return error(404, f"No route for GET {path}", "not_found")

    def _list_chats(self, query: dict[str, str], faults: Faults) -> Answer:
        limit, offset, invalid = paging(query)
        if invalid is not None:
            return invalid
        sort = query.get("sort", "recent")
        if sort not in ("recent", "oldest"):
            return error(400, "sort must be one of: recent, oldest", "invalid_sort")
        q = query.get("q")
        store = self._store
        size, start = page_bounds(faults, limit, offset)
        if faults.ignore_sort:
            ids = store.creation_order(q)
            total = len(ids)
            window = ids[start : start + size]
        else:
            ids = store.matching(q) if q else store.order  # no copy of the whole list per request
            total = len(ids)
            if sort == "oldest":
                end = max(total - start, 0)
                low = max(end - size, 0)
            else:
                low, end = min(start, total), min(start + size, total)
            if faults.tie_order == "id":
                window = ids[low:end]
            else:
                keys = store.keys if not q else [store.sort_key(store.chats[i]) for i in ids]
                rng = self._tie_rng(faults, f"{store.seed}:{sort}:{q}:{start}:{size}")
                window = _shuffle_ties(ids, keys, low, end, rng)
            if sort == "oldest":
                window = window[::-1]
        window, pagination = self._state.page_faults(window, faults, size, limit, offset, total)
        items = b",".join([store.encoded(chat_id) for chat_id in window])
        encoded = json.dumps(pagination).encode()
        return 200, {}, b'{"chats":[' + items + b'],"pagination":' + encoded + b"}"

    def _one_chat(self, chat_id: str) -> Answer:
        chat = self._store.chats.get(chat_id)
        if chat is None:
            return error(404, f"Chat {chat_id} not found", "chat_not_found")
        body = dict(chat, first_message_time=self._store.first_times[chat_id])
        return 200, {}, json.dumps(body, ensure_ascii=False).encode()

    def _list_messages(self, chat_id: str, query: dict[str, str], faults: Faults) -> Answer:
        store = self._store
        if chat_id not in store.chats:
            return error(404, f"Chat {chat_id} not found", "chat_not_found")
        misanswer = self._state.replica_answer(faults, chat_id)
        if misanswer == "not_found":
            return error(404, f"Chat {chat_id} not found", "chat_not_found")
        if misanswer == "other_chat":
            chat_id = store.order[(store.order.index(chat_id) + 1) % len(store.order)]
        limit, offset, invalid = paging(query)
        if invalid is not None:
            return invalid
        if misanswer == "offset":
            offset += limit
        if misanswer == "until":
            query = {name: value for name, value in query.items() if name != "until"}
        sort = query.get("sort", "desc")
        if sort not in ("asc", "desc"):
            return error(400, "sort must be one of: asc, desc", "invalid_sort")
        direction = query.get("direction")
        if direction is not None and direction not in ("inbound", "outbound"):
            return error(400, "direction must be one of: inbound, outbound", "invalid_direction")
        bounds = {}
        for name in ("since", "until"):
            bound = int_param(query, name, -1, 0, None)
            if bound is None:
                return error(
                    400,
                    f"{name} must be a timestamp in milliseconds (an integer >= 0)",
                    f"invalid_{name}",
                )
            bounds[name] = None if bound < 0 else bound
        since, until = bounds["since"], bounds["until"]
        store.arrive_in(chat_id, faults.chat_messages_per_request)
        store.unsend_in(chat_id, faults.chat_unsent_per_request)
        low = -math.inf if since is None else since if faults.inclusive_bounds else since + 1
        high = math.inf if until is None else until if faults.inclusive_bounds else until - 1
        matching = [
            m
            for m in store.history(chat_id)
            if low <= m["time_sent"] <= high and (direction is None or m["direction"] == direction)
        ]
        if faults.queued_per_chat and since is None and until is None and direction != "inbound":
            matching += queued_messages(chat_id, faults.queued_per_chat)
        total = len(matching)
        if faults.total_ignores_window:
            history = store.history(chat_id) + queued_messages(chat_id, faults.queued_per_chat)
            total = sum(direction is None or m["direction"] == direction for m in history)
        if sort == "desc" and not faults.ignore_sort:
            matching.reverse()
        if faults.tie_order != "id":
            rng = self._tie_rng(faults, f"{store.seed}:{chat_id}:{sorted(query.items())}")
            matching = _shuffle_message_ties(matching, rng)
        size, start = page_bounds(faults, limit, offset)
        window = matching[start : start + size]
        window, pagination = self._state.page_faults(window, faults, size, limit, offset, total)
        if faults.report_limit is not None:
            pagination["limit"] = faults.report_limit
        body = {"chat_id": chat_id, "messages": window, "pagination": pagination}
        return 200, {}, json.dumps(body, ensure_ascii=False).encode()

    def _tie_rng(self, faults: Faults, window: str) -> random.Random:
        """What orders ties: the server's RNG per request, or one RNG per ``window`` of a query."""
        return self._store.rng if faults.tie_order == "request" else random.Random(window)


def _shuffle_ties(
    ids: list[str], keys: list[Key], low: int, high: int, rng: random.Random
) -> list[str]:
    """``ids[low:high]`` as SQL without a tiebreaker may give it: each tie group shuffled.

    A group that crosses the window's edges is shuffled as a whole before it is cut, so which of
    its chats fall inside the window is part of the chance.
    """
    window: list[str] = []
    pos = low
    while pos < high:
        block, neg_time, _ = keys[pos]
        first = bisect_left(keys, (block, neg_time), 0, pos) if pos == low else pos
        end = bisect_left(keys, (block, neg_time + 1), pos + 1)
        if end - first == 1:
            window.append(ids[pos])
            pos += 1
            continue
        group = ids[first:end]
        rng.shuffle(group)
        window += group[pos - first : min(end, high) - first]
        pos = end
    return window


def _shuffle_message_ties(
    messages: list[dict[str, Any]], rng: random.Random
) -> list[dict[str, Any]]:
    """``messages`` with each run sharing one ``time_sent`` shuffled, as SQL may give them."""
    shuffled: list[dict[str, Any]] = []
    for _, run in itertools.groupby(messages, key=lambda m: m["time_sent"]):
        group = list(run)
        if len(group) > 1:
            rng.shuffle(group)
        shuffled += group
    return shuffled
