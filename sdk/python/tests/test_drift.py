"""The models and method parameters against the server's /v1/openapi.json:
the same field names, Optional exactly where some schema the model stands
for leaves the field out, the same enum values."""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
import unittest
import urllib.request
from typing import Any, Callable, Literal, Union

from neuais import models
from neuais.client import Agents, Billing, Binaries, Events, Services, Tokens, Users, Webhooks

from .support import env

# (model, method, path, where in the 2xx body: property names, [] for items)
RESPONSES: list[tuple[type, str, str, list[str]]] = [
    (models.AgentSummary, "get", "/agents", ["agents", "[]"]),
    (models.AgentConfig, "get", "/agents/{id}", ["config"]),
    (models.CreatedAgent, "post", "/agents", []),
    (models.Agent, "get", "/agents/{id}", []),
    (models.Agent, "put", "/agents/{id}", []),
    (models.Agent, "post", "/agents/{id}/start", []),
    (models.Agent, "post", "/agents/{id}/stop", []),
    (models.Agent, "post", "/agents/{id}/restart", []),
    (models.Agent, "post", "/agents/{id}/scale", []),
    (models.Agent, "get", "/agents/{id}/wait", []),
    (models.LogLine, "get", "/agents/{id}/logs", ["logs", "[]"]),
    (models.Metrics, "get", "/agents/{id}/metrics", ["metrics"]),
    (models.Point, "get", "/agents/{id}/metrics", ["metrics", "cpu", "[]"]),
    (models.Service, "get", "/services", ["services", "[]"]),
    (models.Service, "get", "/services/{name}/status", []),
    (models.User, "get", "/users", ["users", "[]"]),
    (models.User, "get", "/users/{id}", []),
    (models.User, "post", "/users", []),
    (models.User, "put", "/users/{id}", []),
    (models.Token, "post", "/auth/token", []),
    (models.Binary, "get", "/binaries", ["binaries", "[]"]),
    (models.Binary, "get", "/binaries/{id}", []),
    (models.Binary, "post", "/binaries", []),
    (models.ApiToken, "get", "/tokens", ["tokens", "[]"]),
    (models.NewApiToken, "post", "/tokens", []),
    (models.Event, "get", "/events", ["events", "[]"]),
    (models.EventData, "get", "/events", ["events", "[]", "data"]),
    (models.Webhook, "get", "/webhooks", ["webhooks", "[]"]),
    (models.Webhook, "get", "/webhooks/{id}", []),
    (models.Webhook, "put", "/webhooks/{id}", []),
    (models.NewWebhook, "post", "/webhooks", []),
    (models.NewWebhook, "post", "/webhooks/{id}/rotate-secret", []),
    (models.WebhookDelivery, "post", "/webhooks/{id}/test", []),
    (models.WebhookDelivery, "post", "/webhooks/{id}/deliveries/{delivery_id}/retry", []),
    (models.WebhookDelivery, "get", "/webhooks/{id}/deliveries", ["deliveries", "[]"]),
    (models.WebhookAttempt, "get", "/webhooks/{id}/deliveries", ["deliveries", "[]", "attempts", "[]"]),
    (models.Usage, "get", "/billing/usage", []),
    (models.UsageFigures, "get", "/billing/usage", ["usage"]),
    (models.UsageCost, "get", "/billing/usage", ["cost"]),
    (models.AgentUsage, "get", "/billing/usage", ["agents", "[]"]),
    (models.Invoice, "get", "/billing/invoices", ["invoices", "[]"]),
    (models.InvoiceDetail, "get", "/billing/invoices/{id}", []),
    (models.InvoiceLine, "get", "/billing/invoices/{id}", ["lines", "[]"]),
]

# Fields of a model that one route's answer leaves out (so Optional).
LEFT_OUT: dict[tuple[type, str, str], set[str]] = {
    (models.Service, "get", "/services"): {"detail", "instance"},  # only status() has them
}

# Paged lists: (path, the items' key)
LISTS = [("/agents", "agents"), ("/services", "services"), ("/users", "users"), ("/binaries", "binaries"),
         ("/tokens", "tokens"), ("/events", "events"), ("/webhooks", "webhooks"),
         ("/webhooks/{id}/deliveries", "deliveries"), ("/billing/invoices", "invoices")]

# (method, path, SDK method, what it sends that the route does not name)
QUERIES: list[tuple[str, str, Callable[..., Any], set[str]]] = [
    ("get", "/agents", Agents.list, set()),
    ("get", "/agents/{id}/wait", Agents.wait, set()),
    ("get", "/agents/{id}/logs", Agents.logs, set()),
    ("get", "/agents/{id}/metrics", Agents.metrics, set()),
    ("get", "/services", Services.list, set()),
    ("get", "/users", Users.list, set()),
    ("get", "/users/{id}", Users.get, set()),
    ("get", "/binaries", Binaries.list, set()),
    ("get", "/tokens", Tokens.list, set()),
    ("get", "/events", Events.list, set()),
    ("get", "/webhooks", Webhooks.list, set()),
    ("get", "/webhooks/{id}/deliveries", Webhooks.deliveries, set()),
    ("get", "/billing/usage", Billing.usage, set()),
    ("get", "/billing/invoices", Billing.invoices, set()),
]

BODIES: list[tuple[str, str, Callable[..., Any] | None, set[str]]] = [
    ("post", "/agents", Agents.create, {"idempotency_key"}),
    ("put", "/agents/{id}", Agents.update, {"if_match"}),
    ("post", "/agents/{id}/scale", Agents.scale, set()),
    ("post", "/users", Users.create, {"idempotency_key"}),
    ("put", "/users/{id}", Users.update, set()),
    ("post", "/tokens", Tokens.create, {"idempotency_key"}),
    ("post", "/webhooks", Webhooks.create, {"idempotency_key"}),
    ("put", "/webhooks/{id}", Webhooks.update, set()),
    ("post", "/auth/token", None, set()),  # login(email, password)
]


def _types(s: dict[str, Any]) -> set[str]:
    t = s.get("type", "object")
    return set(t) if isinstance(t, list) else {t}


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp)


def _literal(tp: Any) -> tuple[Any, ...] | None:
    if _optional(tp):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else None


class TestDrift(unittest.TestCase):
    doc: dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        with urllib.request.urlopen(env("NEUAIS_URL") + "/v1/openapi.json", timeout=30) as res:
            cls.doc = json.load(res)

    def op(self, method: str, path: str) -> dict[str, Any]:
        op: dict[str, Any] = self.doc["paths"][path][method]
        return op

    def response(self, method: str, path: str, where: list[str]) -> dict[str, Any]:
        responses = self.op(method, path)["responses"]
        ok = next(v for k, v in responses.items() if k.startswith("2"))
        s: dict[str, Any] = ok["content"]["application/json"]["schema"]
        for step in where:
            s = s["items"] if step == "[]" else s["properties"][step]
        return s

    def test_models(self) -> None:
        required: dict[type, dict[str, bool]] = {}
        for model, method, path, where in RESPONSES:
            with self.subTest(model=model.__name__, route=f"{method} {path}"):
                s = self.response(method, path, where)
                left_out = LEFT_OUT.get((model, method, path), set())
                own = [f for f in dataclasses.fields(model) if not f.metadata]
                self.assertEqual({f.name for f in own} - left_out, set(s["properties"]))
                hints = typing.get_type_hints(model, vars(models))
                req = required.setdefault(model, {})
                for f in own:
                    if f.name in left_out:
                        req[f.name] = False
                        continue
                    prop = s["properties"][f.name]
                    if "enum" in prop:
                        self.assertEqual(set(_literal(hints[f.name]) or ()), set(prop["enum"]) - {None}, f.name)
                    if "date-time" == prop.get("format"):
                        self.assertIn("datetime", str(hints[f.name]), f.name)
                    if prop.get("multipleOf") == 0.01:  # money: exact
                        self.assertIn("Decimal", str(hints[f.name]), f.name)
                    elif "number" in _types(prop):
                        self.assertIn("float", str(hints[f.name]), f.name)
                    always = f.name in s.get("required", []) and "null" not in _types(prop)
                    req[f.name] = req.get(f.name, True) and always
        for model, req in required.items():
            hints = typing.get_type_hints(model, vars(models))
            for name, always in req.items():
                with self.subTest(model=model.__name__, field=name):
                    self.assertEqual(_optional(hints[name]), not always)

    def test_pages(self) -> None:
        page_fields = {f.name for f in dataclasses.fields(models.Page)} - {"items"}
        for path, key in LISTS:
            with self.subTest(path=path):
                s = self.response("get", path, [])
                self.assertEqual(set(s["properties"]), page_fields | {key})
                self.assertIn("limit", {p["name"] for p in self.op("get", path)["parameters"]})

    def test_query_parameters(self) -> None:
        for method, path, fn, extra in QUERIES:
            with self.subTest(route=f"{method} {path}"):
                params = {p["name"] for p in self.op(method, path).get("parameters", []) if p["in"] == "query"}
                params -= {"follow"}  # follow_logs' and follow's own
                sent = set(inspect.signature(fn).parameters) - {"self", "id", "name"} - extra
                self.assertEqual(sent, params)

    def test_request_bodies(self) -> None:
        for method, path, fn, extra in BODIES:
            with self.subTest(route=f"{method} {path}"):
                body = self.op(method, path)["requestBody"]["content"]["application/json"]["schema"]
                if fn is None:
                    self.assertEqual(set(body["properties"]), {"email", "password"})
                    continue
                sent = set(inspect.signature(fn).parameters) - {"self", "id"} - extra
                self.assertEqual(sent, set(body["properties"]))
                required = set(body.get("required", []))
                for name, p in inspect.signature(fn).parameters.items():
                    if name in body["properties"]:
                        self.assertEqual(p.default is inspect.Parameter.empty, name in required, name)

    def test_error_envelope(self) -> None:
        err = self.doc["components"]["schemas"]["Error"]["properties"]["error"]
        self.assertEqual(set(err["properties"]), {"code", "message", "details"})
