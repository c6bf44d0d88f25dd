"""Verifying webhook deliveries per Standard Webhooks, standard library only."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Mapping, Protocol

# How far a delivery's webhook-timestamp may be from now, either way, in seconds.
TOLERANCE = 5 * 60


class WebhookVerificationError(ValueError):
    """A delivery whose signature or timestamp does not verify."""


class Headers(Protocol):
    """A dict, or http.server's and email's messages (their get ignores case)."""

    def get(self, name: str, /) -> str | None: ...


def _header(headers: Headers | Mapping[str, str], name: str) -> str:
    v = headers.get(name)
    if v is None and isinstance(headers, Mapping):
        v = next((val for k, val in headers.items() if k.lower() == name), None)
    return v or ""


def verify_webhook(secret: str, headers: Headers | Mapping[str, str], body: bytes | str) -> None:
    """Checks a delivery: one of the space-separated v1 signatures of
    webhook-signature (two during a rotation) is the HMAC-SHA256 of
    "id.timestamp.body" keyed by secret (whsec_ and base64 of the key, or a
    secret chosen without the prefix: its UTF-8 bytes), and
    webhook-timestamp is within 5 minutes of now. body is the request's
    body as received. Raises WebhookVerificationError."""
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[6:], validate=True)
        except binascii.Error:
            raise WebhookVerificationError("webhook secret: whsec_ is not followed by base64") from None
    else:
        key = secret.encode()
    msg_id, ts = _header(headers, "webhook-id"), _header(headers, "webhook-timestamp")
    if not ts.isdigit() or abs(time.time() - int(ts)) > TOLERANCE:
        raise WebhookVerificationError("webhook-timestamp missing or not within 5 minutes")
    payload = body.encode() if isinstance(body, str) else body
    want = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + payload, hashlib.sha256).digest()).decode()
    for sig in _header(headers, "webhook-signature").split():
        version, _, mac = sig.partition(",")
        # compare_digest takes the same time wherever the strings differ.
        if version == "v1" and hmac.compare_digest(mac, want):
            return
    raise WebhookVerificationError("no webhook-signature matches")
