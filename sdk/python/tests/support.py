"""What the Go test (test/sdk) hands the suite: servers, a token, the test
agent, and the control endpoint that stops and starts the server."""

from __future__ import annotations

import os
import unittest
import urllib.request
import uuid

from neuais import Client


def env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        raise unittest.SkipTest(f"{name} is not set: run through go test ./test/sdk")
    return v


def control(action: str) -> None:
    """Asks the Go test to stop, start or restart the server; returns once done."""
    req = urllib.request.Request(env("NEUAIS_TEST_CONTROL") + "/" + action, method="POST")
    with urllib.request.urlopen(req, timeout=60) as res:
        assert res.status == 204, res.status


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client(**kw: object) -> Client:
    return Client(env("NEUAIS_TOKEN"), **kw)  # type: ignore[arg-type]


def running_agent(c: Client, name: str, tick_ms: int = 20) -> str:
    """Creates an agent of the test binary and waits until it runs."""
    created = c.agents.create(unique(name), "go", env("NEUAIS_TEST_AGENT_URL"),
                              config={"replicas": 1}, environment={"TICK_MS": str(tick_ms)})
    c.agents.wait(created.id, "running", timeout="30s")
    return created.id
