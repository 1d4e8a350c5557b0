"""A realistic, deterministic Harvest REST API v2 sandbox server (standard library only).

``Sandbox(seed=1, scale=0.05, ...).start()`` serves /v2 (data), /api/v2 (OAuth token, accounts)
and /_sandbox (control API) on 127.0.0.1; ``python -m integration_tests.sandbox`` runs it as a
process. See ``sandbox.py`` for the Python API.
"""

from .limits import FAULT_KINDS
from .sandbox import Sandbox
from .store import ALL_COLLECTION_NAMES

__all__ = ["ALL_COLLECTION_NAMES", "FAULT_KINDS", "Sandbox"]
