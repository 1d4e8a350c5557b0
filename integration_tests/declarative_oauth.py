"""Airbyte's declarative OAuth as the platform runs it, driven by a connector's `advanced_auth` alone (tests only).

The format is Airbyte's documented one
(https://docs.airbyte.com/connector-development/config-based/advanced-topics/oauth); the steps follow
the platform's DeclarativeOAuthFlow (airbytehq/airbyte-platform, airbyte-oauth/.../declarative/):

1. consent URL: the `consent_url` template rendered with the OAuth app's client id, Airbyte's
   redirect URI and a random state (`state: {min, max}` sets its length);
2. after the user's consent, the callback's query must carry that state and the code;
3. token request: POST to the rendered `access_token_url` with the rendered `access_token_headers`
   and `access_token_params` as the body (form-encoded when the headers' Content-Type says so; the
   platform sends JSON otherwise);
4. outputs: the answer's values at the `extract_output` paths (which the platform defaults to the
   output specification's `path_in_oauth_response`), keyed by their last segment and kept when the
   output specification names them;
5. config: the user's choice of the OAuth option (`predicate_key` = `predicate_value`), the OAuth
   app's client id and secret and the outputs, each at its `path_in_connector_config`.

Only what this connector's spec uses is implemented, and a spec asking for more is refused rather
than half-run: templates are Jinja, as the platform's (Jinjava), with the `*_value` variables a step
has and the `urlencode` filter (an undefined variable or another filter fails the rendering); the
token request is form-encoded; the input keys are those of `SUPPORTED_INPUT_KEYS` (no renamed keys,
scopes or `expires_in` outputs). Jinja2's `urlencode` leaves "/" as it is where Jinjava's encodes it
as %2F; both decode to the same value.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jinja2
import jsonschema
import requests

PLATFORM_FILTERS = ("urlencode",)
SUPPORTED_INPUT_KEYS = frozenset(
    {"consent_url", "access_token_url", "access_token_headers", "access_token_params", "extract_output", "state"}
)
STATE_ALPHABET = string.ascii_letters + string.digits + ".-_"  # the platform's state characters
STATE_LENGTH_MIN, STATE_LENGTH_MAX = 7, 24  # its defaults when `state` gives no bound
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
TOKEN_EXPIRY_KEY = "expires_in"  # an output the platform turns into token_expiry_date
HTTP_ERROR_STATUS_MIN = 400
TOKEN_REQUEST_TIMEOUT_SECONDS = 30


class OAuthFlowError(Exception):
    """The flow stopped where the platform would show an error instead of filling in the config."""


def render(template: str, values: Mapping[str, str]) -> str:
    """A spec template rendered with only `values` and the platform filters this module provides."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    environment.filters = {name: environment.filters[name] for name in PLATFORM_FILTERS}
    try:
        rendered = environment.from_string(template).render(values)
    except (jinja2.UndefinedError, jinja2.TemplateAssertionError, jinja2.TemplateSyntaxError) as error:
        raise OAuthFlowError(f"template {template!r} cannot be rendered with {sorted(values)}: {error}") from error
    if "{{" in rendered or "{%" in rendered:
        raise OAuthFlowError(f"template {template!r} left a placeholder: {rendered!r}")
    return rendered


def set_path(config: dict[str, Any], path: Sequence[str], value: Any) -> None:
    for key in path[:-1]:
        config = config.setdefault(key, {})
    config[path[-1]] = value


def lookup(document: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(document, Mapping) or key not in document:
            return None
        document = document[key]
    return document


def identity(url: str) -> str:
    return url


@dataclass
class DeclarativeOAuth:
    """One OAuth app (its client id and secret, as an admin stores them in Airbyte) and Airbyte's redirect URI.

    `route` maps the spec's URLs to where they are served (a sandbox instead of Harvest).
    """

    advanced_auth: Mapping[str, Any]
    server_params: Mapping[str, str]  # keyed as complete_oauth_server_input_specification
    redirect_uri: str
    route: Callable[[str], str] = identity
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        unsupported = set(self.connector_input) - SUPPORTED_INPUT_KEYS
        if unsupported:
            raise OAuthFlowError(f"the spec uses {sorted(unsupported)}, which this emulation does not implement")
        for required in ("state", "extract_output"):
            if required not in self.connector_input:
                raise OAuthFlowError(f"the spec has no {required!r}: the platform's default is not emulated")

    @property
    def specification(self) -> Mapping[str, Any]:
        return self.advanced_auth["oauth_config_specification"]

    @property
    def connector_input(self) -> Mapping[str, Any]:
        return self.specification["oauth_connector_input_specification"]

    def new_state(self) -> str:
        bounds = self.connector_input["state"]
        length = secrets.choice(range(bounds.get("min", STATE_LENGTH_MIN), bounds.get("max", STATE_LENGTH_MAX) + 1))
        return "".join(secrets.choice(STATE_ALPHABET) for _ in range(length))

    def consent_url(self, state: str) -> str:
        """The URL the user's browser opens (the client secret is not among the values it may use)."""
        values = {"client_id_value": self.server_params["client_id"], "redirect_uri_value": self.redirect_uri, "state_value": state}
        return render(self.connector_input["consent_url"], values)

    def complete(self, callback_query: Mapping[str, str], state: str) -> dict[str, Any]:
        """The outputs of the token request that the callback's code allows, after checking its state."""
        if "error" in callback_query:
            raise OAuthFlowError(f"the authorization was refused: {callback_query['error']}")
        if callback_query.get("state") != state:
            raise OAuthFlowError("the callback's state is not the one this flow sent: refused as a possibly forged callback")
        if not callback_query.get("code"):
            raise OAuthFlowError(f"the callback carries no code: {sorted(callback_query)}")
        values = {
            "client_id_value": self.server_params["client_id"],
            "client_secret_value": self.server_params["client_secret"],
            "auth_code_value": callback_query["code"],
            "redirect_uri_value": self.redirect_uri,
            "state_value": state,
        }
        url = render(self.connector_input["access_token_url"], values)
        headers = {render(k, values): render(v, values) for k, v in self.connector_input.get("access_token_headers", {}).items()}
        params = {render(k, values): render(v, values) for k, v in self.connector_input.get("access_token_params", {}).items()}
        if headers.get("Content-Type") != FORM_CONTENT_TYPE:
            raise OAuthFlowError(f"only form-encoded token requests are emulated, not {headers.get('Content-Type')!r}")
        response = self.session.post(self.route(url), data=urlencode(params), headers=headers, timeout=TOKEN_REQUEST_TIMEOUT_SECONDS)
        if response.status_code >= HTTP_ERROR_STATUS_MIN:
            raise OAuthFlowError(f"token endpoint {url} returned HTTP {response.status_code}: {response.text}")
        return self._outputs(response.json())

    def _outputs(self, answer: Mapping[str, Any]) -> dict[str, Any]:
        output_spec = self.specification["complete_oauth_output_specification"]
        extracted: dict[str, Any] = {}
        for path in self.connector_input["extract_output"]:
            value, key = lookup(answer, path.split(".")), path.split(".")[-1]
            if value is None:
                raise OAuthFlowError(f"the token answer has no {path!r}; it has {sorted(answer)}")
            if key == TOKEN_EXPIRY_KEY:
                raise OAuthFlowError(f"{TOKEN_EXPIRY_KEY} -> token_expiry_date is not emulated")
            extracted[key] = str(value)
        outputs = {name: value for name, value in extracted.items() if name in output_spec["properties"]}
        jsonschema.validate(outputs, output_spec)
        return outputs

    def configure(self, base: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
        """`base` (the user's other fields) with the OAuth option chosen and filled in, as the form submits it."""
        config = copy.deepcopy(dict(base))
        set_path(config, self.advanced_auth["predicate_key"], self.advanced_auth["predicate_value"])
        for name, item in self.specification["complete_oauth_server_output_specification"]["properties"].items():
            set_path(config, item["path_in_connector_config"], self.server_params[name])
        for name, item in self.specification["complete_oauth_output_specification"]["properties"].items():
            set_path(config, item["path_in_connector_config"], outputs[name])
        return config
