"""log-service rules without servers: parsing and redaction, cursors, filters, origins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from log_service.service import BadEvent, decode_cursor, encode_cursor, parse_event, parse_record
from log_service.stream.http import origin_allowed
from log_service.stream.hub import Filters, render, uuid7_time
from proto.events import new_event_id
from proto.logs import LogRecorded, StreamSubscribe
from services.errors import RpcError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _event(**kw: object) -> tuple[str, bytes, LogRecorded]:
    ev = LogRecorded(owner_id=uuid.uuid4(), bot_id=uuid.uuid4(), **kw)  # type: ignore[arg-type]
    return f"evt.log.{ev.owner_id}.{ev.bot_id}.{ev.level}", ev.model_dump_json().encode(), ev


def test_an_event_becomes_a_row_with_subject_parts_and_its_whole_payload() -> None:
    subject, data, ev = _event(message="hello", level="warning", source="discord.py")
    row = parse_event(subject, data, 42, NOW)
    assert (row.id, row.workspace_id, row.bot_id) == (ev.id, ev.workspace_id, ev.bot_id)
    assert (row.domain, row.kind, row.level, row.message, row.seq) == (
        "log",
        "warning",
        "warning",
        "hello",
        42,
    )
    assert orjson.loads(row.payload)["source"] == "discord.py"


def test_secrets_are_redacted_in_message_and_payload_and_nul_is_dropped() -> None:
    token = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
    subject, data, _ = _event(
        message=f"login with {token}\x00", details={"api_key": "sk-12345678", "n": 1}
    )
    row = parse_event(subject, data, 1, NOW)
    assert token not in row.message
    assert "\x00" not in row.message
    payload = orjson.loads(row.payload)
    assert token not in row.payload
    assert payload["details"] == {"api_key": "[redacted]", "n": 1}


def test_events_that_cannot_be_stored_are_refused() -> None:
    subject, data, ev = _event()
    with pytest.raises(BadEvent):
        parse_event(subject, b"not json", 1, NOW)
    with pytest.raises(BadEvent):
        parse_event("evt.log.x", data, 1, NOW)
    other = f"evt.log.{uuid.uuid4()}.{ev.bot_id}.info"
    with pytest.raises(BadEvent, match="workspace"):
        parse_event(other, data, 1, NOW)


def test_an_event_published_before_teams_names_its_workspace_owner_id() -> None:
    # Messages already in JetStream at the upgrade carry the old field name (#17).
    subject, data, ev = _event(message="old")
    body = orjson.loads(data)
    body["owner_id"] = body.pop("workspace_id")
    old = orjson.dumps(body)
    assert parse_event(subject, old, 7, NOW).workspace_id == ev.workspace_id
    assert LogRecorded.model_validate_json(old).workspace_id == ev.workspace_id
    assert ev.owner_id == ev.workspace_id  # the old attribute, for code not moved yet


def test_a_far_future_time_is_filed_at_the_stream_time_deterministically() -> None:
    subject, data, _ = _event(occurred_at=NOW + timedelta(days=30))
    assert parse_event(subject, data, 1, NOW).occurred_at == NOW
    subject, data, _ = _event(occurred_at=NOW + timedelta(minutes=5))
    assert parse_event(subject, data, 1, NOW).occurred_at == NOW + timedelta(minutes=5)


def test_cursors_round_trip_and_garbage_is_a_clear_400() -> None:
    eid = uuid.uuid4()
    assert decode_cursor(encode_cursor(NOW, eid)) == (NOW, eid)
    with pytest.raises(RpcError) as err:
        decode_cursor("%%%")
    assert err.value.code.value == "invalid"


def test_filters_match_bots_kinds_levels_and_domains() -> None:
    bot = str(uuid.uuid4())
    f = Filters.of(StreamSubscribe(bot_ids=[uuid.UUID(bot)], levels=["error"]))
    assert f.match("log", bot, "error", "error")
    assert not f.match("log", bot, "info", "info")
    assert not f.match("log", None, "error", "error")
    assert Filters().match("bot", None, "status", "info")
    assert not Filters.of(StreamSubscribe(domains=["bot"])).match("log", bot, "info", "info")


def test_a_frame_carries_seq_id_and_the_event_once_rendered() -> None:
    _subject, data, ev = _event(message="x", level="error")
    frame, level, event_id = render(7, "log", str(ev.bot_id), "error", data)
    parsed = orjson.loads(frame)
    assert (parsed["type"], parsed["seq"], parsed["id"], level) == ("event", 7, str(ev.id), "error")
    assert parsed["event"]["message"] == "x"
    assert event_id == str(ev.id)


def test_uuid7_time_reads_the_id_timestamp() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=2)
    assert uuid7_time(new_event_id()) >= before


def test_origin_rules() -> None:
    allowed = {"https://console.example"}
    assert origin_allowed(None, "h", None, allowed)  # not a browser
    assert origin_allowed("https://console.example", "h", None, allowed)
    assert not origin_allowed("https://evil.example", "h", None, allowed)
    # Without a list: the host the browser talked to (directly or through the gateway).
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:9000", "127.0.0.1:8000", set())
    assert not origin_allowed("http://evil.example", "127.0.0.1:9000", "127.0.0.1:8000", set())


@pytest.mark.parametrize(
    "text",
    [
        "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
        "bcp_abcdefghijklmnopqrstu",
        "Authorization: Bearer abcdefgh12345",
        "BOT abcdefghijklmnopqrstuvwxyz",
        "basic dXNlcjpwYXNzd29yZA==",
        '{"PASSWORD": "hunter2hunter2"}',
        "api_key=sk-1234567890",
    ],
)
def test_the_screen_catches_everything_redaction_would_change(text: str) -> None:
    from log_service.service import may_need_redaction
    from services.telemetry.redaction import redact

    assert redact(text) != text
    assert may_need_redaction(text)
    assert may_need_redaction(orjson.dumps({"message": text}).decode())


def test_ordinary_log_lines_skip_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    from log_service.service import may_need_redaction
    from services.telemetry import redaction

    # Other tests of the run register secrets in this process, which turns the screen off.
    monkeypatch.setattr(redaction, "_known", set())

    assert not may_need_redaction('{"message":"command /ping answered in 12 ms","level":"info"}')


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_text_frame_headers_follow_rfc6455(size: int) -> None:
    from log_service.stream.fastws import _text_header

    header = _text_header(size)
    assert header[0] == 0x81  # FIN + text, unmasked from the server
    if size < 126:
        assert header[1] == size
    elif size < 65536:
        assert header[1] == 126
        assert int.from_bytes(header[2:4], "big") == size
    else:
        assert header[1] == 127
        assert int.from_bytes(header[2:10], "big") == size


def test_reply_subjects_give_the_stream_sequence_and_stored_time() -> None:
    from log_service.ingest.worker import _seq_and_time
    from log_service.stream.hub import stream_seq

    ts = int(NOW.timestamp() * 1e9)
    v1 = f"$JS.ACK.EVENTS.log-ingest.1.4242.17.{ts}.3"
    v2 = f"$JS.ACK.hub.ACCHASH.EVENTS.log-ingest.1.4242.17.{ts}.3.tok"
    for reply in (v1, v2):
        assert stream_seq(reply) == 4242
        assert _seq_and_time(reply) == (4242, NOW)


def test_ids_in_other_spellings_are_stored_canonically() -> None:
    subject, data, ev = _event(message="hi")
    upper = data.replace(str(ev.id).encode(), str(ev.id).upper().encode())
    row = parse_record(subject, upper, 7, NOW)
    assert (row[0], row[2], row[3]) == (str(ev.id), str(ev.owner_id), str(ev.bot_id))
    with pytest.raises(BadEvent):
        parse_record(subject, data.replace(str(ev.id).encode(), b"not-a-uuid"), 7, NOW)


def test_a_secret_spelled_with_json_escapes_is_still_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.telemetry import redaction

    monkeypatch.setattr(redaction, "_known", set())
    subject, data, _ = _event(message="login")
    escaped = data.replace(b'"message":"login"', b'"message":"\\u0074oken=abcdefghijkl"')
    row = parse_event(subject, escaped, 1, NOW)
    assert "abcdefghijkl" not in row.message
    assert "abcdefghijkl" not in row.payload
