"""The API's request and response models, as the server's OpenAPI document
describes them (tests/test_drift.py checks them against /v1/openapi.json).
A field that fields= may leave out, or that the server may omit, is
Optional."""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Iterator, Literal, TypeVar, Union

AgentStatus = Literal["deploying", "running", "stopped", "error", "stopping", "starting", "restarting"]
Role = Literal["admin", "developer", "viewer"]
ServiceStatus = Literal["healthy", "degraded", "unhealthy"]
InvoiceStatus = Literal["open", "paid", "void"]
# Money is exact: the answer's two-decimal figures are parsed as Decimal
# ("65.00"), never as float; quantities (hours, GB) are floats.
Money = Decimal


@dataclass
class AgentConfig:
    cpu: str
    memory: str
    replicas: int


@dataclass
class AgentSummary:
    """An agent as lists show it (no environment or endpoints)."""

    id: str | None = None
    name: str | None = None
    status: AgentStatus | None = None
    replicas: int | None = None
    region: str | None = None
    runtime: str | None = None
    binary_url: str | None = None
    config: AgentConfig | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Agent:
    """One agent; environment is None for viewers. etag comes from the ETag
    header, for if_match."""

    id: str
    name: str
    status: AgentStatus
    replicas: int
    region: str
    runtime: str
    binary_url: str
    binary_sha256: str
    config: AgentConfig
    environment: dict[str, str] | None
    endpoints: list[str]
    created_at: datetime
    updated_at: datetime
    etag: str | None = field(default=None, metadata={"header": "ETag"})


@dataclass
class CreatedAgent:
    id: str
    name: str
    status: AgentStatus
    created_at: datetime


@dataclass
class User:
    """A user; every field may be left out by fields=."""

    id: str | None = None
    email: str | None = None
    role: Role | None = None
    organization_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Service:
    """A platform component and its health."""

    name: str | None = None
    status: ServiceStatus | None = None
    detail: str | None = None  # what is wrong, or the figures; from status() only
    version: str | None = None
    uptime: str | None = None
    instance: str | None = None  # the API instance that ran the check; from status() only


@dataclass
class LogLine:
    """One log line; replica 0 is the platform's own lines about the agent.
    id is the stream's event id (follow_logs only)."""

    timestamp: datetime
    level: str
    message: str
    replica: int
    id: int | None = field(default=None, metadata={"sse": "id"})


@dataclass
class Point:
    timestamp: datetime
    value: float


@dataclass
class Metrics:
    """An agent's series; one not asked for is None."""

    cpu: list[Point] | None = None
    memory: list[Point] | None = None
    network: list[Point] | None = None


@dataclass
class Token:
    access_token: str
    token_type: str
    expires_in: int


@dataclass
class Binary:
    """An uploaded agent binary; url (neuais://binaries/{id}) is what an
    agent's binary_url names it by. Fields may be left out by fields=."""

    id: str | None = None
    sha256: str | None = None
    size: int | None = None
    url: str | None = None
    created_at: datetime | None = None


@dataclass
class ApiToken:
    """An API token without its secret; fields may be left out by fields=."""

    id: str | None = None
    name: str | None = None
    role: Role | None = None
    user_id: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass
class NewApiToken:
    """A token just created, with its secret (nat_…), shown this once."""

    id: str
    name: str
    role: Role
    user_id: str
    token: str
    created_at: datetime
    expires_at: datetime | None = None


@dataclass
class RateLimit:
    """The X-RateLimit-* figures of the last answer."""

    limit: int
    remaining: int
    reset: datetime


@dataclass
class EventData:
    """The agent an event is about; status is the agent's after it,
    changed the fields an agent.updated changed."""

    agent_id: str
    name: str
    status: str | None = None
    reason: str | None = None
    changed: list[str] | None = None


@dataclass
class Event:
    """An event of the durable log: the webhook payload with its id, which
    only grows (the deliveries' webhook-id, the follow stream's event id)."""

    id: str
    event: str
    timestamp: datetime
    data: EventData


@dataclass
class Webhook:
    """A webhook without its secret; status is active, inactive (paused) or
    disabled (by the platform: disabled_reason). Fields may be left out by
    fields=."""

    id: str | None = None
    url: str | None = None
    events: list[str] | None = None
    active: bool | None = None
    status: str | None = None
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class NewWebhook:
    """A webhook just created or rotated, with its secret, shown this once."""

    id: str
    url: str
    events: list[str]
    active: bool
    status: str
    secret: str
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = None


@dataclass
class WebhookAttempt:
    """One attempt of a delivery; status_code is None without an answer."""

    attempted_at: datetime
    duration_ms: int
    response: str
    status_code: int | None = None
    error: str | None = None
    next_retry_at: datetime | None = None


@dataclass
class WebhookDelivery:
    """One event (or webhook.test message) to one webhook; message_id is the
    webhook-id of every attempt; status is pending, succeeded or failed."""

    id: str
    webhook_id: str
    message_id: str
    event: str
    status: str
    attempt_count: int
    created_at: datetime
    updated_at: datetime
    attempts: list[WebhookAttempt]
    next_attempt_at: datetime | None = None


T = TypeVar("T")


@dataclass
class UsageFigures:
    """A month's measured quantities, to six decimals."""

    compute_hours: float
    storage_gb: float
    network_gb: float


@dataclass
class UsageCost:
    """UsageFigures priced: each line rounded to cents, total their sum."""

    compute: Money
    storage: Money
    network: Money
    total: Money


@dataclass
class AgentUsage:
    """One agent's share of a month's compute and network."""

    agent_id: str
    compute_hours: float
    network_gb: float
    compute_cost: Money
    network_cost: Money


@dataclass
class Usage:
    """The organization's usage in a UTC month (period, YYYY-MM) and its
    cost; agents only with breakdown="agent"."""

    period: str
    usage: UsageFigures
    cost: UsageCost
    agents: list[AgentUsage] | None = None


@dataclass
class Invoice:
    """A closed month's bill; due_date (YYYY-MM-DD) is the first of the next month."""

    id: str
    period: str
    amount: Money
    status: InvoiceStatus
    due_date: str


@dataclass
class InvoiceLine:
    """One priced line: item compute, storage or network; unit hour or GB."""

    item: str
    quantity: float
    unit: str
    amount: Money


@dataclass
class InvoiceDetail:
    """An invoice with its lines."""

    id: str
    period: str
    amount: Money
    status: InvoiceStatus
    due_date: str
    lines: list[InvoiceLine]
    created_at: datetime


@dataclass
class Page(Generic[T]):
    """One page of a list; iterating it iterates its items."""

    items: list[T]
    total: int
    limit: int
    offset: int
    has_more: bool

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> T:
        return self.items[i]


def decode(tp: Any, value: Any) -> Any:
    """value (decoded JSON) as type tp: dataclasses by their fields,
    datetimes from RFC 3339, lists, dicts, Optional and Literal."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return decode(inner[0], value)
    if value is None:
        raise ValueError(f"null for {tp}")
    if origin is Literal:
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        return [decode(item, v) for v in value]
    if origin is dict:
        return dict(value)
    if tp is datetime:
        return datetime.fromisoformat(value)
    if tp is float:
        return float(value)
    if tp is Decimal:
        return Decimal(value)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, vars(sys.modules[__name__]))
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.metadata:
                continue
            if f.name in value:
                kwargs[f.name] = decode(hints[f.name], value[f.name])
        return tp(**kwargs)
    return value
