"""Who a token is (personal access tokens, OAuth), what their Harvest role lets them see.

Roles follow harvest-api.md §4.3/§5: an Administrator sees everything; the sandbox's Manager has no
extra grants (so 403 on admin-only resources) and sees their teammates and managed projects; a
Member sees only their own time and expenses. OAuth access tokens act as the admin user and expire
after ``expires_in`` seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .store import AccountInfo, Record, Store

ROLE_ADMIN = "administrator"
ROLE_MANAGER = "manager"
ROLE_MEMBER = "member"
ACCESS_TOKEN_BYTES = 48
AUTHORIZATION_CODE_SUFFIX = "sandbox-authorization-code"


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


class TokenBook:
    """Personal access tokens, OAuth access/refresh tokens and the OAuth app's credentials."""

    def __init__(
        self,
        account: AccountInfo,
        expires_in_seconds: int,
        rotate_refresh_tokens: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
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
        self.authorization_code = f"{account.admin_id}.{AUTHORIZATION_CODE_SUFFIX}"

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
            elif grant_type == "authorization_code":
                if form.get("code") != self.authorization_code:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "The provided authorization code is invalid or expired.",
                    }
                user_id = self.account.admin_id
                refresh_token = self._new_refresh_token(user_id) if self.rotate_refresh_tokens else self.latest_refresh_token
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
        self.latest_refresh_token = token
        return token


def principal_for(store: Store, user_id: int, token: str) -> Principal:
    """Build the principal (role, team, managed projects) from the store's current state."""
    user = store["users"].by_id.get(user_id)
    role = role_of(user) if user is not None else ROLE_MEMBER
    if role == ROLE_MANAGER:
        return Principal(user_id, role, token, store.managed_project_ids(user_id), store.team_of(user_id))
    return Principal(user_id, role, token, frozenset(), frozenset({user_id}))
