"""Authenticate requests that carry a body before a byte of the body is read.

FastAPI resolves a route's dependencies (get_caller among them) only after it has read and
parsed the body, so without this a client with no key could make every service process
read a 200 MB upload to the end just to be told 401. This ASGI middleware sits outermost
(before UploadLimit): for a request to /v1/* that declares a body, it runs the same
authentication as the routes (service.api.deps.authenticate: the same cache, the same
failure counting) on the headers alone, and answers 401/429 problem+json at once, with
`Connection: close` so the server does not read the rest of the body to discard it. A
request it lets through meets a warm cache in get_caller: the key is not looked up twice.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import authenticate
from service.api.problems import Problem, problem_response

log = logging.getLogger("adamant.service")

# Every /v1 route that accepts a body needs an API key (admin routes too: they need a valid
# key before they can say 403). Routes without a key (/healthz, /readyz, /metrics) take no body.
KEYED_PREFIX = "/v1/"


class EarlyAuth:
    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app  # what to call next (the body-size cap, then the API)
        self.api = api  # whose state holds the key cache and the failure counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(KEYED_PREFIX) or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        try:
            await authenticate(self.api.state, Headers(scope=scope), client[0] if client else None)
        except Problem as problem:
            response = problem_response(Request(scope), problem)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        except Exception as exc:  # the database is down: the app's own handlers answer that, as problem+json
            log.info("authentication before the body deferred to the route: %s", exc)
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "0").strip()
    return not (length.isdigit() and int(length) == 0)
