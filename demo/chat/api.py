"""The chat center's API: a FastAPI app run by Uvicorn with several workers.

Serves:
- ``GET /api/health``: 200 when the database answers, else 503;
- ``GET /api/metrics``: ``http_requests_total{method,path,status_code}`` and
  ``http_request_duration_seconds{method,path}`` (the second seed's names) summed over all workers
  with prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor);
  ``path`` is the route template (``/api/interactions/{interaction_id}/answer``) or ``other``, so the
  label stays bounded;
- ``GET /api/chats``, ``GET /api/interactions``, ``POST /api/interactions/{id}/answer``: what the
  sellers' users do; each call bumps ``seller_users.last_seen_at`` and ``sellers.last_active_at``.
Faults: ``api-errors`` (a share of requests answer 500) and ``api-slow`` (added latency), never on
``/api/health`` and ``/api/metrics``.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import psycopg
from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from starlette.routing import Match

from lookout.demo.faults import store
from lookout.demo.settings import Settings

settings = Settings.from_env()
faults = store(settings.redis_url)
app = FastAPI(title="demo chat center", docs_url=None, redoc_url=None, openapi_url=None)

REQUESTS = Counter("http_requests_total", "HTTP requests handled by the API.", ["method", "path", "status_code"])
LATENCY = Histogram("http_request_duration_seconds", "Time spent handling HTTP requests.", ["method", "path"])
UNAFFECTED = {"/api/health", "/api/metrics"}


class AsyncDB:
    """One async connection per worker process, serialised by a lock (traffic is light), reopened on error."""

    def __init__(self, url: str):
        self.url = url
        self.conn: psycopg.AsyncConnection | None = None
        self.lock = asyncio.Lock()

    async def run(self, sql: str, params: Any = None, fetch: bool = True) -> list[tuple]:
        async with self.lock:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, application_name="demo-chat-api", connect_timeout=5,
                        options="-c statement_timeout=10000")
                cur = await self.conn.execute(sql, params)
                return await cur.fetchall() if fetch and cur.description else []
            except psycopg.Error:
                if self.conn is not None:
                    await self.conn.close()
                self.conn = None
                raise


db = AsyncDB(settings.chat_db)


def route_template(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return getattr(route, "path", "other")
    return "other"


@app.middleware("http")
async def observe(request: Request, call_next: Any) -> Response:
    path = route_template(request)
    started = time.perf_counter()
    status = 500
    try:
        if path not in UNAFFECTED:
            delay = faults.value("api-slow")
            if delay:
                await asyncio.sleep(delay)
            share = faults.value("api-errors")
            if share and random.random() < share:
                response: Response = JSONResponse({"detail": "injected error (demo fault api-errors)"}, 500)
                status = 500
                return response
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        REQUESTS.labels(request.method, path, str(status)).inc()
        LATENCY.labels(request.method, path).observe(time.perf_counter() - started)


@app.get("/api/health")
async def health() -> Response:
    try:
        await db.run("SELECT 1")
    except psycopg.Error:
        return JSONResponse({"status": "error", "database": "down"}, 503)
    return JSONResponse({"status": "ok"})


@app.get("/api/metrics")
def metrics() -> Response:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def _seen(seller_id: int, user_id: int | None) -> None:
    if user_id is not None:
        await db.run("UPDATE seller_users SET last_seen_at = now() WHERE id = %s AND seller_id = %s",
                     (user_id, seller_id), fetch=False)
    await db.run("UPDATE sellers SET last_active_at = now() WHERE id = %s", (seller_id,), fetch=False)


@app.get("/api/chats")
async def chats(seller_id: int, x_user_id: int | None = Header(default=None)) -> dict:
    await _seen(seller_id, x_user_id)
    rows = await db.run(
        "SELECT id, marketplace, external_id, last_message_at FROM chats WHERE seller_id = %s AND status = 'open' "
        "ORDER BY last_message_at DESC NULLS LAST LIMIT 20", (seller_id,))
    return {"chats": [{"id": r[0], "marketplace": r[1], "external_id": r[2],
                       "last_message_at": r[3].isoformat() if r[3] else None} for r in rows]}


@app.get("/api/interactions")
async def interactions(seller_id: int, status: str = "open", x_user_id: int | None = Header(default=None)) -> dict:
    await _seen(seller_id, x_user_id)
    rows = await db.run(
        "SELECT id, channel, created_at, sla_due_at FROM interactions WHERE seller_id = %s AND status = %s "
        "ORDER BY created_at LIMIT 50", (seller_id, status))
    return {"interactions": [{"id": r[0], "channel": r[1], "created_at": r[2].timestamp(),
                              "sla_due_at": r[3].timestamp() if r[3] else None} for r in rows]}


@app.post("/api/interactions/{interaction_id}/answer")
async def answer(interaction_id: int, seller_id: int, x_user_id: int | None = Header(default=None)) -> dict:
    await _seen(seller_id, x_user_id)
    rows = await db.run(
        "WITH a AS (UPDATE interactions SET status = 'answered', first_response_at = now() "
        "  WHERE id = %(i)s AND seller_id = %(s)s AND status = 'open' RETURNING id, chat_id, seller_id), "
        "e AS (INSERT INTO interaction_events (interaction_id, seller_id, event_type) "
        "  SELECT id, seller_id, 'answered' FROM a), "
        "m AS (INSERT INTO messages (chat_id, seller_id, direction, body) "
        "  SELECT chat_id, seller_id, 'out', 'Thank you, we are on it.' FROM a WHERE chat_id IS NOT NULL) "
        "SELECT id FROM a", {"i": interaction_id, "s": seller_id})
    if not rows:
        raise HTTPException(404, "no open interaction with this id for this seller")
    return {"status": "answered"}

