"""Python client of the neuais REST API (/v1), standard library only.

    from neuais import Client
    client = Client("your-token")
    agents = client.agents.list()
"""

from .client import DEFAULT_URL, Agents, Binaries, Client, Services, Tokens, Users, login
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
    ApiToken,
    Binary,
    CreatedAgent,
    LogLine,
    Metrics,
    NewApiToken,
    Page,
    Point,
    RateLimit,
    Role,
    Service,
    ServiceStatus,
    Token,
    User,
)

__all__ = [
    "DEFAULT_URL", "Agents", "Binaries", "Client", "Services", "Tokens", "Users", "login",
    "ConflictError", "ConnectionError", "ForbiddenError", "InternalError", "InvalidRequestError", "NeuaisError",
    "NotFoundError", "PreconditionFailedError", "RateLimitError", "ServiceUnavailableError", "UnauthorizedError",
    "WaitTimeoutError",
    "Agent", "AgentConfig", "AgentStatus", "AgentSummary", "ApiToken", "Binary", "CreatedAgent", "LogLine", "Metrics",
    "NewApiToken", "Page", "Point", "RateLimit", "Role", "Service", "ServiceStatus", "Token", "User",
]
