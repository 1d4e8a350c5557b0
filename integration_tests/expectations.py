"""What a full sync must deliver and the fewest requests it can make, from what the account holds.

expected_keys: the primary keys of every entity stream, computed from the sandbox's records.
minimum_requests: the fewest requests a full sync of every entity stream can make.

ceil(rows / 2000) per list endpoint (at least one), one list per parent for per-parent endpoints,
one request for /company. Used by the integration tests and by `make bench`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from source_harvest.catalog import STREAMS_BY_NAME
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
        "GET /v2/users/{id}/teammates": users,  # a non-Manager's 422 is a request too
        "GET /v2/users/{id}/project_assignments": assigned_users,  # users with no assignment have none to list
        "GET /v2/invoices/{id}/messages": invoices,
        "GET /v2/invoices/{id}/payments": invoices,
        "GET /v2/estimates/{id}/messages": estimates,
    })
    return minimum


# stream -> (sandbox collection, function giving a record's primary key), for every non-report stream.
ENTITY = {
    "clients": "clients", "contacts": "contacts", "users": "users", "roles": "roles", "projects": "projects", "tasks": "tasks",
    "project_tasks": "task_assignments", "project_users": "user_assignments", "time_entries": "time_entries",
    "expenses": "expenses", "expense_categories": "expense_categories", "invoices": "invoices",
    "invoice_item_categories": "invoice_item_categories", "estimates": "estimates", "estimate_item_categories": "estimate_item_categories",
    "invoice_messages": "invoice_messages", "invoice_payments": "invoice_payments", "estimate_messages": "estimate_messages",
    "billable_rates": "billable_rates", "cost_rates": "cost_rates", "user_projects": "project_assignments",
}


def expected_keys(sandbox, stream: str) -> set[Any]:
    if stream in ENTITY:
        return {r["id"] for r in sandbox.records(ENTITY[stream])}
    if stream in ("invoice_line_items", "estimate_line_items"):
        return {item["id"] for parent in sandbox.records(stream.split("_")[0] + "s") for item in parent["line_items"]}
    if stream == "user_teammates":
        return {(row["_parent_id"], row["id"]) for row in sandbox.records("teammates")}
    if stream == "user_roles":
        return {(user, role["id"]) for role in sandbox.records("roles") for user in role["user_ids"]}
    if stream == "user_project_tasks":
        return {(a["_parent_id"], t["id"]) for a in sandbox.records("project_assignments") for t in a["task_assignments"]}
    refs = [(e["id"], e["external_reference"]["id"]) for e in sandbox.records("time_entries") if e.get("external_reference")]
    if stream == "time_entry_external_reference":
        return set(refs)
    if stream == "external_reference":
        return {ref for _, ref in refs}
    if stream == "company":
        return {sandbox.records("company")[0]["base_uri"]} if hasattr(sandbox, "records") else set()
    raise KeyError(stream)


def key_of(stream: str, record: dict[str, Any]) -> Any:
    key = STREAMS_BY_NAME[stream].primary_key
    return record[key[0]] if len(key) == 1 else tuple(record[k] for k in key)
