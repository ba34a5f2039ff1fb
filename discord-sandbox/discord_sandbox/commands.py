"""Application-command validation and storage rules (create, upsert, bulk overwrite).

Validation follows Discord's documented limits and answers with its nested error format
(`{"options": {"0": {"name": {"_errors": [...]}}}}`), so a client that would be refused by
Discord is refused here too.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import DiscordError, field_error, invalid_form, merge_errors
from .state import Application, Command, SandboxState

CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND, PRIMARY_ENTRY_POINT = 1, 2, 3, 4
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
OPTION_TYPES = range(1, 12)
VALUE_TYPES_WITH_CHOICES = (3, 4, 10)
# Discord: lowercase letters, digits, - and _, plus letters of other scripts; 1-32 long.
_NAME_RE = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
MAX_PER_TYPE = {CHAT_INPUT: 100, USER_COMMAND: 15, MESSAGE_COMMAND: 15, PRIMARY_ENTRY_POINT: 1}
_OPTION_KEYS = {
    "type",
    "name",
    "name_localizations",
    "description",
    "description_localizations",
    "required",
    "choices",
    "options",
    "channel_types",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    "autocomplete",
}


def _err(errors: dict[str, Any], path: list[str | int], code: str, message: str) -> None:
    merge_errors(errors, field_error(path, code, message))


def _check_name(errors: dict[str, Any], path: list[str | int], name: Any, chat: bool) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        _err(errors, path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    elif chat and (not _NAME_RE.match(name) or name != name.lower()):
        _err(errors, path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _check_description(errors: dict[str, Any], path: list[str | int], value: Any) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 100:
        _err(errors, path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _check_options(
    errors: dict[str, Any], path: list[str | int], options: Any, depth: int
) -> list[dict[str, Any]]:
    if options is None:
        return []
    if not isinstance(options, list):
        _err(errors, path, "BASE_TYPE_ARRAY", "Must be an array.")
        return []
    if len(options) > 25:
        _err(errors, path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    optional_seen = False
    kinds: set[str] = set()
    for index, option in enumerate(options):
        here: list[str | int] = [*path, index]
        if not isinstance(option, dict):
            _err(errors, here, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        kind = option.get("type")
        if kind not in OPTION_TYPES:
            _err(
                errors,
                [*here, "type"],
                "BASE_TYPE_CHOICES",
                f"Value must be one of {list(OPTION_TYPES)}.",
            )
            continue
        _check_name(errors, [*here, "name"], option.get("name"), chat=True)
        _check_description(errors, [*here, "description"], option.get("description"))
        _check_unique_name(errors, [*here, "name"], option.get("name"), seen)
        clean = {k: v for k, v in option.items() if k in _OPTION_KEYS}
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            kinds.add("sub")
            clean["options"] = _check_sub_command(errors, here, kind, option, depth)
        else:
            kinds.add("value")
            optional_seen = _check_value_option(errors, here, kind, option, optional_seen)
        cleaned.append(clean)
    if kinds == {"sub", "value"}:
        _err(
            errors,
            path,
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "Sub-commands and options cannot be mixed",
        )
    return cleaned


def _check_unique_name(
    errors: dict[str, Any], path: list[str | int], name: Any, seen: set[str]
) -> None:
    """Option names are unique among siblings; `seen` collects them."""
    if not isinstance(name, str):
        return
    if name in seen:
        _err(
            errors,
            path,
            "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
            "Option names must be unique",
        )
    seen.add(name)


def _check_sub_command(
    errors: dict[str, Any], here: list[str | int], kind: int, option: dict[str, Any], depth: int
) -> list[dict[str, Any]]:
    """A sub-command or group: its nesting depth and what it may contain. Returns the
    cleaned inner options."""
    if (kind == SUB_COMMAND_GROUP and depth > 0) or (kind == SUB_COMMAND and depth > 1):
        _err(
            errors,
            [*here, "type"],
            "APPLICATION_COMMAND_OPTION_INVALID_NESTING",
            "Sub-commands cannot be nested this deep",
        )
    inner = _check_options(errors, [*here, "options"], option.get("options"), depth + 1)
    if kind == SUB_COMMAND_GROUP and any(o.get("type") != SUB_COMMAND for o in inner):
        _err(
            errors,
            [*here, "options"],
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "Sub-command groups may only contain sub-commands",
        )
    if kind == SUB_COMMAND and any(o.get("type") in (1, 2) for o in inner):
        _err(
            errors,
            [*here, "options"],
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "Sub-commands may not contain sub-commands",
        )
    return inner


def _check_value_option(
    errors: dict[str, Any],
    here: list[str | int],
    kind: object,
    option: dict[str, Any],
    optional_seen: bool,
) -> bool:
    """A value option: required ones come first, choices only where they are allowed.
    Returns whether an optional option has been seen, this one included."""
    required = bool(option.get("required", False))
    if required and optional_seen:
        _err(
            errors,
            [*here, "required"],
            "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
            "Required options must be placed before non-required options",
        )
    if option.get("choices"):
        _check_choices(errors, here, kind, option)
    return optional_seen or not required


def _check_choices(
    errors: dict[str, Any], here: list[str | int], kind: object, option: dict[str, Any]
) -> None:
    choices = option["choices"]
    if kind not in VALUE_TYPES_WITH_CHOICES:
        _err(
            errors,
            [*here, "choices"],
            "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
            "Choices are only allowed for string, integer and number options",
        )
    elif len(choices) > 25:
        _err(
            errors,
            [*here, "choices"],
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        )
    if option.get("autocomplete"):
        _err(
            errors,
            [*here, "autocomplete"],
            "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
            "Autocomplete cannot be set with choices",
        )


def validate(
    payload: Any, path: list[str | int] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (normalized command fields, errors); errors is empty when valid."""
    base = path or []
    errors: dict[str, Any] = {}
    if not isinstance(payload, dict):
        _err(errors, base, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        return {}, errors
    kind = payload.get("type", CHAT_INPUT)
    if kind not in MAX_PER_TYPE:
        _err(errors, [*base, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
        return {}, errors
    chat = kind == CHAT_INPUT
    _check_name(errors, [*base, "name"], payload.get("name"), chat=chat)
    description = payload.get("description", "")
    if chat:
        _check_description(errors, [*base, "description"], description)
    elif description not in ("", None):
        _err(
            errors,
            [*base, "description"],
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID",
            "Context menu commands cannot have description",
        )
    options: list[dict[str, Any]] = []
    if chat:
        options = _check_options(errors, [*base, "options"], payload.get("options"), 0)
    elif payload.get("options"):
        _err(
            errors,
            [*base, "options"],
            "APPLICATION_COMMAND_OPTIONS_INVALID",
            "Context menu commands cannot have options",
        )
    permissions = payload.get("default_member_permissions")
    if permissions is not None:
        try:
            permissions = str(int(permissions))
        except (TypeError, ValueError):
            _err(
                errors,
                [*base, "default_member_permissions"],
                "NUMBER_TYPE_COERCE",
                "Value is not int.",
            )
    fields = {
        "name": payload.get("name"),
        "type": kind,
        "description": description or "",
        "options": options,
        "default_member_permissions": permissions,
        "dm_permission": bool(payload.get("dm_permission", True)),
        "nsfw": bool(payload.get("nsfw", False)),
        "contexts": payload.get("contexts"),
        "integration_types": payload.get("integration_types") or [0],
        "name_localizations": payload.get("name_localizations") or None,
        "description_localizations": payload.get("description_localizations") or None,
    }
    return fields, errors


def _apply(command: Command, fields: dict[str, Any]) -> bool:
    changed = False
    for key, value in fields.items():
        if getattr(command, key) != value:
            setattr(command, key, value)
            changed = True
    return changed


def _check_limits(commands: list[Command]) -> None:
    for kind, limit in MAX_PER_TYPE.items():
        if sum(1 for c in commands if c.type == kind) > limit:
            raise DiscordError(
                400, 30032, f"Maximum number of application commands reached ({limit})"
            )


def upsert(
    state: SandboxState, app: Application, guild_id: int | None, payload: Any
) -> tuple[Command, bool]:
    """POST: create, or overwrite the command with the same name and type. (cmd, created)."""
    fields, errors = validate(payload)
    if errors:
        raise invalid_form(errors)
    for command in app.commands_for(guild_id):
        if command.name == fields["name"] and command.type == fields["type"]:
            if _apply(command, fields):
                command.version = state.snowflakes.next()
            state.touch()
            return command, False
    command = Command(
        id=state.snowflakes.next(), application_id=app.id, guild_id=guild_id, **fields
    )
    command.version = command.id
    _check_limits([*app.commands_for(guild_id), command])
    app.commands[command.id] = command
    state.touch()
    return command, True


def edit(state: SandboxState, command: Command, payload: Any) -> Command:
    if not isinstance(payload, dict):
        raise invalid_form(field_error([], "MODEL_TYPE_CONVERT", "Only dictionaries may be used"))
    merged = {
        "name": command.name,
        "type": command.type,
        "description": command.description,
        "options": command.options,
        "default_member_permissions": command.default_member_permissions,
        "dm_permission": command.dm_permission,
        "nsfw": command.nsfw,
        "contexts": command.contexts,
        "integration_types": command.integration_types,
        "name_localizations": command.name_localizations,
        "description_localizations": command.description_localizations,
    }
    merged.update({k: v for k, v in payload.items() if k != "type"})
    fields, errors = validate(merged)
    if errors:
        raise invalid_form(errors)
    if _apply(command, fields):
        command.version = state.snowflakes.next()
        state.touch()
    return command


def bulk_overwrite(
    state: SandboxState, app: Application, guild_id: int | None, payload: Any
) -> list[Command]:
    """PUT: the given list becomes the whole set; ids of same-named commands are kept."""
    if not isinstance(payload, list):
        raise invalid_form(field_error([], "BASE_TYPE_ARRAY", "Must be an array."))
    errors: dict[str, Any] = {}
    validated: list[dict[str, Any]] = []
    keys: set[tuple[str, int]] = set()
    for index, item in enumerate(payload):
        fields, item_errors = validate(item, [index])
        merge_errors(errors, item_errors)
        if not item_errors:
            key = (fields["name"], fields["type"])
            if key in keys:
                _err(
                    errors,
                    [index, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {fields['name']}",
                )
            keys.add(key)
            validated.append(fields)
    if errors:
        raise invalid_form(errors)
    existing = {(c.name, c.type): c for c in app.commands_for(guild_id)}
    result: list[Command] = []
    for fields in validated:
        command = existing.pop((fields["name"], fields["type"]), None)
        if command is None:
            command = Command(
                id=state.snowflakes.next(), application_id=app.id, guild_id=guild_id, **fields
            )
            command.version = command.id
        elif _apply(command, fields):
            command.version = state.snowflakes.next()
        result.append(command)
    _check_limits(result)
    for stale in existing.values():
        del app.commands[stale.id]
    for command in result:
        app.commands[command.id] = command
    state.touch()
    return result


def find(
    app: Application, name: str, guild_id: int | None, kind: int | None = None
) -> Command | None:
    """The command an interaction named: the guild's own first, then the global one."""
    for scope in (guild_id, None) if guild_id is not None else (None,):
        for command in app.commands_for(scope):
            if command.name == name and (kind is None or command.type == kind):
                return command
    return None
