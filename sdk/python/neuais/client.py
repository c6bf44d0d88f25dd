"""The client: one bearer token, one base URL, retries, and the resources."""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import IO, Any, Callable, Iterator, Literal, Mapping, TypeVar

from . import errors
from .models import (
    Agent,
    AgentStatus,
    AgentSummary,
    ApiToken,
    Binary,
    CreatedAgent,
    Event,
    Invoice,
    InvoiceDetail,
    LogLine,
    Metrics,
    NewApiToken,
    NewWebhook,
    Page,
    RateLimit,
    Role,
    Service,
    Token,
    Usage,
    User,
    Webhook,
    WebhookDelivery,
    decode,
)

DEFAULT_URL = "http://localhost:8000"

# Methods a repeat cannot do twice; a POST is one with an Idempotency-Key.
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE"}

T = TypeVar("T")
RetryHook = Callable[[int, float, Exception], None]
# Names for the annotations of classes whose list method hides the builtin.
Fields = list[str]
LogLines = list[LogLine]
Strings = list[str]
# An upload's content: bytes, or a binary file object, streamed.
Content = bytes | IO[bytes]


def _api_root(base_url: str | None) -> str:
    """base_url, else NEUAIS_URL, else the local server; the server's root
    with or without /v1, returned with /v1."""
    url = (base_url or os.environ.get("NEUAIS_URL") or DEFAULT_URL).rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _query(params: Mapping[str, Any]) -> str:
    q = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = ",".join(v)
        q[k] = str(v)
    return "?" + urllib.parse.urlencode(q) if q else ""


def _duration(v: float | str | None) -> str | None:
    """A duration as the API takes it: "30s", or seconds as a number."""
    if v is None or isinstance(v, str):
        return v
    return f"{v:g}s"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class _Transport:
    def __init__(self, token: str, base_url: str | None, timeout: float, max_retries: int,
                 max_retry_wait: float, on_retry: RetryHook | None) -> None:
        self.root = _api_root(base_url)
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.on_retry = on_retry
        self.rate_limit: RateLimit | None = None

    def open(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None,
             stream: bool = False, raw: Content | None = None,
             accept: str = "application/json") -> http.client.HTTPResponse:
        """Sends a request, retrying 429 and 503 (after Retry-After) and, for
        idempotent requests, connection errors; answers the response of a
        2xx, raises the typed error otherwise. raw is sent as it is
        (application/octet-stream): a seekable file is rewound for each
        retry, another one sent once without retries."""
        data: Any = None if body is None else json.dumps(body).encode()
        hdrs = {"Accept": "text/event-stream" if stream else accept}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        rewind: IO[bytes] | None = None
        start, replayable = 0, True
        if raw is not None:
            data = raw
            hdrs["Content-Type"] = "application/octet-stream"
            if not isinstance(raw, bytes):
                replayable = raw.seekable()
                if replayable:
                    rewind, start = raw, raw.tell()
                    hdrs["Content-Length"] = str(raw.seek(0, os.SEEK_END) - start)
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        hdrs.update(headers or {})
        idempotent = method in _IDEMPOTENT or "Idempotency-Key" in hdrs
        attempt = 0
        while True:
            if rewind is not None:
                rewind.seek(start)
            req = urllib.request.Request(self.root + path, data=data, headers=hdrs, method=method)
            try:
                res: http.client.HTTPResponse = urllib.request.urlopen(req, timeout=self.timeout)
                self._note_limits(res)
                return res
            except urllib.error.HTTPError as e:
                self._note_limits(e)
                answer = e.read()
                try:
                    parsed = json.loads(answer)
                except ValueError:
                    parsed = None
                err = errors.from_envelope(e.code, parsed)
                wait = _retry_after(e.headers.get("Retry-After"))
                if e.code not in (429, 503) or attempt >= self.max_retries or not replayable:
                    raise err from None
                if wait is None:
                    wait = self._backoff(attempt)
                if wait > self.max_retry_wait:
                    raise err from None
                fail: Exception = err
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                reason = getattr(e, "reason", e)
                conn = errors.ConnectionError(f"{method} {path}: {reason}")
                if not idempotent or attempt >= self.max_retries or not replayable:
                    raise conn from e
                wait, fail = self._backoff(attempt), conn
            attempt += 1
            if self.on_retry:
                self.on_retry(attempt, wait, fail)
            time.sleep(wait)

    @staticmethod
    def _backoff(attempt: int) -> float:
        return float(min(0.25 * 2**attempt, 8.0))

    def _note_limits(self, res: Any) -> None:
        h = res.headers
        try:
            self.rate_limit = RateLimit(int(h["X-RateLimit-Limit"]), int(h["X-RateLimit-Remaining"]),
                                        datetime.fromtimestamp(int(h["X-RateLimit-Reset"]), timezone.utc))
        except (KeyError, TypeError, ValueError):
            pass

    def call(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None,
             raw: Content | None = None, exact: bool = False) -> tuple[Any, http.client.HTTPResponse]:
        """The JSON answer and the response; exact parses the answer's
        decimal numbers as Decimal (money), not float."""
        with self.open(method, path, body, headers, raw=raw) as res:
            answer = res.read()
        return (json.loads(answer, parse_float=Decimal if exact else float) if answer else None), res


def _page(tp: type[T], key: str, body: Any) -> Page[T]:
    return Page([decode(tp, v) for v in body[key]], body["total"], body["limit"], body["offset"], body["has_more"])


def _agent(body: Any, res: http.client.HTTPResponse) -> Agent:
    a: Agent = decode(Agent, body)
    a.etag = res.headers.get("ETag")
    return a


def _all(fetch: Callable[[int], Page[T]]) -> Iterator[T]:
    offset = 0
    while True:
        page = fetch(offset)
        yield from page.items
        if not page.has_more or not page.items:
            return
        offset = page.offset + len(page.items)


def _path(*parts: str) -> str:
    return "/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)


class Agents:
    def __init__(self, t: _Transport) -> None:
        self._t = t

    def list(self, *, status: AgentStatus | None = None, region: str | None = None, name_prefix: str | None = None,
             limit: int | None = None, offset: int | None = None, sort: str | None = None,
             fields: Fields | None = None) -> Page[AgentSummary]:
        """One page of the organization's agents."""
        q = _query({"status": status, "region": region, "name_prefix": name_prefix, "limit": limit,
                    "offset": offset, "sort": sort, "fields": fields})
        body, _ = self._t.call("GET", "/agents" + q)
        return _page(AgentSummary, "agents", body)

    def all(self, *, status: AgentStatus | None = None, region: str | None = None, name_prefix: str | None = None,
            limit: int | None = None, sort: str | None = None, fields: Fields | None = None) -> Iterator[AgentSummary]:
        """Every agent, page after page."""
        return _all(lambda off: self.list(status=status, region=region, name_prefix=name_prefix, limit=limit,
                                          offset=off, sort=sort, fields=fields))

    def get(self, id: str) -> Agent:
        return _agent(*self._t.call("GET", _path("agents", id)))

    def create(self, name: str, runtime: str, binary_url: str, *, config: Mapping[str, Any] | None = None,
               environment: Mapping[str, str] | None = None, region: str | None = None,
               binary_sha256: str | None = None, idempotency_key: str | None = None) -> CreatedAgent:
        """Creates an agent. It carries an Idempotency-Key (a new one unless
        given), so a retry after a lost answer never creates twice."""
        body: dict[str, Any] = {"name": name, "runtime": runtime, "binary_url": binary_url}
        for k, v in (("config", config), ("environment", environment), ("region", region), ("binary_sha256", binary_sha256)):
            if v is not None:
                body[k] = v
        key = idempotency_key or str(uuid.uuid4())
        out, _ = self._t.call("POST", "/agents", body, {"Idempotency-Key": key})
        created: CreatedAgent = decode(CreatedAgent, out)
        return created

    def update(self, id: str, *, name: str | None = None, runtime: str | None = None, binary_url: str | None = None,
               binary_sha256: str | None = None, config: Mapping[str, Any] | None = None,
               environment: Mapping[str, str] | None = None, if_match: str | None = None) -> Agent:
        """Changes the fields given; with if_match, only if the agent is unchanged."""
        body = {k: v for k, v in (("name", name), ("runtime", runtime), ("binary_url", binary_url),
                                  ("binary_sha256", binary_sha256), ("config", config),
                                  ("environment", environment)) if v is not None}
        return _agent(*self._t.call("PUT", _path("agents", id), body, {"If-Match": if_match} if if_match else None))

    def delete(self, id: str, *, if_match: str | None = None) -> str:
        out, _ = self._t.call("DELETE", _path("agents", id), None, {"If-Match": if_match} if if_match else None)
        return str(out["message"])

    def start(self, id: str) -> Agent:
        return _agent(*self._t.call("POST", _path("agents", id, "start")))

    def stop(self, id: str) -> Agent:
        return _agent(*self._t.call("POST", _path("agents", id, "stop")))

    def restart(self, id: str) -> Agent:
        return _agent(*self._t.call("POST", _path("agents", id, "restart")))

    def scale(self, id: str, replicas: int) -> Agent:
        return _agent(*self._t.call("POST", _path("agents", id, "scale"), {"replicas": replicas}))

    def wait(self, id: str, status: AgentStatus, *, timeout: float | str | None = None) -> Agent:
        """Answers once the agent has status; WaitTimeoutError at the timeout
        (seconds, or a duration such as "30s"; the server's default when None)."""
        q = _query({"status": status, "timeout": _duration(timeout)})
        return _agent(*self._t.call("GET", _path("agents", id, "wait") + q))

    def logs(self, id: str, *, tail: int | None = None, since: float | str | None = None,
             level: str | None = None) -> LogLines:
        """Log lines, oldest first (the last 100 unless tail says otherwise)."""
        q = _query({"tail": tail, "since": _duration(since), "level": level})
        body, _ = self._t.call("GET", _path("agents", id, "logs") + q)
        return [decode(LogLine, v) for v in body["logs"]]

    def follow_logs(self, id: str, *, tail: int | None = None, since: float | str | None = None,
                    level: str | None = None, last_event_id: int | None = None,
                    max_reconnects: int = 10) -> Iterator[LogLine]:
        """Yields log lines as they are written, over Server-Sent Events.
        A broken stream or a server shutting down is reconnected with
        Last-Event-ID, so no line is lost or repeated; after max_reconnects
        failed attempts in a row the last error is raised. The stream ends
        with the agent (NotFoundError) or the token (UnauthorizedError)."""
        def params(resuming: bool) -> dict[str, Any]:
            return {"level": level} if resuming else {"level": level, "tail": tail, "since": _duration(since)}

        for ev_id, data in _follow(self._t, _path("agents", id, "logs"), params, last_event_id, max_reconnects):
            line: LogLine = decode(LogLine, json.loads(data))
            if ev_id:
                line.id = int(ev_id)
            yield line

    def metrics(self, id: str, *, period: str | None = None, metric: str | None = None) -> Metrics:
        q = _query({"period": period, "metric": metric})
        body, _ = self._t.call("GET", _path("agents", id, "metrics") + q)
        m: Metrics = decode(Metrics, body["metrics"])
        return m


def _follow(t: _Transport, path: str, params: Callable[[bool], dict[str, Any]], after: int | str | None,
            max_reconnects: int) -> Iterator[tuple[str, str]]:
    """The (id, data) of each event of the follow stream of path, with the
    query params(resuming). A broken stream or a server shutting down is
    reconnected with Last-Event-ID (the last id seen, else after); after
    max_reconnects failed attempts in a row the last error is raised, as is
    an error the server ends the stream with."""
    last = None if after is None else str(after)
    failures = 0
    while True:
        headers = {"Last-Event-ID": last} if last is not None else None
        try:
            res = t.open("GET", path + _query({**params(last is not None), "follow": True}), headers=headers, stream=True)
            failures = 0
            with res:
                for ev_id, event, data in _sse(res):
                    if event == "error":
                        raise errors.from_envelope(0, json.loads(data))
                    if ev_id:
                        last = ev_id
                    yield ev_id, data
        except (errors.ConnectionError, errors.ServiceUnavailableError, OSError, http.client.HTTPException) as e:
            failures += 1
            if failures > max_reconnects:
                raise
            if t.on_retry:
                t.on_retry(failures, t._backoff(failures - 1), e)
            time.sleep(t._backoff(failures - 1))


def _sse(res: http.client.HTTPResponse) -> Iterator[tuple[str, str, str]]:
    """The (id, event, data) of each event of a Server-Sent Events body."""
    ev_id, event = "", ""
    data: list[str] = []
    for raw in res:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield ev_id, event, "\n".join(data)
            ev_id, event, data = "", "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            ev_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)


class Services:
    def __init__(self, t: _Transport) -> None:
        self._t = t

    def list(self, *, limit: int | None = None, offset: int | None = None, sort: str | None = None,
             fields: Fields | None = None) -> Page[Service]:
        """One page of the platform's components, each checked now."""
        body, _ = self._t.call("GET", "/services" + _query({"limit": limit, "offset": offset, "sort": sort, "fields": fields}))
        return _page(Service, "services", body)

    def all(self, *, limit: int | None = None, sort: str | None = None, fields: Fields | None = None) -> Iterator[Service]:
        return _all(lambda off: self.list(limit=limit, offset=off, sort=sort, fields=fields))

    def status(self, name: str) -> Service:
        body, _ = self._t.call("GET", _path("services", name, "status"))
        s: Service = decode(Service, body)
        return s


class Users:
    def __init__(self, t: _Transport) -> None:
        self._t = t

    def list(self, *, limit: int | None = None, offset: int | None = None, sort: str | None = None,
             fields: Fields | None = None) -> Page[User]:
        body, _ = self._t.call("GET", "/users" + _query({"limit": limit, "offset": offset, "sort": sort, "fields": fields}))
        return _page(User, "users", body)

    def all(self, *, limit: int | None = None, sort: str | None = None, fields: Fields | None = None) -> Iterator[User]:
        return _all(lambda off: self.list(limit=limit, offset=off, sort=sort, fields=fields))

    def get(self, id: str, *, fields: Fields | None = None) -> User:
        body, _ = self._t.call("GET", _path("users", id) + _query({"fields": fields}))
        u: User = decode(User, body)
        return u

    def create(self, email: str, password: str, role: Role, *, idempotency_key: str | None = None) -> User:
        """Creates a user. It carries an Idempotency-Key (a new one unless
        given), so that a retry after a lost answer never creates twice."""
        key = idempotency_key or str(uuid.uuid4())
        body, _ = self._t.call("POST", "/users", {"email": email, "password": password, "role": role}, {"Idempotency-Key": key})
        u: User = decode(User, body)
        return u

    def update(self, id: str, *, email: str | None = None, password: str | None = None, role: Role | None = None) -> User:
        patch = {k: v for k, v in (("email", email), ("password", password), ("role", role)) if v is not None}
        body, _ = self._t.call("PUT", _path("users", id), patch)
        u: User = decode(User, body)
        return u

    def delete(self, id: str) -> str:
        body, _ = self._t.call("DELETE", _path("users", id))
        return str(body["message"])


class Binaries:
    def __init__(self, t: _Transport) -> None:
        self._t = t

    def upload(self, content: Content, *, idempotency_key: str | None = None) -> Binary:
        """Stores an executable (ELF or #! script): bytes, or a binary file
        object streamed from its position; the same content again answers
        the binary already stored. It carries an Idempotency-Key (a new one
        unless given), so a retry never stores twice."""
        key = idempotency_key or str(uuid.uuid4())
        body, _ = self._t.call("POST", "/binaries", headers={"Idempotency-Key": key}, raw=content)
        b: Binary = decode(Binary, body)
        return b

    def upload_file(self, path: str | os.PathLike[str], *, idempotency_key: str | None = None) -> Binary:
        """Uploads the file at path, streamed from disk."""
        with open(path, "rb") as f:
            return self.upload(f, idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None, offset: int | None = None, sort: str | None = None,
             fields: Fields | None = None) -> Page[Binary]:
        """One page of the organization's binaries (sort: created_at or size)."""
        body, _ = self._t.call("GET", "/binaries" + _query({"limit": limit, "offset": offset, "sort": sort, "fields": fields}))
        return _page(Binary, "binaries", body)

    def all(self, *, limit: int | None = None, sort: str | None = None, fields: Fields | None = None) -> Iterator[Binary]:
        return _all(lambda off: self.list(limit=limit, offset=off, sort=sort, fields=fields))

    def get(self, id: str) -> Binary:
        body, _ = self._t.call("GET", _path("binaries", id))
        b: Binary = decode(Binary, body)
        return b

    def content(self, id: str) -> bytes:
        """The binary's bytes, read whole; download streams them to a file."""
        with self._t.open("GET", _path("binaries", id, "content"), accept="application/octet-stream") as res:
            data: bytes = res.read()
        return data

    def download(self, id: str, dest: str | os.PathLike[str] | IO[bytes]) -> int:
        """Streams the binary's bytes to a path or binary file object and
        answers how many were written."""
        with self._t.open("GET", _path("binaries", id, "content"), accept="application/octet-stream") as res:
            if isinstance(dest, (str, os.PathLike)):
                with open(dest, "wb") as f:
                    return _copy(res, f)
            return _copy(res, dest)

    def delete(self, id: str) -> str:
        """Deletes a binary; ConflictError while an agent refers to it."""
        body, _ = self._t.call("DELETE", _path("binaries", id))
        return str(body["message"])


def _copy(src: http.client.HTTPResponse, dst: IO[bytes]) -> int:
    n = 0
    while chunk := src.read(1 << 16):
        dst.write(chunk)
        n += len(chunk)
    return n


class Tokens:
    def __init__(self, t: _Transport) -> None:
        self._t = t

    def create(self, name: str, role: Role, *, expires_at: datetime | None = None,
               idempotency_key: str | None = None) -> NewApiToken:
        """Creates an API token for the caller, with a role no higher than
        theirs; its secret (token) is shown only in this answer. It carries
        an Idempotency-Key (a new one unless given): a retry answers the
        same token."""
        body: dict[str, Any] = {"name": name, "role": role}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        key = idempotency_key or str(uuid.uuid4())
        out, _ = self._t.call("POST", "/tokens", body, {"Idempotency-Key": key})
        tok: NewApiToken = decode(NewApiToken, out)
        return tok

    def list(self, *, limit: int | None = None, offset: int | None = None, sort: str | None = None,
             fields: Fields | None = None) -> Page[ApiToken]:
        """One page of tokens: an admin's are all of the organization's, others' their own."""
        body, _ = self._t.call("GET", "/tokens" + _query({"limit": limit, "offset": offset, "sort": sort, "fields": fields}))
        return _page(ApiToken, "tokens", body)

    def all(self, *, limit: int | None = None, sort: str | None = None, fields: Fields | None = None) -> Iterator[ApiToken]:
        return _all(lambda off: self.list(limit=limit, offset=off, sort=sort, fields=fields))

    def revoke(self, id: str) -> str:
        """Revokes a token from the next request on."""
        body, _ = self._t.call("DELETE", _path("tokens", id))
        return str(body["message"])


class Events:
    def __init__(self, t: _Transport) -> None:
        self._t = t

    def list(self, *, type: str | None = None, agent_id: str | None = None, limit: int | None = None,
             offset: int | None = None, sort: str | None = None) -> Page[Event]:
        """One page of the organization's events, newest first (sort="id:asc"
        for oldest first); type and agent_id filter them."""
        q = _query({"type": type, "agent_id": agent_id, "limit": limit, "offset": offset, "sort": sort})
        body, _ = self._t.call("GET", "/events" + q)
        return _page(Event, "events", body)

    def all(self, *, type: str | None = None, agent_id: str | None = None, limit: int | None = None,
            sort: str | None = None) -> Iterator[Event]:
        """Every event that matches, page after page."""
        return _all(lambda off: self.list(type=type, agent_id=agent_id, limit=limit, offset=off, sort=sort))

    def follow(self, *, type: str | None = None, agent_id: str | None = None, last_event_id: str | None = None,
               max_reconnects: int = 10) -> Iterator[Event]:
        """Yields the events written from now on (after last_event_id when
        given) over Server-Sent Events, reconnecting as follow_logs does,
        with Last-Event-ID, so none is lost or repeated, also across a
        restart of the server."""
        for _, data in _follow(self._t, "/events", lambda _: {"type": type, "agent_id": agent_id}, last_event_id,
                               max_reconnects):
            ev: Event = decode(Event, json.loads(data))
            yield ev


class Webhooks:
    def __init__(self, t: _Transport) -> None:
        self._t = t

    def create(self, url: str, events: Strings, *, secret: str | None = None,
               idempotency_key: str | None = None) -> NewWebhook:
        """Creates a webhook, which receives the events written from then on
        (events: types, or ["*"]). Its secret, generated as whsec_… unless
        given, is shown only in this answer. It carries an Idempotency-Key
        (a new one unless given): a retry answers the same webhook."""
        body: dict[str, Any] = {"url": url, "events": events}
        if secret is not None:
            body["secret"] = secret
        key = idempotency_key or str(uuid.uuid4())
        out, _ = self._t.call("POST", "/webhooks", body, {"Idempotency-Key": key})
        w: NewWebhook = decode(NewWebhook, out)
        return w

    def list(self, *, limit: int | None = None, offset: int | None = None, sort: str | None = None,
             fields: Fields | None = None) -> Page[Webhook]:
        """One page of the organization's webhooks, oldest first (sort: created_at, updated_at or url)."""
        body, _ = self._t.call("GET", "/webhooks" + _query({"limit": limit, "offset": offset, "sort": sort, "fields": fields}))
        return _page(Webhook, "webhooks", body)

    def all(self, *, limit: int | None = None, sort: str | None = None, fields: Fields | None = None) -> Iterator[Webhook]:
        return _all(lambda off: self.list(limit=limit, offset=off, sort=sort, fields=fields))

    def get(self, id: str) -> Webhook:
        body, _ = self._t.call("GET", _path("webhooks", id))
        w: Webhook = decode(Webhook, body)
        return w

    def update(self, id: str, *, url: str | None = None, events: Strings | None = None,
               active: bool | None = None) -> Webhook:
        """Changes the fields given; active=True also enables a disabled webhook again."""
        patch = {k: v for k, v in (("url", url), ("events", events), ("active", active)) if v is not None}
        body, _ = self._t.call("PUT", _path("webhooks", id), patch)
        w: Webhook = decode(Webhook, body)
        return w

    def delete(self, id: str) -> str:
        """Deletes a webhook and its deliveries."""
        body, _ = self._t.call("DELETE", _path("webhooks", id))
        return str(body["message"])

    def rotate_secret(self, id: str) -> NewWebhook:
        """A new whsec_ secret, shown only here; the old one signs beside it for 24 hours."""
        body, _ = self._t.call("POST", _path("webhooks", id, "rotate-secret"))
        w: NewWebhook = decode(NewWebhook, body)
        return w

    def test(self, id: str) -> WebhookDelivery:
        """Sends a signed webhook.test message now (one attempt); its delivery, pending."""
        body, _ = self._t.call("POST", _path("webhooks", id, "test"))
        d: WebhookDelivery = decode(WebhookDelivery, body)
        return d

    def deliveries(self, id: str, *, status: str | None = None, limit: int | None = None, offset: int | None = None,
                   sort: str | None = None) -> Page[WebhookDelivery]:
        """One page of a webhook's deliveries, newest first, each with its attempts."""
        q = _query({"status": status, "limit": limit, "offset": offset, "sort": sort})
        body, _ = self._t.call("GET", _path("webhooks", id, "deliveries") + q)
        return _page(WebhookDelivery, "deliveries", body)

    def all_deliveries(self, id: str, *, status: str | None = None, limit: int | None = None,
                       sort: str | None = None) -> Iterator[WebhookDelivery]:
        return _all(lambda off: self.deliveries(id, status=status, limit=limit, offset=off, sort=sort))

    def retry_delivery(self, id: str, delivery_id: str) -> WebhookDelivery:
        """Attempts a delivery once more, now; ConflictError while the webhook is not active."""
        body, _ = self._t.call("POST", _path("webhooks", id, "deliveries", delivery_id, "retry"))
        d: WebhookDelivery = decode(WebhookDelivery, body)
        return d


class Billing:
    """The /billing routes, the admins' alone (ForbiddenError for developers
    and viewers). Money is Decimal, exactly the answer's figures."""

    def __init__(self, t: _Transport) -> None:
        self._t = t

    def usage(self, *, period: str | None = None, breakdown: Literal["agent"] | None = None) -> Usage:
        """The organization's usage and cost in a UTC month: period current
        (the default), last_month or YYYY-MM; breakdown="agent" adds each
        agent's share. InvalidRequestError (field period) for another period
        or a month still to come."""
        body, _ = self._t.call("GET", "/billing/usage" + _query({"period": period, "breakdown": breakdown}), exact=True)
        u: Usage = decode(Usage, body)
        return u

    def invoices(self, *, limit: int | None = None, offset: int | None = None,
                 sort: str | None = None) -> Page[Invoice]:
        """One page of the organization's invoices, newest period first (sort: period, created_at or amount)."""
        body, _ = self._t.call("GET", "/billing/invoices" + _query({"limit": limit, "offset": offset, "sort": sort}),
                               exact=True)
        return _page(Invoice, "invoices", body)

    def all_invoices(self, *, limit: int | None = None, sort: str | None = None) -> Iterator[Invoice]:
        """Every invoice, page after page."""
        return _all(lambda off: self.invoices(limit=limit, offset=off, sort=sort))

    def invoice(self, id: str) -> InvoiceDetail:
        """One invoice with its lines; NotFoundError also for another organization's."""
        body, _ = self._t.call("GET", _path("billing", "invoices", id), exact=True)
        inv: InvoiceDetail = decode(InvoiceDetail, body)
        return inv


class Client:
    """A client of the API with one bearer token.

    base_url is the server's root, with or without /v1 (else NEUAIS_URL,
    else http://localhost:8000). 429 and 503 answers are retried after
    their Retry-After (up to max_retries times, and only when it is at most
    max_retry_wait seconds); idempotent requests (GET, PUT, DELETE, and
    creates, which carry an Idempotency-Key) are retried on connection
    errors too. on_retry(attempt, delay, error) is called before each retry.
    """

    def __init__(self, token: str, *, base_url: str | None = None, timeout: float = 60.0, max_retries: int = 3,
                 max_retry_wait: float = 120.0, on_retry: RetryHook | None = None) -> None:
        self._t = _Transport(token, base_url, timeout, max_retries, max_retry_wait, on_retry)
        self.agents = Agents(self._t)
        self.services = Services(self._t)
        self.users = Users(self._t)
        self.binaries = Binaries(self._t)
        self.tokens = Tokens(self._t)
        self.events = Events(self._t)
        self.webhooks = Webhooks(self._t)
        self.billing = Billing(self._t)

    @property
    def base_url(self) -> str:
        """The API root requests go to, ending in /v1."""
        return self._t.root

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit figures of the last answer, None before one."""
        return self._t.rate_limit


def login(email: str, password: str, *, base_url: str | None = None) -> Token:
    """Exchanges an e-mail and password for a token."""
    body, _ = _Transport("", base_url, 60.0, 3, 120.0, None).call("POST", "/auth/token", {"email": email, "password": password})
    tok: Token = decode(Token, body)
    return tok
