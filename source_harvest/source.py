"""SourceHarvest: spec, check, and the one function that builds every stream from the table."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterator, List, Mapping, MutableMapping, Optional

import requests
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateType,
    ConfiguredAirbyteCatalog,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from .auth import build_authenticator
from .budget import build_api_budget
from .catalog import ADMIN, MANAGER, MEMBER, STREAMS, StreamSpec
from .config import HarvestConfig, config_error, parse_config
from .errors import harvest_message, retry_after_seconds
from .inputs import unreadable_file_message
from .network import harvest_adapter, request_settings, use_adapter
from .state import read_state_file
from .stats import SyncStats
from .streams.base import HarvestStream
from .streams.child import ChildStream
from .streams.context import SyncContext
from .streams.derived import DerivedStream
from .streams.entity import ListStream
from .streams.hub import oldest
from .streams.report import ReportStream

# Harvest access roles, weakest first (users.access_roles; manager sub-grants are extra entries).
ROLE_RANK = {MEMBER: 0, MANAGER: 1, ADMIN: 2}
CHECK_ATTEMPTS = 3
UNREADABLE_CONFIG = "__unreadable_config__"  # read_config's note that the file was not a JSON object
CHECK_RETRY_STATUSES = (429, 500, 502, 503, 504)


def stream_class(spec: StreamSpec) -> type[HarvestStream]:
    if spec.report:
        return ReportStream
    if spec.embedded:
        return DerivedStream
    if spec.parent:
        return ChildStream
    return ListStream


def token_role(access_roles: list[str]) -> str:
    if "administrator" in access_roles:
        return ADMIN
    if "manager" in access_roles:
        return MANAGER
    return MEMBER


def forbidden_streams(role: str) -> list[str]:
    """Streams a token of this role gets 403 on (grants can lift some of a Manager's)."""
    return [spec.name for spec in STREAMS if ROLE_RANK[spec.permission] > ROLE_RANK[role]]


class SourceHarvest(AbstractSource):
    raise_exception_on_missing_stream = True
    # The config is checked by validate_config, whose messages name the field and what to fix.
    check_config_against_spec = False

    def __init__(self) -> None:
        super().__init__()
        self._catalog: ConfiguredAirbyteCatalog | None = None
        self._state: dict[str, Mapping[str, Any]] = {}
        self._context: SyncContext | None = None

    # --- input -------------------------------------------------------------------------------
    @staticmethod
    def read_config(config_path: str) -> MutableMapping[str, Any]:  # type: ignore[override]
        try:
            with open(config_path, encoding="utf-8") as handle:
                config = json.load(handle)
        except OSError as error:
            return {UNREADABLE_CONFIG: unreadable_file_message("config", config_path, error)}
        except ValueError as error:
            return {UNREADABLE_CONFIG: f"The config file {config_path} is not valid JSON ({error})."}
        return config if isinstance(config, dict) else {UNREADABLE_CONFIG: f"The config file {config_path} must hold a JSON object."}

    @classmethod
    def read_state(cls, state_path: str) -> List[AirbyteStateMessage]:  # type: ignore[override]
        return read_state_file(state_path) if state_path else []

    def validate_config(self, config: Mapping[str, Any]) -> HarvestConfig:
        """Our own checks first (they say what to fix), then the spec's JSON schema for the rest."""
        if UNREADABLE_CONFIG in config:
            raise config_error(config[UNREADABLE_CONFIG])
        harvest = parse_config(config)
        schema = self.spec(logging.getLogger("airbyte")).connectionSpecification
        error = best_match(Draft7Validator(schema).iter_errors(config))
        if error is not None:
            field = ".".join(str(part) for part in error.absolute_path) or "config"
            raise config_error(f"`{field}` is invalid: it fails the spec's `{error.validator}` rule. See the spec for its format.")
        return harvest

    # --- check -------------------------------------------------------------------------------
    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            succeeded, message = self.check_connection(logger, config)
        except AirbyteTracedException as error:
            succeeded, message = False, error.message
        status = Status.SUCCEEDED if succeeded else Status.FAILED
        return AirbyteConnectionStatus(status=status, message=None if succeeded else str(message))

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Optional[Any]]:
        harvest = self.validate_config(config)
        auth = build_authenticator(harvest, config)
        with use_adapter(requests.Session(), harvest_adapter()) as session:  # as the streams' (network.py)
            return self._check_with(session, logger, harvest, auth)

    def _check_with(self, session: requests.Session, logger: logging.Logger, harvest: HarvestConfig, auth: Any) -> tuple[bool, Optional[Any]]:
        try:
            response = self._get(session, harvest.api_url + "users/me", harvest, auth)
        except requests.RequestException as error:
            return False, f"Could not reach Harvest at {harvest.api_url}: {type(error).__name__}. Check api_url and the network."
        if response.status_code == 200:
            me = response.json()
            role = token_role(me.get("access_roles") or [])
            logger.info(f"Connected to Harvest account {harvest.account_id} as user {me.get('id')} with the {role} role.")
            if role != ADMIN:
                forbidden = forbidden_streams(role)
                logger.warning(
                    f"This token has the {role} role, not Administrator: these streams will fail with 403 "
                    f"(a Manager's grants may lift some): {', '.join(forbidden)}; time entries, expenses and "
                    "reports will hold only the rows this user may see. Use an Administrator's token to replicate everything."
                )
            return True, None
        if response.status_code in (401, 403, 404):
            return False, self._explain_rejection(session, harvest, auth, response)
        return False, f"Harvest answered {response.status_code} for /users/me: {harvest_message(response) or 'no message'}."

    @staticmethod
    def _get(session: requests.Session, url: str, harvest: HarvestConfig, auth: Any) -> requests.Response:
        for attempt in range(CHECK_ATTEMPTS):
            response = session.get(url, headers={"User-Agent": harvest.user_agent}, auth=auth, **request_settings(url))
            if response.status_code not in CHECK_RETRY_STATUSES or attempt == CHECK_ATTEMPTS - 1:
                return response
            time.sleep(min(retry_after_seconds(response), 2**attempt) if response.status_code == 429 else 2**attempt)
        return response

    def _explain_rejection(self, session: requests.Session, harvest: HarvestConfig, auth: Any, response: requests.Response) -> str:
        said = harvest_message(response)
        try:
            accounts_response = self._get(session, harvest.id_url + "accounts", harvest, auth)
        except requests.RequestException:
            accounts_response = None
        if accounts_response is None or accounts_response.status_code != 200:
            if response.status_code == 404:
                return (f"Harvest answered 404 Not Found for {harvest.api_url}users/me: api_url looks wrong "
                        "(Harvest's is https://api.harvestapp.com/v2/).")
            return (f"Harvest rejected the token ({response.status_code}{': ' + said if said else ''}): it is invalid, "
                    "expired or revoked. Create a new personal access token at https://id.getharvest.com/developers.")
        accounts = [a for a in accounts_response.json().get("accounts", []) if a.get("product") == "harvest"]
        reachable = ", ".join(f"{a.get('id')} ({a.get('name')})" for a in accounts) or "none"
        if harvest.account_id not in {str(a.get("id")) for a in accounts}:
            return (f"The token is valid, but account_id {harvest.account_id} is not a Harvest account it can reach. "
                    f"Harvest accounts this token reaches: {reachable}.")
        if response.status_code == 404:
            return f"Harvest answered 404 Not Found for {harvest.api_url}users/me although the account exists: api_url looks wrong."
        return f"Harvest answered {response.status_code} for /users/me on account {harvest.account_id}{': ' + said if said else ''}."

    # --- streams -----------------------------------------------------------------------------
    def streams(self, config: Mapping[str, Any]) -> List[Stream]:
        harvest = self.validate_config(config)
        logger = logging.getLogger("airbyte")
        stats = SyncStats(logger, harvest.rate_limit.period_seconds / harvest.rate_limit.requests)
        context = SyncContext(
            config=harvest,
            authenticator=build_authenticator(harvest, config),
            budget=build_api_budget(harvest, on_wait=stats.budget_wait),
            stats=stats,
            request_kwargs=request_settings(harvest.api_url),
        )
        for spec in STREAMS:  # parents come before their children in the table
            context.streams[spec.name] = stream_class(spec)(spec, context)
        if self._catalog is not None:
            self._plan(context, self._catalog)
        self._context = context
        return list(context.streams.values())

    def _plan(self, context: SyncContext, catalog: ConfiguredAirbyteCatalog) -> None:
        """Tell the hub every consumer of every production, so each endpoint is read once. A stream that
        resumes its own read part-way reads its production alone (hub.py)."""
        modes = {c.stream.name: c.sync_mode for c in catalog.streams if c.stream.name in context.streams}
        selected = {spec.name: modes[spec.name] for spec in STREAMS if spec.name in modes}  # parents first (prepare_deletes)
        direct: dict[str, str | None] = {}  # resuming streams -> the since of their own production
        for name, sync_mode in selected.items():
            stream = context.streams[name]
            spec = stream.spec
            if spec.report:
                continue  # one consumer each, read window by window
            state = self._state.get(name) or {}
            stream.state = state
            stream.prepare_deletes(sync_mode, state)  # a deletion sweep lists whole endpoints (and may deliver from further back)
            since = stream.start_run(sync_mode, state).since
            if stream.reads_directly:
                direct[name] = stream.production_since(since)
            elif isinstance(stream, DerivedStream):
                context.hub.expect(spec.parent, name, stream.parent_fetch_since(since), stream.parent_fields())  # type: ignore[arg-type]
            else:
                context.hub.expect(name, name, stream.production_since(since))
        # A child's production reads its parent once, from the oldest since its consumers need.
        for spec in STREAMS:
            child = context.streams[spec.name]
            if not isinstance(child, ChildStream):
                continue
            needs = ([context.hub.planned_since(spec.name)] if context.hub.is_planned(spec.name) else []) + \
                ([direct[spec.name]] if spec.name in direct else [])
            if needs:
                since = child.parent_fetch_since(oldest(needs))
                context.hub.expect(spec.parent, spec.name, since, child.parent_fields())  # type: ignore[arg-type]
                if spec.embeds and child.changed_since() is not None:  # which holders to re-read (ChildStream.holders_of_changed)
                    context.hub.expect(spec.embeds, spec.name, child.changed_since(), child.embedded_fields())

    # --- read --------------------------------------------------------------------------------
    def read(self, logger: logging.Logger, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog,
             state: Optional[List[AirbyteStateMessage]] = None) -> Iterator[AirbyteMessage]:
        self._catalog = catalog
        self._state = stream_states(state)
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
            if self._context is not None:
                self._context.hub.close()
                self._context.adapter.close()
                self._context.stats.summary()


def stream_states(state: Optional[List[AirbyteStateMessage]]) -> dict[str, MutableMapping[str, Any]]:
    states: dict[str, MutableMapping[str, Any]] = {}
    for message in state or []:
        if message.type == AirbyteStateType.STREAM and message.stream is not None:
            blob = message.stream.stream_state
            states[message.stream.stream_descriptor.name] = dict(blob.__dict__) if blob is not None else {}
    return states


__all__ = ["SourceHarvest"]
