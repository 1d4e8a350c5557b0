"""Builders of Harvest objects in the shapes of harvest-api.md §6, shared by generation and creates.

Every builder takes the ids, timestamps (epoch seconds) and related rows that define the object and
draws the incidental details (names, notes, flags, odd nulls and empty strings) from the factory's
own ``random.Random``. Field order follows the Harvest docs examples.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Sequence
from typing import Any

from .store import Record, RefBook, Store, user_name
from .timefmt import SECONDS_PER_DAY, SECONDS_PER_HOUR, clock_12h, day_string, epoch_string

# First ids of each collection: realistic magnitudes; time entry ids are above 2^31 as in Harvest.
FIRST_IDS: dict[str, int] = {
    "clients": 5_735_774,
    "contacts": 4_706_479,
    "users": 1_782_884,
    "roles": 617_670,
    "projects": 14_308_069,
    "tasks": 8_083_365,
    "task_assignments": 155_502_709,
    "user_assignments": 125_068_554,
    "time_entries": 2_147_483_700,
    "expenses": 15_296_442,
    "expense_categories": 4_195_926,
    "invoices": 13_150_403,
    "invoice_messages": 27_835_209,
    "invoice_payments": 10_112_854,
    "invoice_item_categories": 1_466_293,
    "estimates": 1_439_818,
    "estimate_messages": 2_666_236,
    "estimate_item_categories": 1_378_704,
    "billable_rates": 1_836_493,
    "cost_rates": 825_359,
    "invoice_line_items": 53_339_199,
    "estimate_line_items": 53_341_450,
    "retainers": 82_536,
    "recurring_invoices": 1_003_870,
}
ID_GAP_MAX = 9  # other accounts share Harvest's id space, so consecutive ids have gaps
TIME_ENTRY_ID_GAP_MAX = 40

FIRST_NAMES = (
    "Ada",
    "Bruno",
    "Chloé",
    "Dmytro",
    "Elena",
    "Farid",
    "Greta",
    "Hiroshi",
    "Ines",
    "Jonas",
    "Kemal",
    "Lucía",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Søren",
    "Tamsin",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Amara",
    "Bjørn",
    "Carmen",
    "Declan",
    "Emeka",
    "Fatima",
    "Gustav",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Leila",
    "Marta",
    "Noor",
)
LAST_NAMES = (
    "Okafor",
    "Lindqvist",
    "García",
    "Kowalski",
    "Nakamura",
    "Schneider",
    "O'Brien",
    "Haddad",
    "Petrenko",
    "Rossi",
    "Dubois",
    "Andersen",
    "Mendes",
    "Chen",
    "Novak",
    "Fischer",
    "Hughes",
    "Ibrahim",
    "Jansen",
    "Kuznetsova",
    "Müller",
    "Nguyen",
    "Olsen",
    "Patel",
    "Quinn",
    "Reyes",
    "Sato",
    "Tanaka",
    "Ueda",
    "Vargas",
    "Walker",
    "Yilmaz",
    "Zhang",
    "Bianchi",
    "Costa",
    "Dvořák",
)
TIMEZONES = (
    "Eastern Time (US & Canada)",
    "Pacific Time (US & Canada)",
    "Central Time (US & Canada)",
    "Mountain Time (US & Canada)",
    "London",
    "Berlin",
    "Kyiv",
    "Amsterdam",
    "Madrid",
    "Sydney",
    "Tokyo",
)
COMPANY_WORDS = (
    "Acme",
    "Northwind",
    "Blue Harbor",
    "Copperleaf",
    "Driftwood",
    "Evergreen",
    "Foxglove",
    "Granite",
    "Helios",
    "Ironbark",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchard",
    "Pinecrest",
    "Quarry",
    "Redwood",
    "Silverline",
    "Tidewater",
    "Umbra",
    "Vantage",
    "Willow",
    "Zephyr",
)
COMPANY_SUFFIXES = ("Inc.", "LLC", "GmbH", "Ltd", "Labs", "& Co.", "Studios", "Group", "B.V.", "")
PROJECT_WORDS = (
    "Website Redesign",
    "Mobile App",
    "Brand Refresh",
    "Data Platform",
    "Q3 Campaign",
    "Onboarding Flow",
    "Support Retainer",
    "CRM Migration",
    "Annual Report",
    "SEO Audit",
    "Checkout Revamp",
    "API Integration",
    "Design System",
    "Security Review",
    "Product Launch",
    "Analytics Dashboard",
    "Intranet",
    "E-commerce Store",
)
TASK_NAMES = (
    "Design",
    "Development",
    "Project Management",
    "Meetings",
    "Research",
    "QA Testing",
    "Copywriting",
    "Consulting",
    "Business Development",
    "Marketing",
    "Code Review",
    "DevOps",
    "Training",
    "Support",
    "Documentation",
    "Prototyping",
    "User Testing",
    "Content Strategy",
    "Illustration",
    "Video Editing",
    "Data Analysis",
    "Accounting",
    "Administration",
    "Travel",
    "Planning",
    "Deployment",
    "Maintenance",
    "Workshop",
    "Estimating",
    "Internal",
)
ROLE_NAMES = ("Designer", "Developer", "Project Manager", "Consultant", "Marketing", "Finance", "QA", "Support")
EXPENSE_CATEGORIES: tuple[tuple[str, str | None, float | None], ...] = (
    ("Mileage", "mile", 0.655),
    ("Lodging", None, None),
    ("Meals", None, None),
    ("Transportation", None, None),
    ("Entertainment", None, None),
    ("Office Supplies", None, None),
    ("Software", None, None),
    ("Per Diem", "day", 45.0),
    ("Hardware", None, None),
    ("Training", None, None),
)
INVOICE_ITEM_CATEGORIES: tuple[tuple[str, bool, bool], ...] = (
    ("Service", True, False),
    ("Product", False, False),
    ("Hours", True, False),
    ("Expense", False, True),
    ("Travel", False, True),
    ("Retainer", True, False),
)
ESTIMATE_ITEM_CATEGORIES = ("Service", "Product", "Design", "Development", "Consulting", "Hardware")
NOTE_VERBS = ("Reviewed", "Implemented", "Fixed", "Drafted", "Discussed", "Prepared", "Updated", "Planned")
NOTE_OBJECTS = (
    "homepage layout",
    "login bug",
    "sprint backlog",
    "client feedback",
    "invoice template",
    "deployment pipeline",
    "API pagination",
    "quarterly report",
    "kickoff agenda",
    "test plan",
)
EXTERNAL_SERVICES: tuple[tuple[str, str, str], ...] = (
    (
        "github.com",
        "https://github.com/acme/{group}/issues/{id}",
        "https://proxy.harvestfiles.net/production/integrations/github.png",
    ),
    ("trello.com", "https://trello.com/c/{group}{id}", "https://proxy.harvestfiles.net/production/integrations/trello.png"),
    ("app.asana.com", "https://app.asana.com/0/{group}/{id}", "https://proxy.harvestfiles.net/production/integrations/asana.png"),
)
LOCKED_INVOICED = "Item Invoiced and Locked for this Time Period"
LOCKED_APPROVED = "Item Approved and Locked for this Time Period"
PAYMENT_TERMS = ("upon receipt", "net 15", "net 30", "net 45", "net 60", "custom")
PAYMENT_TERM_DAYS = {"upon receipt": 0, "net 15": 15, "net 30": 30, "net 45": 45, "net 60": 60, "custom": 20}
WEEKLY_CAPACITIES_SECONDS = (126000, 144000, 108000, 72000)  # 35 h, 40 h, 30 h, 20 h
QUARTER_HOUR = 0.25
QUARTER_SECONDS = 900
FIRST_START_QUARTER = 28  # timers start between 7:00am ...
START_QUARTERS = 37  # ... and 4:00pm
PERCENT = 100.0
EMAIL_DOMAIN = "example.com"
AVATAR_URL = "https://d3s3969qhosaug.cloudfront.net/v2/{size}/avatar.png"
ADMIN_CLAIMS = (
    "billing:read",
    "billing:write",
    "billable_rates:read",
    "billable_rates:write",
    "expenses:read:all",
    "expenses:write:all",
    "managers:read",
    "managers:write",
    "projects:read:all",
    "projects:write:all",
    "reports:read",
    "timers:read:all",
    "timers:write:all",
)
MANAGER_CLAIMS = (
    "expenses:read:own",
    "expenses:write:own",
    "expenses:read:teammates",
    "projects:read:managed",
    "timers:read:own",
    "timers:write:own",
    "timers:read:teammates",
    "timers:read:managed",
)
MEMBER_CLAIMS = ("expenses:read:own", "expenses:write:own", "timers:read:own", "timers:write:own")
MANAGER_GRANTS = (
    "project_creator",
    "billable_rates_manager",
    "managed_projects_invoice_drafter",
    "managed_projects_invoice_manager",
    "client_and_task_manager",
    "time_and_expenses_manager",
    "estimates_manager",
)


def money(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


def rounded_up_hours(hours: float) -> float:
    """Account rounding: up to the next quarter hour."""
    return math.ceil(round(hours / QUARTER_HOUR, 6)) * QUARTER_HOUR


TAX_AND_DISCOUNT_FIELDS = ("tax", "tax_amount", "tax2", "tax2_amount", "discount", "discount_amount")


class Factory:
    """Draws incidental details from ``rng``; nested refs come from the store's ``RefBook``."""

    def __init__(self, rng: random.Random, store: Store) -> None:
        self.rng = rng
        self.store = store
        self.refs: RefBook = store.refs

    # --- ids and small helpers ------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        last = self.store.last_ids.get(kind)
        gap_max = TIME_ENTRY_ID_GAP_MAX if kind == "time_entries" else ID_GAP_MAX
        value = FIRST_IDS[kind] if last is None else last + 1 + int(self.rng.random() * gap_max)
        self.store.last_ids[kind] = value
        return value

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def hex_string(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))

    def token_string(self, length: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def note(self) -> str:
        return f"{pick(self.rng, NOTE_VERBS)} {pick(self.rng, NOTE_OBJECTS)}"

    @staticmethod
    def email_of(first: str, last: str, domain: str = EMAIL_DOMAIN) -> str:
        local = unicodedata.normalize("NFKD", f"{first}.{last}".lower().replace("ø", "o"))
        ascii_local = local.encode("ascii", "ignore").decode().replace("'", "")
        return f"{ascii_local}@{domain}"

    # --- account-level objects --------------------------------------------------------------------

    def client(self, record_id: int, created: int, updated: int, name: str, currency: str) -> Record:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            address: str | None = None
        elif roll < 0.25:
            address = ""
        else:
            address = f"{rng.randint(1, 999)} {rng.choice(LAST_NAMES)} Street\r\nSuite {rng.randint(100, 900)}"
        return {
            "id": record_id,
            "name": name,
            "is_active": self.chance(0.9),
            "address": address,
            "statement_key": self.hex_string(32),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "currency": currency,
        }

    def contact(self, record_id: int, created: int, updated: int, client_id: int) -> Record:
        first, last = self.person()
        rng = self.rng
        return {
            "id": record_id,
            "title": rng.choice((None, "", "CEO", "Head of Marketing", "Office Manager", "CTO", "Accounts")),
            "first_name": first,
            "last_name": last,
            "email": self.email_of(first, last, f"{rng.choice(COMPANY_WORDS).lower().replace(' ', '')}.example"),
            "phone_office": rng.choice(("", f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}")),
            "phone_mobile": rng.choice(("", "", f"+44 7700 {rng.randint(100000, 999999)}")),
            "fax": "",
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "client": self.refs.client[client_id],
        }

    def user(
        self,
        record_id: int,
        created: int,
        updated: int,
        first: str,
        last: str,
        access_roles: list[str],
        is_active: bool = True,
    ) -> Record:
        rng = self.rng
        if "administrator" in access_roles:
            claims = list(ADMIN_CLAIMS)
        elif "manager" in access_roles:
            claims = list(MANAGER_CLAIMS)
        else:
            claims = list(MEMBER_CLAIMS)
        return {
            "id": record_id,
            "first_name": first,
            "last_name": last,
            "email": self.email_of(first, last),
            "telephone": rng.choice(("", "", f"+1 555 {rng.randint(1000000, 9999999)}")),
            "timezone": rng.choice(TIMEZONES),
            "weekly_capacity": rng.choice(WEEKLY_CAPACITIES_SECONDS),
            "has_access_to_all_future_projects": self.chance(0.2),
            "is_contractor": self.chance(0.15),
            "is_active": is_active,
            "calendar_integration_enabled": self.chance(0.3),
            "calendar_integration_source": rng.choice((None, None, "google", "outlook")),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "can_create_projects": "administrator" in access_roles or "project_creator" in access_roles,
            "default_hourly_rate": None if self.chance(0.15) else float(rng.choice((90, 100, 120, 150, 175))),
            "cost_rate": None if self.chance(0.2) else float(rng.choice((40, 55, 60.5, 75, 80))),
            "roles": [],
            "access_roles": access_roles,
            "permissions_claims": claims,
            "avatar_url": AVATAR_URL.format(size="abraj_albait_100x100"),
        }

    def role(self, record_id: int, created: int, updated: int, name: str, user_ids: list[int]) -> Record:
        return {
            "id": record_id,
            "name": name,
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "user_ids": user_ids,
        }

    def rate(
        self, record_id: int, created: int, updated: int, amount: float, start_day: int | None, end_day: int | None
    ) -> Record:
        return {
            "id": record_id,
            "amount": amount,
            "start_date": None if start_day is None else day_string(start_day),
            "end_date": None if end_day is None else day_string(end_day),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
        }

    def project(self, record_id: int, created: int, updated: int, client_id: int, name: str) -> Record:
        rng = self.rng
        is_fixed_fee = self.chance(0.15)
        bill_by = rng.choice(("Project", "Tasks", "People", "People", "none")) if not is_fixed_fee else "Project"
        budget_by = rng.choice(("project", "project_cost", "task", "task_fees", "person", "none", "none"))
        has_budget = budget_by != "none"
        created_day = created // SECONDS_PER_DAY
        starts_on = None if self.chance(0.3) else day_string(created_day + rng.randint(0, 14))
        ends_on = None if starts_on is None or self.chance(0.5) else day_string(created_day + rng.randint(60, 400))
        return {
            "id": record_id,
            "name": name,
            "code": None if self.chance(0.25) else f"P-{rng.randint(100, 9999)}",
            "is_active": self.chance(0.85),
            "is_billable": self.chance(0.85),
            "is_fixed_fee": is_fixed_fee,
            "bill_by": bill_by,
            "budget": float(rng.choice((40, 80, 120, 200, 500))) if has_budget else None,
            "budget_by": budget_by,
            "budget_is_monthly": self.chance(0.15),
            "notify_when_over_budget": self.chance(0.5),
            "over_budget_notification_percentage": 80.0,
            "show_budget_to_all": self.chance(0.3),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "starts_on": starts_on,
            "ends_on": ends_on,
            "over_budget_notification_date": None,
            "notes": rng.choice(("", "", "Kickoff in Q1.", "Retainer: 20h/month.\nBilled monthly.")),
            "cost_budget": money(rng, 2000, 40000) if budget_by == "project_cost" else None,
            "cost_budget_include_expenses": self.chance(0.2),
            "hourly_rate": float(rng.choice((100, 120, 150))) if bill_by == "Project" else None,
            "fee": money(rng, 1500, 25000) if is_fixed_fee else None,
            "client": self.refs.client_currency[client_id],
        }

    def task(self, record_id: int, created: int, updated: int, name: str) -> Record:
        return {
            "id": record_id,
            "name": name,
            "billable_by_default": self.chance(0.75),
            "default_hourly_rate": None if self.chance(0.4) else float(self.rng.choice((80, 100, 125))),
            "is_default": self.chance(0.3),
            "is_active": self.chance(0.9),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
        }

    def task_assignment(self, record_id: int, created: int, updated: int, project: Record, task: Record) -> Record:
        by_task = project["bill_by"] == "Tasks"
        return {
            "id": record_id,
            "billable": bool(project["is_billable"] and task["billable_by_default"]),
            "is_active": self.chance(0.92),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "hourly_rate": float(self.rng.choice((90, 110, 140))) if by_task else task["default_hourly_rate"],
            "budget": float(self.rng.choice((10, 20, 40))) if project["budget_by"] in ("task", "task_fees") else None,
            "project": self.refs.project[project["id"]],
            "task": self.refs.task[task["id"]],
        }

    def user_assignment(
        self,
        record_id: int,
        created: int,
        updated: int,
        project: Record,
        user: Record,
        is_project_manager: bool,
        is_active: bool = True,
    ) -> Record:
        use_default_rates = self.chance(0.6)
        return {
            "id": record_id,
            "is_project_manager": is_project_manager,
            "is_active": is_active,
            "use_default_rates": use_default_rates,
            "budget": float(self.rng.choice((20, 50, 100))) if project["budget_by"] == "person" else None,
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "hourly_rate": user["default_hourly_rate"] if use_default_rates else float(self.rng.choice((95, 130, 160))),
            "project": self.refs.project[project["id"]],
            "user": self.refs.user[user["id"]],
        }

    def expense_category(
        self, record_id: int, created: int, updated: int, name: str, unit_name: str | None, unit_price: float | None
    ) -> Record:
        return {
            "id": record_id,
            "name": name,
            "unit_price": unit_price,
            "unit_name": unit_name,
            "is_active": self.chance(0.9),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
        }

    def invoice_item_category(
        self, record_id: int, created: int, updated: int, name: str, as_service: bool, as_expense: bool
    ) -> Record:
        return {
            "id": record_id,
            "name": name,
            "use_as_service": as_service,
            "use_as_expense": as_expense,
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
        }

    def estimate_item_category(self, record_id: int, created: int, updated: int, name: str) -> Record:
        return {"id": record_id, "name": name, "created_at": epoch_string(created), "updated_at": epoch_string(updated)}

    # --- time and expenses ------------------------------------------------------------------------

    def billable_rate_for(self, project: Record, task_assignment: Record, user_assignment: Record) -> float | None:
        if not (project["is_billable"] and task_assignment["billable"]):
            return None
        bill_by = project["bill_by"]
        if bill_by == "Project":
            return project["hourly_rate"]
        if bill_by == "Tasks":
            return task_assignment["hourly_rate"]
        if bill_by == "People":
            return user_assignment["hourly_rate"]
        return None

    def time_entry(
        self,
        record_id: int,
        created: int,
        updated: int,
        spent_day: int,
        hours: float,
        user_assignment: Record,
        task_assignment: Record,
        project: Record,
        user: Record,
        *,
        running: bool = False,
        timer_started: int | None = None,
        external_reference: Record | None = None,
        invoice_id: int | None = None,
        approved: bool = False,
    ) -> Record:
        rng = self.rng
        billable_rate = self.billable_rate_for(project, task_assignment, user_assignment)
        if running:
            started = timer_started if timer_started is not None else created
            started_time: str | None = clock_12h(started)
            ended_time: str | None = None
            timer_started_at: str | None = epoch_string(started)
        elif rng.random() < 0.7:
            start = spent_day * SECONDS_PER_DAY + (FIRST_START_QUARTER + int(rng.random() * START_QUARTERS)) * QUARTER_SECONDS
            started_time = clock_12h(start)
            ended_time = clock_12h(start + int(hours * SECONDS_PER_HOUR))
            timer_started_at = None
        else:
            started_time = ended_time = timer_started_at = None
        if invoice_id is not None:
            locked_reason: str | None = LOCKED_INVOICED
        elif approved:
            locked_reason = LOCKED_APPROVED
        else:
            locked_reason = None
        roll = rng.random()
        notes: str | None = None if roll < 0.1 else ("" if roll < 0.15 else self.note())
        return {
            "id": record_id,
            "spent_date": day_string(spent_day),
            "hours": hours,
            "hours_without_timer": hours,
            "rounded_hours": rounded_up_hours(hours),
            "notes": notes,
            "is_locked": locked_reason is not None,
            "locked_reason": locked_reason,
            "is_closed": approved,
            "is_billed": invoice_id is not None,
            "timer_started_at": timer_started_at,
            "started_time": started_time,
            "ended_time": ended_time,
            "is_running": running,
            "billable": billable_rate is not None,
            "budgeted": project["budget_by"] != "none",
            "billable_rate": billable_rate,
            "cost_rate": user["cost_rate"],
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "user": self.refs.user[user["id"]],
            "client": self.refs.client_currency[project["client"]["id"]],
            "project": self.refs.project[project["id"]],
            "task": self.refs.task[task_assignment["task"]["id"]],
            "user_assignment": self.refs.user_assignment[user_assignment["id"]],
            "task_assignment": self.refs.task_assignment[task_assignment["id"]],
            "invoice": None if invoice_id is None else self.refs.invoice[invoice_id],
            "external_reference": external_reference,
        }

    def external_reference(self, number: int) -> Record:
        service, permalink, icon = self.rng.choice(EXTERNAL_SERVICES)
        group = self.rng.choice(("awme", "web", "ops", "1199142256930093", "Xk2pQ"))
        ref_id = str(self.rng.randint(1, 4000) * 10 + number % 10)
        return {
            "id": ref_id,
            "group_id": group,
            "account_id": str(self.rng.randint(10_000, 99_999)),
            "permalink": permalink.format(group=group, id=ref_id),
            "service": service,
            "service_icon_url": icon,
        }

    def expense(
        self,
        record_id: int,
        created: int,
        updated: int,
        spent_day: int,
        user_assignment: Record,
        project: Record,
        user: Record,
        category: Record,
        *,
        invoice_id: int | None = None,
        approved: bool = False,
    ) -> Record:
        rng = self.rng
        if category["unit_price"] is not None:
            units = float(rng.randint(1, 120))
            total_cost = round(units * category["unit_price"], 2)
        else:
            units = 1.0  # documented integer, returned as 1.0
            total_cost = money(rng, 4, 900)
        receipt = None
        if self.chance(0.3):
            file_name = f"receipt_{record_id}.{rng.choice(('pdf', 'jpg', 'png'))}"
            receipt = {
                "url": f"https://sandbox.harvestapp.com/expenses/{record_id}/receipt",
                "file_name": file_name,
                "file_size": rng.randint(20_000, 3_000_000),
                "content_type": {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}[file_name.rsplit(".", 1)[1]],
            }
        locked = invoice_id is not None or approved
        return {
            "id": record_id,
            "notes": rng.choice(("", self.note(), "Taxi to client office", "Team lunch")),
            "total_cost": total_cost,
            "units": units,
            "is_closed": approved,
            "is_locked": locked,
            "is_billed": invoice_id is not None,
            "locked_reason": (LOCKED_INVOICED if invoice_id is not None else LOCKED_APPROVED) if locked else None,
            "spent_date": day_string(spent_day),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "billable": bool(project["is_billable"] and self.chance(0.7)),
            "receipt": receipt,
            "user": self.refs.user[user["id"]],
            "user_assignment": self.refs.user_assignment[user_assignment["id"]],
            "project": self.refs.project[project["id"]],
            "expense_category": self.refs.expense_category[category["id"]],
            "client": self.refs.client_currency[project["client"]["id"]],
            "invoice": None if invoice_id is None else self.refs.invoice[invoice_id],
        }

    # --- invoices and estimates ------------------------------------------------------------------

    def line_items(self, client_projects: list[Record], kinds: list[str], count: int, *, invoice: bool) -> list[Record]:
        rng = self.rng
        items = []
        for _ in range(count):
            quantity = float(rng.choice((1, 1, 2, 5, 10, 12.5, 40)))
            unit_price = float(rng.choice((50, 95, 120, 150, 250, 1200)))
            item: Record = {
                "id": self.next_id("invoice_line_items" if invoice else "estimate_line_items"),
                "kind": rng.choice(kinds) if kinds else "Service",
                "description": self.note(),
                "quantity": quantity,
                "unit_price": unit_price,
                "amount": round(quantity * unit_price, 2),
                "taxed": self.chance(0.4),
                "taxed2": self.chance(0.1),
            }
            if invoice:
                project = rng.choice(client_projects) if client_projects and self.chance(0.8) else None
                item = {"id": item["id"], "project": None if project is None else self.refs.project[project["id"]]} | {
                    key: value for key, value in item.items() if key != "id"
                }
            items.append(item)
        return items

    def totals(self, line_items: list[Record]) -> dict[str, float | None]:
        """Tax and discount percentages (or null) and the resulting amounts."""
        rng = self.rng
        tax = rng.choice((None, None, 8.25, 20.0))
        tax2 = None if self.chance(0.85) else 2.5
        discount = None if self.chance(0.8) else float(rng.choice((5, 10)))
        return invoice_amounts(line_items, tax, tax2, discount)

    def invoice(
        self,
        record_id: int,
        created: int,
        updated: int,
        client: Record,
        creator: Record,
        issue_day: int,
        number: str,
        state: str,
        line_items: list[Record],
        *,
        estimate_id: int | None = None,
        retainer_id: int | None = None,
        recurring_id: int | None = None,
    ) -> Record:
        rng = self.rng
        amounts = self.totals(line_items)
        term = rng.choice(PAYMENT_TERMS)
        has_period = self.chance(0.4)
        sent = state != "draft"
        return {
            "id": record_id,
            "client_key": self.hex_string(40),
            "number": number,
            "purchase_order": rng.choice(("", "", f"PO-{rng.randint(1000, 9999)}")),
            "amount": amounts["amount"],
            "due_amount": amounts["amount"],
            **{field: amounts[field] for field in TAX_AND_DISCOUNT_FIELDS},
            "subject": rng.choice(("", f"Services {day_string(issue_day)[:7]}", "Monthly retainer")),
            "notes": rng.choice(("", "Thank you for your business.", "Please include the invoice number.")),
            "currency": client["currency"],
            "state": state,
            "period_start": day_string(issue_day - 30) if has_period else None,
            "period_end": day_string(issue_day - 1) if has_period else None,
            "issue_date": day_string(issue_day),
            "due_date": day_string(issue_day + PAYMENT_TERM_DAYS[term]),
            "payment_term": term,
            "payment_options": rng.choice(([], ["credit_card"], ["ach", "credit_card"], ["paypal"])),
            "sent_at": epoch_string(min(created + SECONDS_PER_HOUR, updated)) if sent else None,
            "paid_at": None,
            "paid_date": None,
            "closed_at": None,
            "recurring_invoice_id": recurring_id,
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "client": self.refs.client[client["id"]],
            "estimate": None if estimate_id is None else {"id": estimate_id},
            "retainer": None if retainer_id is None else {"id": retainer_id},
            "creator": self.refs.user[creator["id"]],
            "line_items": line_items,
        }

    def estimate(
        self,
        record_id: int,
        created: int,
        updated: int,
        client: Record,
        creator: Record,
        issue_day: int,
        number: str,
        state: str,
        line_items: list[Record],
    ) -> Record:
        rng = self.rng
        amounts = self.totals(line_items)
        sent_at = epoch_string(min(created + SECONDS_PER_HOUR, updated)) if state != "draft" else None
        decided = epoch_string(min(updated, created + 3 * SECONDS_PER_DAY))
        return {
            "id": record_id,
            "client_key": self.hex_string(40),
            "number": number,
            "purchase_order": rng.choice(("", f"PO-{rng.randint(1000, 9999)}")),
            "amount": amounts["amount"],
            **{field: amounts[field] for field in TAX_AND_DISCOUNT_FIELDS},
            "subject": rng.choice(("", "Project proposal", "Phase 2 estimate")),
            "notes": rng.choice(("", "Valid for 30 days.")),
            "currency": client["currency"],
            "state": state,
            "issue_date": day_string(issue_day),
            "sent_at": sent_at,
            "accepted_at": decided if state == "accepted" else None,
            "declined_at": decided if state == "declined" else None,
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "client": self.refs.client[client["id"]],
            "creator": self.refs.user[creator["id"]],
            "line_items": line_items,
        }

    def recipients(self) -> list[Record]:
        count = self.rng.randint(1, 2)
        people = [self.person() for _ in range(count)]
        return [{"name": f"{first} {last}", "email": self.email_of(first, last, "client.example")} for first, last in people]

    def invoice_message(
        self, record_id: int, created: int, updated: int, sender: Record, event_type: str | None, reminder: bool = False
    ) -> Record:
        name = user_name(sender)
        return {
            "id": record_id,
            "sent_by": name,
            "sent_by_email": sender["email"],
            "sent_from": name,
            "sent_from_email": sender["email"],
            "include_link_to_client_invoice": False,
            "send_me_a_copy": self.chance(0.3),
            "thank_you": event_type is None and self.chance(0.1),
            "reminder": reminder,
            "send_reminder_on": day_string(created // SECONDS_PER_DAY + 14) if reminder else None,
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "attach_pdf": self.chance(0.6),
            "event_type": event_type,
            "recipients": self.recipients(),
            "subject": "Invoice from Sandbox Co" if not reminder else "Reminder: invoice past due",
            "body": "---------------------------------------------\r\nInvoice Summary\r\n---------------------------------------------",
        }

    def invoice_payment(self, record_id: int, created: int, updated: int, amount: float, recorder: Record) -> Record:
        rng = self.rng
        gateway_roll = rng.random()
        if gateway_roll < 0.6:
            gateway: Record = {"id": None, "name": None}
            transaction_id: str | None = None
        else:
            gateway = {"id": rng.choice((1234, 5678)), "name": rng.choice(("Stripe", "PayPal"))}
            transaction_id = f"ch_{self.token_string(24)}"
        return {
            "id": record_id,
            "amount": amount,
            "paid_at": epoch_string(created),
            "paid_date": day_string(created // SECONDS_PER_DAY),
            "recorded_by": user_name(recorder),
            "recorded_by_email": recorder["email"],
            "notes": rng.choice(("", "", "Paid by check #4431", "Wire transfer")),
            "transaction_id": transaction_id,
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "payment_gateway": gateway,
        }

    def estimate_message(self, record_id: int, created: int, updated: int, sender: Record, event_type: str | None) -> Record:
        name = user_name(sender)
        return {
            "id": record_id,
            "sent_by": name,
            "sent_by_email": sender["email"],
            "sent_from": name,
            "sent_from_email": sender["email"],
            "send_me_a_copy": self.chance(0.3),
            "created_at": epoch_string(created),
            "updated_at": epoch_string(updated),
            "recipients": self.recipients(),
            "event_type": event_type,
            "subject": "Estimate from Sandbox Co",
            "body": "Please find the estimate attached.",
        }


def invoice_amounts(
    line_items: list[Record], tax: float | None, tax2: float | None, discount: float | None
) -> dict[str, float | None]:
    subtotal = sum(item["amount"] for item in line_items)
    taxed = sum(item["amount"] for item in line_items if item["taxed"])
    taxed2 = sum(item["amount"] for item in line_items if item["taxed2"])
    tax_amount = round(taxed * (tax or 0) / PERCENT, 2)
    tax2_amount = round(taxed2 * (tax2 or 0) / PERCENT, 2)
    discount_amount = round(subtotal * (discount or 0) / PERCENT, 2)
    return {
        "tax": tax,
        "tax2": tax2,
        "discount": discount,
        "tax_amount": tax_amount,
        "tax2_amount": tax2_amount,
        "discount_amount": discount_amount,
        "amount": round(subtotal + tax_amount + tax2_amount - discount_amount, 2),
    }


def pick(rng: random.Random, rows: Sequence[Any]) -> Any:
    return rows[int(rng.random() * len(rows))]
