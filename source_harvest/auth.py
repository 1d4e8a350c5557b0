"""Authentication: personal access token or OAuth2, plus the headers Harvest requires on every call.

https://help.getharvest.com/api-v2/authentication-api/authentication/authentication/
Every request carries `Authorization: Bearer …` and `Harvest-Account-Id`; `User-Agent` is added by
the streams (a request without one gets 400).
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.requests_native_auth import (
    SingleUseRefreshTokenOauth2Authenticator,
    TokenAuthenticator,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.auth import AuthBase

from .config import HarvestConfig, is_header_safe

# Harvest's token endpoint answers these for a revoked refresh token or a wrong client.
OAUTH_REJECTION_STATUS_CODES = (400, 401)
OAUTH_REJECTION_ERRORS = ("invalid_grant", "invalid_client", "unauthorized_client", "invalid_request")
UNSAFE_ACCESS_TOKEN = (
    "The OAuth token refresh returned an access token holding a line break or another character that cannot go in an "
    "HTTP header, so no request was sent with it. Check that id_url is Harvest ID's (https://id.getharvest.com/api/v2/); "
    "if it is, retry the sync later, and report it to Harvest if it happens again."
)


class HarvestTokenAuthenticator(TokenAuthenticator):
    """A personal access token, with the account header."""

    def __init__(self, token: str, account_id: str) -> None:
        super().__init__(token=token, auth_method="Bearer")
        self._account_id = account_id

    def get_auth_header(self) -> Mapping[str, Any]:
        return {**super().get_auth_header(), "Harvest-Account-Id": self._account_id}


class HarvestOAuthAuthenticator(SingleUseRefreshTokenOauth2Authenticator):
    """OAuth2 refresh-token flow against Harvest ID (`<id_url>oauth2/token`).

    Whether Harvest rotates refresh tokens is not documented, so a new refresh token is stored
    when one arrives, and only then emitted as a config control message for the platform to keep.
    """

    def __init__(self, config: HarvestConfig, raw_config: Mapping[str, Any]) -> None:
        connector_config = copy.deepcopy(dict(raw_config))
        credentials = connector_config.setdefault("credentials", {})
        credentials.setdefault("access_token", "")
        credentials.setdefault("token_expiry_date", "")
        self._account_id = config.account_id
        self._persisted_refresh_token = credentials.get("refresh_token", "")
        super().__init__(
            connector_config=connector_config,
            token_refresh_endpoint=config.id_url + "oauth2/token",
            refresh_request_headers={"User-Agent": config.user_agent},
            refresh_token_error_status_codes=OAUTH_REJECTION_STATUS_CODES,
            refresh_token_error_key="error",
            refresh_token_error_values=OAUTH_REJECTION_ERRORS,
        )

    def get_auth_header(self) -> Mapping[str, Any]:
        header = super().get_auth_header()
        if not is_header_safe(header["Authorization"]):
            # requests does not check headers an authenticator sets, and http.client's refusal quotes the value.
            raise AirbyteTracedException(message=UNSAFE_ACCESS_TOKEN, internal_message=UNSAFE_ACCESS_TOKEN, failure_type=FailureType.system_error)
        return {**header, "Harvest-Account-Id": self._account_id}

    def _emit_control_message(self) -> None:
        if self.get_refresh_token() == self._persisted_refresh_token:
            return
        self._persisted_refresh_token = self.get_refresh_token()
        super()._emit_control_message()


def build_authenticator(config: HarvestConfig, raw_config: Mapping[str, Any]) -> AuthBase:
    if config.auth_type == "Client":
        return HarvestOAuthAuthenticator(config, raw_config)
    return HarvestTokenAuthenticator(config.api_token, config.account_id)
