"""Who a token is (personal access tokens, OAuth), what their Harvest role lets them see.

Roles follow harvest-api.md §4.3/§5: an Administrator sees everything; the sandbox's Manager has no
extra grants (so 403 on admin-only resources) and sees their teammates and managed projects; a
Member sees only their own time and expenses. OAuth access tokens act as the admin user and expire
after ``expires_in`` seconds. Harvest ID's authorization-code flow (harvest-api.md §1.3): the
authorize page consents at once, as the admin user, and redirects with a single-use code bound to
the client and the redirect URI; the token endpoint exchanges it for an access and a refresh token.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .store import AccountInfo, Record, Store

ROLE_ADMIN = "administrator"
ROLE_MANAGER = "manager"
ROLE_MEMBER = "member"
ACCESS_TOKEN_BYTES = 48
AUTHORIZATION_CODE_BYTES = 24
# Harvest does not document its codes' lifetime; RFC 6749 §4.1.2 recommends at most 10 minutes.
AUTHORIZATION_CODE_LIFETIME_SECONDS = 600
# The grant reaches both of the user's accounts (Harvest and Forecast, as /accounts lists them).
OAUTH_SCOPE = "all"
INVALID_CODE = {
    "error": "invalid_grant",
    "error_description": "The provided authorization code is invalid, expired, already used or issued to another client or redirect URI.",
}


@dataclass(frozen=True)
class Principal:
    """The user behind a request, with the sets that bound what a Manager sees."""

    user_id: int
    role: str
    token: str
    managed_projects: frozenset[int] = frozenset()
    team: frozenset[int] = frozenset()  # self + teammates

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def scope_key(self) -> tuple[str, int]:
        """Cache key: rows visible to this principal depend only on role and user."""
        return ("*", 0) if self.is_admin else (self.role, self.user_id)

    def sees_entry(self) -> Callable[[Record], bool] | None:
        """Row filter for time entries and expenses; ``None`` means every row."""
        if self.is_admin:
            return None
        if self.role == ROLE_MANAGER:
            team, managed = self.team, self.managed_projects
            return lambda row: row["user"]["id"] in team or row["project"]["id"] in managed
        user_id = self.user_id
        return lambda row: row["user"]["id"] == user_id

    def sees_user(self, user_id: int) -> bool:
        return self.is_admin or user_id == self.user_id or (self.role == ROLE_MANAGER and user_id in self.team)


def role_of(user: Record) -> str:
    roles = user["access_roles"]
    if ROLE_ADMIN in roles:
        return ROLE_ADMIN
    if ROLE_MANAGER in roles:
        return ROLE_MANAGER
    return ROLE_MEMBER


@dataclass
class OAuthGrant:
    user_id: int
    expires_at: float


@dataclass(frozen=True)
class AuthorizationCode:
    """What a code was issued for: ``redirect_uri`` is ``None`` when the authorize request named none."""

    client_id: str
    redirect_uri: str | None
    user_id: int
    expires_at: float


def with_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` added to its query (``None`` values left out)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


class TokenBook:
    """Personal access tokens, OAuth access/refresh tokens and the OAuth app's credentials."""

    def __init__(
        self,
        account: AccountInfo,
        expires_in_seconds: int,
        rotate_refresh_tokens: bool,
        redirect_uri: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.redirect_uri = redirect_uri  # the OAuth app's registered redirect URL
        self.expires_in_seconds = expires_in_seconds
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.clock = clock
        self._lock = threading.Lock()
        self.personal: dict[str, int] = {
            account.admin_token: account.admin_id,
            account.manager_token: account.manager_id,
            account.member_token: account.member_id,
        }
        self.access: dict[str, OAuthGrant] = {}
        self.refresh: dict[str, int] = {account.refresh_token: account.admin_id}
        self.latest_refresh_token = account.refresh_token
        self.codes: dict[str, AuthorizationCode] = {}

    def user_of(self, token: str) -> int | None:
        """The user a token acts for, or ``None`` if unknown or expired."""
        user_id = self.personal.get(token)
        if user_id is not None:
            return user_id
        with self._lock:
            grant = self.access.get(token)
            if grant is None:
                return None
            if self.clock() >= grant.expires_at:
                del self.access[token]
                return None
            return grant.user_id

    def authorize(self, params: Mapping[str, str]) -> tuple[int, dict[str, Any], str | None]:
        """GET /oauth2/authorize, consented at once by the admin user: (status, JSON body, redirect URL).

        An unknown client or a foreign redirect URI gets an error page (here 400 JSON) and no redirect,
        since the redirect target cannot be trusted (RFC 6749 §4.1.2.1); other errors are redirected.
        """
        client_id = params.get("client_id", "")
        if client_id != self.account.client_id:
            return 400, {"error": "invalid_client", "error_description": "No OAuth2 application has this client_id."}, None
        requested_uri = params.get("redirect_uri") or None
        if requested_uri is not None and requested_uri != self.redirect_uri:
            return 400, {"error": "invalid_request", "error_description": "redirect_uri is not the application's redirect URL."}, None
        redirect_uri = requested_uri or self.redirect_uri
        state = params.get("state")
        if params.get("response_type") != "code":
            return 302, {}, with_query(redirect_uri, {"error": "unsupported_response_type", "state": state})
        code = secrets.token_urlsafe(AUTHORIZATION_CODE_BYTES)
        with self._lock:
            self.codes[code] = AuthorizationCode(client_id, requested_uri, self.account.admin_id,
                                                 self.clock() + AUTHORIZATION_CODE_LIFETIME_SECONDS)
        return 302, {}, with_query(redirect_uri, {"code": code, "scope": OAUTH_SCOPE, "state": state})

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST /api/v2/oauth2/token: (status, JSON body)."""
        grant_type = form.get("grant_type", "")
        if form.get("client_id") != self.account.client_id or form.get("client_secret") != self.account.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
        with self._lock:
            if grant_type == "refresh_token":
                user_id = self.refresh.get(form.get("refresh_token", ""))
                if user_id is None:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "The provided refresh token is invalid, expired or revoked.",
                    }
                refresh_token = form["refresh_token"]
                if self.rotate_refresh_tokens:
                    del self.refresh[refresh_token]
                    refresh_token = self._new_refresh_token(user_id)
                    self.latest_refresh_token = refresh_token
            elif grant_type == "authorization_code":
                code = self.codes.pop(form.get("code", ""), None)  # single use, even when refused below
                if (
                    code is None
                    or code.client_id != form["client_id"]
                    or self.clock() >= code.expires_at
                    or (code.redirect_uri is not None and form.get("redirect_uri") != code.redirect_uri)
                ):
                    return 400, INVALID_CODE
                user_id = code.user_id
                refresh_token = self._new_refresh_token(user_id)
            else:
                return 400, {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be authorization_code or refresh_token.",
                }
            access_token = f"{user_id}.at.{secrets.token_urlsafe(ACCESS_TOKEN_BYTES)}"
            self.access[access_token] = OAuthGrant(user_id, self.clock() + self.expires_in_seconds)
        return 200, {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in_seconds,
        }

    def _new_refresh_token(self, user_id: int) -> str:
        token = f"{user_id}.rt.{secrets.token_urlsafe(ACCESS_TOKEN_BYTES)}"
        self.refresh[token] = user_id
        return token


def principal_for(store: Store, user_id: int, token: str) -> Principal:
    """Build the principal (role, team, managed projects) from the store's current state."""
    user = store["users"].by_id.get(user_id)
    role = role_of(user) if user is not None else ROLE_MEMBER
    if role == ROLE_MANAGER:
        return Principal(user_id, role, token, store.managed_project_ids(user_id), store.team_of(user_id))
    return Principal(user_id, role, token, frozenset(), frozenset({user_id}))
