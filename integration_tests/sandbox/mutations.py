"""Control-API writes: create, update, delete, with the side effects Harvest would have.

Every write stamps ``updated_at`` (and ``created_at`` on create) with the real current time, UTC,
second precision, unless the caller passes those fields explicitly. Side effects:

* invoice payment created/updated/deleted -> invoice ``due_amount``, ``state``, ``paid_at``/``paid_date``,
  ``updated_at``;
* invoice/estimate message created -> parent ``updated_at`` (and ``sent_at``/``state`` on a send,
  accept or decline);
* user assignment updated -> the matching project assignment (same id, a view) changes; the
  user's ``updated_at`` does not;
* invoice/estimate deleted -> its messages and payments go; user deleted -> their assignments and
  rates go (and they leave roles and teams); project deleted -> its assignments go.

``teammates`` is a view: ``update("teammates", manager_id, {"teammate_ids": [...]})`` replaces a
Manager's teammates, as Harvest's ``PATCH /v2/users/{id}/teammates`` does (422 for a user who is not a
Manager or an unknown id); a user's own rows never change with it. Teammates are not created or
deleted one by one.

Fields may name related rows as ``<ref>_id`` (``project_id``) or as nested ``{"id": ...}`` objects;
child collections take the parent as ``_parent_id``.
"""

from __future__ import annotations

import copy
import gc
from typing import Any

from .factory import Factory, invoice_amounts, rounded_up_hours
from .store import CHILD_PARENTS, PROJECT_ASSIGNMENTS, SPEC_BY_NAME, TEAMMATES, Record, Store
from .timefmt import SECONDS_PER_DAY, day_index_of, now_string, parse_date, utc_now

PARENT_FIELD = "_parent_id"
REFERENCE_FIELDS = ("client", "project", "user", "task", "expense_category")
DEFAULT_HOURS = 1.0
CONTAINER_TYPES = (dict, list)
COMPANY = "company"  # records("company") -> [the /v2/company object]


class MutationError(Exception):
    """A write the store cannot do (unknown collection -> 404, bad fields -> 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def clone(value: Any) -> Any:
    """Deep copy of JSON-like data, recursing only into containers (scalars are shared)."""
    kind = type(value)
    if kind is dict:
        return {key: clone(item) if type(item) in CONTAINER_TYPES else item for key, item in value.items()}
    if kind is list:
        return [clone(item) if type(item) in CONTAINER_TYPES else item for item in value]
    return value


def export(value: Any) -> Any:
    """Deep copy safe to hand out: no shared ref objects escape. 200k time entries take ~1.5 s."""
    was_enabled = gc.isenabled()
    gc.disable()  # millions of fresh dicts would trigger repeated cyclic GC passes
    try:
        return clone(value)
    finally:
        if was_enabled:
            gc.enable()


class Mutator:
    def __init__(self, store: Store, factory: Factory) -> None:
        self.store = store
        self.factory = factory

    # --- helpers -------------------------------------------------------------------------------

    def collection_name(self, name: str) -> str:
        if name not in SPEC_BY_NAME and name not in (PROJECT_ASSIGNMENTS, TEAMMATES):  # company is read-only here
            raise MutationError(404, f"unknown collection {name!r}")
        return name

    @staticmethod
    def refuse_teammate_rows(collection: str) -> None:
        if collection == TEAMMATES:
            raise MutationError(422, "teammates are replaced as a whole: update the Manager's id with teammate_ids")

    def row(self, collection: str, record_id: int) -> Record:
        record = self.store[collection].by_id.get(record_id)
        if record is None:
            raise MutationError(404, f"{collection} has no id {record_id}")
        return record

    def reference_id(self, fields: dict[str, Any], ref: str) -> int | None:
        if f"{ref}_id" in fields:
            return int(fields[f"{ref}_id"])
        nested = fields.get(ref)
        if isinstance(nested, dict) and "id" in nested:
            return int(nested["id"])
        return None

    def referenced(self, fields: dict[str, Any], ref: str, collection: str, default: Record | None) -> Record:
        record_id = self.reference_id(fields, ref)
        if record_id is None:
            if default is None:
                raise MutationError(422, f"{ref}_id is required")
            return default
        return self.row(collection, record_id)

    def parent_id(self, collection: str, fields: dict[str, Any]) -> int:
        if PARENT_FIELD not in fields:
            raise MutationError(422, f"{collection} needs {PARENT_FIELD}")
        parent_id = int(fields[PARENT_FIELD])
        self.row(CHILD_PARENTS[collection], parent_id)
        return parent_id

    @staticmethod
    def now_epoch() -> int:
        return int(utc_now().timestamp())

    def first(self, collection: str) -> Record | None:
        rows = self.store[collection].ordered.rows
        return rows[0] if rows else None

    def output(self, collection: str, record: Record) -> Record:
        result = export(record)
        if collection in CHILD_PARENTS:
            parent = self.store[collection].parent_of.get(record["id"]) if collection in SPEC_BY_NAME else None
            result[PARENT_FIELD] = parent
        return result

    def overlay(self, record: Record, fields: dict[str, Any]) -> None:
        """Copy plain fields; related rows given by id become their shared ref objects."""
        refs = self.store.refs
        tables = {
            "client": refs.client_currency if "currency" in record.get("client", {}) else refs.client,
            "project": refs.project,
            "user": refs.user,
            "task": refs.task,
            "expense_category": refs.expense_category,
        }
        for key, value in fields.items():
            if key in (PARENT_FIELD, "id"):
                continue
            ref = key[: -len("_id")] if key.endswith("_id") else key
            if ref in REFERENCE_FIELDS and ref in record and (key.endswith("_id") or isinstance(value, dict)):
                ref_id = self.reference_id(fields, ref)
                if ref_id is None or ref_id not in tables[ref]:
                    raise MutationError(422, f"unknown {ref} id {ref_id}")
                record[ref] = tables[ref][ref_id]
                continue
            record[key] = copy.deepcopy(value)

    # --- create --------------------------------------------------------------------------------

    def create(self, name: str, fields: dict[str, Any]) -> Record:
        collection = self.collection_name(name)
        self.refuse_teammate_rows(collection)
        with self.store.lock:
            if collection == PROJECT_ASSIGNMENTS:
                user_id = self.parent_id(collection, fields)
                record = self.create(
                    "user_assignments",
                    {key: value for key, value in fields.items() if key != PARENT_FIELD} | {"user_id": user_id},
                )
                return self.output(
                    PROJECT_ASSIGNMENTS, self.store.project_assignment(self.row("user_assignments", record["id"]))
                ) | {PARENT_FIELD: user_id}
            now = self.now_epoch()
            parent_id = self.parent_id(collection, fields) if collection in CHILD_PARENTS else None
            record = self.build(collection, now, fields, parent_id)
            self.overlay(record, fields)
            if "created_at" not in fields:
                record["created_at"] = now_string()
            if "updated_at" not in fields:
                record["updated_at"] = record["created_at"] if "created_at" in fields else now_string()
            self.store[collection].add(record, parent_id)
            self.store.refs.sync(collection, record)
            self.after_write(collection, record, parent_id, created=True)
            self.store.bump()
            return self.output(collection, record)

    def build(self, collection: str, now: int, fields: dict[str, Any], parent_id: int | None) -> Record:
        factory, store = self.factory, self.store
        record_id = factory.next_id(collection)
        name = fields.get("name", f"New {collection.rstrip('s').replace('_', ' ')} {record_id}")
        if collection == "clients":
            return factory.client(record_id, now, now, name, fields.get("currency", "USD"))
        if collection == "contacts":
            client = self.referenced(fields, "client", "clients", self.first("clients"))
            return factory.contact(record_id, now, now, client["id"])
        if collection == "users":
            first, last = fields.get("first_name", "New"), fields.get("last_name", f"User {record_id}")
            return factory.user(record_id, now, now, first, last, list(fields.get("access_roles", ["member"])))
        if collection == "roles":
            return factory.role(record_id, now, now, name, list(fields.get("user_ids", [])))
        if collection == "projects":
            client = self.referenced(fields, "client", "clients", self.first("clients"))
            return factory.project(record_id, now, now, client["id"], name)
        if collection == "tasks":
            return factory.task(record_id, now, now, name)
        if collection == "task_assignments":
            project = self.referenced(fields, "project", "projects", self.first("projects"))
            task = self.referenced(fields, "task", "tasks", self.first("tasks"))
            return factory.task_assignment(record_id, now, now, project, task)
        if collection == "user_assignments":
            project = self.referenced(fields, "project", "projects", self.first("projects"))
            user = self.referenced(fields, "user", "users", self.first("users"))
            return factory.user_assignment(record_id, now, now, project, user, bool(fields.get("is_project_manager", False)))
        if collection in ("time_entries", "expenses"):
            return self.build_entry(collection, record_id, now, fields)
        if collection == "expense_categories":
            return factory.expense_category(record_id, now, now, name, fields.get("unit_name"), fields.get("unit_price"))
        if collection == "invoice_item_categories":
            return factory.invoice_item_category(record_id, now, now, name, True, False)
        if collection == "estimate_item_categories":
            return factory.estimate_item_category(record_id, now, now, name)
        if collection in ("invoices", "estimates"):
            return self.build_document(collection, record_id, now, fields)
        admin = store["users"].by_id[store.account.admin_id]
        if collection == "invoice_messages":
            return factory.invoice_message(record_id, now, now, admin, fields.get("event_type", "send"))
        if collection == "estimate_messages":
            return factory.estimate_message(record_id, now, now, admin, fields.get("event_type", "send"))
        if collection == "invoice_payments":
            assert parent_id is not None
            invoice = self.row("invoices", parent_id)
            amount = float(fields.get("amount", invoice["due_amount"]))
            return factory.invoice_payment(record_id, now, now, amount, admin)
        # billable_rates, cost_rates
        start = fields.get("start_date")
        start_day = None if start is None else self.day_of(start)
        return factory.rate(record_id, now, now, float(fields.get("amount", 100.0)), start_day, None)

    @staticmethod
    def day_of(text: str) -> int:
        parsed = parse_date(text)
        if parsed is None:
            raise MutationError(422, f"not a date: {text!r}")
        return day_index_of(parsed)

    def build_entry(self, collection: str, record_id: int, now: int, fields: dict[str, Any]) -> Record:
        store, factory = self.store, self.factory
        user_id = self.reference_id(fields, "user")
        project_id = self.reference_id(fields, "project")
        pool = store["user_assignments"].ordered.rows if user_id is None else store["user_assignments"].view(user_id).rows
        candidates = [row for row in pool if project_id is None or row["project"]["id"] == project_id]
        if not candidates:
            raise MutationError(422, f"user {user_id} is not assigned to project {project_id}")
        assignment = candidates[0]
        project = self.row("projects", assignment["project"]["id"])
        user = self.row("users", assignment["user"]["id"])
        spent_text = fields.get("spent_date")
        spent_day = now // SECONDS_PER_DAY if spent_text is None else self.day_of(spent_text)
        if collection == "expenses":
            category = self.referenced(fields, "expense_category", "expense_categories", self.first("expense_categories"))
            return factory.expense(record_id, now, now, spent_day, assignment, project, user, category)
        task_id = self.reference_id(fields, "task")
        task_rows = [
            row for row in store["task_assignments"].view(project["id"]).rows if task_id is None or row["task"]["id"] == task_id
        ]
        if not task_rows:
            raise MutationError(422, f"task {task_id} is not assigned to project {project['id']}")
        hours = float(fields.get("hours", DEFAULT_HOURS))
        running = bool(fields.get("is_running", False))
        return factory.time_entry(
            record_id, now, now, spent_day, hours, assignment, task_rows[0], project, user, running=running, timer_started=now
        )

    def build_document(self, collection: str, record_id: int, now: int, fields: dict[str, Any]) -> Record:
        store, factory = self.store, self.factory
        client = self.referenced(fields, "client", "clients", self.first("clients"))
        creator = store["users"].by_id[store.account.admin_id]
        issue_text = fields.get("issue_date")
        issue_day = now // SECONDS_PER_DAY if issue_text is None else self.day_of(issue_text)
        projects = [row for row in store["projects"].ordered.rows if row["client"]["id"] == client["id"]]
        invoice = collection == "invoices"
        kinds_source = "invoice_item_categories" if invoice else "estimate_item_categories"
        kinds = [row["name"] for row in store[kinds_source].ordered.rows]
        items = factory.line_items(projects, kinds, 1, invoice=invoice)
        number = str(fields.get("number", record_id))
        if invoice:
            return factory.invoice(record_id, now, now, client, creator, issue_day, number, "draft", items)
        return factory.estimate(record_id, now, now, client, creator, issue_day, number, "draft", items)

    # --- update --------------------------------------------------------------------------------

    def update(self, name: str, record_id: int, fields: dict[str, Any]) -> Record:
        collection = self.collection_name(name)
        with self.store.lock:
            if collection == TEAMMATES:
                return self.set_teammates(record_id, fields)
            if collection == PROJECT_ASSIGNMENTS:
                self.update("user_assignments", record_id, fields)
                assignment = self.row("user_assignments", record_id)
                return self.output(PROJECT_ASSIGNMENTS, self.store.project_assignment(assignment)) | {
                    PARENT_FIELD: assignment["user"]["id"]
                }
            table = self.store[collection]
            record = self.row(collection, record_id)
            table.detach(record_id)
            try:
                self.overlay(record, fields)
                if collection in ("invoices", "estimates") and "line_items" in fields:
                    record.update(invoice_amounts(record["line_items"], record["tax"], record["tax2"], record["discount"]))
                    if collection == "invoices":
                        paid = sum(row["amount"] for row in self.store["invoice_payments"].view(record_id).rows)
                        record["due_amount"] = max(round(record["amount"] - paid, 2), 0.0)
                if collection == "time_entries" and "hours" in fields:
                    for derived, value in (
                        ("hours_without_timer", record["hours"]),
                        ("rounded_hours", rounded_up_hours(record["hours"])),
                    ):
                        if derived not in fields:
                            record[derived] = value
                if "updated_at" not in fields:
                    record["updated_at"] = now_string()
            finally:
                table.reattach(record)
            self.store.refs.sync(collection, record)
            self.after_write(collection, record, table.parent_of.get(record_id), created=False)
            self.store.bump()
            return self.output(collection, record)

    def set_teammates(self, manager_id: int, fields: dict[str, Any]) -> Record:
        """Replace a Manager's teammates; the answer lists them as GET /users/{id}/teammates does."""
        manager = self.row("users", manager_id)
        if not self.store.is_manager(manager):
            raise MutationError(422, f"user {manager_id} is not a Manager")
        teammate_ids = fields.get("teammate_ids")
        if not isinstance(teammate_ids, list):
            raise MutationError(422, "teammate_ids (a list of user ids) is required")
        wanted = {int(user_id) for user_id in teammate_ids}
        unknown = sorted(wanted - set(self.store["users"].by_id))
        if unknown:
            raise MutationError(422, f"unknown user ids {unknown}")
        self.store.account.teammates[manager_id] = wanted
        self.store.bump()
        return {PARENT_FIELD: manager_id, TEAMMATES: export(self.store.teammates_of(manager_id).rows)}

    # --- delete --------------------------------------------------------------------------------

    def delete(self, name: str, record_id: int) -> None:
        collection = self.collection_name(name)
        self.refuse_teammate_rows(collection)
        with self.store.lock:
            if collection == PROJECT_ASSIGNMENTS:
                collection = "user_assignments"
            self.row(collection, record_id)
            parent_id = self.store[collection].parent_of.get(record_id)
            self.store[collection].remove(record_id)
            self.cascade(collection, record_id)
            if collection == "invoice_payments" and parent_id is not None:
                self.settle_invoice(parent_id)
            self.store.bump()

    def remove_children(self, collection: str, parent_id: int) -> None:
        table = self.store[collection]
        for row in list(table.view(parent_id).rows):
            table.remove(row["id"])

    def cascade(self, collection: str, record_id: int) -> None:
        store = self.store
        if collection == "invoices":
            self.remove_children("invoice_messages", record_id)
            self.remove_children("invoice_payments", record_id)
        elif collection == "estimates":
            self.remove_children("estimate_messages", record_id)
        elif collection == "users":
            self.remove_children("user_assignments", record_id)
            self.remove_children("billable_rates", record_id)
            self.remove_children("cost_rates", record_id)
            for role in list(store["roles"].ordered.rows):
                if record_id in role["user_ids"]:
                    remaining = [user_id for user_id in role["user_ids"] if user_id != record_id]
                    self.edit_parent("roles", role["id"], {"user_ids": remaining})
            store.account.teammates.pop(record_id, None)
            for team in store.account.teammates.values():
                team.discard(record_id)
        elif collection == "projects":
            self.remove_children("task_assignments", record_id)
            for row in [row for row in store["user_assignments"].ordered.rows if row["project"]["id"] == record_id]:
                store["user_assignments"].remove(row["id"])

    # --- side effects --------------------------------------------------------------------------

    def after_write(self, collection: str, record: Record, parent_id: int | None, *, created: bool) -> None:
        if collection == "invoice_payments" and parent_id is not None:
            self.settle_invoice(parent_id)
        elif collection == "invoice_messages" and parent_id is not None and created:
            self.touch_document("invoices", parent_id, record.get("event_type"))
        elif collection == "estimate_messages" and parent_id is not None and created:
            self.touch_document("estimates", parent_id, record.get("event_type"))
        elif collection == "users" and created:
            for role in self.store["roles"].ordered.rows:
                if role["name"] in record["roles"] and record["id"] not in role["user_ids"]:
                    role["user_ids"].append(record["id"])

    def edit_parent(self, collection: str, record_id: int, changes: dict[str, Any]) -> None:
        table = self.store[collection]
        record = self.row(collection, record_id)
        table.detach(record_id)
        record.update(changes)
        record["updated_at"] = now_string()
        table.reattach(record)

    def settle_invoice(self, invoice_id: int) -> None:
        """Re-derive due amount and state from the invoice's payments."""
        invoice = self.store["invoices"].by_id.get(invoice_id)
        if invoice is None:
            return
        payments = self.store["invoice_payments"].view(invoice_id).rows
        paid = round(sum(payment["amount"] for payment in payments), 2)
        due = round(invoice["amount"] - paid, 2)
        changes: dict[str, Any] = {"due_amount": max(due, 0.0)}
        if due <= 0 and payments:
            last = max(payments, key=lambda payment: payment["paid_at"])
            changes |= {"state": "paid", "paid_at": last["paid_at"], "paid_date": last["paid_date"]}
        elif invoice["state"] == "paid":
            changes |= {"state": "open", "paid_at": None, "paid_date": None}
        self.edit_parent("invoices", invoice_id, changes)

    def touch_document(self, collection: str, record_id: int, event_type: str | None) -> None:
        document = self.row(collection, record_id)
        stamp = now_string()
        changes: dict[str, Any] = {}
        if collection == "invoices":
            if event_type in (None, "send") and document["state"] == "draft":
                changes = {"state": "open", "sent_at": stamp}
            elif event_type == "close":
                changes = {"state": "closed", "closed_at": stamp}
            elif event_type == "re-open" and document["state"] == "closed":
                changes = {"state": "open", "closed_at": None}
        else:
            if event_type in (None, "send") and document["state"] == "draft":
                changes = {"state": "sent", "sent_at": stamp}
            elif event_type == "accept":
                changes = {"state": "accepted", "accepted_at": stamp}
            elif event_type == "decline":
                changes = {"state": "declined", "declined_at": stamp}
        self.edit_parent(collection, record_id, changes)


def records(store: Store, name: str) -> list[Record]:
    """Everything an Administrator would get for a collection; children carry ``_parent_id``."""
    with store.lock:
        if name == COMPANY:
            return export([store.company])
        if name in (PROJECT_ASSIGNMENTS, TEAMMATES):
            per_user = store.project_assignments_of if name == PROJECT_ASSIGNMENTS else store.teammates_of
            result = []
            for user in store["users"].ordered.rows:
                if name == TEAMMATES and not store.is_manager(user):
                    continue  # Harvest answers 422 for them: no list
                for row in per_user(user["id"]).rows:
                    result.append(row | {PARENT_FIELD: user["id"]})
            return export(result)
        if name not in SPEC_BY_NAME:
            raise MutationError(404, f"unknown collection {name!r}")
        table = store[name]
        rows = table.ordered.rows
        if name in CHILD_PARENTS:
            return export([row | {PARENT_FIELD: table.parent_of.get(row["id"])} for row in rows])
        return export(rows)
