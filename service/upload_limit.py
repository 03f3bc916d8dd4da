"""Cap request bodies while they stream in, before anything parses them.

FastAPI (Starlette) reads a multipart upload completely before the route runs, and a
Content-Length header can lie or be absent (chunked). This ASGI middleware counts the bytes
as they arrive and answers 413 the moment a body passes the limit; the route never runs.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class UploadLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, default_max_bytes: int = 1024 * 1024 * 8) -> None:
        self.app = app
        self.max_bytes = max_bytes  # uploads (POST /v1/datasets)
        self.default_max_bytes = default_max_bytes  # every other body: specs, rows to score

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes if scope["path"].rstrip("/") == "/v1/datasets" else self.default_max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        responded = False

        async def counting_receive() -> Message:
            nonlocal seen, responded
            if responded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now and tell the app the client went away: it stops reading.
                    responded = True
                    await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not responded:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not responded:
                raise


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({
        "type": "https://adamant.dev/problems/payload-too-large",
        "title": "Payload too large",
        "status": 413,
        "detail": f"the request body is over the limit of {limit} bytes",
    }).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                            # Else uvicorn keeps the connection and reads the rest of the body to discard it.
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
