"""Attachments in request bodies: base64 and `data:` URLs decoded to bytes, other URLs checked.

The server never fetches a URL it is given: an `http(s)` image URL goes to the model as it is
(the model's provider fetches it, as OpenAI does), so no request body can make this host
connect anywhere (no SSRF). Any other scheme is refused; bytes come inline, as base64 or a
`data:` URL, and the runner keeps them as artifacts (`uploads/...`).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes

from agenthost.core.errors import InvalidArgument


def decode_base64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(field, f"is not valid base64 ({exc})") from exc


def data_url(url: str, field: str) -> tuple[str, bytes] | None:
    """(mime type, bytes) of a `data:<mime>;base64,<data>` URL; None for any other URL."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        raise InvalidArgument(field, "a data: URL must be data:<mime type>;base64,<data>")
    mime = head[: -len(";base64")].split(";", 1)[0] or "application/octet-stream"
    return mime, decode_base64(payload, field)


def check_remote_url(url: str, field: str) -> str:
    """An http(s) URL handed to the model unfetched; any other scheme is refused."""
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidArgument(
            field,
            f"{url[:40]!r}: give the bytes as a data: URL (data:image/png;base64,...) or "
            f"an http(s) URL the model's provider can fetch",
        )
    return url


def guess_mime(name: str | None, default: str = "application/octet-stream") -> str:
    return (mimetypes.guess_type(name)[0] if name else None) or default
