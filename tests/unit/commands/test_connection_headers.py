"""Header names and values a connection may hold, and what outbound does with values that
HTTP cannot carry (issue 23 item 6: a non-ASCII header value on /test answered 500)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from command_service.execution.executor import scrub, sendable, truncate
from command_service.execution.outbound import OutboundError, encode_headers
from proto.commands import ConnectionIn, ConnectionPatch, ImportConnection


def _locs(model: Any, data: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {tuple(e["loc"]): e["msg"] for e in info.value.errors()}


BASE = {"name": "n", "base_url": "http://api.example"}


@pytest.mark.parametrize(
    ("data", "loc", "says"),
    [
        ({"headers": {"X-A": "snow \u2603"}}, ("headers", "X-A"), "U+2603"),
        ({"headers": {"X-A": "a\x01b"}}, ("headers", "X-A"), "control characters"),
        ({"headers": {"X-A": "a\x7fb"}}, ("headers", "X-A"), "control characters"),
        ({"headers": {"X-A": "a\nb"}}, ("headers", "X-A"), "line breaks"),
        ({"headers": {"X-A\n": "v"}}, ("headers", "X-A\n"), "header name"),
        ({"headers": {"X A": "v"}}, ("headers", "X A"), "header name"),
        ({"headers": {"X-\u00e9": "v"}}, ("headers", "X-\u00e9"), "header name"),
        ({"headers": {"X-A": "x" * 4097}}, ("headers", "X-A"), "4096"),
        ({"secret_headers": {"X-K": "k\u2603"}}, ("secret_headers", "X-K"), "Latin-1"),
        ({"auth_type": "bearer", "secret": "t\u2603"}, ("secret",), "Latin-1"),
        (
            {"auth_type": "header", "auth_name": "X-T", "secret": "t\x00"},
            ("secret",),
            "Latin-1",
        ),
        ({"auth_type": "header", "auth_name": "X-T\n", "secret": "t"}, ("auth_name",), "name"),
        ({"base_url": "http://api.example:99999"}, ("base_url",), "invalid port"),
    ],
)
def test_connection_headers_must_be_sendable(
    data: dict[str, Any], loc: tuple[Any, ...], says: str
) -> None:
    locs = _locs(ConnectionIn, {**BASE, **data})
    assert loc in locs, locs
    assert says in locs[loc]
    # A secret's message does not quote it.
    if loc[0].startswith("secret"):
        assert "\u2603" not in locs[loc]


def test_sendable_headers_and_secrets_pass() -> None:
    conn = ConnectionIn.model_validate(
        {
            **BASE,
            "headers": {"X-City": "Z\u00fcrich", "X-Tab": "a\tb", "Accept": "*/*"},
            "secret_headers": {"X-Key": "k-123"},
            "auth_type": "basic",
            "auth_username": "ann",
            "secret": "p\u00e4ss \u2603",  # Basic credentials are base64-encoded: any text
        }
    )
    assert conn.headers["X-City"] == "Z\u00fcrich"
    ConnectionIn.model_validate(
        {**BASE, "auth_type": "query", "auth_name": "key", "secret": "\u2603"}
    )


def test_patches_and_imports_are_checked_too() -> None:
    assert ("headers", "X-A") in _locs(ConnectionPatch, {"headers": {"X-A": "\u2603"}})
    locs = _locs(ConnectionPatch, {"secret_headers": {"X-A": None, "X-B": "a\nb"}})
    assert list(locs) == [("secret_headers", "X-B")]
    assert ("secret",) in _locs(ConnectionPatch, {"auth_type": "bearer", "secret": "\u2603"})
    locs = _locs(ImportConnection, {**BASE, "secret_headers": ["X-Ok", "X Bad"]})
    assert list(locs) == [("secret_headers", 1)]


def test_outbound_sends_latin1_and_refuses_what_http_cannot_carry() -> None:
    assert encode_headers({"X-City": "Z\u00fcrich"}) == {"X-City": b"Z\xfcrich"}
    with pytest.raises(OutboundError, match="X-Who"):
        encode_headers({"X-Who": "snow \u2603"})
    with pytest.raises(OutboundError, match="control characters"):
        encode_headers({"X-Who": "a\x01"})


def test_replies_and_errors_are_valid_unicode() -> None:
    assert sendable("Zo\udceb") == "Zo?"
    assert sendable("fine \u2603") == "fine \u2603"
    assert truncate("a\ud800b") == "a?b"
    assert scrub("no attribute 'x\ud800'", []) == "no attribute 'x?'"
