"""The error every OpenAI-compatible route answers with, in OpenAI's shape.

Its own module, so that what a sidecar without models loads at start-up (the model service,
the routes' table) does not import the request models and the chat machinery with it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class OpenAIError(Exception):
    """An error for the client, in OpenAI's shape and with the status OpenAI would use."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)
