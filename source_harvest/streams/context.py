"""What every stream of one sync shares: config, auth, the API budget, the connection pool, the record hub, sync plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.call_rate import APIBudget
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from ..catalog import StreamSpec
from ..config import HarvestConfig
from ..constants import DATETIME_FORMAT
from ..idset import KeySet
from ..network import harvest_adapter
from ..state import cursor_from_state
from ..stats import SyncStats
from .hub import RecordHub

CANONICAL_LENGTH = len("2024-01-31T12:00:00Z")

if TYPE_CHECKING:
    from .base import HarvestStream


def cursor_value(value: Any) -> str | None:
    """A Harvest timestamp in the one form cursors are compared and stored in (UTC, …Z, whole seconds)."""
    if not value or not isinstance(value, str):
        return None
    if len(value) == CANONICAL_LENGTH and value[-1] == "Z" and value[10] == "T":
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(timezone.utc).strftime(DATETIME_FORMAT)


@dataclass
class Existence:
    """Answers of the single-object GETs asked this sync (is `invoices/13` still there?), so that one
    is asked once however many streams hang off it. Kept per path without its last segment, the ids
    asked and the ids found gone, in KeySets: a sweep after a mass deletion asks about many."""

    asked: dict[str, KeySet] = field(default_factory=dict)
    gone: dict[str, KeySet] = field(default_factory=dict)

    def answer(self, path: str) -> bool | None:
        """True (there), False (404), or None (not asked yet)."""
        prefix, _, last = path.rpartition("/")
        asked = self.asked.get(prefix)
        if asked is None or last not in asked:
            return None
        return last not in self.gone[prefix]

    def record(self, path: str, exists: bool) -> None:
        prefix, _, last = path.rpartition("/")
        self.asked.setdefault(prefix, KeySet()).add(last)
        gone = self.gone.setdefault(prefix, KeySet())
        if not exists:
            gone.add(last)


@dataclass
class SyncContext:
    config: HarvestConfig
    authenticator: AuthBase
    budget: APIBudget
    stats: SyncStats
    hub: RecordHub = field(default_factory=RecordHub)
    request_kwargs: dict[str, Any] = field(default_factory=dict)
    adapter: HTTPAdapter = field(default_factory=harvest_adapter)  # one connection pool for every stream
    existence: Existence = field(default_factory=Existence)  # single-object GETs asked this sync
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))
    streams: dict[str, HarvestStream] = field(default_factory=dict)

    @property
    def start_date(self) -> str:
        """`replication_start_date` in the form cursors are compared in."""
        return self.config.start.strftime(DATETIME_FORMAT)

    def since(self, spec: StreamSpec, sync_mode: SyncMode, state: Mapping[str, Any] | None) -> str | None:
        """The oldest updated_at this stream must deliver: start date, or saved cursor minus lookback."""
        if spec.cursor is None:
            return None
        start = self.config.start
        saved = cursor_from_state(state, spec.cursor, cursor_value, spec.name) if sync_mode == SyncMode.incremental else None
        if saved:
            start = max(start, datetime.strptime(saved, DATETIME_FORMAT).replace(tzinfo=start.tzinfo) - self.config.lookback)
        return start.strftime(DATETIME_FORMAT)
