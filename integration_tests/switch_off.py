"""A pytest plugin that switches one of issue 19's mechanisms off, to show the convergence tests need it.

    SWITCH_OFF=1 .venv/bin/python -m pytest -p integration_tests.switch_off integration_tests/test_convergence.py

1: live detection of rows moving across pages (streams/shift.py); 2: derived rows following their
source (per-parent tombstones, and the holders of changed task assignments); 3: the sweep's backstop
(rows never delivered, and the re-delivery since the last sweep). With any of them off the run must
fail; docs/development.md lists which tests do. Nothing imports this module otherwise.
"""

from __future__ import annotations

import os
from typing import Any, Iterator
from unittest import mock

from source_harvest.streams.child import ChildStream
from source_harvest.streams.deletes import DeleteTracker
from source_harvest.streams.shift import ShiftWatch

ORIGINAL_INIT = DeleteTracker.__init__


def _no_parent_read(self: DeleteTracker, parent_id: Any, row_ids: Any) -> Iterator[Any]:
    return iter(())


def _no_resweep(self: DeleteTracker, *args: Any, **kwargs: Any) -> None:
    ORIGINAL_INIT(self, *args, **kwargs)
    self.previous_sweep_since = None


SWITCHES: dict[str, list[tuple[Any, str, Any]]] = {
    "1": [(ShiftWatch, "after_page", lambda self, *args, **kwargs: None)],
    "2": [(DeleteTracker, "parent_read", _no_parent_read), (ChildStream, "holders_of_changed", lambda self, since: set())],
    "3": [(DeleteTracker, "never_delivered", lambda self, record: False), (DeleteTracker, "__init__", _no_resweep)],
}

for owner, name, replacement in SWITCHES.get(os.environ.get("SWITCH_OFF", ""), []):
    mock.patch.object(owner, name, replacement).start()
