"""Incoming state: read leniently, migrated when it can be understood, rejected clearly when not.

Accepted: per-stream STATE messages (this connector's own), the legacy `{stream: state}` object, a
GLOBAL message's stream states, and state written by Airbyte's own Harvest connector: its stream
names (`task_assignments`, `user_assignments`, `project_assignments`) and its low-code shapes
(`{"state": {...}}`, per-partition `{"states": [{"cursor": {...}}]}`), whose oldest cursor is kept
so that nothing is skipped.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from airbyte_cdk.models import (
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    StreamDescriptor,
)

from .config import config_error
from .inputs import unreadable_file_message

AIRBYTE_STREAM_NAMES = {
    "task_assignments": "project_tasks",
    "user_assignments": "project_users",
    "project_assignments": "user_projects",
}


def read_state_file(path: str) -> list[AirbyteStateMessage]:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as error:
        raise config_error(unreadable_file_message("state", path, error)) from None
    except ValueError as error:
        raise config_error(f"The state file {path} is not valid JSON ({error}). Pass the last STATE messages as a JSON list, or no --state for a full sync.") from None
    return [stream_message(name, blob) for name, blob in stream_states_of(raw).items()]


def stream_states_of(raw: Any) -> dict[str, Any]:
    """{stream name: raw state} out of any state layout Airbyte has used."""
    if raw in (None, [], {}):
        return {}
    if isinstance(raw, Mapping):  # legacy: one object keyed by stream name
        return {_rename(name): blob for name, blob in raw.items()}
    if not isinstance(raw, list):
        raise config_error("The state must be a JSON list of STATE messages (or a legacy object keyed by stream name).")
    states: dict[str, Any] = {}
    for message in raw:
        if not isinstance(message, Mapping):
            raise config_error("Each item of the state list must be an Airbyte STATE message object.")
        kind = str(message.get("type", "STREAM")).upper()
        if kind == "STREAM" and isinstance(message.get("stream"), Mapping):
            stream = message["stream"]
            name = (stream.get("stream_descriptor") or {}).get("name")
            if not isinstance(name, str):
                raise config_error("A STREAM state message has no stream_descriptor.name.")
            states[_rename(name)] = stream.get("stream_state")
        elif kind == "GLOBAL" and isinstance(message.get("global"), Mapping):
            for stream in message["global"].get("stream_states") or []:
                states[_rename(stream["stream_descriptor"]["name"])] = stream.get("stream_state")
        elif kind == "LEGACY" and isinstance(message.get("data"), Mapping):
            states.update({_rename(name): blob for name, blob in message["data"].items()})
        else:
            raise config_error(f"Unrecognised state message of type {kind!r}; pass the STATE messages this connector emitted.")
    return states


def _rename(name: str) -> str:
    return AIRBYTE_STREAM_NAMES.get(name, name)


def stream_message(name: str, blob: Any) -> AirbyteStateMessage:
    value = blob if isinstance(blob, Mapping) else {}
    if blob is not None and not isinstance(blob, Mapping):
        raise config_error(f"The state of stream {name} must be an object like {{\"updated_at\": \"2024-01-01T00:00:00Z\"}}, got {type(blob).__name__}.")
    return AirbyteStateMessage(
        type=AirbyteStateType.STREAM,
        stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=name), stream_state=AirbyteStateBlob(**value)),
    )


def cursor_from_state(state: Mapping[str, Any] | None, cursor: str, normalize: Any, stream: str) -> str | None:
    """The saved cursor of one stream, out of this connector's or Airbyte's low-code state shapes."""
    if not state:
        return None
    if cursor in state:
        value = normalize(state[cursor])
        if value is None and state[cursor] not in (None, ""):
            raise config_error(f"The saved state of {stream} has {cursor}={state[cursor]!r}, which is not a timestamp like "
                               "2024-01-01T00:00:00Z. Reset the stream or fix the state.")
        return value
    nested = state.get("state")
    if isinstance(nested, Mapping) and cursor in nested:
        return cursor_from_state(nested, cursor, normalize, stream)
    partitions = state.get("states")
    if isinstance(partitions, list):
        values = [cursor_from_state(p.get("cursor"), cursor, normalize, stream) for p in partitions if isinstance(p, Mapping)]
        known = [v for v in values if v]
        return min(known) if known else None  # the oldest partition: nothing is skipped
    return None
