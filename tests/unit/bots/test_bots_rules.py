"""bot-service rules without I/O: intents, tags, token hints and sealing, contracts."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr, ValidationError

from bot_service import tokens
from bot_service.service import intent_report, normalize_intents, normalize_tags
from proto import bots as P
from proto.errors import ErrorCode
from proto.fleet import Presence
from services.errors import RpcError
from services.telemetry.redaction import redact
from services.vault import Vault, VaultError, new_key


def test_intents_accept_names_or_bits_and_refuse_unknown_ones() -> None:
    assert normalize_intents(["guilds", "MESSAGE_CONTENT"]) == 1 | 1 << 15
    assert normalize_intents(1 | 1 << 9) == 1 | 1 << 9
    with pytest.raises(RpcError) as err:
        normalize_intents(["GUILDS", "TYPO"])
    assert err.value.code is ErrorCode.VALIDATION
    assert "TYPO" in err.value.message
    with pytest.raises(RpcError) as err:
        normalize_intents(1 << 17)
    assert "17" in err.value.message


def test_privileged_intents_are_flagged_with_portal_state() -> None:
    intents = normalize_intents(["GUILDS", "GUILD_MEMBERS", "MESSAGE_CONTENT"])
    infos, privileged, warnings = intent_report(intents, app_flags=1 << 18)  # content enabled
    assert privileged == ["GUILD_MEMBERS", "MESSAGE_CONTENT"]
    by_name = {i.name: i for i in infos}
    assert by_name["GUILDS"].privileged is False
    assert by_name["MESSAGE_CONTENT"].enabled_in_portal is True
    assert by_name["GUILD_MEMBERS"].enabled_in_portal is False
    assert len(warnings) == 1
    assert "GUILD_MEMBERS" in warnings[0]
    assert "developer portal" in warnings[0]


def test_tags_are_deduplicated_case_insensitively_in_order() -> None:
    assert normalize_tags(["Music", "fun", "music", "FUN", "x"]) == ["Music", "fun", "x"]


def test_contract_limits() -> None:
    with pytest.raises(ValidationError):
        P.CreateBot(token=SecretStr("t" * 30), name="x" * 101)
    with pytest.raises(ValidationError):
        P.CreateBot(token=SecretStr("t" * 30), shard_count=0)
    with pytest.raises(ValidationError):
        P.CreateBot(token=SecretStr("t" * 30), tags=["t"] * (P.MAX_TAGS + 1))
    with pytest.raises(ValidationError):
        P.CreateBot(token=SecretStr("t" * 30), presence={"status": "busy"})
    with pytest.raises(ValidationError):
        P.UpdateBot(bot_id=uuid.uuid4(), description="d" * 1001)


def test_token_is_masked_in_repr_and_only_revealed_on_the_wire() -> None:
    token = "MTA" + "a" * 23 + ".GabcDE.secretsecretsecretsecretsecret12"
    req = P.CreateBot(token=SecretStr(token))
    assert token not in repr(req)
    assert token not in str(req)
    wire = req.model_dump_json()
    assert token in wire
    assert P.CreateBot.model_validate_json(wire).token.get_secret_value() == token


def test_presence_mirrors_the_fleet_contract() -> None:
    assert P.BotPresence.model_json_schema()["properties"].keys() == (
        Presence.model_json_schema()["properties"].keys()
    )
    presence = P.BotPresence(status="dnd", activity_type="watching", activity_text="you")
    assert Presence.model_validate(presence.model_dump()).status == "dnd"


def test_token_sealing_is_bound_to_the_row_and_registered_for_redaction() -> None:
    vault = Vault({1: new_key()})
    bot_a, bot_b = uuid.uuid4(), uuid.uuid4()
    token = "plain-token-value-" + uuid.uuid4().hex
    blob = tokens.seal_token(vault, bot_a, token)
    assert token.encode() not in blob
    assert tokens.open_token(vault, bot_a, blob) == token
    with pytest.raises(VaultError):
        tokens.open_token(vault, bot_b, blob)  # copied to another row: does not open
    assert token not in redact(f"connecting with {token}")
    assert tokens.hint(tokens.last4(token)) == "…" + token[-4:]


def test_a_desired_state_written_before_teams_still_reads_and_is_written_anew() -> None:
    import uuid

    from proto.fleet import DesiredBot

    bot_id, owner = uuid.uuid4(), uuid.uuid4()
    old = f'{{"bot_id": "{bot_id}", "owner_id": "{owner}", "running": true, "intents": 1}}'
    desired = DesiredBot.model_validate_json(old)
    # The owner's id is their personal workspace's: the bot is in it.
    assert (desired.bot_id, desired.workspace_id, desired.running) == (bot_id, owner, True)
    assert '"workspace_id"' in desired.model_dump_json()
    assert "owner_id" not in desired.model_dump_json()
