"""The FastAPI application: the model behind `POST /predict`, `GET /health`, `GET /model`.

- `POST /predict` takes one or more images as the multipart form field `files`, or one image
  as the raw request body (Content-Type image/… or application/octet-stream), and answers with
  the JSON list `fmnist predict --json` prints: one object per image, in the order sent.
  `?top_k=K` (1..10, default 3).
- The model is loaded once (`core.predict.Predictor`). Decoding, photo preparation and the
  forward pass run in a small thread pool (`threads`, each thread computing serially), never on
  the event loop, so concurrent requests do not block each other or `/health`.
- Bad input never takes the server down and never gets a 500: every refusal is a 4xx with the
  body `{"error": "<one readable sentence>"}` — not an image or a damaged/truncated one (422),
  a decompression bomb (422), a body over `max_upload` bytes (413, refused from Content-Length
  before it is read, or as soon as a chunked body passes the limit), more than `max_files`
  images (413), a wrong content type (415), no image (400), a bad `top_k` (422), a missing or
  wrong token (401), an unknown path (404) or method (405). Images that together would take more
  than `max_request_pixels` to decode are refused (413) from their headers, before any decoding;
  large requests decode one at a time in their own lane, and a 503 with Retry-After says the
  lane is full (`decode_budget`). On SIGTERM the requests in flight get `shutdown.GRACE_S`
  seconds, then a JSON 503 (`shutdown`).
- `token`: when set, every request but the documentation pages (`/docs`, `/openapi.json`) needs
  `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import os
import sys
import threading
import time
from contextlib import asynccontextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..core.base.errors import FmnistError
from ..core.base.labels import CLASS_NAMES
from .decode_budget import (BUSY_TEXT, DEFAULT_MAX_REQUEST_PIXELS, GIVE_BACK_PIXELS, HEAVY_REQUEST_PIXELS, RETRY_AFTER_S,
                            HeavyLane, request_cost, then_give_back, too_much_text)
from .guards import LoopbackOnly, offline_note
from .shutdown import ShutdownGuard, ShutdownState

log = logging.getLogger("fmnist_desktop.serve")

DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024  # bytes, the whole request body
from . import DEFAULT_MAX_FILES  # noqa: E402,F401 — importable from here too
RAW_TYPES = ("image/", "application/octet-stream")
OPEN_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")


@dataclass(frozen=True)
class ServeSettings:
    max_upload: int = DEFAULT_MAX_UPLOAD
    max_files: int = DEFAULT_MAX_FILES
    token: str | None = None
    threads: int | None = None  # inference threads (None = one per CPU, at most 4)
    max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS  # decoding one request may take (decode_budget)
    allowed_hosts: tuple[str, ...] | None = None  # Host names answered (guards.LoopbackOnly); None: any


class _BodyTooLarge(Exception):
    pass


class _LimitBody:
    """ASGI middleware: refuse a body over `limit` bytes — from Content-Length before reading it,
    or while reading a chunked body — instead of buffering it."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                response = _error(400, "The Content-Length header is not a number.")
                return await response(scope, receive, send)
            if too_big:
                response = _error(413, _too_large_text(int(length), self.limit))
                return await response(scope, _drain(receive), send)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge()
            return message

        return await self.app(scope, counting_receive, send)


def _drain(receive):
    async def nothing():
        return {"type": "http.request", "body": b"", "more_body": False}

    return nothing


def _too_large_text(size: int | None, limit: int) -> str:
    got = f" ({size / 1e6:.1f} MB)" if size else ""
    return f"The upload{got} is over the server's limit of {limit / 1e6:.1f} MB; send smaller or fewer images."


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def create_app(predictor, settings: ServeSettings | None = None, source: str | None = None) -> FastAPI:
    """The API over a loaded `core.predict.Predictor` (or anything with its `meta` and
    `predict_images`). `source`: the model file, shown by /model."""
    settings = settings or ServeSettings()
    threads = settings.threads or max(1, min(4, os.cpu_count() or 1))
    started = time.time()
    counters = {"requests": 0, "images": 0, "refused": 0}
    counter_lock = threading.Lock()

    def _serial():
        if "torch" not in sys.modules:
            return  # the ONNX twins answer: onnxruntime's pool is the parallelism, and torch never loads
        from ..core.base.threads import serial_in_this_thread

        try:
            serial_in_this_thread()  # parallelism comes from serving requests side by side
        except Exception:  # noqa: BLE001 — a thread setting must never stop the server
            pass

    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fmnist-infer", initializer=_serial)
    heavy_lane = HeavyLane(initializer=_serial)
    meta = predictor.meta

    @asynccontextmanager
    async def lifespan(_app):
        yield
        # Uvicorn has let in-flight requests finish before it gets here.
        executor.shutdown(wait=True, cancel_futures=True)
        heavy_lane.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # served below, with a note for when its CDN cannot be reached
        title="Fashion-MNIST Desktop API",
        version=__version__,
        description=(
            "Classify clothing photos or Fashion-MNIST-style images with the app's model. "
            "POST /predict with the multipart form field `files` (one or more images) or one image "
            "as the raw body; the answer is the list `fmnist predict --json` prints."
        ),
    )
    app.state.executor = executor
    app.state.heavy_lane = heavy_lane
    app.state.counters = counters
    app.add_middleware(_LimitBody, limit=settings.max_upload)

    @app.middleware("http")
    async def authorise(request: Request, call_next):
        if settings.token and request.url.path not in OPEN_PATHS:
            header = request.headers.get("authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.token.encode()):
                with counter_lock:
                    counters["refused"] += 1
                return _error(401, "This server needs a token: send the header 'Authorization: Bearer <token>'.",
                              {"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            message = (f"There is no {request.url.path}; the endpoints are POST /predict, GET /health, "
                       "GET /model and the documentation at /docs.")
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        else:
            message = str(exc.detail)
        with counter_lock:
            counters["refused"] += 1
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors()[:3]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
        with counter_lock:
            counters["refused"] += 1
        return _error(422, "The request is not valid (" + "; ".join(parts) + ").")

    @app.exception_handler(_BodyTooLarge)
    async def too_large(request: Request, exc: _BodyTooLarge):
        with counter_lock:
            counters["refused"] += 1
        return _error(413, _too_large_text(None, settings.max_upload))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # pragma: no cover — a bug, logged
        log.exception("Unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"The server failed unexpectedly ({type(exc).__name__}); see its log.")

    @app.get("/health", summary="Is the server up, and which model does it run")
    async def health() -> dict[str, Any]:
        with counter_lock:
            snapshot = dict(counters)
        return {"status": "ok", "model": meta.name, "uptime_s": round(time.time() - started, 1), **snapshot}

    @app.get("/model", summary="The model being served")
    async def model_info() -> dict[str, Any]:
        metrics = meta.metrics or {}
        return {
            "name": meta.name,
            "preset": meta.preset,
            "arch": meta.arch,
            "input_size": meta.input_size,
            "test_accuracy": metrics.get("test_accuracy"),
            "class_names": list(getattr(predictor, "class_names", None) or meta.class_names or CLASS_NAMES),
            "created": meta.created,
            "app_version": meta.app_version,
            "file": os.path.basename(source) if source else None,
        }

    openapi_body = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                        "required": ["files"],
                    }
                },
                "image/*": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }

    @app.post("/predict", summary="Classify one or more images", openapi_extra=openapi_body)
    async def predict(request: Request, top_k: int = 3):
        if not 1 <= top_k <= 10:
            with counter_lock:
                counters["refused"] += 1
            return _error(422, f"top_k must be between 1 and 10, not {top_k}.")
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        items: list[tuple[str, bytes]] = []
        if content_type == "multipart/form-data":
            form = await request.form(max_files=settings.max_files + 1, max_fields=settings.max_files + 8)
            try:
                uploads = [u for u in form.getlist("files") if isinstance(u, UploadFile)]
                if not uploads and form.getlist("files"):
                    return _refuse(counters, counter_lock, 400, "The form field 'files' must hold files, not text.")
                if not uploads:
                    uploads = [u for _, u in form.multi_items() if isinstance(u, UploadFile)]
                    if uploads:
                        return _refuse(counters, counter_lock, 400,
                                       "Send the images in the form field 'files' (the field was named differently).")
                    return _refuse(counters, counter_lock, 400, "The form has no images; send them in the field 'files'.")
                if len(uploads) > settings.max_files:
                    return _refuse(counters, counter_lock, 413,
                                   f"Too many images in one request ({len(uploads)}); the limit is {settings.max_files}.")
                for i, upload in enumerate(uploads):
                    items.append((upload.filename or f"image {i + 1}", await upload.read()))
            finally:
                await form.close()
        elif content_type.startswith(RAW_TYPES):
            body = await request.body()
            items.append(("image", body))
        else:
            shown = f"Content type {content_type} is" if content_type else "A request without a content type is"
            return _refuse(counters, counter_lock, 415,
                           f"{shown} not accepted; send multipart/form-data with the field 'files', "
                           "or one image as the raw body with an image/… content type.")
        empty = next((name for name, data in items if not data), None)
        if empty is not None:
            return _refuse(counters, counter_lock, 400, f"{'The request body' if empty == 'image' else empty} is empty; there is no image to classify.")

        loop = asyncio.get_running_loop()
        cost = await loop.run_in_executor(executor, request_cost, items)  # headers only, nothing decoded
        if cost > settings.max_request_pixels:
            return _refuse(counters, counter_lock, 413, too_much_text(cost, settings.max_request_pixels))
        if cost > HEAVY_REQUEST_PIXELS:
            outcome = await heavy_lane.run(_classify, predictor, items, top_k)
            if outcome is None:
                with counter_lock:
                    counters["refused"] += 1
                return _error(503, BUSY_TEXT, {"Retry-After": str(RETRY_AFTER_S)})
        elif cost > GIVE_BACK_PIXELS:
            outcome = await loop.run_in_executor(executor, then_give_back, _classify, (predictor, items, top_k))
        else:
            outcome = await loop.run_in_executor(executor, _classify, predictor, items, top_k)
        if isinstance(outcome, _Refusal):
            return _refuse(counters, counter_lock, outcome.status, outcome.message)
        with counter_lock:
            counters["requests"] += 1
            counters["images"] += len(outcome)
        return JSONResponse(outcome)

    @app.get("/docs", include_in_schema=False)
    async def docs():
        from fastapi.openapi.docs import get_swagger_ui_html
        from fastapi.responses import HTMLResponse

        page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")
        return HTMLResponse(offline_note(bytes(page.body).decode("utf-8")))

    if settings.allowed_hosts:
        app.add_middleware(LoopbackOnly, allowed=tuple(settings.allowed_hosts))
    # Outermost (added last): ends the requests in flight cleanly when the server stops.
    app.state.shutdown = ShutdownState()
    app.add_middleware(ShutdownGuard, state=app.state.shutdown)
    return app


@dataclass(frozen=True)
class _Refusal:
    status: int
    message: str


def _refuse(counters, lock, status: int, message: str) -> JSONResponse:
    with lock:
        counters["refused"] += 1
    return _error(status, message)


def _classify(predictor, items: list[tuple[str, bytes]], top_k: int):
    """Decode, prepare and classify (in a pool thread). A refusal for the first bad image."""
    from ..core.photo import load_image

    images = []
    for name, data in items:
        try:
            images.append(load_image(data))
        except FmnistError as exc:
            # core.photo says "The data" for bytes; name the upload instead.
            text = str(exc)
            if text.startswith("The data"):
                text = (name if name != "image" else "The image") + text[len("The data"):]
            else:  # once: an upload named "The data.txt" became "The data.txt.txt" (issue 17)
                text = text.replace("The data", name if name != "image" else "the image", 1)
            return _Refusal(422, text)
        except Exception as exc:  # noqa: BLE001 — a decoder bug on one upload is that upload's problem
            return _Refusal(422, f"{name} could not be read ({type(exc).__name__}).")
    results = predictor.predict_images(images, [name for name, _ in items], top_k=top_k)
    bad = next((r for r in results if not r.ok), None)
    if bad is not None:
        return _Refusal(422, bad.error)
    # The objects `fmnist predict --json` prints (the preparation steps are not part of them).
    return [dataclasses.replace(r, steps=None).to_dict() for r in results]
