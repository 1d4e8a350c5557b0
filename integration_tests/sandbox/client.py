"""The client side of the sandbox's HTTP control API, for scripts that run the sandbox as a process."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

CONTROL_TIMEOUT_SECONDS = 600  # records() of a scale-10 account takes a while


def control(base: str, method: str, path: str, body: Any = None) -> Any:
    """`method` /_sandbox/`path` on the sandbox at `base` (http://127.0.0.1:PORT): records, mutations, stats."""
    request = urllib.request.Request(f"{base}/_sandbox/{path}", method=method, headers={"Content-Type": "application/json"},
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT_SECONDS) as response:
        return json.loads(response.read() or b"null")
