"""Checkpoints inside a stream: the markers that end a checkpoint unit, and the resume point in state.

A running stream emits STATE after every page of a list it reads itself (every CHECKPOINT_REQUESTS
pages once its state carries more than HEAVY_STATE_CHARS of id sets), after every batch of parents
(per-parent streams), after every report window, and every CHECKPOINT_REQUESTS requests at most.
The CDK emits a STATE message at the end of every slice, so each of these ends a slice (resumable.py).
A checkpoint never moves the committed cursor: Harvest never sorts by `updated_at`, so the cursor
moves only when the stream completes. It adds `resume`, what a new attempt needs to continue:

    "resume": {
      "since": "…",        the updated_since this stream delivers from (the resumed run keeps it)
      "started_at": "…",   when the stream first started; the committed cursor never passes it
      "newest": "…",       the greatest cursor value delivered so far
      "listing": {...},    a list read page by page: where it stands (ListingPosition)
      "parents": "z2:…",   per-parent streams: the parents whose lists are done (idset.py)
      "window": "…",       reports: the first window still to read
      "sweep": {...}       a deletion sweep in progress (deletes.py)
    }

The resume point is dropped when the stream completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..config import config_error
from ..idset import IdSet

RESUME_KEY = "resume"
# A running stream goes at most this many requests without a checkpoint (15 s at Harvest's rate is 100).
CHECKPOINT_REQUESTS = 50
# A checkpoint carries a stream's delivered-id sets whole (deletes.py). Once they pass this size, a
# list checkpoints every CHECKPOINT_REQUESTS pages instead of every page: at Harvest's rate, a page
# every 150 ms would otherwise send the platform the same growing set several times a second.
HEAVY_STATE_CHARS = 64 * 1024


# Set on a record whose rows must be delivered whatever their updated_at (what it embeds changed);
# taken off before the record is delivered. No Harvest field starts with NUL.
REFRESHED = "\u0000refreshed"


class Checkpoint:
    """Yielded between records: everything before it may be committed with a STATE message."""

    __slots__ = ()


CHECKPOINT = Checkpoint()


@dataclass(frozen=True)
class ListingPosition:
    """Where a list read page by page stands: the `links.next` to follow (None: the listing is done)
    and the last record read (its id and updated_at), to find the place again on page endpoints,
    where rows shift when records before them are created or deleted."""

    next: str | None
    last_id: int | None = None
    last_updated_at: str | None = None

    def to_state(self) -> dict[str, Any]:
        return {"next": self.next, "last_id": self.last_id, "last_updated_at": self.last_updated_at}

    @classmethod
    def from_state(cls, value: Any, stream: str) -> ListingPosition:
        if not isinstance(value, Mapping) or not (value.get("next") is None or isinstance(value.get("next"), str)):
            raise bad_resume(stream, "listing")
        last_id = value.get("last_id")
        if last_id is not None and not isinstance(last_id, int):
            raise bad_resume(stream, "listing")
        return cls(value.get("next"), last_id, value.get("last_updated_at"))

    @property
    def page_based(self) -> bool:
        """Page endpoints (`page=N`) shift; cursor endpoints (`cursor=…`, a keyset) do not."""
        query = dict(parse_qsl(urlsplit(self.next or "").query))
        return "page" in query and "cursor" not in query

    def page_before(self) -> str | None:
        """The URL of the page before `next` on a page endpoint (None when `next` names no page above 1)."""
        number = page_number(self.next or "")
        return page_url(self.next, number - 1) if self.next and number is not None and number > 1 else None


def page_number(url: str) -> int | None:
    """The `page` a page-endpoint URL asks for (1 when it names none); None on a cursor (keyset) URL."""
    query = dict(parse_qsl(urlsplit(url).query))
    if "cursor" in query:
        return None
    text = query.get("page", "1")
    return int(text) if text.isdigit() and int(text) >= 1 else None


def page_url(url: str, number: int) -> str:
    """`url` asking for page `number` instead, every other parameter kept where it stands."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "page" for k, _ in query):
        query = [(k, str(number) if k == "page" else v) for k, v in query]
    else:
        query = [("page", str(number)), *query]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class PageEnd:
    """Yielded by a list read after each page's records: where the listing stands now."""

    position: ListingPosition


@dataclass(frozen=True)
class ParentDone:
    """Yielded by a per-parent production after a parent's whole list was read: the ids of the rows it
    holds now (none when it answered 404). Each consumer's delete tracker turns it into tombstones for
    rows the parent no longer holds; a shared production spools it (hub.py)."""

    parent_id: int
    held: tuple[Any, ...] = ()
    changed: str | None = None  # the parent's updated_at as listed: the list is read as of then


@dataclass(frozen=True)
class Tombstone:
    """A tombstone emitted in the middle of a stream's records: it never moves the cursor."""

    row: dict[str, Any]


@dataclass
class Run:
    """One stream's own read in progress: what it delivers from, and how far it has come. Saved in
    every checkpoint as `resume`; a new attempt builds it back from there (`resumed`)."""

    since: str | None
    started_at: str
    newest: str | None = None
    listing: ListingPosition | None = None
    parents: IdSet = field(default_factory=IdSet)
    window: str | None = None
    sweep: dict[str, Any] | None = None
    resumed: bool = False

    def to_state(self) -> dict[str, Any]:
        resume: dict[str, Any] = {"since": self.since, "started_at": self.started_at, "newest": self.newest}
        if self.listing is not None:
            resume["listing"] = self.listing.to_state()
        if self.parents:
            resume["parents"] = self.parents.encode()
        if self.window is not None:
            resume["window"] = self.window
        if self.sweep is not None:
            resume["sweep"] = self.sweep
        return resume

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, stream: str) -> Run | None:
        value = (state or {}).get(RESUME_KEY)
        if value is None:
            return None
        if not isinstance(value, Mapping) or not isinstance(value.get("started_at"), str):
            raise bad_resume(stream, "started_at")
        for key in ("since", "newest", "window"):
            if value.get(key) is not None and not isinstance(value.get(key), str):
                raise bad_resume(stream, key)
        sweep = value.get("sweep")
        if sweep is not None and not isinstance(sweep, Mapping):
            raise bad_resume(stream, "sweep")
        try:
            parents = IdSet.decode(value.get("parents"))
        except (ValueError, TypeError):
            raise bad_resume(stream, "parents") from None
        listing = ListingPosition.from_state(value["listing"], stream) if value.get("listing") is not None else None
        return cls(since=value.get("since"), started_at=value["started_at"], newest=value.get("newest"), listing=listing,
                   parents=parents, window=value.get("window"), sweep=dict(sweep) if sweep is not None else None, resumed=True)


def bad_resume(stream: str, part: str) -> Exception:
    return config_error(f"The saved state of {stream} has a `resume.{part}` this connector did not write. "
                        f"Remove `resume` from that stream's state (the stream then restarts from its cursor).")
