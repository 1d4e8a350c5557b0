"""``Sandbox``: the Python API that tests and the benchmark use to run a Harvest API v2 sandbox."""

from __future__ import annotations

import random
import threading
import time
import weakref
from datetime import date, datetime, timedelta, timezone
from typing import Any

from . import reports
from .access import TokenBook, principal_for
from .api import AUTHORIZE_PATH, HarvestApi
from .data import WINDOW_YEARS, generate
from .factory import Factory
from .limits import (
    GENERAL_LIMIT_REQUESTS,
    GENERAL_WINDOW_SECONDS,
    REPORTS_LIMIT_REQUESTS,
    REPORTS_WINDOW_SECONDS,
    FaultInjector,
    RateLimits,
)
from .mutations import Mutator, export, records
from .server import SandboxApp, SandboxHTTPServer
from .store import ALL_COLLECTION_NAMES, Record
from .timefmt import years_before

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_OAUTH_EXPIRES_IN_SECONDS = 64799  # 18 h, as in Harvest's OAuth examples
# Where Airbyte's UI on a local install sends OAuth callbacks (its origin + /auth_flow).
DEFAULT_OAUTH_REDIRECT_URI = "http://localhost:8000/auth_flow"
MUTATION_SEED_SALT = 0x0DD5_EED5
TOKEN_KINDS = ("admin", "manager", "member", "oauth")
SERVER_POLL_SECONDS = 0.05  # how fast stop() is noticed


def default_anchor() -> date:
    """Yesterday (UTC): generated data then ends at least a day before now."""
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def parse_anchor(anchor: str | date | None) -> date:
    if anchor is None:
        return default_anchor()
    if isinstance(anchor, date):
        return anchor
    return date.fromisoformat(anchor)


class Sandbox:
    """A deterministic Harvest account behind a local HTTP server.

    Data is generated in the constructor (so ``records()`` works before ``start()``); ``start()``
    binds 127.0.0.1 (or ``host``) and serves in a daemon thread.
    """

    def __init__(
        self,
        seed: int = 1,
        scale: float = 0.05,
        time_scale: float = 1.0,
        fault_rate: float = 0.0,
        rate_limits: bool = True,
        anchor: str | date | None = None,
        page_size_cap: int | None = None,
        rotate_refresh_tokens: bool = False,
        oauth_expires_in: int = DEFAULT_OAUTH_EXPIRES_IN_SECONDS,
        oauth_redirect_uri: str = DEFAULT_OAUTH_REDIRECT_URI,
        fault_kinds: list[str] | None = None,
        port: int = 0,
        host: str = LOOPBACK_HOST,
    ) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if page_size_cap is not None and page_size_cap < 1:
            raise ValueError("page_size_cap must be at least 1")
        self.seed = seed
        self.scale = scale
        self.time_scale = time_scale
        self.anchor = parse_anchor(anchor)
        self.port = port
        self.host = host  # interface to bind; URLs always name the loopback address
        started = time.perf_counter()
        self.store = generate(seed, scale, self.anchor)
        self.generation_seconds = time.perf_counter() - started
        self.tokens = TokenBook(self.store.account, oauth_expires_in, rotate_refresh_tokens, oauth_redirect_uri)
        self.limits = RateLimits(time_scale, rate_limits)
        self.faults = FaultInjector(seed, fault_rate, fault_kinds)
        self.api = HarvestApi(self.store, self.tokens, self.limits, page_size_cap)
        mutation_factory = Factory(random.Random(seed ^ MUTATION_SEED_SALT), self.store)
        info = weakref.WeakMethod(self.info)  # no Sandbox <-> app cycle: a dropped Sandbox frees by refcount

        def current_info() -> dict[str, Any]:
            method = info()
            return {} if method is None else method()

        self.app = SandboxApp(self.store, self.api, Mutator(self.store, mutation_factory), self.faults, current_info)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, port: int | None = None) -> Sandbox:
        if self._server is not None:
            return self
        self._server = SandboxHTTPServer((self.host, self.port if port is None else port), self.app)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SERVER_POLL_SECONDS},
            name=f"harvest-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- addresses and credentials -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started; call start() first")
        return f"http://{LOOPBACK_HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/v2/"

    @property
    def id_url(self) -> str:
        return f"{self.base_url}/api/v2/"

    @property
    def authorize_url(self) -> str:
        """Harvest ID's consent page (https://id.getharvest.com/oauth2/authorize)."""
        return f"{self.base_url}{AUTHORIZE_PATH}"

    @property
    def account_id(self) -> str:
        return str(self.store.account.account_id)

    @property
    def forecast_account_id(self) -> str:
        return str(self.store.account.forecast_account_id)

    @property
    def admin_token(self) -> str:
        return self.store.account.admin_token

    @property
    def manager_token(self) -> str:
        return self.store.account.manager_token

    @property
    def member_token(self) -> str:
        return self.store.account.member_token

    @property
    def client_id(self) -> str:
        return self.store.account.client_id

    @property
    def client_secret(self) -> str:
        return self.store.account.client_secret

    @property
    def refresh_token(self) -> str:
        """A currently valid refresh token (the newest one when refresh tokens rotate)."""
        return self.tokens.latest_refresh_token

    @property
    def oauth_redirect_uri(self) -> str:
        """The OAuth app's registered redirect URL: the only one the authorize page accepts."""
        return self.tokens.redirect_uri

    @property
    def user_ids(self) -> dict[str, int]:
        account = self.store.account
        return {"admin": account.admin_id, "manager": account.manager_id, "member": account.member_id}

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "id_url": self.id_url,
            "account_id": self.account_id,
            "forecast_account_id": self.forecast_account_id,
            "admin_token": self.admin_token,
            "manager_token": self.manager_token,
            "member_token": self.member_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "authorize_url": self.authorize_url,
            "oauth_redirect_uri": self.oauth_redirect_uri,
            "user_ids": self.user_ids,
            "seed": self.seed,
            "scale": self.scale,
            "time_scale": self.time_scale,
            "anchor": self.anchor.isoformat(),
            "page_size_cap": self.api.page_size_cap,
            "rate_limits": self.limits.enabled,
            "counts": {name: len(self.store[name].by_id) for name in ALL_COLLECTION_NAMES if name in self.store.collections},
        }

    def config(self, token: str = "admin", **overrides: Any) -> dict[str, Any]:
        """A ready connector config for one of the tokens ("admin", "manager", "member", "oauth")."""
        if token not in TOKEN_KINDS:
            raise ValueError(f"token must be one of {TOKEN_KINDS}")
        if token == "oauth":
            credentials: dict[str, Any] = {
                "auth_type": "Client",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            }
        else:
            credentials = {"auth_type": "Token", "api_token": getattr(self, f"{token}_token")}
        start = years_before(self.anchor, WINDOW_YEARS)
        config: dict[str, Any] = {
            "account_id": self.account_id,
            "api_url": self.url,
            "id_url": self.id_url,
            "replication_start_date": f"{start.isoformat()}T00:00:00Z",
            "credentials": credentials,
            "rate_limit": {
                "requests": GENERAL_LIMIT_REQUESTS,
                "period_seconds": GENERAL_WINDOW_SECONDS * self.time_scale,
                "report_requests": REPORTS_LIMIT_REQUESTS,
                "report_period_seconds": REPORTS_WINDOW_SECONDS * self.time_scale,
            },
        }
        config.update(overrides)
        return config

    # --- data ----------------------------------------------------------------------------------------

    def records(self, collection: str) -> list[Record]:
        return records(self.store, collection)

    def report(self, path: str, start: date | None = None, end: date | None = None) -> list[Record]:
        """Ground truth of a report: the rows an Administrator gets now from /v2/reports/<path> (``time/clients``,
        ``project_budget``) with Harvest's default parameters; every report but project_budget takes a range."""
        with self.store.lock:
            principal = principal_for(self.store, self.store.account.admin_id, self.admin_token)
            return export(reports.compute(self.store, path, principal, start, end, True, None))

    def create(self, collection: str, fields: dict[str, Any]) -> Record:
        return self.app.mutator.create(collection, fields)

    def update(self, collection: str, record_id: int, fields: dict[str, Any]) -> Record:
        return self.app.mutator.update(collection, record_id, fields)

    def delete(self, collection: str, record_id: int) -> None:
        self.app.mutator.delete(collection, record_id)

    # --- observation and faults ----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def set_faults(self, rate: float, kinds: list[str] | None = None) -> None:
        self.faults.configure(rate, kinds)
