"""HarvestHttpStream: Harvest's HTTP conventions, shared by every stream.

Owns: the User-Agent header, `per_page=2000`, following `links.next` verbatim (cursor and page
endpoints alike), the envelope's data key, 403 (naming the role), 404 and a row's `no_list_status`
handling, request counting and the single-object GETs that confirm deletions.
https://help.getharvest.com/api-v2/introduction/overview/pagination/
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Iterator, Mapping, MutableMapping, Optional

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.requests_native_auth.protocols import ResponseAwareAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..catalog import StreamSpec
from ..constants import PAGE_SIZE
from ..errors import PARSED_BODY_ATTRIBUTE, HarvestErrorHandler, RetryAfterBackoff, harvest_message
from ..network import use_adapter
from .checkpoint import ListingPosition, PageEnd, page_number, page_url
from .context import SyncContext, cursor_value
from .shift import Reread, ShiftWatch, row_ids, served_at

HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404


def _authenticator_ignores_responses(request: requests.PreparedRequest, response: requests.Response) -> None:
    return None


class ParentGone(Exception):
    """A per-parent list answered 404: the parent was deleted while the sync ran."""


class ParentWithoutList(Exception):
    """A per-parent list answered the row's `no_list_status`: Harvest documents that this parent cannot
    hold such a list (teammates of a user who is not a Manager), so it has no rows."""


class HarvestHttpStream(HttpStream):
    """A row of `catalog.STREAMS` as the CDK's HttpStream: requests, pages, errors."""

    def __init__(self, spec: StreamSpec, context: SyncContext) -> None:
        self.spec = spec
        self.context = context
        super().__init__(authenticator=context.authenticator, api_budget=context.budget)
        # Every stream's requests share one connection pool, with the settings resolved once per sync
        # (context.request_kwargs, from network.request_settings).
        use_adapter(self._http_client._session, context.adapter)
        if not isinstance(context.authenticator, ResponseAwareAuthenticator):
            # The client would ask that runtime Protocol again on every response (~2% of a sync's CPU);
            # the answer cannot change, so the no-op it leads to is installed once.
            self._http_client._update_authenticator_from_response = _authenticator_ignores_responses  # type: ignore[method-assign]

    # --- identity ----------------------------------------------------------------------------
    @property
    def name(self) -> str:  # type: ignore[override]
        return self.spec.name

    @property
    def primary_key(self) -> list[str]:  # type: ignore[override]
        return list(self.spec.primary_key)

    @property
    def cursor_field(self) -> list[str]:  # type: ignore[override]
        return [self.spec.cursor] if self.spec.cursor else []

    @property
    def is_resumable(self) -> bool:
        # Cursorless streams read every page in read_records (see airbyte-cdk-notes §3.6).
        return bool(self.spec.cursor)

    @property
    def url_base(self) -> str:
        return self.context.config.api_url

    # --- HTTP ----------------------------------------------------------------------------------
    def get_error_handler(self) -> Optional[ErrorHandler]:
        config = self.context.config
        return HarvestErrorHandler(self.logger, self.name, self.endpoint, config.account_id, config.auth_type == "Client",
                                   self.context.stats[self.name], self.spec.no_list_status)

    @property
    def endpoint(self) -> str:
        """The path template this stream requests, as users read it in messages (/invoices/{id}/payments)."""
        return "/" + (self.spec.path or self.name).replace("{parent_id}", "{id}")

    def get_backoff_strategy(self) -> Optional[BackoffStrategy]:
        return RetryAfterBackoff()

    def request_kwargs(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.context.request_kwargs

    def request_headers(self, **kwargs: Any) -> Mapping[str, Any]:
        return {"User-Agent": self.context.config.user_agent, "Accept": "application/json"}

    @classmethod
    def _join_url(cls, url_base: str, path: str) -> str:
        # Paths are links.next (absolute) or relative to api_url, which ends in "/" (config.py);
        # urljoin would re-parse both on every request to the same effect.
        return path if path.startswith(("https://", "http://")) else url_base + path

    def path(self, *, stream_state: Any = None, stream_slice: Optional[Mapping[str, Any]] = None,
             next_page_token: Optional[Mapping[str, Any]] = None) -> str:
        if next_page_token:
            return next_page_token["next_url"]
        return (stream_slice or {})["path"]

    def request_params(self, stream_state: Any = None, stream_slice: Optional[Mapping[str, Any]] = None,
                       next_page_token: Optional[Mapping[str, Any]] = None) -> MutableMapping[str, Any]:
        # Sent on every page: the CDK drops the ones links.next already carries, and re-appends any
        # filter links.next would have lost (whether it keeps them is not documented).
        return dict((stream_slice or {}).get("params", {}))

    def next_page_token(self, response: requests.Response) -> Optional[Mapping[str, Any]]:
        body = self._body(response)
        next_url = (body.get("links") or {}).get("next") if isinstance(body, dict) else None
        return {"next_url": next_url} if next_url else None

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        return self._page_records(response)

    def _body(self, response: requests.Response) -> Any:
        if response.status_code in (HTTP_FORBIDDEN, HTTP_NOT_FOUND, self.spec.no_list_status):
            return {}
        if not hasattr(response, PARSED_BODY_ATTRIBUTE):
            setattr(response, PARSED_BODY_ATTRIBUTE, orjson.loads(response.content))
        return getattr(response, PARSED_BODY_ATTRIBUTE)

    def _page_records(self, response: requests.Response) -> list[dict[str, Any]]:
        if response.status_code == HTTP_FORBIDDEN:
            raise self._forbidden(response)
        if response.status_code == HTTP_NOT_FOUND:
            raise ParentGone(response.request.path_url if response.request else "")
        if response.status_code == self.spec.no_list_status:
            raise ParentWithoutList(f"{response.status_code} {harvest_message(response)}".rstrip())
        body = self._body(response)
        if self.spec.data_key == "":
            return [body] if isinstance(body, dict) else []
        rows = body.get(self.spec.data_key or self.name) if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise AirbyteTracedException(
                message=f"{self.name}: Harvest's answer has no '{self.spec.data_key or self.name}' list; the API may have changed.",
                internal_message=f"keys: {sorted(body)[:20] if isinstance(body, dict) else type(body).__name__}",
                failure_type=FailureType.system_error,
            )
        return rows

    def _forbidden(self, response: requests.Response) -> AirbyteTracedException:
        role = self.spec.permission
        article = "an" if role[0] in "AEIOU" else "a"
        message = (f"{self.name}: Harvest answered 403 Forbidden for {self.endpoint}; this stream needs {article} {role} token "
                   f"(an Administrator's token replicates every row).")
        detail = harvest_message(response)
        return AirbyteTracedException(message=message, internal_message=f"{message} Harvest said: {detail}",
                                      failure_type=FailureType.config_error)

    def fetch(self, path: str, params: Mapping[str, Any], start: ListingPosition | None = None) -> Iterator[Any]:
        """Every record of one Harvest list, page after page through links.next, each page followed by a
        PageEnd. From `start` (a resume point) the list continues where it stood (checkpoint.py)."""
        params = {"per_page": PAGE_SIZE, **params}
        if start is None:
            yield from self._pages(path, params)
        elif start.next is None:
            return  # the listing was complete
        elif start.page_based:
            yield from self._resume_page_listing(path, params, start)
        else:
            yield from self._resume_cursor_listing(path, params, start)

    def _pages(self, url: str, params: Mapping[str, Any]) -> Iterator[Any]:
        stream_slice = {"path": url, "params": params}
        watch = ShiftWatch()
        yield from self._read_pages(lambda request, response, state, _slice: self._counted_page(request, response, watch), stream_slice, {})

    def _resume_cursor_listing(self, path: str, params: Mapping[str, Any], start: ListingPosition) -> Iterator[Any]:
        """A cursor (keyset) link stays valid while records are created or deleted around it. If Harvest
        no longer accepts it (the record it points after was deleted), the list is read from its start."""
        pages = self._pages(start.next, params)  # type: ignore[arg-type]
        try:
            first = next(pages)
        except StopIteration:
            return
        except (AirbyteTracedException, ParentGone) as error:
            if isinstance(error, AirbyteTracedException) and error.failure_type == FailureType.config_error:
                raise
            self.logger.warning(f"{self.name}: Harvest refused the saved place in {self.endpoint} ({error}); "
                                "reading that list again from its start.")
            yield from self._pages(path, params)
            return
        yield first
        yield from pages

    def _resume_page_listing(self, path: str, params: Mapping[str, Any], start: ListingPosition) -> Iterator[Any]:
        """A page endpoint's rows shift when records before them are created or deleted. The read goes
        back one page and must meet the last record read before (same id, same updated_at): every record
        after it is then at or after that page. If it is not met, the list is read again from its start."""
        before = start.page_before()
        found = start.last_id is None or before is None
        for item in self._pages(before or start.next, params):  # type: ignore[arg-type]
            if not found and item.__class__ is dict and item.get("id") == start.last_id \
                    and cursor_value(item.get("updated_at")) == start.last_updated_at:
                found = True
            yield item
        if not found:
            self.logger.warning(f"{self.name}: rows of {self.endpoint} shifted while the sync was stopped; "
                                "reading that list again from its start so that none is missed.")
            yield from self._pages(path, params)

    def _counted_page(self, request: requests.PreparedRequest, response: requests.Response, watch: ShiftWatch) -> list[Any]:
        rows: list[Any] = list(self._page_records(response))  # a copy: the parsed body stays as Harvest sent it
        body = self._body(response)
        self.context.stats.page(self.name, body, len(rows))
        last = rows[-1] if rows and rows[-1].__class__ is dict else {}
        next_url = (body.get("links") or {}).get("next") if isinstance(body, dict) else None
        url = request.url or ""
        total = body.get("total_entries") if isinstance(body, dict) else None
        plan = watch.after_page(page_number(url), total, rows, served_at(response))
        if plan is not None:
            # Before the page's end: its checkpoint must not pass rows that crossed into pages already read.
            rows.extend(self._reread_moved_rows(url, plan))
        rows.append(PageEnd(ListingPosition(next_url, last.get("id"), cursor_value(last.get("updated_at")))))
        return rows

    def _reread_moved_rows(self, url: str, plan: Reread) -> list[Any]:
        """Rows moved while the list was read (shift.py): the pages before this one, read again from
        `plan.first` back to `plan.down_to`, and on until one holds a row of `plan.anchor`."""
        rows: list[Any] = []
        number = plan.first
        while True:
            response = self._get_single(page_url(url, number))
            page = self._page_records(response)  # a 404 raises ParentGone, as on any page
            self.context.stats.page(self.name, self._body(response), len(page))
            self.context.stats[self.name].rereads += 1
            rows.extend(page)
            if number == 1 or (number <= plan.down_to and (not plan.anchor or plan.anchor & row_ids(page))):
                break
            number -= 1
        pages = f"page {number}" if number == plan.first else f"pages {plan.first}..{number}"
        self.logger.info(f"{self.name}: rows of {self.endpoint} moved while it was read ({plan.reason}); "
                         f"read {pages} again so that no row that crossed a page boundary is missed.")
        return rows

    def _fetch_next_page(self, stream_slice: Optional[Mapping[str, Any]] = None, stream_state: Optional[Mapping[str, Any]] = None,
                         next_page_token: Optional[Mapping[str, Any]] = None) -> tuple[requests.PreparedRequest, requests.Response]:
        started = time.monotonic()
        request, response = super()._fetch_next_page(stream_slice, stream_state, next_page_token)
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(f"{request.method} {request.path_url} -> {response.status_code} in {time.monotonic() - started:.3f}s")
        return request, response

    def _get_single(self, path: str) -> requests.Response:
        """One GET with no paging (a singleton or one record); a 403 names the role this stream needs."""
        _, response = self._fetch_next_page({"path": path, "params": {}}, {}, None)
        if response.status_code == HTTP_FORBIDDEN:
            raise self._forbidden(response)
        return response

    def fetch_one(self, path: str) -> dict[str, Any]:
        """A singleton endpoint (/company, /users/me): the body is the record."""
        body = self._body(self._get_single(path))
        self.context.stats.page(self.name, body, 1)
        return body if isinstance(body, dict) else {}

    def exists(self, path: str) -> bool:
        """A single-object GET: False only on 404 (deleted), True on 200; anything else raises. A path
        with a query is a filtered list instead: False when it lists nothing.
        Asked once per sync per path, however many streams hang off the same parent."""
        known = self.context.existence.answer(path)
        if known is not None:
            return known
        response = self._get_single(path)
        self.context.stats[self.name].requests += 1  # a request, not a page of the stream's listing
        exists = response.status_code != HTTP_NOT_FOUND
        if exists and "?" in path:
            body = self._body(response)
            total = body.get("total_entries") if isinstance(body, dict) else None
            if not isinstance(total, int):
                raise AirbyteTracedException(
                    message=f"{self.name}: Harvest's answer to /{path.split('?')[0]} has no total_entries; the API may have changed.",
                    failure_type=FailureType.system_error)
            exists = total > 0
        self.context.existence.record(path, exists)
        return exists
