"""`Life`: a seeded simulation of a Harvest account's activity on the sandbox, for the convergence soak.

`round()` makes many creates, updates and deletes across streams before a sync; `during()` is called
with every message of a running sync and, every few messages, changes the account while the sync runs,
including deleting a row the running page-number list (time entries, expenses, invoices, estimates)
has already delivered. That moves every later row one place up, so the next page starts one row late
and a reader that does not notice skips a row (the sandbox's page lists are slices of the current
rows, recomputed after each write: a real shift). Keyset (cursor) lists do not shift.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Callable

from integration_tests.sandbox import Sandbox
from source_harvest.streams.deletes import DELETED_AT

PAGE_LISTS = ("time_entries", "expenses", "invoices", "estimates")  # page-number endpoints: rows shift
LINE_ITEM_IDS_FROM = 10**10  # line items this simulation adds to invoices and estimates


COMPENSATED_SHIFT_SHARE = 0.4  # of the deletions on a page already read: a creation at the list's end goes with it


def next_second() -> None:
    """Sleep to the next wall-clock second: updated_at has one-second precision, so later writes get a greater one."""
    time.sleep(1.01 - time.time() % 1)


class Life:
    """Seeded activity on the sandbox: creates, updates and deletes across streams, before and during syncs.

    Deletes follow Harvest's rules where it refuses them (a user, project or task with time tracked to it,
    an assignment with time entries), so the account stays one Harvest could hold."""

    def __init__(self, box: Sandbox, seed: int, page_size: int, every_messages: int = 40, shifts_per_list: int = 3,
                 compensated_share: float = COMPENSATED_SHIFT_SHARE) -> None:
        self.box = box
        self.compensated_share = compensated_share  # of the shift-deletes: one the count cannot show
        self.page_size = page_size  # rows per page the sandbox serves
        self.shifts_per_list = shifts_per_list  # shift-deletes per page list and attempt
        self.rng = random.Random(seed)
        self.every_messages = every_messages
        self.number = 0
        self.created: dict[str, set[int]] = defaultdict(set)
        self.counts: dict[str, int] = defaultdict(int)  # what was done, by "verb collection"
        self.line_item_id = LINE_ITEM_IDS_FROM  # the sandbox numbers its own line items far below
        refs = [e["external_reference"] for e in box.records("time_entries") if e.get("external_reference")]
        self.references = {r["id"]: r for r in refs}
        self.reference_number = 0
        self.anchor = box.anchor
        self._attempt_reset()

    # --- bookkeeping ---
    def _next(self) -> int:
        self.number += 1
        return self.number

    def _pick(self, collection: str, where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
        rows = self.box.records(collection)
        if where is not None:
            rows = [r for r in rows if where(r)]
        return self.rng.choice(rows) if rows else None

    def _did(self, verb: str, collection: str) -> None:
        self.counts[f"{verb} {collection}"] += 1

    def _create(self, collection: str, fields: dict[str, Any]) -> dict[str, Any]:
        record = self.box.create(collection, fields)
        self.created[collection].add(record["id"])
        self._did("create", collection)
        return record

    def _update(self, collection: str, record: dict[str, Any] | None, fields: dict[str, Any]) -> None:
        if record is not None:
            self.box.update(collection, record["id"], fields)
            self._did("update", collection)

    def _delete(self, collection: str, record: dict[str, Any] | None) -> None:
        if record is not None:
            self.box.delete(collection, record["id"])
            self._did("delete", collection)

    def _day(self) -> str:
        """A spent/issue date: today (the top of the lists) or anywhere in the account's history."""
        if self.rng.random() < 0.3:
            return date.today().isoformat()
        return (self.anchor - timedelta(days=self.rng.randrange(0, 700))).isoformat()

    def _reference(self) -> dict[str, Any]:
        if self.references and self.rng.random() < 0.5:
            return dict(self.rng.choice(list(self.references.values())))
        self.reference_number += 1
        ref_id = f"soak-{self.rng.randrange(10**6)}-{self.reference_number}"
        reference = {"id": ref_id, "group_id": "soak", "account_id": "1", "permalink": f"https://example.test/{ref_id}",
                     "service": "example.test", "service_icon_url": "https://example.test/icon.png"}
        self.references[ref_id] = reference
        return dict(reference)

    def _tracked(self) -> tuple[set[int], set[int], set[int], set[int]]:
        """Users, projects, user assignments and task assignments with time or expenses tracked to them."""
        users, projects, user_assignments, task_assignments = set(), set(), set(), set()
        for collection in ("time_entries", "expenses"):
            for row in self.box.records(collection):
                users.add(row["user"]["id"])
                projects.add(row["project"]["id"])
                user_assignments.add(row["user_assignment"]["id"])
                if collection == "time_entries":
                    task_assignments.add(row["task_assignment"]["id"])
        return users, projects, user_assignments, task_assignments

    # --- the operations: each makes one change somewhere in the account ---
    def change_clients(self) -> None:
        n = self._next()
        roll = self.rng.random()
        if roll < 0.4:
            self._create("clients", {"name": f"Soak client {n}"})
        elif roll < 0.8:
            self._update("clients", self._pick("clients"), {"name": f"Client renamed {n}"})
        else:
            busy = {p["client"]["id"] for p in self.box.records("projects")} | {c["client"]["id"] for c in self.box.records("contacts")}
            busy |= {d["client"]["id"] for name in ("invoices", "estimates") for d in self.box.records(name)}
            self._delete("clients", self._pick("clients", lambda r: r["id"] not in busy))

    def change_contacts(self) -> None:
        n = self._next()
        roll = self.rng.random()
        if roll < 0.4:
            client = self._pick("clients")
            if client is not None:
                self._create("contacts", {"client_id": client["id"], "first_name": f"Soak {n}"})
        elif roll < 0.75:
            self._update("contacts", self._pick("contacts"), {"title": f"Title {n}"})
        else:
            self._delete("contacts", self._pick("contacts"))

    def change_users(self) -> None:
        n = self._next()
        roll = self.rng.random()
        if roll < 0.35:
            user = self._create("users", {"first_name": "Soak", "last_name": f"User {n}", "access_roles": ["member"]})
            project = self._pick("projects")
            if project is not None:
                self._create("user_assignments", {"user_id": user["id"], "project_id": project["id"]})
            self._create(self.rng.choice(("billable_rates", "cost_rates")), {"_parent_id": user["id"], "amount": 90.0 + n % 50})
        elif roll < 0.75:
            self._update("users", self._pick("users"), {"telephone": f"+1 555 {n:04d}"})
        else:
            tracked, _, _, _ = self._tracked()
            protected = set(self.box.user_ids.values()) | tracked
            self._delete("users", self._pick("users", lambda r: r["id"] not in protected))

    def change_roles(self) -> None:
        n = self._next()
        users = [u["id"] for u in self.box.records("users")]
        roll = self.rng.random()
        if roll < 0.3:
            self._create("roles", {"name": f"Soak role {n}", "user_ids": self.rng.sample(users, min(len(users), self.rng.randint(1, 3)))})
        elif roll < 0.8:
            role = self._pick("roles")
            if role is not None:
                members = [u for u in role["user_ids"] if self.rng.random() < 0.6]  # some leave
                members += [u for u in self.rng.sample(users, min(2, len(users))) if u not in members]  # some join
                self._update("roles", role, {"user_ids": members})
        else:
            self._delete("roles", self._pick("roles"))

    def change_projects(self) -> None:
        n = self._next()
        roll = self.rng.random()
        if roll < 0.35:
            client = self._pick("clients")
            if client is not None:
                project = self._create("projects", {"client_id": client["id"], "name": f"Soak project {n}"})
                task = self._pick("tasks")
                if task is not None:
                    self._create("task_assignments", {"project_id": project["id"], "task_id": task["id"]})
        elif roll < 0.8:
            self._update("projects", self._pick("projects"), {"notes": f"Notes {n}"})
        else:
            _, tracked, _, _ = self._tracked()
            self._delete("projects", self._pick("projects", lambda r: r["id"] not in tracked))

    def change_tasks(self) -> None:
        n = self._next()
        roll = self.rng.random()
        if roll < 0.4:
            self._create("tasks", {"name": f"Soak task {n}"})
        elif roll < 0.85:
            self._update("tasks", self._pick("tasks"), {"name": f"Task renamed {n}"})
        else:
            assigned = {a["task"]["id"] for a in self.box.records("task_assignments")}
            self._delete("tasks", self._pick("tasks", lambda r: r["id"] not in assigned))

    def change_task_assignments(self) -> None:
        roll = self.rng.random()
        if roll < 0.4:
            project, task = self._pick("projects"), self._pick("tasks")
            taken = {(a["project"]["id"], a["task"]["id"]) for a in self.box.records("task_assignments")}
            if project is not None and task is not None and (project["id"], task["id"]) not in taken:
                self._create("task_assignments", {"project_id": project["id"], "task_id": task["id"]})
        elif roll < 0.75:
            assignment = self._pick("task_assignments")
            if assignment is not None:
                self._update("task_assignments", assignment, {"billable": not assignment["billable"]})
        else:
            _, _, _, tracked = self._tracked()
            self._delete("task_assignments", self._pick("task_assignments", lambda r: r["id"] not in tracked))

    def change_user_assignments(self) -> None:
        roll = self.rng.random()
        if roll < 0.35:
            project, user = self._pick("projects"), self._pick("users")
            taken = {(a["project"]["id"], a["user"]["id"]) for a in self.box.records("user_assignments")}
            if project is not None and user is not None and (project["id"], user["id"]) not in taken:
                self._create("user_assignments", {"project_id": project["id"], "user_id": user["id"]})
        elif roll < 0.8:
            assignment = self._pick("user_assignments")
            if assignment is not None:
                change = self.rng.choice(({"is_project_manager": not assignment["is_project_manager"]},
                                          {"is_active": not assignment["is_active"]},  # leaves or rejoins the user's projects
                                          {"hourly_rate": float(self.rng.randint(50, 200))}))
                self._update("user_assignments", assignment, change)
        else:
            _, _, tracked, _ = self._tracked()
            self._delete("user_assignments", self._pick("user_assignments", lambda r: r["id"] not in tracked))

    def _assignment(self) -> dict[str, Any] | None:
        """An active user assignment whose project has tasks: where time can be tracked."""
        tasked = {a["project"]["id"] for a in self.box.records("task_assignments")}
        return self._pick("user_assignments", lambda r: r["is_active"] and r["project"]["id"] in tasked)

    def change_time_entries(self) -> None:
        n = self._next()
        roll = self.rng.random()
        if roll < 0.35:
            assignment = self._assignment()
            if assignment is not None:
                fields = {"user_id": assignment["user"]["id"], "project_id": assignment["project"]["id"], "spent_date": self._day(),
                          "hours": round(self.rng.uniform(0.25, 8), 2), "notes": f"Soak {n}"}
                if self.rng.random() < 0.4:
                    fields["external_reference"] = self._reference()
                self._create("time_entries", fields)
        elif roll < 0.75:
            entry = self._pick("time_entries")
            if entry is not None:
                change = self.rng.choice(({"hours": round(self.rng.uniform(0.25, 8), 2)}, {"notes": f"Edited {n}"},
                                          {"spent_date": self._day()},  # moves the row in the list
                                          {"external_reference": self._reference()}, {"external_reference": None}))
                self._update("time_entries", entry, change)
        else:
            referenced = self.rng.random() < 0.4
            self._delete("time_entries", self._pick("time_entries", lambda r: bool(r.get("external_reference")) == referenced))

    def change_expenses(self) -> None:
        n = self._next()
        roll = self.rng.random()
        if roll < 0.35:
            assignment = self._pick("user_assignments", lambda r: r["is_active"])
            if assignment is not None:
                self._create("expenses", {"user_id": assignment["user"]["id"], "project_id": assignment["project"]["id"],
                                          "spent_date": self._day(), "total_cost": float(self.rng.randint(5, 500))})
        elif roll < 0.75:
            self._update("expenses", self._pick("expenses"), self.rng.choice(({"notes": f"Expense {n}"}, {"spent_date": self._day()})))
        else:
            self._delete("expenses", self._pick("expenses"))

    def change_categories(self) -> None:
        n = self._next()
        collection = self.rng.choice(("expense_categories", "invoice_item_categories", "estimate_item_categories"))
        if self.rng.random() < 0.4:
            self._create(collection, {"name": f"Soak category {n}"})
        else:
            self._update(collection, self._pick(collection), {"name": f"Category renamed {n}"})

    def _line_items(self, items: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        kept = [dict(item) for item in items if self.rng.random() < 0.8]
        for item in kept[:1]:
            item["description"] = f"Changed {n}"
        self.line_item_id += 1
        kept.append({"id": self.line_item_id, "project": None, "kind": "Service", "description": f"Soak item {n}",
                     "quantity": 1.0, "unit_price": 100.0, "amount": 100.0, "taxed": False, "taxed2": False})
        return kept

    def change_invoices(self) -> None:
        n = self._next()
        roll = self.rng.random()
        invoice = self._pick("invoices")
        if roll < 0.2:
            client = self._pick("clients")
            if client is not None:
                created = self._create("invoices", {"client_id": client["id"], "issue_date": self._day(), "subject": f"Soak {n}"})
                self._create("invoice_messages", {"_parent_id": created["id"], "event_type": "send"})
        elif invoice is None:
            return
        elif roll < 0.4:
            self._update("invoices", invoice, self.rng.choice(({"subject": f"Invoice {n}"}, {"line_items": self._line_items(invoice["line_items"], n)},
                                                              {"issue_date": self._day()})))
        elif roll < 0.55:
            self._create("invoice_messages", {"_parent_id": invoice["id"], "event_type": self.rng.choice(("send", "close", "re-open"))})
        elif roll < 0.75:
            self._create("invoice_payments", {"_parent_id": invoice["id"], "amount": round(max(invoice["due_amount"], 20.0) / 2, 2)})
        elif roll < 0.85:
            payment = self._pick("invoice_payments")
            if payment is not None:
                if self.rng.random() < 0.5:
                    self._update("invoice_payments", payment, {"notes": f"Payment {n}"})
                else:
                    self._delete("invoice_payments", payment)
        else:
            self._delete("invoices", invoice)

    def change_estimates(self) -> None:
        n = self._next()
        roll = self.rng.random()
        estimate = self._pick("estimates")
        if roll < 0.25:
            client = self._pick("clients")
            if client is not None:
                self._create("estimates", {"client_id": client["id"], "issue_date": self._day(), "subject": f"Soak {n}"})
        elif estimate is None:
            return
        elif roll < 0.55:
            self._update("estimates", estimate, self.rng.choice(({"subject": f"Estimate {n}"}, {"line_items": self._line_items(estimate["line_items"], n)},
                                                                {"issue_date": self._day()})))
        elif roll < 0.8:
            self._create("estimate_messages", {"_parent_id": estimate["id"], "event_type": self.rng.choice(("send", "accept", "decline"))})
        else:
            self._delete("estimates", estimate)

    def change_rates(self) -> None:
        user = self._pick("users")
        if user is not None:
            self._create(self.rng.choice(("billable_rates", "cost_rates")), {"_parent_id": user["id"], "amount": float(self.rng.randint(50, 250))})

    def change_teammates(self) -> None:
        """A Manager's teammates replaced: one dropped, or another user added."""
        managers = sorted({t["_parent_id"] for t in self.box.records("teammates")})
        if not managers:
            return
        manager = self.rng.choice(managers)
        current = [t["id"] for t in self.box.records("teammates") if t["_parent_id"] == manager]
        users = [u["id"] for u in self.box.records("users") if u["id"] != manager and u["id"] not in current]
        wanted = current[1:] if current and self.rng.random() < 0.5 else current + users[:1]
        self.box.update("teammates", manager, {"teammate_ids": wanted})
        self._did("update", "teammates")

    def operations(self) -> list[tuple[Callable[[], None], int]]:
        """Each operation with its weight: the busy streams change most."""
        return [(self.change_time_entries, 12), (self.change_expenses, 5), (self.change_invoices, 6), (self.change_estimates, 4),
                (self.change_roles, 2), (self.change_user_assignments, 3), (self.change_task_assignments, 3), (self.change_users, 1),
                (self.change_projects, 2), (self.change_tasks, 2), (self.change_clients, 1), (self.change_contacts, 2),
                (self.change_categories, 1), (self.change_rates, 1), (self.change_teammates, 1)]

    def change_something(self) -> None:
        operations, weights = zip(*self.operations(), strict=True)
        self.rng.choices(operations, weights)[0]()

    def round(self, changes: int) -> None:
        """Before a sync: every operation once and `changes` random changes, in two seconds: a row of the
        first second that the sync skips is older than the cursor it commits, so no later sync lists it
        as changed (within one second, the next sync's `updated_since`, inclusive, would list it again)."""
        for operation, _ in self.operations():
            operation()
        for number in range(changes):
            if number == changes // 2:
                next_second()
            self.change_something()

    # --- during a sync ---
    def _attempt_reset(self) -> None:
        self.messages = 0
        self.delivered: dict[str, list[int]] = defaultdict(list)  # ids each page list delivered in this attempt
        self.shifted: dict[str, int] = defaultdict(int)

    def begin_attempt(self) -> None:
        self._attempt_reset()

    def during(self, line: str) -> None:
        """Called with every message of the running sync: every `every_messages` messages one change, and,
        now and then, when a page list has delivered the last row of a page, the deletion of a row it delivered."""
        self.messages += 1
        if '"RECORD"' in line[:20]:
            record = json.loads(line)["record"]
            stream = record["stream"]
            if stream in PAGE_LISTS and DELETED_AT not in record["data"]:
                ids = self.delivered[stream]
                ids.append(record["data"]["id"])
                # The last row of a page: the next page is not fetched yet, and will start one row late.
                if len(ids) % self.page_size == 0 and self.shifted[stream] < self.shifts_per_list and self.rng.random() < 0.7:
                    self.shifted[stream] += 1
                    self.shift(stream, ids)
        if self.messages % self.every_messages == 0:
            self.change_something()

    def shift(self, collection: str, delivered: list[int]) -> None:
        """Delete a row of an earlier page of the running list: every later row moves one place up. Now and
        then a row is created at the list's end at the same moment, so `total_entries` does not change:
        a shift no count can show, which only a sweep's backstop repairs."""
        alive = {r["id"] for r in self.box.records(collection)}
        candidates = [i for i in delivered if i in alive]
        if candidates:
            self.box.delete(collection, self.rng.choice(candidates))
            self._did("shift-delete", collection)
            if self.rng.random() < self.compensated_share and self._create_at_end(collection) is not None:
                self._did("shift-compensated", collection)

    def _create_at_end(self, collection: str) -> dict[str, Any] | None:
        """A new row dated before every other, so it sorts last (the lists are newest first)."""
        rows = self.box.records(collection)
        field = "issue_date" if collection in ("invoices", "estimates") else "spent_date"
        oldest = (date.fromisoformat(min(r[field] for r in rows)) - timedelta(days=1)).isoformat() if rows else self._day()
        if collection in ("invoices", "estimates"):
            client = self._pick("clients")
            return None if client is None else self._create(collection, {"client_id": client["id"], field: oldest, "subject": "Soak late"})
        assignment = self._assignment() if collection == "time_entries" else self._pick("user_assignments", lambda r: r["is_active"])
        if assignment is None:
            return None
        fields = {"user_id": assignment["user"]["id"], "project_id": assignment["project"]["id"], field: oldest}
        return self._create(collection, fields | ({"hours": 1.0} if collection == "time_entries" else {"total_cost": 10.0}))
