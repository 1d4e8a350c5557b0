"""The sandbox's in-memory Harvest account: collections kept in API sort order, shared refs, one lock.

Every collection holds its rows pre-sorted in Harvest's fixed order (harvest-api.md §3) together
with a parallel list of integer sort keys, so a page is a slice, a keyset cursor is a bisect and a
mutation is one list insert/remove -- nothing re-sorts the 200k time entries of scale 10 per request.
Nested reference objects (``client``, ``project``, ``user`` ...) are shared dicts updated in place,
so renaming a project shows in every time entry, as it does in Harvest.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
SortKey = tuple[int, ...]

ORDER_CREATED_DESC = "created_desc"
ORDER_ISSUE_DATE_DESC = "issue_date_desc"
ORDER_SPENT_DATE_DESC = "spent_date_desc"
ORDER_START_DATE_ASC = "start_date_asc"
NULL_DATE_SORT_VALUE = 0  # rates without start_date sort before dated ones


@dataclass(frozen=True)
class CollectionSpec:
    """One stored collection: its Harvest array key, fixed sort order and parent."""

    name: str
    order: str = ORDER_CREATED_DESC
    parent: str | None = None  # child collections: rows belong to one parent row
    group_by: str | None = None  # nested ref whose id groups rows (task_assignments by project)


COLLECTION_SPECS: tuple[CollectionSpec, ...] = (
    CollectionSpec("clients"),
    CollectionSpec("contacts"),
    CollectionSpec("users"),
    CollectionSpec("roles"),
    CollectionSpec("projects"),
    CollectionSpec("tasks"),
    CollectionSpec("task_assignments", group_by="project"),
    CollectionSpec("user_assignments", group_by="user"),
    CollectionSpec("time_entries", order=ORDER_SPENT_DATE_DESC, group_by="user"),  # a Member's rows: one lookup
    CollectionSpec("expenses", order=ORDER_SPENT_DATE_DESC, group_by="user"),
    CollectionSpec("expense_categories"),
    CollectionSpec("invoices", order=ORDER_ISSUE_DATE_DESC),
    CollectionSpec("invoice_messages", parent="invoices"),
    CollectionSpec("invoice_payments", parent="invoices"),
    CollectionSpec("invoice_item_categories"),
    CollectionSpec("estimates", order=ORDER_ISSUE_DATE_DESC),
    CollectionSpec("estimate_messages", parent="estimates"),
    CollectionSpec("estimate_item_categories"),
    CollectionSpec("billable_rates", order=ORDER_START_DATE_ASC, parent="users"),
    CollectionSpec("cost_rates", order=ORDER_START_DATE_ASC, parent="users"),
)
SPEC_BY_NAME = {spec.name: spec for spec in COLLECTION_SPECS}
PROJECT_ASSIGNMENTS = "project_assignments"  # a view over active user_assignments, per user
TEAMMATES = "teammates"  # a view over users: each Manager's assigned teammates (AccountInfo.teammates)
ALL_COLLECTION_NAMES = tuple(spec.name for spec in COLLECTION_SPECS) + (PROJECT_ASSIGNMENTS, TEAMMATES)
CHILD_PARENTS = {spec.name: spec.parent for spec in COLLECTION_SPECS if spec.parent} | {
    PROJECT_ASSIGNMENTS: "users",
    TEAMMATES: "users",
}
TEAMMATE_FIELDS = ("id", "first_name", "last_name", "email")  # Harvest's teammate object


def _datetime_number(text: str) -> int:
    """``2024-01-31T12:00:00Z`` -> 20240131120000 (monotonic, cheap)."""
    return int(text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19])


def _date_number(text: str | None) -> int:
    if not text:
        return NULL_DATE_SORT_VALUE
    return int(text[0:4] + text[5:7] + text[8:10])


def sort_key(order: str, record: Record) -> SortKey:
    """Ascending key that yields Harvest's order; ties broken by id, newest (largest) first."""
    record_id = record["id"]
    if order == ORDER_CREATED_DESC:
        return (-_datetime_number(record["created_at"]), -record_id)
    if order == ORDER_ISSUE_DATE_DESC:
        return (-_date_number(record["issue_date"]), -record_id)
    if order == ORDER_SPENT_DATE_DESC:
        return (-_date_number(record["spent_date"]), -record_id)
    return (_date_number(record.get("start_date")), -record_id)


@dataclass
class Ordered:
    """Rows in API order plus their sort keys (parallel lists)."""

    keys: list[SortKey] = field(default_factory=list)
    rows: list[Record] = field(default_factory=list)

    def insert(self, key: SortKey, record: Record) -> int:
        index = bisect_left(self.keys, key)
        self.keys.insert(index, key)
        self.rows.insert(index, record)
        return index

    def remove(self, key: SortKey) -> int | None:
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index]
            del self.rows[index]
            return index
        return None


class Collection:
    """Rows of one collection by id, in API order, and grouped by parent (or ``group_by`` ref)."""

    def __init__(self, spec: CollectionSpec) -> None:
        self.spec = spec
        self.by_id: dict[int, Record] = {}
        self.parent_of: dict[int, int] = {}
        self.ordered = Ordered()
        self.groups: dict[int, Ordered] = {}
        # Keys survive deletion so that a cursor naming a deleted row still resumes correctly.
        self.key_of_id: dict[int, SortKey] = {}
        # (updated_at, id) ascending: updated_since selects a suffix by bisection.
        self.updated_index: list[tuple[str, int]] = []
        # updated_at of each row of ``ordered``, same positions: a scan without touching the row dicts.
        self.stamps: list[str] = []

    def group_of(self, record: Record) -> int | None:
        if self.spec.parent:
            return self.parent_of.get(record["id"])
        if self.spec.group_by:
            return record[self.spec.group_by]["id"]
        return None

    def load(self, records: list[Record], parents: dict[int, int] | None = None) -> None:
        """Bulk load (generation): one sort instead of many inserts."""
        order = self.spec.order
        if parents:
            self.parent_of.update(parents)
        keyed = sorted(((sort_key(order, record), record) for record in records), key=lambda pair: pair[0])
        self.ordered = Ordered([key for key, _ in keyed], [record for _, record in keyed])
        self.updated_index = sorted((record["updated_at"], record["id"]) for record in records)
        self.stamps = [record["updated_at"] for record in self.ordered.rows]
        for key, record in keyed:
            self.by_id[record["id"]] = record
            self.key_of_id[record["id"]] = key
            group = self.group_of(record)
            if group is not None:
                bucket = self.groups.setdefault(group, Ordered())
                bucket.keys.append(key)
                bucket.rows.append(record)

    def add(self, record: Record, parent_id: int | None = None) -> None:
        if parent_id is not None:
            self.parent_of[record["id"]] = parent_id
        key = sort_key(self.spec.order, record)
        self.by_id[record["id"]] = record
        self.key_of_id[record["id"]] = key
        self.stamps.insert(self.ordered.insert(key, record), record["updated_at"])
        insort(self.updated_index, (record["updated_at"], record["id"]))
        group = self.group_of(record)
        if group is not None:
            self.groups.setdefault(group, Ordered()).insert(key, record)

    def detach(self, record_id: int) -> Record:
        """Take a row out of the ordered lists (before a re-key, or for deletion)."""
        record = self.by_id[record_id]
        key = self.key_of_id[record_id]
        position = self.ordered.remove(key)
        if position is not None:
            del self.stamps[position]
        index_entry = (record["updated_at"], record_id)
        position = bisect_left(self.updated_index, index_entry)
        if position < len(self.updated_index) and self.updated_index[position] == index_entry:
            del self.updated_index[position]
        group = self.group_of(record)
        if group is not None and group in self.groups:
            self.groups[group].remove(key)
        return record

    def remove(self, record_id: int) -> Record:
        record = self.detach(record_id)
        del self.by_id[record_id]
        self.parent_of.pop(record_id, None)
        return record

    def reattach(self, record: Record) -> None:
        parent_id = self.parent_of.get(record["id"])
        self.add(record, parent_id)

    def updated_since(self, bound: str) -> Ordered:
        """Rows with updated_at >= bound, in API order (for selective bounds: cost ~ result size)."""
        first = bisect_left(self.updated_index, (bound,))
        keys = sorted(self.key_of_id[record_id] for _, record_id in self.updated_index[first:])
        by_id = self.by_id
        return Ordered(keys, [by_id[-key[-1]] for key in keys])

    def view(self, group: int | None = None) -> Ordered:
        if group is None:
            return self.ordered
        return self.groups.get(group) or Ordered()


def user_name(user: Record) -> str:
    return f"{user['first_name']} {user['last_name']}"


class RefBook:
    """Shared nested reference objects, one dict per (kind, id), updated in place on mutation."""

    def __init__(self) -> None:
        self.client: dict[int, Record] = {}  # {"id","name"}
        self.client_currency: dict[int, Record] = {}  # {"id","name","currency"}
        self.project: dict[int, Record] = {}  # {"id","name","code"}
        self.user: dict[int, Record] = {}  # {"id","name"}
        self.task: dict[int, Record] = {}  # {"id","name"}
        self.expense_category: dict[int, Record] = {}  # {"id","name","unit_price","unit_name"}
        self.user_assignment: dict[int, Record] = {}  # embedded in time entries and expenses
        self.task_assignment: dict[int, Record] = {}  # embedded in time entries
        self.invoice: dict[int, Record] = {}  # {"id","number"}

    @staticmethod
    def _put(table: dict[int, Record], record_id: int, values: Record) -> Record:
        existing = table.get(record_id)
        if existing is None:
            table[record_id] = values
            return values
        existing.update(values)
        return existing

    def sync(self, collection: str, record: Record) -> None:
        """(Re)build the refs derived from a row of ``collection``."""
        record_id = record["id"]
        if collection == "clients":
            self._put(self.client, record_id, {"id": record_id, "name": record["name"]})
            self._put(
                self.client_currency,
                record_id,
                {"id": record_id, "name": record["name"], "currency": record["currency"]},
            )
        elif collection == "projects":
            self._put(self.project, record_id, {"id": record_id, "name": record["name"], "code": record["code"]})
        elif collection == "users":
            self._put(self.user, record_id, {"id": record_id, "name": user_name(record)})
        elif collection == "tasks":
            self._put(self.task, record_id, {"id": record_id, "name": record["name"]})
        elif collection == "expense_categories":
            self._put(
                self.expense_category,
                record_id,
                {
                    "id": record_id,
                    "name": record["name"],
                    "unit_price": record["unit_price"],
                    "unit_name": record["unit_name"],
                },
            )
        elif collection == "user_assignments":
            self._put(self.user_assignment, record_id, user_assignment_embed(record))
        elif collection == "task_assignments":
            self._put(self.task_assignment, record_id, task_assignment_embed(record))
        elif collection == "invoices":
            self._put(self.invoice, record_id, {"id": record_id, "number": record["number"]})


def user_assignment_embed(record: Record) -> Record:
    return {
        "id": record["id"],
        "is_project_manager": record["is_project_manager"],
        "is_active": record["is_active"],
        "use_default_rates": record["use_default_rates"],
        "budget": record["budget"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "hourly_rate": record["hourly_rate"],
    }


def task_assignment_embed(record: Record) -> Record:
    return {
        "id": record["id"],
        "billable": record["billable"],
        "is_active": record["is_active"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "hourly_rate": record["hourly_rate"],
        "budget": record["budget"],
    }


@dataclass
class AccountInfo:
    """Who is who in the sandbox account (ids, tokens, OAuth app)."""

    account_id: int
    forecast_account_id: int
    account_name: str
    admin_id: int
    manager_id: int
    member_id: int
    admin_token: str
    manager_token: str
    member_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    teammates: dict[int, set[int]] = field(default_factory=dict)  # manager id -> teammate ids


class Store:
    """All collections, the company singleton, refs and account info, behind one re-entrant lock."""

    def __init__(self, company: Record, account: AccountInfo) -> None:
        self.lock = threading.RLock()
        self.version = 0  # bumped by every mutation; invalidates query and report caches
        self.company = company
        self.account = account
        self.refs = RefBook()
        self.collections: dict[str, Collection] = {spec.name: Collection(spec) for spec in COLLECTION_SPECS}
        self.last_ids: dict[str, int] = {}

    def __getitem__(self, name: str) -> Collection:
        return self.collections[name]

    def bump(self) -> None:
        self.version += 1

    # --- project assignments: a per-user view over active user assignments ---------------------

    def project_assignment(self, user_assignment: Record) -> Record:
        project = self["projects"].by_id.get(user_assignment["project"]["id"])
        project_ref = self.refs.project.get(user_assignment["project"]["id"], user_assignment["project"])
        client: Record | None = None
        is_billable = True
        if project is not None:
            client = self.refs.client_currency.get(project["client"]["id"])
            is_billable = project["is_billable"]
        task_rows = self["task_assignments"].view(project_ref["id"]).rows
        return {
            "id": user_assignment["id"],
            "is_project_manager": user_assignment["is_project_manager"],
            "is_active": user_assignment["is_active"],
            "use_default_rates": user_assignment["use_default_rates"],
            "budget": user_assignment["budget"],
            "created_at": user_assignment["created_at"],
            "updated_at": user_assignment["updated_at"],
            "hourly_rate": user_assignment["hourly_rate"],
            "project": {**project_ref, "is_billable": is_billable},
            "client": client,
            "task_assignments": [
                {
                    "id": row["id"],
                    "billable": row["billable"],
                    "is_active": row["is_active"],
                    "created_at": row["created_at"],
                    "updated_at": row["updated_at"],
                    "hourly_rate": row["hourly_rate"],
                    "budget": row["budget"],
                    "task": row["task"],
                }
                for row in task_rows
                if row["is_active"]
            ],
        }

    def project_assignments_of(self, user_id: int) -> Ordered:
        view = self["user_assignments"].view(user_id)
        result = Ordered()
        for key, row in zip(view.keys, view.rows, strict=True):
            if row["is_active"]:
                result.keys.append(key)
                result.rows.append(self.project_assignment(row))
        return result

    def managed_project_ids(self, user_id: int) -> frozenset[int]:
        return frozenset(
            row["project"]["id"]
            for row in self["user_assignments"].view(user_id).rows
            if row["is_project_manager"] and row["is_active"]
        )

    def team_of(self, user_id: int) -> frozenset[int]:
        return frozenset({user_id} | self.account.teammates.get(user_id, set()))

    # --- teammates: a per-Manager view over users ------------------------------------------------

    @staticmethod
    def is_manager(user: Record) -> bool:
        return "manager" in user["access_roles"]

    def teammates_of(self, user_id: int) -> Ordered:
        """A Manager's assigned teammates as Harvest's teammate objects, in the users' API order."""
        teammates = self.account.teammates.get(user_id, set())
        users = self["users"].ordered
        result = Ordered()
        for key, user in zip(users.keys, users.rows, strict=True):
            if user["id"] in teammates:
                result.keys.append(key)
                result.rows.append({field: user[field] for field in TEAMMATE_FIELDS})
        return result
