"""HMAC-SHA256 signatures for webhooks, both ways (the webhook input checks them, the webhook
output sends them).

The sender puts two headers on the POST:

    X-Agenthost-Timestamp: 1767225600                 (unix seconds, when it was signed)
    X-Agenthost-Signature-256: sha256=<hex>           HMAC-SHA256(secret, "<timestamp>.<body>")

The signed string is the timestamp, a dot, and the raw request body bytes, in the style of
GitHub's `X-Hub-Signature-256` (which signs the body alone) with a timestamp added against
replays: a request whose timestamp is more than `tolerance` seconds (default 300) away from
the receiver's clock is refused, and within that window a repeated message id is a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Agenthost-Signature-256"
TIMESTAMP_HEADER = "X-Agenthost-Timestamp"
DEFAULT_TOLERANCE = 300.0


def signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The header value: 'sha256=' and the hex HMAC of '<timestamp>.<body>'."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign(secret: str | bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers for a request with this body."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str | None:
    """None when the request is signed with `secret` and fresh, else why not (for a 401)."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if not timestamp or not given:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    try:
        sent = float(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} is not unix seconds"
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return f"{TIMESTAMP_HEADER} is more than {tolerance:g}s away from now (a replay?)"
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        return "the signature does not match"
    return None


sign_webhook = sign  # the public names (exported from `agenthost`)
verify_webhook = verify
