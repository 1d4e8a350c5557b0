"""How requests reach Harvest: requests' own HTTPAdapter (one urllib3 pool per sync), and the proxy,
trust-store and timeout settings that `check` and `read` both take from `request_settings`.

No protocol code here: urllib3 frames answers, decodes gzip, pools connections and verifies
certificates. Its own retries are off, so that every attempt goes through the CDK's HttpClient: it
is retried with backoff by our error handler (errors.py) and counted by the API budget (budget.py).
"""

from __future__ import annotations

import os
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .config import config_error
from .constants import CONNECT_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS

# Hosts whose connections the pool keeps: Harvest's API, and Harvest ID (check lists accounts there).
POOL_HOSTS = 2
# Connections kept per host. The streams take turns in one thread (streams/hub.py), so a request is
# sent only once the previous answer was read whole, and one connection carries the whole sync; the
# spares only matter if that ever changes (pool_block=False opens more rather than wait).
POOL_CONNECTIONS_PER_HOST = 4
# urllib3 must never send a request again by itself: such a request would bypass the budget.
URLLIB3_RETRIES = 0
# Where requests reads a CA bundle from the environment, in its order (requests.Session.merge_environment_settings).
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def harvest_adapter() -> HTTPAdapter:
    return HTTPAdapter(pool_connections=POOL_HOSTS, pool_maxsize=POOL_CONNECTIONS_PER_HOST,
                       max_retries=URLLIB3_RETRIES, pool_block=False)


def use_adapter(session: requests.Session, adapter: HTTPAdapter) -> requests.Session:
    """Send `session`'s requests through `adapter`, with settings from `request_settings` only: with
    trust_env on, requests would read the environment again on every request (~0.4 ms each)."""
    session.trust_env = False
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def request_settings(url: str) -> dict[str, Any]:
    """The keyword arguments of every request to `url`: proxies (HTTPS_PROXY, NO_PROXY, …), the CA
    bundle (REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi's, as requests chooses), and the
    timeouts after which a stalled request is abandoned and retried. A CA bundle variable naming
    nothing usable is a config_error at once, rather than a failure of every request."""
    settings: dict[str, Any] = {"proxies": requests.utils.get_environ_proxies(url, no_proxy=None),
                                "timeout": (CONNECT_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS)}
    for variable in CA_BUNDLE_VARIABLES:
        bundle = os.environ.get(variable)
        if bundle:
            if not ((os.path.isfile(bundle) or os.path.isdir(bundle)) and os.access(bundle, os.R_OK)):
                raise config_error(
                    f"{variable} is set to {bundle}, which is not a readable file or directory, so no HTTPS "
                    f"certificate could be verified. Point {variable} at a PEM bundle of CA certificates "
                    "(or a directory of them), or unset it to use the certifi bundle."
                )
            settings["verify"] = bundle
            break
    return settings
