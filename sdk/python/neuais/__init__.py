"""Python client of the neuais REST API (/v1), standard library only.

    from neuais import Client
    client = Client("your-token")
    agents = client.agents.list()
"""

from .client import DEFAULT_URL, Agents, Billing, Binaries, Client, Events, Services, Tokens, Users, Webhooks, login
from .errors import (
    ConflictError,
    ConnectionError,
    ForbiddenError,
    InternalError,
    InvalidRequestError,
    NeuaisError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    ServiceUnavailableError,
    UnauthorizedError,
    WaitTimeoutError,
)
from .models import (
    Agent,
    AgentConfig,
    AgentStatus,
    AgentSummary,
    AgentUsage,
    ApiToken,
    Binary,
    CreatedAgent,
    Event,
    EventData,
    Invoice,
    InvoiceDetail,
    InvoiceLine,
    InvoiceStatus,
    LogLine,
    Metrics,
    Money,
    NewApiToken,
    NewWebhook,
    Page,
    Point,
    RateLimit,
    Role,
    Service,
    ServiceStatus,
    Token,
    Usage,
    UsageCost,
    UsageFigures,
    User,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from .signature import WebhookVerificationError, verify_webhook

__all__ = [
    "DEFAULT_URL", "Agents", "Billing", "Binaries", "Client", "Events", "Services", "Tokens", "Users", "Webhooks", "login",
    "ConflictError", "ConnectionError", "ForbiddenError", "InternalError", "InvalidRequestError", "NeuaisError",
    "NotFoundError", "PreconditionFailedError", "RateLimitError", "ServiceUnavailableError", "UnauthorizedError",
    "WaitTimeoutError", "WebhookVerificationError", "verify_webhook",
    "Agent", "AgentConfig", "AgentStatus", "AgentSummary", "ApiToken", "Binary", "CreatedAgent", "Event", "EventData",
    "LogLine", "Metrics", "NewApiToken", "NewWebhook", "Page", "Point", "RateLimit", "Role", "Service", "ServiceStatus",
    "Token", "User", "Webhook", "WebhookAttempt", "WebhookDelivery",
    "AgentUsage", "Invoice", "InvoiceDetail", "InvoiceLine", "InvoiceStatus", "Money", "Usage", "UsageCost", "UsageFigures",
]
