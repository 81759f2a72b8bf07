"""Who may call the API and what it may serve: API keys kept as SHA-256 hashes and compared in
constant time, a refusal to listen beyond loopback without one, a request-body limit enforced while
the body streams, and media resolved by id strictly inside the library roots."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import limits
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidsearch.config import Settings
from vidsearch.errors import AuthenticationError, ConfigError, ForbiddenError, NotFoundError
from vidsearch.storage.database import Database
from vidsearch.storage.schema import VideoStatus

KEY_FILE = "api_keys.json"
ADMIN_ROLE, READ_ROLE = "admin", "read"
MAX_ID = 2**63 - 1  # ids are 64-bit database integers


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiKeyStore:
    """API keys in the data folder: only their SHA-256 is stored; the key is shown once, at creation."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / KEY_FILE
        # Every request checks the keys: the file is read again only when it changed (a key created or
        # revoked takes effect at once, without a restart), otherwise it costs one stat.
        self._seen: tuple[int, int, int] | None = None
        self._keys: list[dict[str, str]] = []

    def _read(self) -> list[dict[str, str]]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return []
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if stamp != self._seen:
            try:
                self._keys = list(json.loads(self.path.read_text()))
            except ValueError as exc:
                raise ConfigError(f"{self.path} is not valid JSON: {exc}") from exc
            self._seen = stamp
        return list(self._keys)  # a copy: create and revoke edit what they get

    def _write(self, keys: list[dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(keys, indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def create(self, name: str, *, admin: bool = False) -> str:
        """A new key: a reading key (search, ask, the library's videos), or an admin key, which may also
        register library folders and start and cancel index jobs."""
        keys = self._read()
        if any(k["name"] == name for k in keys):
            raise ConfigError(f"an API key named {name!r} exists already")
        token = f"vs_{secrets.token_urlsafe(32)}"
        created = datetime.now(UTC).isoformat()
        role = ADMIN_ROLE if admin else READ_ROLE
        keys.append({"name": name, "sha256": _digest(token), "created_at": created, "role": role})
        self._write(keys)
        return token

    def revoke(self, name: str) -> bool:
        keys = self._read()
        kept = [k for k in keys if k["name"] != name]
        self._write(kept)
        return len(kept) != len(keys)

    def names(self) -> list[str]:
        return [k["name"] for k in self._read()]

    def roles(self) -> dict[str, str]:
        """Each key's name and role (keys made before roles existed read: they never had admin rights)."""
        return {k["name"]: k.get("role", READ_ROLE) for k in self._read()}

    def __bool__(self) -> bool:
        return bool(self._read())

    def verify(self, token: str | None) -> str | None:
        """The key's name, or None. Every stored hash is compared, in constant time."""
        found = self._find(token)
        return found["name"] if found else None

    def is_admin(self, token: str | None) -> bool:
        found = self._find(token)
        return found is not None and found.get("role", READ_ROLE) == ADMIN_ROLE

    def _find(self, token: str | None) -> dict[str, str] | None:
        if not token:
            return None
        offered = _digest(token)
        match = None
        for key in self._read():
            if hmac.compare_digest(offered, key["sha256"]):
                match = key
        return match


async def require_key(request: Request) -> None:
    """With API keys configured, a route needs one (Authorization: Bearer KEY, X-API-Key, or the page's
    sign-in cookie)."""
    keys: ApiKeyStore = request.app.state.keys
    if keys and keys.verify(token_from(request.headers, request.cookies)) is None:
        raise AuthenticationError("a valid API key is required: send Authorization: Bearer KEY or X-API-Key: KEY")


async def require_admin(request: Request) -> None:
    """With API keys configured, a route that changes the library needs an admin key."""
    keys: ApiKeyStore = request.app.state.keys
    if not keys:
        return
    token = token_from(request.headers, request.cookies)
    if keys.verify(token) is None:
        raise AuthenticationError("an admin API key is required: send Authorization: Bearer KEY or X-API-Key: KEY")
    if not keys.is_admin(token):
        raise ForbiddenError(
            "this API key may search but not change the library: use an admin key (api-key create --admin)"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, keys: ApiKeyStore) -> None:
    """Refuse to serve beyond this machine with no API key, unless told this is a development run."""
    if not is_loopback(settings.host) and not keys and not settings.dev:
        raise ConfigError(
            f"refusing to listen on {settings.host} without an API key: create one with "
            "`vidsearch api-key create NAME`, or pass --dev for a development run"
        )


def token_from(headers: Any, cookies: Any = None) -> str | None:
    """The key a request carries: Authorization: Bearer, X-API-Key, or the web page's sign-in cookie."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return str(auth[7:].strip())
    key = headers.get("x-api-key") or (cookies or {}).get("vidsearch_key")
    return str(key) if key else None


def resolve_media(db: Database, video_id: str) -> Path:
    """The file of a video, by id only, and only if it lies inside a library root once resolved."""
    # Ids are 64-bit numbers: anything else (../, %2E%2E, /etc, NUL, 2**64) names no video.
    if not video_id.isascii() or not video_id.isdigit() or int(video_id) > MAX_ID:
        raise NotFoundError("no such video")
    key, status = db.video_path_and_status(int(video_id))
    if status == VideoStatus.EXTERNAL:
        raise NotFoundError(f"video {video_id} is known only by its key {key!r}: there is no file to play")
    path = Path(key)
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise NotFoundError(f"video {video_id}: its file is gone") from exc
    roots = [Path(r) for r in db.library_roots()]
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise ForbiddenError(f"video {video_id}: its file resolves outside the library roots")
    if not real.is_file():
        raise NotFoundError(f"video {video_id}: its file is gone")
    return real


class BodyLimitMiddleware:
    """Answers 413 as soon as a request body exceeds the limit, declared or streamed, before any route runs."""

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads or {}  # routes that take a file (a picture), with their own larger limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.uploads.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, limit)
            return
        seen = 0
        started = rejected = False

        # Raising from receive would be turned into a 400 by the framework's body parsing, so the 413
        # is sent here, the app is told the client left, and anything it still sends is dropped.
        async def limited_receive() -> Message:
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not started:
                    rejected = True
                    await self._reject(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise

    async def _reject(self, send: Send, limit: int) -> None:
        body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RateLimitMiddleware:
    """One request budget per client address across the whole API (`limits`' fixed windows, in
    memory): past it, 429 with Retry-After before any route runs. Health checks, the page's static
    files and thumbnails (ten per results page) are not counted. Pure ASGI: wrapping each response, as
    a BaseHTTPMiddleware does, cost a millisecond a request."""

    def __init__(
        self, app: ASGIApp, rate: str, exempt: tuple[str, ...] = ("/healthz", "/static/", "/windows/")
    ) -> None:
        self.app = app
        self.rate = rate
        self.limit = limits.parse(rate)
        self.limiter = FixedWindowRateLimiter(MemoryStorage())
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        if self.limiter.hit(self.limit, key):
            await self.app(scope, receive, send)
            return
        reset = self.limiter.get_window_stats(self.limit, key).reset_time
        body = json.dumps({"detail": f"rate limit exceeded: {self.rate}"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(max(1, math.ceil(reset - time.time()))).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class DocsPolicyMiddleware:
    """The documentation pages may load only from this server: ReDoc's bundle otherwise reaches for its
    logo on a CDN (a request to a third party from a page that promises to work offline)."""

    POLICY = (
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:"
    )

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = ("/docs", "/redoc")) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-security-policy", self.POLICY)]
            await send(message)

        await self.app(scope, receive, with_policy)
