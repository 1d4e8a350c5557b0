"""The ten Harvest report endpoints, computed from the store's time entries and expenses.

Rows aggregate per subject *and currency* (the client's currency) over an inclusive
``from``/``to`` range (harvest-api.md §5.2, row fields §6). Only subjects with a non-zero total are
listed. Money and hours are rounded to cents; an exact zero is written as the integer ``0``, as
Harvest does. ``uninvoiced_amount`` and ``budget_remaining`` can be negative.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from .access import ROLE_MANAGER, Principal
from .store import Record, Store

DECIMALS = 2
TIME_REPORT_KINDS = ("clients", "projects", "tasks", "team")
EXPENSE_REPORT_KINDS = ("clients", "projects", "categories", "team")
MONEY_BUDGETS = ("project_cost", "task_fees")  # budget_by values counted in money, not hours


def number(value: float) -> float | int:
    rounded = round(value, DECIMALS)
    return 0 if rounded == 0 else rounded


def _date_number(value: date) -> int:
    return value.year * 10_000 + value.month * 100 + value.day


def rows_in_range(store: Store, collection: str, start: date, end: date) -> list[Record]:
    """Rows of a spent_date-ordered collection with start <= spent_date <= end (by bisection)."""
    ordered = store[collection].ordered
    first = bisect_left(ordered.keys, (-_date_number(end),))
    stop = bisect_left(ordered.keys, (-_date_number(start) + 1,))
    return ordered.rows[first:stop]


def _visible(rows: Iterable[Record], principal: Principal) -> Iterable[Record]:
    predicate = principal.sees_entry()
    return rows if predicate is None else filter(predicate, rows)


def _subject(kind: str, store: Store) -> Callable[[Record], tuple[tuple[Any, ...], Record]]:
    """A report row's subject for a time entry or an expense: its sort key and identity columns."""
    users = store["users"].by_id

    def subject(row: Record) -> tuple[tuple[Any, ...], Record]:
        if kind == "clients":
            client = row["client"]
            return (client["name"], client["id"]), {"client_id": client["id"], "client_name": client["name"]}
        if kind == "projects":
            client, project = row["client"], row["project"]
            return (client["name"], project["name"], project["id"]), {
                "client_id": client["id"],
                "client_name": client["name"],
                "project_id": project["id"],
                "project_name": project["name"],
            }
        if kind == "tasks":
            task = row["task"]
            return (task["name"], task["id"]), {"task_id": task["id"], "task_name": task["name"]}
        if kind == "categories":
            category = row["expense_category"]
            return (category["name"], category["id"]), {"expense_category_id": category["id"], "expense_category_name": category["name"]}
        user_ref = row["user"]
        user = users.get(user_ref["id"], {})
        return (user_ref["name"], user_ref["id"]), {
            "user_id": user_ref["id"],
            "user_name": user_ref["name"],
            "is_contractor": user.get("is_contractor", False),
        }

    return subject


def time_report(store: Store, kind: str, entries: Iterable[Record], include_fixed_fee: bool) -> list[Record]:
    projects = store["projects"].by_id
    users = store["users"].by_id
    subject = _subject(kind, store)
    totals: dict[tuple[Any, ...], Record] = {}
    for entry in entries:
        if not include_fixed_fee and projects.get(entry["project"]["id"], {}).get("is_fixed_fee"):
            continue
        sort_key, identity = subject(entry)
        currency = entry["client"]["currency"]
        row = totals.get(sort_key + (currency,))
        if row is None:
            row = identity | {"total_hours": 0.0, "billable_hours": 0.0, "currency": currency, "billable_amount": 0.0}
            totals[sort_key + (currency,)] = row
        hours = entry["hours"]
        row["total_hours"] += hours
        if entry["billable"]:
            row["billable_hours"] += hours
            row["billable_amount"] += hours * (entry["billable_rate"] or 0.0)
    result = []
    for key in sorted(totals):
        row = totals[key]
        if round(row["total_hours"], DECIMALS) == 0:
            continue
        for field in ("total_hours", "billable_hours", "billable_amount"):
            row[field] = number(row[field])
        if kind == "team":
            user = users.get(row["user_id"], {})
            row["weekly_capacity"] = user.get("weekly_capacity", 0)
            row["avatar_url"] = user.get("avatar_url", "")
        result.append(row)
    return result


def expense_report(kind: str, expenses: Iterable[Record], store: Store) -> list[Record]:
    subject = _subject(kind, store)
    totals: dict[tuple[Any, ...], Record] = {}
    for expense in expenses:
        sort_key, identity = subject(expense)
        client = expense["client"]
        currency = client["currency"]
        row = totals.get(sort_key + (currency,))
        if row is None:
            row = identity | {"total_amount": 0.0, "billable_amount": 0.0, "currency": currency}
            totals[sort_key + (currency,)] = row
        row["total_amount"] += expense["total_cost"]
        if expense["billable"]:
            row["billable_amount"] += expense["total_cost"]
    result = []
    for key in sorted(totals):
        row = totals[key]
        if round(row["total_amount"], DECIMALS) == 0:
            continue
        row["total_amount"] = number(row["total_amount"])
        row["billable_amount"] = number(row["billable_amount"])
        result.append(row)
    return result


def invoiced_by_project(store: Store) -> dict[int, float]:
    """Amounts already invoiced per project (line items of sent invoices)."""
    result: dict[int, float] = {}
    for invoice in store["invoices"].ordered.rows:
        if invoice["state"] == "draft":
            continue
        for item in invoice["line_items"]:
            project = item.get("project")
            if project is not None:
                result[project["id"]] = result.get(project["id"], 0.0) + item["amount"]
    return result


def uninvoiced_report(
    store: Store, entries: Iterable[Record], expenses: Iterable[Record], include_fixed_fee: bool
) -> list[Record]:
    projects = store["projects"].by_id
    totals: dict[int, Record] = {}

    def row_for(record: Record) -> Record | None:
        project_id = record["project"]["id"]
        project = projects.get(project_id)
        if project is not None and project["is_fixed_fee"] and not include_fixed_fee:
            return None
        row = totals.get(project_id)
        if row is None:
            client = record["client"]
            row = {
                "client_id": client["id"],
                "client_name": client["name"],
                "project_id": project_id,
                "project_name": record["project"]["name"],
                "currency": client["currency"],
                "total_hours": 0.0,
                "uninvoiced_hours": 0.0,
                "uninvoiced_expenses": 0.0,
                "uninvoiced_amount": 0.0,
            }
            totals[project_id] = row
        return row

    for entry in entries:
        row = row_for(entry)
        if row is None:
            continue
        row["total_hours"] += entry["hours"]
        if entry["billable"] and not entry["is_billed"]:
            row["uninvoiced_hours"] += entry["hours"]
            row["uninvoiced_amount"] += entry["hours"] * (entry["billable_rate"] or 0.0)
    for expense in expenses:
        row = row_for(expense)
        if row is None or not expense["billable"] or expense["is_billed"]:
            continue
        row["uninvoiced_expenses"] += expense["total_cost"]
        row["uninvoiced_amount"] += expense["total_cost"]
    invoiced = invoiced_by_project(store)
    result = []
    for project_id, row in sorted(totals.items(), key=lambda item: (item[1]["client_name"], item[1]["project_name"], item[0])):
        project = projects.get(project_id)
        if project is not None and project["is_fixed_fee"]:
            # Fixed fee: what is left of the fee; over-invoiced projects go negative.
            row["uninvoiced_amount"] = (project["fee"] or 0.0) - invoiced.get(project_id, 0.0) + row["uninvoiced_expenses"]
        for field in ("total_hours", "uninvoiced_hours", "uninvoiced_expenses", "uninvoiced_amount"):
            row[field] = number(row[field])
        if any(row[field] != 0 for field in ("total_hours", "uninvoiced_hours", "uninvoiced_expenses", "uninvoiced_amount")):
            result.append(row)
    return result


def project_budget_report(store: Store, principal: Principal, is_active: bool | None) -> list[Record]:
    projects = store["projects"].ordered.rows
    if principal.is_admin:
        visible = projects
    elif principal.role == ROLE_MANAGER:
        visible = [row for row in projects if row["id"] in principal.managed_projects or row["show_budget_to_all"]]
    else:
        visible = [row for row in projects if row["show_budget_to_all"]]
    wanted = {
        row["id"]: row for row in visible if row["budget_by"] != "none" and (is_active is None or row["is_active"] == is_active)
    }
    spent_hours: dict[int, float] = dict.fromkeys(wanted, 0.0)
    spent_money: dict[int, float] = dict.fromkeys(wanted, 0.0)
    for entry in store["time_entries"].ordered.rows:
        project_id = entry["project"]["id"]
        if project_id in wanted:
            spent_hours[project_id] += entry["hours"]
            spent_money[project_id] += entry["hours"] * (entry["billable_rate"] or 0.0)
    result = []
    for project in sorted(wanted.values(), key=lambda row: (row["client"]["name"], row["name"], row["id"])):
        in_money = project["budget_by"] in MONEY_BUDGETS
        budget = (project["cost_budget"] if project["budget_by"] == "project_cost" else project["budget"]) or 0.0
        spent = spent_money[project["id"]] if in_money else spent_hours[project["id"]]
        result.append(
            {
                "client_id": project["client"]["id"],
                "client_name": project["client"]["name"],
                "project_id": project["id"],
                "project_name": project["name"],
                "budget_is_monthly": project["budget_is_monthly"],
                "budget_by": project["budget_by"],
                "is_active": project["is_active"],
                "budget": number(budget),
                "budget_spent": number(spent),
                "budget_remaining": number(budget - spent),
            }
        )
    return result


def compute(
    store: Store,
    report_path: str,
    principal: Principal,
    start: date | None,
    end: date | None,
    include_fixed_fee: bool,
    is_active: bool | None,
) -> list[Record]:
    """Rows of ``report_path`` (e.g. ``time/clients``) for the principal."""
    if report_path == "project_budget":
        return project_budget_report(store, principal, is_active)
    assert start is not None and end is not None
    group, _, kind = report_path.partition("/")
    if group == "time":
        entries = _visible(rows_in_range(store, "time_entries", start, end), principal)
        return time_report(store, kind, entries, include_fixed_fee)
    if group == "expenses":
        expenses = _visible(rows_in_range(store, "expenses", start, end), principal)
        return expense_report(kind, expenses, store)
    entries = _visible(rows_in_range(store, "time_entries", start, end), principal)
    expenses = _visible(rows_in_range(store, "expenses", start, end), principal)
    return uninvoiced_report(store, entries, expenses, include_fixed_fee)


REPORT_PATHS = (
    tuple(f"time/{kind}" for kind in TIME_REPORT_KINDS)
    + tuple(f"expenses/{kind}" for kind in EXPENSE_REPORT_KINDS)
    + ("uninvoiced", "project_budget")
)
