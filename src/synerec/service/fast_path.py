"""The hot path of ``GET /v1/users/{user_id}/recommendations``, without the framework
(:class:`FastRecommendations`, mounted in front of the app by :mod:`synerec.service.app`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from synerec.exceptions import UnknownIdError
from synerec.rules import RulesError
from synerec.service import engine
from synerec.service import ruled as rule_lists
from synerec.service.api import encode_recommendations, read_overlay, rec_key
from synerec.service.schemas import MAX_ID_LENGTH, check_id_text

if TYPE_CHECKING:
    from synerec.service.app import ServiceState

__all__ = ["FastRecommendations"]

_BOOL = {"true": True, "false": False, "1": True, "0": False}
_REC_PATH = ("/v1/users/", "/recommendations")


class FastRecommendations:
    """The hot path of ``GET /v1/users/{user_id}/recommendations``, without the framework.

    A request whose parameters are plainly valid (``n`` as digits within ``1..max_n``,
    ``exclude_seen``/``explain`` as ``true``/``false``/``1``/``0``, ``placement`` and
    ``rules`` percent-decoded and valid, an id that passes
    :func:`~synerec.service.schemas.check_id_text`) and whose answer is in the response cache
    or a slice of the precomputed lists (see :func:`synerec.service.engine.is_cheap`) is
    answered here with the very bytes the route would produce, skipping FastAPI's parameter
    machinery (about half the CPU of such a request). Anything else (another path, an odd or
    invalid parameter, a read key to check, scoring work) goes to the route unchanged, so
    validation errors, OpenAPI and behaviour stay the route's.
    """

    def __init__(self, app: Any, st: ServiceState) -> None:
        self.app = app
        self.st = st
        self.route: Any = None  # the route object, for the metrics label
        self._decoded: dict[bytes, str] = {}  # percent-decoded rules and placements

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET" or self.st.read_keys
                or not (path := scope["path"]).startswith(_REC_PATH[0])
                or not path.endswith(_REC_PATH[1])):
            await self.app(scope, receive, send)
            return
        user_id = path[len(_REC_PATH[0]):-len(_REC_PATH[1])]
        got = self._answer(user_id, scope["query_string"])
        if got is None:
            await self.app(scope, receive, send)
            return
        body = await self.st.lists.serve(got[0], kind="recommendations", snap=got[1],
                                         user_id=user_id, placement=got[2])
        if self.route is not None:
            scope["route"] = self.route
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _decode(self, value: bytes) -> str | None:
        """A percent-encoded ``rules`` or ``placement`` value (``None``: the route's)."""
        text = self._decoded.get(value)
        if text is None:
            try:
                text = unquote_plus(value.decode("ascii"), errors="strict")
            except (UnicodeDecodeError, ValueError):
                return None
            if len(self._decoded) >= 1024:  # the rules a shop sends are few
                self._decoded.clear()
            self._decoded[value] = text
        return text if len(text) <= 8000 else None

    def _parse(self, query: bytes
               ) -> tuple[int, bool, bool, str, str | None, str | None] | None:
        """``(n, exclude_seen, explain, unknown, placement, rules)`` of a query string the
        fast path reads (``None``: a spelling or a parameter it leaves to the route)."""
        n, exclude_seen, explain, unknown = 10, True, False, "error"
        placement: str | None = None
        rules: str | None = None
        if not query:
            return n, exclude_seen, explain, unknown, placement, rules
        seen = set()
        for part in query.split(b"&"):
            name, eq, value = part.partition(b"=")
            if not eq or name in seen:
                return None
            seen.add(name)
            if name == b"rules" or name == b"placement":
                text = self._decode(value)
                if text is None:
                    return None
                rules, placement = (text, placement) if name == b"rules" else (rules, text)
                continue
            if not value.isalnum():
                return None
            if name == b"n":
                if not value.isdigit() or len(value) > 6:
                    return None
                n = int(value)
            elif name == b"unknown":
                if value not in (b"error", b"fallback"):
                    return None
                unknown = value.decode()
            elif name == b"exclude_seen" or name == b"explain":
                flag = _BOOL.get(value.decode())
                if flag is None:
                    return None
                if name == b"explain":
                    explain = flag
                else:
                    exclude_seen = flag
            else:
                return None
        if not 1 <= n <= self.st.settings.max_n:
            return None
        return n, exclude_seen, explain, unknown, placement, rules

    def _answer(self, user_id: str, query: bytes) -> tuple[bytes, Any, str | None] | None:
        """The body (without its ``rec_id``), the snapshot that made it and the list's
        placement, or ``None``: the route answers."""
        if not user_id or "/" in user_id or len(user_id) > MAX_ID_LENGTH:
            return None
        try:
            check_id_text(user_id)
        except ValueError:
            return None
        parsed = self._parse(query)
        if parsed is None:
            return None
        n, exclude_seen, explain, unknown, placement, rules = parsed
        st = self.st
        if st.experiments.pick(user_id, placement) is not None:
            return None  # the route serves the experiment's variant
        snap = st.store.current
        newest = st.events.newest_pending_id(user_id, snap.events_upto)
        version = st.products.version()
        try:
            ruled = st.rules.request(snap, version, placement, rules, user_id)
        except RulesError:
            return None  # the route answers the 422
        key = rec_key(snap, user_id, n, exclude_seen, explain, newest, unknown, version,
                      ruled.key if ruled else "")
        body = st.responses.get(key)
        if body is not None:
            return body, snap, placement
        view = None
        if version:
            view = st.products.cached_view(snap, version)
            if view is None:
                return None  # the catalogue changed: the route rebuilds its view
        overlay = read_overlay(st, user_id, snap, newest)
        if not engine.is_cheap(snap, user_id, overlay, n, exclude_seen=exclude_seen,
                               explain=explain, new=view):
            return None  # scoring work: the route runs it on a compute thread
        try:
            res = rule_lists.recommend(snap, user_id, overlay, n, exclude_seen=exclude_seen,
                                       explain=explain, event_weights=st.settings.event_weights,
                                       unknown=unknown, new=view, rules=ruled, cheap=True)
        except (UnknownIdError, rule_lists.NotCheap):
            return None  # the route answers the 404, or scores on a compute thread

        body = encode_recommendations(user_id, snap, res, view)
        st.responses.put(key, body)
        return body, snap, placement
