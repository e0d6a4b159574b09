"""Smaller protections for the local API (issue 17, "also worth mending").

- `LoopbackOnly` (ASGI middleware): a server listening on loopback answers only requests
  addressed to a loopback name (`Host: 127.0.0.1:8000`, `localhost`, `[::1]`) and not sent by a web
  page of another site (`Origin`). Any Host used to be accepted, so a page whose domain is made
  to resolve to 127.0.0.1 (DNS rebinding) could use the model, and a cross-origin POST from any
  page was processed.
- `check_token(token)`: an empty token used to switch authentication off silently, and one with
  characters outside printable ASCII could never match what an HTTP client sends.
- `offline_note(html)`: /docs loads Swagger UI from a CDN; offline the page was blank. It now
  says so and points at /openapi.json when the script did not load.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from ..core.base.errors import FmnistError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def loopback_hosts(host: str) -> tuple[str, ...]:
    """The Host names a server listening on loopback address `host` answers to."""
    return tuple(dict.fromkeys((*LOOPBACK_NAMES, host.strip("[]").lower())))


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _json(status: int, message: str):
    body = json.dumps({"error": message}).encode()
    return body, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


class LoopbackOnly:
    def __init__(self, app, allowed: tuple[str, ...]):
        self.app = app
        self.allowed = {name.lower() for name in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = _host_name(headers.get(b"host", b"").decode("latin-1"))
        origin = headers.get(b"origin")
        refusal = None
        if host not in self.allowed:
            refusal = (421, f"This server answers only requests addressed to {', '.join(sorted(self.allowed))} "
                            "(the Host header named another name; this protects against DNS rebinding).")
        elif origin is not None:
            origin_host = urlsplit(origin.decode("latin-1")).hostname or ""
            if origin_host.lower() not in self.allowed:
                refusal = (403, "Requests from web pages of other sites are refused (the Origin header names "
                                "another site); call the API from a program or from this computer's own pages.")
        if refusal is None:
            return await self.app(scope, receive, send)
        body, response_headers = _json(*refusal)
        await send({"type": "http.response.start", "status": refusal[0], "headers": response_headers})
        await send({"type": "http.response.body", "body": body})


def check_token(token: str | None, where: str) -> None:
    """FmnistError for a token that is empty or that HTTP clients cannot send as given."""
    if token is None:
        return
    if not token.strip():
        raise FmnistError(f"{where} is empty, which would leave the server without a token.",
                          "Give a token, or leave it out to serve without one.")
    if not all(0x21 <= ord(ch) <= 0x7E for ch in token):
        raise FmnistError(f"{where} may hold only printable ASCII characters without spaces: "
                          "HTTP clients cannot send other characters in a header as given.")


OFFLINE_NOTE = (
    '<div id="fmnist-offline" style="font-family:sans-serif;margin:2em">'
    "<p>This page loads Swagger UI from cdn.jsdelivr.net, which could not be reached.</p>"
    '<p>The API is described in <a href="/openapi.json">/openapi.json</a>: POST /predict with the '
    "multipart form field <code>files</code> (one or more images) or one image as the raw body; "
    "GET /health; GET /model.</p></div>"
    "<script>if (window.SwaggerUIBundle) { document.getElementById('fmnist-offline').remove(); }</script>"
)


def offline_note(html: str) -> str:
    """The Swagger UI page with OFFLINE_NOTE shown when the CDN script did not load."""
    return html.replace("</body>", OFFLINE_NOTE + "</body>", 1) if "</body>" in html else html + OFFLINE_NOTE
