"""The fewest requests a full sync of every entity stream can make, from what the account holds.

ceil(rows / 2000) per list endpoint (at least one), one list per parent for per-parent endpoints,
one request for /company. Used by the integration tests and by `make bench`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from source_harvest.constants import PAGE_SIZE

LISTS = ("clients", "contacts", "users", "roles", "projects", "tasks", "task_assignments", "user_assignments", "time_entries",
         "expenses", "expense_categories", "invoices", "invoice_item_categories", "estimates", "estimate_item_categories")


def pages(rows: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(rows / page_size))


def minimum_requests(records: Callable[[str], list[dict[str, Any]]]) -> dict[str, int]:
    users = len(records("users"))
    assigned_users = len({a["user"]["id"] for a in records("user_assignments")})
    invoices, estimates = len(records("invoices")), len(records("estimates"))
    minimum = {f"GET /v2/{name}": pages(len(records(name))) for name in LISTS}
    minimum.update({
        "GET /v2/company": 1,
        "GET /v2/users/{id}/billable_rates": users,
        "GET /v2/users/{id}/cost_rates": users,
        "GET /v2/users/{id}/project_assignments": assigned_users,  # users with no assignment have none to list
        "GET /v2/invoices/{id}/messages": invoices,
        "GET /v2/invoices/{id}/payments": invoices,
        "GET /v2/estimates/{id}/messages": estimates,
    })
    return minimum
