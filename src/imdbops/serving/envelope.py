"""One response envelope for every API answer, errors included (as the reference project did).

``{"message", "method", "status-code", "timestamp", "url", "data"}``. Encoding goes through
msgspec: on the predict path it is several times faster than the stdlib ``json``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from imdbops import clock

_encoder = msgspec.json.Encoder()


def _default_message(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "OK" if status < 400 else "Error"


def envelope_body(
    request: Request, status: int, data: Any = None, message: str | None = None
) -> dict[str, Any]:
    return {
        "message": message or _default_message(status),
        "method": request.method,
        "status-code": status,
        "timestamp": clock.now().isoformat(),
        "url": str(request.url),
        "data": data if data is not None else {},
    }


class EnvelopeResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def envelope(
    request: Request,
    data: Any = None,
    *,
    status: int = 200,
    message: str | None = None,
    headers: dict[str, str] | None = None,
) -> EnvelopeResponse:
    """The enveloped JSON response for ``request``."""
    return EnvelopeResponse(
        envelope_body(request, status, data, message), status_code=status, headers=headers
    )


class APIError(Exception):
    """An expected failure answered with an enveloped 4xx/5xx and a message a person can act on."""

    def __init__(
        self, status: int, message: str, data: Any = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data
        self.headers = headers
