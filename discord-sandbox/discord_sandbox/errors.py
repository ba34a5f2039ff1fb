"""Discord-style JSON errors: `{"code", "message", "errors"?}` with the right HTTP status."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .jsonresp import json_response

# Discord's JSON error codes that the sandbox answers with.
GENERAL_ERROR = 0
UNKNOWN_APPLICATION = 10002
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNKNOWN_EMOJI = 10014
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_APPLICATION_COMMAND = 10063
UNAUTHORIZED = 40001
MISSING_ACCESS = 50001
CANNOT_EXECUTE_ON_DM = 50003
CANNOT_MESSAGE_USER = 50007
MISSING_PERMISSIONS = 50013
MAX_REACTIONS = 30010
INVALID_FORM_BODY = 50035
INTERACTION_ALREADY_ACKNOWLEDGED = 40060
CANNOT_SEND_EMPTY_MESSAGE = 50006
APPLICATION_COMMAND_ALREADY_EXISTS = 30032  # used for duplicate names in bulk overwrites


class DiscordError(Exception):
    """Raised by handlers; rendered as Discord's JSON error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status)


def unauthorized() -> DiscordError:
    return DiscordError(401, GENERAL_ERROR, "401: Unauthorized")


def not_found(code: int, what: str) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}")


def missing_access() -> DiscordError:
    return DiscordError(403, MISSING_ACCESS, "Missing Access")


def missing_permissions() -> DiscordError:
    return DiscordError(403, MISSING_PERMISSIONS, "Missing Permissions")


def field_error(path: list[str | int], code: str, message: str) -> dict[str, Any]:
    """Build Discord's nested error tree: {"a": {"0": {"b": {"_errors": [...]}}}}."""
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path):
        tree = {str(part): tree}
    return tree


def merge_errors(target: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, dict):
            if key == "_errors":
                continue
            merge_errors(target[key], value)
        elif key == "_errors" and key in target:
            target[key].extend(value)
        else:
            target[key] = value
    return target


def invalid_form(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


def bad_request(message: str, code: int = GENERAL_ERROR) -> DiscordError:
    return DiscordError(400, code, message)
