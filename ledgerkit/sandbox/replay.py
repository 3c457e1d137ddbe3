"""Replay recorded answers of the real services over real HTTP on 127.0.0.1.

The sandbox serves a world we generated; a recording (``tests/data/real-world/``)
is what a real deployment actually sent. :class:`Replay` serves such
recordings as they are: each route, ``"METHOD /path"`` (or
``"METHOD /path?query"`` for one exact query), answers a :class:`Recorded`
status, headers and body, so that a loader reads a recorded page through
its ordinary HTTP stack. A route given a list answers its items in turn,
the last one from then on (a report polled ``pending`` then ``successful``).
Only ``Content-Length`` is added; no ``Server`` or ``Date`` header.

Examples
--------
>>> import requests
>>> page = Recorded(200, {"Content-Type": "application/json", "X-Total-Count": "1"}, [{"amount": 142.01000000000002}])
>>> with Replay({"GET /v1/shop/accountstatements": page}) as server:
...     r = requests.get(server.url + "/v1/shop/accountstatements?since=2017-08-09", auth=("shop", "secret"), timeout=5)
>>> r.status_code, r.text, r.headers["X-Total-Count"]
(200, '[{"amount":142.01000000000002}]', '1')
>>> server.requests[0].query, server.requests[0].headers["Authorization"]
({'since': '2017-08-09'}, '<basic user=shop>')
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .http_util import json_response
from .server import Loopback, RequestRecord, _Handler, _masked_headers

__all__ = ["Recorded", "Replay", "load_recording"]

_COMPUTED = {"content-length", "transfer-encoding", "connection"}


def _body_bytes(body: Any) -> bytes:
    """Bytes as they are, text as UTF-8, anything else as compact JSON (floats as Python writes them)."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Recorded:
    """One recorded answer: status, headers and body.

    ``body`` may be bytes, text, or a JSON value (written compactly; a float
    keeps its shortest repr, so ``142.01000000000002`` stays as recorded).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = b""

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Recorded:
        """A recording shaped ``{"status": ..., "headers": {...}, "body": ...}``.

        Examples
        --------
        >>> Recorded.from_payload({"status": 401, "body": {"code": 1004}}).content
        b'{"code":1004}'
        """
        return cls(int(payload.get("status", 200)), dict(payload.get("headers") or {}), payload.get("body", b""))

    @property
    def content(self) -> bytes:
        """The body as sent."""
        return _body_bytes(self.body)


def load_recording(path: str | Path) -> dict[str, Any]:
    """A real-world JSON file (``{"source": ..., ...}``) as a dict."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


class _ReplayHandler(_Handler):
    server_version = "ledgerkit-replay/0.1"

    def _serve(self, method: str) -> None:
        replay = self.server.sandbox
        req = self._read_request(method)
        recorded = replay.answer(method, self.path)
        replay.log(
            RequestRecord(
                method,
                req.path,
                dict(req.query),
                _masked_headers(self.headers.items(), req.auth),
                req.json,
                recorded.status,
                time.time(),
            )
        )
        body = recorded.content
        self.send_response_only(recorded.status)
        for name, value in recorded.headers.items():
            if name.lower() not in _COMPUTED:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Replay(Loopback):
    """Serve recorded answers on 127.0.0.1 (a context manager, like ``Sandbox``).

    Parameters
    ----------
    routes : mapping
        ``{"GET /path": Recorded | [Recorded, ...]}``; a key with ``?query``
        matches that exact query only, a key without one any query.
    port : int
        0 picks a free port.

    Attributes
    ----------
    requests : list of RequestRecord
        Every request received (Authorization masked), oldest first.
    """

    handler = _ReplayHandler

    def __init__(self, routes: Mapping[str, Recorded | Sequence[Recorded]], port: int = 0) -> None:
        self.port = port
        self._routes: dict[str, list[Recorded]] = {
            key: [value] if isinstance(value, Recorded) else list(value) for key, value in routes.items()
        }
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.requests: list[RequestRecord] = []

    def answer(self, method: str, target: str) -> Recorded:
        """The recorded answer to ``METHOD target`` (a 404 when none is recorded)."""
        path = target.split("?", 1)[0]
        key = next((k for k in (f"{method} {target}", f"{method} {path}") if k in self._routes), None)
        if key is None:
            missing = json_response(404, {"message": f"no recorded answer for {method} {path}"})
            return Recorded(404, {"Content-Type": missing.content_type}, missing.body)
        with self._lock:
            n = self._served.get(key, 0)
            self._served[key] = n + 1
        answers = self._routes[key]
        return answers[min(n, len(answers) - 1)]

    def log(self, record: RequestRecord) -> None:
        """Append a request to :attr:`requests`."""
        with self._lock:
            self.requests.append(record)

    def __repr__(self) -> str:
        state = f"serving at {self.url}" if self._server else "stopped"
        return f"<Replay routes={len(self._routes)} {state}>"
