"""Deterministic generation of a whole Harvest account from (seed, scale, anchor).

All timestamps fall in the two years before ``anchor`` (exclusive; ``anchor`` defaults to
yesterday UTC, so generated data is always at least a day old and only control-API mutations
look recent). Ids grow with ``created_at`` within each collection. Only ``random.Random(seed)`` is
used, so the same arguments always give the same account; the other Managers' teammates draw from a
second generator seeded from it, so that adding them left every other row as it was.
"""

from __future__ import annotations

import gc
import random
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date

from .factory import (
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    ESTIMATE_ITEM_CATEGORIES,
    EXPENSE_CATEGORIES,
    FIRST_IDS,
    FIRST_NAMES,
    INVOICE_ITEM_CATEGORIES,
    LAST_NAMES,
    MANAGER_GRANTS,
    PROJECT_WORDS,
    ROLE_NAMES,
    TASK_NAMES,
    Factory,
    pick,
)
from .store import AccountInfo, Record, Store
from .timefmt import SECONDS_PER_DAY, SECONDS_PER_HOUR, day_index_of, epoch_string, parse_iso_datetime, years_before

WINDOW_YEARS = 2
# Volumes at scale 1 (the brief's sizing). "Big" collections grow linearly with scale; the
# account's people and projects shrink with scale below 1 but do not grow above it.
TIME_ENTRIES_PER_SCALE = 20_000
EXPENSES_PER_SCALE = 3_000
INVOICES_PER_SCALE = 800
ESTIMATES_PER_SCALE = 300
MIN_BIG_COLLECTION = 2
USERS_AT_SCALE_1 = 40
CLIENTS_AT_SCALE_1 = 60
CONTACTS_AT_SCALE_1 = 120
PROJECTS_AT_SCALE_1 = 150
MIN_USERS = 8  # admin, manager, member, teammates, others
MIN_CLIENTS = 3
MIN_CONTACTS = 3
MIN_PROJECTS = 6
TEAMMATES_PER_MANAGER = 4  # the test manager's; other Managers get 0 to this many
MANAGED_PROJECTS_MIN = 2
PROJECTS_PER_MANAGED = 30  # the test manager manages one project in 30
MEMBER_PROJECTS = 4
TASKS_PER_PROJECT = (3, 6)
USERS_PER_PROJECT = (2, 6)
RATES_PER_USER = (1, 3)
INVOICE_LINE_ITEMS = (1, 5)
ESTIMATE_LINE_ITEMS = (1, 4)
INVOICE_MESSAGES_MAX = 3
ESTIMATE_MESSAGES_MAX = 2
EXTERNAL_REFERENCE_SHARE = 0.1
ENTRIES_PER_EXTERNAL_REFERENCE = 3
RUNNING_TIMERS_PER_ENTRIES = 5_000
RUNNING_TIMERS_MAX = 5
BACKDATED_SHARE = 0.05
BACKDATE_DAYS_MAX = 120
WORKDAY_START_SECONDS = 9 * SECONDS_PER_HOUR
WORKDAY_SPAN_SECONDS = 11 * SECONDS_PER_HOUR
INVOICE_LINK_SHARE = 0.45
INVOICE_LINK_MIN_AGE_DAYS = 30
APPROVAL_MIN_AGE_DAYS = 60
CURRENCIES = (("USD", 0.6), ("EUR", 0.25), ("GBP", 0.15))
RECENT_INVOICE_DAYS = 30
PAYMENT_DELAY_DAYS_MAX = 60
FOUNDING_ROWS = 3
FOUNDING_FRACTION = 0.02
PROJECTS_CREATED_BY_FRACTION = 0.6
BUDGET_FACTOR_MIN = 0.7  # budget / tracked: below 1 means over budget
BUDGET_FACTOR_MAX = 1.8
BUDGET_ROUNDING = 10


@dataclass(frozen=True)
class Volumes:
    users: int
    clients: int
    contacts: int
    projects: int
    time_entries: int
    expenses: int
    invoices: int
    estimates: int

    @classmethod
    def for_scale(cls, scale: float) -> Volumes:
        def big(per_scale: int) -> int:
            return max(MIN_BIG_COLLECTION, round(per_scale * scale))

        def medium(at_one: int, minimum: int) -> int:
            return max(minimum, round(at_one * min(scale, 1.0)))

        return cls(
            users=medium(USERS_AT_SCALE_1, MIN_USERS),
            clients=medium(CLIENTS_AT_SCALE_1, MIN_CLIENTS),
            contacts=medium(CONTACTS_AT_SCALE_1, MIN_CONTACTS),
            projects=medium(PROJECTS_AT_SCALE_1, MIN_PROJECTS),
            time_entries=big(TIME_ENTRIES_PER_SCALE),
            expenses=big(EXPENSES_PER_SCALE),
            invoices=big(INVOICES_PER_SCALE),
            estimates=big(ESTIMATES_PER_SCALE),
        )


class Generator:
    """Builds the store; the window is [anchor - 2 years, anchor) in epoch seconds."""

    def __init__(self, seed: int, scale: float, anchor: date) -> None:
        self.rng = random.Random(seed)
        self.volumes = Volumes.for_scale(scale)
        self.start_day = day_index_of(years_before(anchor, WINDOW_YEARS))
        self.end_day = day_index_of(anchor)
        self.start = self.start_day * SECONDS_PER_DAY
        self.end = self.end_day * SECONDS_PER_DAY  # exclusive
        self.span = self.end - self.start
        self.seed = seed

    # --- time helpers -----------------------------------------------------------------------------

    def moment(self, low_fraction: float, high_fraction: float) -> int:
        return self.start + int(self.span * self.rng.uniform(low_fraction, high_fraction))

    def moments(self, count: int, low_fraction: float, high_fraction: float) -> list[int]:
        return sorted(self.moment(low_fraction, high_fraction) for _ in range(count))

    def founding(self, moments: list[int]) -> list[int]:
        """The first rows exist from the start of the window (the account's founding days)."""
        early = sorted(self.moment(0.0, FOUNDING_FRACTION / 2) for _ in range(min(FOUNDING_ROWS, len(moments))))
        return sorted(early + moments[len(early) :])

    def after(self, earliest: int, latest_fraction: float = 1.0, floor: int | None = None) -> int:
        """A moment in [earliest, latest); past the window, a moment in [floor, end) instead."""
        latest = self.start + int(self.span * latest_fraction)
        if earliest < latest:
            return self.rng.randint(earliest, latest - 1)
        last = self.end - 1
        low = last if floor is None else min(max(floor, self.start), last)
        return self.rng.randint(low, last)

    def updated(self, created: int, edited_share: float = 0.4) -> int:
        """Most rows are touched right after creation; some are edited later."""
        random_fraction = self.rng.random
        if random_fraction() < edited_share:
            return created + int(random_fraction() * (self.end - created))
        return min(created + int(random_fraction() * SECONDS_PER_HOUR), self.end - 1)

    def entry_created(self, spent_day: int) -> int:
        """Entries are logged on their day, a few back-dated (created well after spent_date)."""
        random_fraction = self.rng.random
        day_start = spent_day * SECONDS_PER_DAY
        created = day_start + WORKDAY_START_SECONDS + int(random_fraction() * WORKDAY_SPAN_SECONDS)
        if random_fraction() < BACKDATED_SHARE:
            created += (1 + int(random_fraction() * BACKDATE_DAYS_MAX)) * SECONDS_PER_DAY
        if created >= self.end:
            created = day_start + int(random_fraction() * (self.end - day_start))
        return created

    def clamp(self, moment: int) -> int:
        return min(max(moment, self.start), self.end - 1)

    # --- generation -----------------------------------------------------------------------------

    def build(self) -> Store:
        rng = self.rng
        account = AccountInfo(
            account_id=rng.randint(1_000_000, 1_999_999),
            forecast_account_id=rng.randint(2_000_000, 2_999_999),
            account_name=f"{rng.choice(COMPANY_WORDS)} Sandbox",
            admin_id=0,
            manager_id=0,
            member_id=0,
            admin_token="",
            manager_token="",
            member_token="",
            client_id=self.token_string(24),
            client_secret=self.token_string(86),
            refresh_token="",
        )
        store = Store(self.company(account), account)
        factory = Factory(rng, store)
        self.factory = factory
        self.store = store
        self.catalogs()
        self.people()
        self.clients_and_projects()
        self.assignments()
        self.rates()
        self.estimates()
        self.invoices()
        self.time_entries()
        self.expenses()
        self.budgets()
        account.admin_token = f"{account.admin_id}.pt.{self.token_string(86)}"
        account.manager_token = f"{account.manager_id}.pt.{self.token_string(86)}"
        account.member_token = f"{account.member_id}.pt.{self.token_string(86)}"
        account.refresh_token = f"{account.admin_id}.rt.{self.token_string(86)}"
        return store

    def other_teammates(self, users: list[Record], candidates: list[int]) -> None:
        """Every other Manager gets 0..TEAMMATES_PER_MANAGER active teammates (some none: an empty list)."""
        account = self.store.account
        team_rng = random.Random(f"{self.seed}:teammates")
        for user in users:
            if "manager" not in user["access_roles"] or user["id"] == account.manager_id:
                continue
            pool = [user_id for user_id in candidates if user_id != user["id"]]
            count = min(team_rng.randint(0, TEAMMATES_PER_MANAGER), len(pool))
            account.teammates[user["id"]] = set(team_rng.sample(pool, count))

    def token_string(self, length: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def company(self, account: AccountInfo) -> Record:
        subdomain = account.account_name.lower().replace(" ", "-")
        return {
            "base_uri": f"https://{subdomain}.harvestapp.com",
            "full_domain": f"{subdomain}.harvestapp.com",
            "name": account.account_name,
            "is_active": True,
            "week_start_day": "Monday",
            "wants_timestamp_timers": True,
            "time_format": "hours_minutes",
            "date_format": "%m/%d/%Y",
            "plan_type": "sponsored",
            "clock": "12h",
            "currency": "USD",
            "currency_code_display": "iso_code_none",
            "currency_symbol_display": "symbol_before",
            "decimal_symbol": ".",
            "thousands_separator": ",",
            "color_scheme": "orange",
            "weekly_capacity": 126000,
            "expense_feature": True,
            "invoice_feature": True,
            "estimate_feature": True,
            "approval_feature": True,
            "team_feature": True,
        }

    def load(self, name: str, records: list[Record], parents: dict[int, int] | None = None) -> None:
        self.store[name].load(records, parents)
        for record in records:
            self.store.refs.sync(name, record)

    def catalogs(self) -> None:
        factory = self.factory
        tasks = []
        for created, name in zip(
            self.moments(len(TASK_NAMES), 0.0, 0.3), self.rng.sample(TASK_NAMES, len(TASK_NAMES)), strict=True
        ):
            tasks.append(factory.task(factory.next_id("tasks"), created, self.updated(created), name))
        self.load("tasks", tasks)
        categories = []
        for created, (name, unit, price) in zip(self.moments(len(EXPENSE_CATEGORIES), 0.0, 0.2), EXPENSE_CATEGORIES, strict=True):
            categories.append(
                factory.expense_category(factory.next_id("expense_categories"), created, self.updated(created), name, unit, price)
            )
        self.load("expense_categories", categories)
        invoice_kinds = []
        for created, (name, service, expense) in zip(
            self.moments(len(INVOICE_ITEM_CATEGORIES), 0.0, 0.2), INVOICE_ITEM_CATEGORIES, strict=True
        ):
            invoice_kinds.append(
                factory.invoice_item_category(
                    factory.next_id("invoice_item_categories"), created, self.updated(created), name, service, expense
                )
            )
        self.load("invoice_item_categories", invoice_kinds)
        estimate_kinds = []
        for created, name in zip(self.moments(len(ESTIMATE_ITEM_CATEGORIES), 0.0, 0.2), ESTIMATE_ITEM_CATEGORIES, strict=True):
            estimate_kinds.append(
                factory.estimate_item_category(factory.next_id("estimate_item_categories"), created, self.updated(created), name)
            )
        self.load("estimate_item_categories", estimate_kinds)

    def people(self) -> None:
        rng, factory, account = self.rng, self.factory, self.store.account
        count = self.volumes.users
        users: list[Record] = []
        used_names: set[tuple[str, str]] = set()
        for index, created in enumerate(self.founding(self.moments(count, 0.0, 0.6))):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            while (first, last) in used_names:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            used_names.add((first, last))
            if index == 0 or (index > 2 and rng.random() < 0.05):
                access_roles = ["administrator"]
            elif index == 1:
                access_roles = ["manager"]  # the test manager: no extra grants
            elif index > 2 and rng.random() < 0.2:
                access_roles = ["manager"] + sorted(rng.sample(MANAGER_GRANTS, rng.randint(0, 3)))
            else:
                access_roles = ["member"]
            is_active = index <= 2 or rng.random() > 0.1
            record = factory.user(factory.next_id("users"), created, self.updated(created), first, last, access_roles, is_active)
            users.append(record)
        account.admin_id, account.manager_id, account.member_id = (users[i]["id"] for i in range(3))
        candidates = [user["id"] for user in users[3:] if user["is_active"]]
        account.teammates[account.manager_id] = set(rng.sample(candidates, min(TEAMMATES_PER_MANAGER, len(candidates))))
        self.other_teammates(users, candidates)
        roles: list[Record] = []
        role_created = self.moments(len(ROLE_NAMES), 0.0, 0.1)
        members_by_role: dict[str, list[int]] = {name: [] for name in ROLE_NAMES}
        for user in users:
            for name in rng.sample(ROLE_NAMES, rng.choice((0, 1, 1, 2))):
                members_by_role[name].append(user["id"])
                user["roles"].append(name)
        for created, name in zip(role_created, ROLE_NAMES, strict=True):
            roles.append(factory.role(factory.next_id("roles"), created, self.updated(created), name, members_by_role[name]))
        self.load("users", users)
        self.load("roles", roles)

    def clients_and_projects(self) -> None:
        rng, factory = self.rng, self.factory
        clients: list[Record] = []
        names: set[str] = set()
        for index, created in enumerate(self.founding(self.moments(self.volumes.clients, 0.0, 0.35))):
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}".strip()
            while name in names:
                name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}".strip()
            names.add(name)
            if index < len(CURRENCIES):
                currency = CURRENCIES[index][0]  # every scale has clients in each currency
            else:
                currency = rng.choices([code for code, _ in CURRENCIES], [weight for _, weight in CURRENCIES])[0]
            clients.append(factory.client(factory.next_id("clients"), created, self.updated(created), name, currency))
        self.load("clients", clients)
        self.clients = clients
        drafts = []
        for _ in range(self.volumes.contacts):
            client = pick(rng, clients)
            drafts.append((self.after(self.epoch_of(client), 0.95), client["id"]))
        drafts.sort()
        contacts = [
            factory.contact(factory.next_id("contacts"), created, self.updated(created), client_id)
            for created, client_id in drafts
        ]
        self.load("contacts", contacts)
        project_drafts = []
        for index in range(self.volumes.projects):
            # The first projects start with the account, so time spans the whole window at any scale.
            client = clients[index] if index < FOUNDING_ROWS else pick(rng, clients)
            latest = FOUNDING_FRACTION if index < FOUNDING_ROWS else PROJECTS_CREATED_BY_FRACTION
            project_drafts.append((self.after(self.epoch_of(client), latest), client["id"]))
        project_drafts.sort()
        projects = []
        for created, client_id in project_drafts:
            name = f"{rng.choice(PROJECT_WORDS)} {rng.randint(2019, 2026)}"
            projects.append(factory.project(factory.next_id("projects"), created, self.updated(created), client_id, name))
        # Make sure members can see at least one budget (project_budget shows only these to them).
        projects[0]["show_budget_to_all"] = True
        if projects[0]["budget"] is None:
            projects[0]["budget"], projects[0]["budget_by"] = 100.0, "project"
        self.load("projects", projects)
        self.projects = projects

    @staticmethod
    def epoch_of(record: Record) -> int:
        return epoch_of_string(record["created_at"])

    def assignments(self) -> None:
        rng, factory, store, account = self.rng, self.factory, self.store, self.store.account
        tasks = store["tasks"].ordered.rows
        users = store["users"].by_id
        active_users = [user for user in users.values() if user["is_active"]]
        managed_count = max(MANAGED_PROJECTS_MIN, len(self.projects) // PROJECTS_PER_MANAGED)
        managed = set(project["id"] for project in rng.sample(self.projects, managed_count))
        member_projects = set(project["id"] for project in rng.sample(self.projects, min(MEMBER_PROJECTS, len(self.projects))))
        member_projects.add(self.projects[0]["id"])  # the project whose budget everyone sees
        task_drafts: list[tuple[int, Record, Record]] = []
        user_drafts: list[tuple[int, Record, Record, bool]] = []
        for project in self.projects:
            project_created = self.epoch_of(project)
            for task in rng.sample(tasks, rng.randint(*TASKS_PER_PROJECT)):
                task_drafts.append((self.clamp(project_created + rng.randint(0, SECONDS_PER_HOUR)), project, task))
            chosen = {
                user["id"]: user for user in rng.sample(active_users, min(len(active_users), rng.randint(*USERS_PER_PROJECT)))
            }
            pm_ids = set()
            if project["id"] in managed:
                chosen[account.manager_id] = users[account.manager_id]
                pm_ids.add(account.manager_id)
            if project["id"] in member_projects:
                chosen[account.member_id] = users[account.member_id]
            for user_id, user in chosen.items():
                is_pm = user_id in pm_ids or (
                    "manager" in user["access_roles"] and user_id != account.manager_id and rng.random() < 0.5
                )
                user_drafts.append((self.clamp(project_created + rng.randint(0, 2 * SECONDS_PER_HOUR)), project, user, is_pm))
        task_drafts.sort(key=lambda draft: draft[0])
        user_drafts.sort(key=lambda draft: draft[0])
        task_assignments = [
            factory.task_assignment(factory.next_id("task_assignments"), created, self.updated(created, 0.2), project, task)
            for created, project, task in task_drafts
        ]
        user_assignments = []
        for created, project, user, is_pm in user_drafts:
            special = user["id"] in (account.manager_id, account.member_id)
            user_assignments.append(
                factory.user_assignment(
                    factory.next_id("user_assignments"),
                    created,
                    self.updated(created, 0.2),
                    project,
                    user,
                    is_pm,
                    is_active=special or rng.random() > 0.08,
                )
            )
        self.load("task_assignments", task_assignments)
        self.load("user_assignments", user_assignments)

    def rates(self) -> None:
        rng, factory = self.rng, self.factory
        for kind, amounts in (("billable_rates", (90.0, 120.0, 150.0, 175.0)), ("cost_rates", (45.0, 55.0, 60.0, 72.5))):
            drafts: list[tuple[int, int, float, int | None, int | None]] = []
            for user in self.store["users"].ordered.rows:
                user_created = self.epoch_of(user)
                count = rng.randint(*RATES_PER_USER)
                starts = sorted(rng.sample(range(user_created // SECONDS_PER_DAY, self.end_day), count))
                starts_or_null: list[int | None] = list(starts)
                if rng.random() < 0.3:
                    starts_or_null[0] = None
                for index, start in enumerate(starts_or_null):
                    following = starts_or_null[index + 1] if index + 1 < count else None
                    end_day = following - 1 if following is not None else None
                    created = self.clamp(starts[index] * SECONDS_PER_DAY + rng.randint(8, 18) * SECONDS_PER_HOUR)
                    drafts.append((created, user["id"], rng.choice(amounts), start, end_day))
            drafts.sort()
            records, parents = [], {}
            for created, user_id, amount, start, end_day in drafts:
                record = factory.rate(factory.next_id(kind), created, self.updated(created, 0.1), amount, start, end_day)
                records.append(record)
                parents[record["id"]] = user_id
            self.load(kind, records, parents)

    def creators(self) -> list[Record]:
        return [user for user in self.store["users"].ordered.rows if user["access_roles"][0] in ("administrator", "manager")]

    def client_projects(self) -> dict[int, list[Record]]:
        result: dict[int, list[Record]] = {}
        for project in self.projects:
            result.setdefault(project["client"]["id"], []).append(project)
        return result

    def issue_drafts(self, count: int) -> list[tuple[int, int, Record]]:
        """(created, issue day, client) for `count` invoices or estimates, oldest first."""
        rng = self.rng
        drafts = []
        for _ in range(count):
            client = pick(rng, self.clients)
            issue_day = rng.randrange(max(self.start_day, self.epoch_of(client) // SECONDS_PER_DAY), self.end_day)
            created = self.clamp(issue_day * SECONDS_PER_DAY + rng.randint(7 * SECONDS_PER_HOUR, 20 * SECONDS_PER_HOUR - 1))
            drafts.append((created, issue_day, client))
        drafts.sort(key=lambda draft: draft[0])
        return drafts

    def estimates(self) -> None:
        rng, factory = self.rng, self.factory
        creators = self.creators()
        by_client = self.client_projects()
        kinds = [row["name"] for row in self.store["estimate_item_categories"].ordered.rows]
        drafts = self.issue_drafts(self.volumes.estimates)
        estimates, messages, parents = [], [], {}
        message_drafts: list[tuple[int, int, str | None, Record]] = []
        for number, (created, issue_day, client) in enumerate(drafts, start=1):
            if number <= MIN_BIG_COLLECTION:
                state = "accepted"  # so that even tiny scales have estimate messages
            else:
                state = rng.choices(("draft", "sent", "accepted", "declined"), (0.15, 0.3, 0.4, 0.15))[0]
            record_id = factory.next_id("estimates")
            items = factory.line_items(by_client.get(client["id"], []), kinds, rng.randint(*ESTIMATE_LINE_ITEMS), invoice=False)
            updated = self.updated(created, 0.5)
            creator = pick(rng, creators)
            events: list[str | None] = []
            if state != "draft":
                events = ["send"]
                if state in ("accepted", "declined"):
                    events.append("accept" if state == "accepted" else "decline")
                events = events[: rng.randint(1, ESTIMATE_MESSAGES_MAX)]
            moment = created
            for event in events:
                moment = self.after(moment + SECONDS_PER_HOUR, floor=moment)
                message_drafts.append((moment, record_id, event, creator))
                updated = max(updated, moment)
            estimates.append(
                factory.estimate(record_id, created, updated, client, creator, issue_day, f"{number:04d}", state, items)
            )
        message_drafts.sort(key=lambda draft: draft[0])
        for moment, parent_id, event, sender in message_drafts:
            message = factory.estimate_message(factory.next_id("estimate_messages"), moment, moment, sender, event)
            messages.append(message)
            parents[message["id"]] = parent_id
        self.load("estimates", estimates)
        self.load("estimate_messages", messages, parents)

    def invoices(self) -> None:
        rng, factory = self.rng, self.factory
        creators = self.creators()
        by_client = self.client_projects()
        kinds = [row["name"] for row in self.store["invoice_item_categories"].ordered.rows]
        accepted_by_client: dict[int, list[int]] = {}
        for estimate in self.store["estimates"].ordered.rows:
            if estimate["state"] == "accepted":
                accepted_by_client.setdefault(estimate["client"]["id"], []).append(estimate["id"])
        drafts = self.issue_drafts(self.volumes.invoices)
        invoices: list[Record] = []
        message_drafts: list[tuple[int, int, str | None, bool, Record]] = []
        payment_drafts: list[tuple[int, int, float, Record]] = []
        for number, (created, issue_day, client) in enumerate(drafts, start=1):
            recent = issue_day >= self.end_day - RECENT_INVOICE_DAYS
            if number <= MIN_BIG_COLLECTION:
                state = "paid"  # so that even tiny scales have payments and messages
            elif recent:
                state = rng.choices(("draft", "open"), (0.3, 0.7))[0]
            else:
                state = rng.choices(("paid", "open", "closed", "draft"), (0.65, 0.15, 0.1, 0.1))[0]
            record_id = factory.next_id("invoices")
            items = factory.line_items(by_client.get(client["id"], []), kinds, rng.randint(*INVOICE_LINE_ITEMS), invoice=True)
            accepted = accepted_by_client.get(client["id"])
            estimate_id = rng.choice(accepted) if accepted and rng.random() < 0.25 else None
            retainer_id = FIRST_IDS["retainers"] + rng.randint(0, 40) if rng.random() < 0.05 else None
            recurring_id = FIRST_IDS["recurring_invoices"] + rng.randint(0, 40) if rng.random() < 0.05 else None
            creator = pick(rng, creators)
            invoice = factory.invoice(
                record_id,
                created,
                self.updated(created, 0.3),
                client,
                creator,
                issue_day,
                str(1000 + number),
                state,
                items,
                estimate_id=estimate_id,
                retainer_id=retainer_id,
                recurring_id=recurring_id,
            )
            last_child = created
            if state != "draft":
                count = 1 if number <= MIN_BIG_COLLECTION else rng.randint(0, INVOICE_MESSAGES_MAX)
                for index in range(count):
                    moment = self.after(created + SECONDS_PER_HOUR * (index + 1), floor=created)
                    event = "send" if index == 0 else rng.choice((None, None, "send"))
                    message_drafts.append((moment, record_id, event, index > 0 and rng.random() < 0.5, creator))
                    last_child = max(last_child, moment)
            if state == "paid":
                parts = [invoice["amount"]]
                if rng.random() < 0.3 and invoice["amount"] > 1:
                    first = round(invoice["amount"] * rng.uniform(0.2, 0.8), 2)
                    parts = [first, round(invoice["amount"] - first, 2)]
                moment = created
                for part in parts:
                    moment = self.after(moment + rng.randint(1, PAYMENT_DELAY_DAYS_MAX) * SECONDS_PER_DAY // 4, floor=moment)
                    payment_drafts.append((moment, record_id, part, creator))
                invoice["due_amount"] = 0.0
                invoice["paid_at"] = self.time_string(moment)
                invoice["paid_date"] = invoice["paid_at"][:10]
                last_child = max(last_child, moment)
            elif state == "open" and rng.random() < 0.3:
                part = round(invoice["amount"] * rng.uniform(0.1, 0.6), 2)
                moment = self.after(created + SECONDS_PER_DAY, floor=created)
                payment_drafts.append((moment, record_id, part, creator))
                invoice["due_amount"] = round(invoice["amount"] - part, 2)
                last_child = max(last_child, moment)
            elif state == "closed":
                invoice["closed_at"] = self.time_string(self.after(created + SECONDS_PER_DAY, floor=created))
                last_child = max(last_child, epoch_of_string(invoice["closed_at"]))
            if last_child > epoch_of_string(invoice["updated_at"]):
                invoice["updated_at"] = self.time_string(last_child)
            invoices.append(invoice)
        messages, message_parents = [], {}
        for moment, parent_id, event, reminder, sender in sorted(message_drafts, key=lambda draft: draft[0]):
            message = factory.invoice_message(factory.next_id("invoice_messages"), moment, moment, sender, event, reminder)
            messages.append(message)
            message_parents[message["id"]] = parent_id
        payments, payment_parents = [], {}
        for moment, parent_id, amount, recorder in sorted(payment_drafts, key=lambda draft: draft[0]):
            payment = factory.invoice_payment(factory.next_id("invoice_payments"), moment, moment, amount, recorder)
            payments.append(payment)
            payment_parents[payment["id"]] = parent_id
        self.load("invoices", invoices)
        self.load("invoice_messages", messages, message_parents)
        self.load("invoice_payments", payments, payment_parents)
        self.invoice_days: dict[int, tuple[list[int], list[int]]] = {}
        for invoice in sorted(invoices, key=lambda row: row["issue_date"]):
            if invoice["state"] == "draft":
                continue
            days, ids = self.invoice_days.setdefault(invoice["client"]["id"], ([], []))
            days.append(day_index_of(date.fromisoformat(invoice["issue_date"])))
            ids.append(invoice["id"])

    @staticmethod
    def time_string(moment: int) -> str:
        return epoch_string(moment)

    def invoice_for(self, client_id: int, spent_day: int) -> int | None:
        """The first sent invoice of the client issued on or after the day, if any."""
        days_ids = self.invoice_days.get(client_id)
        if days_ids is None:
            return None
        days, ids = days_ids
        index = bisect_left(days, spent_day)
        return ids[index] if index < len(ids) else None

    def entry_choices(self) -> tuple[list[Record], dict[int, list[Record]]]:
        store = self.store
        task_by_project: dict[int, list[Record]] = {}
        for row in store["task_assignments"].ordered.rows:
            task_by_project.setdefault(row["project"]["id"], []).append(row)
        return store["user_assignments"].ordered.rows, task_by_project

    def special_assignment(self, user_id: int) -> Record | None:
        rows = self.store["user_assignments"].view(user_id).rows
        return rows[0] if rows else None

    def time_entries(self) -> None:
        rng, factory, store, account = self.rng, self.factory, self.store, self.store.account
        count = self.volumes.time_entries
        user_assignments, task_by_project = self.entry_choices()
        projects, users = store["projects"].by_id, store["users"].by_id
        running_count = min(RUNNING_TIMERS_MAX, max(1, count // RUNNING_TIMERS_PER_ENTRIES))
        special = [account.member_id, account.manager_id, account.admin_id]
        refs_pool = [
            factory.external_reference(n)
            for n in range(max(1, int(count * EXTERNAL_REFERENCE_SHARE / ENTRIES_PER_EXTERNAL_REFERENCE)))
        ]
        drafts = []
        ua_epoch = {row["id"]: self.epoch_of(row) for row in user_assignments}
        link_cutoff = self.end_day - INVOICE_LINK_MIN_AGE_DAYS
        approve_cutoff = self.end_day - APPROVAL_MIN_AGE_DAYS
        for index in range(count):
            assignment = None
            if index < len(special):
                assignment = self.special_assignment(special[index])
            if assignment is None:
                assignment = pick(rng, user_assignments)
            running = index >= count - running_count
            earliest_day = min(max(self.start_day, ua_epoch[assignment["id"]] // SECONDS_PER_DAY), self.end_day - 1)
            if running:
                spent_day = self.end_day - 1
                created = spent_day * SECONDS_PER_DAY + rng.randint(8, 10) * SECONDS_PER_HOUR
            else:
                spent_day = earliest_day + int(rng.random() * (self.end_day - earliest_day))
                created = self.entry_created(spent_day)
            drafts.append((created, spent_day, assignment, running))
        drafts.sort(key=lambda draft: draft[0])
        entries = []
        for position, (created, spent_day, assignment, running) in enumerate(drafts):
            project = projects[assignment["project"]["id"]]
            task_rows = task_by_project.get(project["id"])
            if not task_rows:
                continue
            task_assignment = pick(rng, task_rows)
            user = users[assignment["user"]["id"]]
            if running:
                hours = round(rng.uniform(0.1, 2.5), 2)
                updated = created
            else:
                hours = round(rng.uniform(0.1, 8.0), 2)
                updated = self.updated(created, 0.25)
            reference = None
            if position < MIN_BIG_COLLECTION or rng.random() < EXTERNAL_REFERENCE_SHARE:
                reference = pick(rng, refs_pool)
            invoice_id = None
            billable = project["is_billable"] and task_assignment["billable"]
            if billable and spent_day < link_cutoff and rng.random() < INVOICE_LINK_SHARE:
                invoice_id = self.invoice_for(project["client"]["id"], spent_day)
            approved = invoice_id is None and spent_day < approve_cutoff and rng.random() < 0.4
            entries.append(
                factory.time_entry(
                    factory.next_id("time_entries"),
                    created,
                    updated,
                    spent_day,
                    hours,
                    assignment,
                    task_assignment,
                    project,
                    user,
                    running=running,
                    external_reference=reference,
                    invoice_id=invoice_id,
                    approved=approved,
                )
            )
        self.load("time_entries", entries)

    def budgets(self) -> None:
        """Budgets sized from tracked time: most projects within budget, some over (negative remaining)."""
        hours: dict[int, float] = {}
        fees: dict[int, float] = {}
        for entry in self.store["time_entries"].ordered.rows:
            project_id = entry["project"]["id"]
            hours[project_id] = hours.get(project_id, 0.0) + entry["hours"]
            fees[project_id] = fees.get(project_id, 0.0) + entry["hours"] * (entry["billable_rate"] or 0.0)
        for project in self.projects:
            if project["budget_by"] == "none":
                continue
            factor = self.rng.uniform(BUDGET_FACTOR_MIN, BUDGET_FACTOR_MAX)
            project_id = project["id"]
            if project["budget_by"] == "project_cost":
                project["cost_budget"] = float(max(BUDGET_ROUNDING, round(fees.get(project_id, 0.0) * factor, -2)))
            elif project["budget_by"] == "task_fees":
                project["budget"] = float(max(BUDGET_ROUNDING, round(fees.get(project_id, 0.0) * factor, -2)))
            else:
                project["budget"] = float(max(BUDGET_ROUNDING, round(hours.get(project_id, 0.0) * factor, -1)))

    def expenses(self) -> None:
        rng, factory, store, account = self.rng, self.factory, self.store, self.store.account
        user_assignments = store["user_assignments"].ordered.rows
        projects, users = store["projects"].by_id, store["users"].by_id
        categories = store["expense_categories"].ordered.rows
        special = [account.member_id, account.manager_id, account.admin_id]
        link_cutoff = self.end_day - INVOICE_LINK_MIN_AGE_DAYS
        drafts = []
        for index in range(self.volumes.expenses):
            assignment = self.special_assignment(special[index]) if index < len(special) else None
            if assignment is None:
                assignment = pick(rng, user_assignments)
            spent_day = rng.randrange(self.start_day, self.end_day)
            drafts.append((self.entry_created(spent_day), spent_day, assignment))
        drafts.sort(key=lambda draft: draft[0])
        expenses = []
        for created, spent_day, assignment in drafts:
            project = projects[assignment["project"]["id"]]
            invoice_id = None
            if project["is_billable"] and spent_day < link_cutoff and rng.random() < INVOICE_LINK_SHARE:
                invoice_id = self.invoice_for(project["client"]["id"], spent_day)
            expenses.append(
                factory.expense(
                    factory.next_id("expenses"),
                    created,
                    self.updated(created, 0.25),
                    spent_day,
                    assignment,
                    project,
                    users[assignment["user"]["id"]],
                    pick(rng, categories),
                    invoice_id=invoice_id,
                    approved=invoice_id is None and spent_day < link_cutoff and rng.random() < 0.3,
                )
            )
        self.load("expenses", expenses)


def epoch_of_string(text: str) -> int:
    parsed = parse_iso_datetime(text)
    if parsed is None:
        raise ValueError(f"not a Harvest datetime: {text!r}")
    return int(parsed.timestamp())


def generate(seed: int, scale: float, anchor: date) -> Store:
    """Build the sandbox account for (seed, scale, anchor)."""
    # Millions of small dicts that live as long as the sandbox: cyclic GC passes would only slow
    # generation down, and a full pass over them later costs ~0.35 s at scale 10 in whatever
    # process hosts the sandbox (often the connector under test). Freezing exempts them; they hold
    # no reference cycles, so reference counting still frees them when the sandbox goes away.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        store = Generator(seed, scale, anchor).build()
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return store
