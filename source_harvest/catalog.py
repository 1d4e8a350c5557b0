"""The one table that declares every stream: name, path, keys, cursor, parent and permission.

A row is data; `source.build_streams` picks the class from the row (`embedded` -> derived,
`path` with `{parent_id}` -> child, `report` -> report, else a top-level list).
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import HTTP_UNPROCESSABLE_ENTITY

ADMIN = "Administrator"
MANAGER = "Manager"
MEMBER = "Member"

WINDOWED = "windowed"
SNAPSHOT = "snapshot"

Flat = tuple[tuple[str, str], ...]  # (column we add, dotted path in the Harvest object)


@dataclass(frozen=True)
class StreamSpec:
    name: str  # warehouse table, snake_case plural
    path: str = ""  # under /v2/; "{parent_id}" for children; "" for derived rows
    data_key: str | None = None  # envelope array key; None -> name; "" -> the body is one record
    primary_key: tuple[str, ...] = ("id",)
    cursor: str | None = "updated_at"  # None -> full refresh only
    server_filter: bool = True  # endpoint takes updated_since; False -> filter client-side
    parent: str | None = None  # stream whose records feed this one
    parent_key: str | None = None  # column that carries the parent's id (invoice_id)
    parent_id_field: str = "id"  # field of the parent record holding the id for {parent_id}
    every_parent: bool = False  # no change signal on the parent: visit all of them
    # Per-parent: the status Harvest documents for a parent that cannot hold this list (a non-Manager's
    # teammates: 422). That parent has no rows; any other 4xx still fails the stream.
    no_list_status: int | None = None
    embedded: str | None = None  # derived: field of the parent record that holds the rows
    element_id_as: str = "id"  # derived: column name for the element's id (or a scalar element)
    parent_columns: Flat = ()  # derived: (column, parent field) copied from the parent
    distinct: bool = False  # derived: emit each element id once per sync
    flat: Flat = ()  # seed columns flattened out of nested objects
    permission: str = ADMIN  # least Harvest role that gets no 403 (Managers/Members see subsets)
    report: str | None = None  # WINDOWED: rows per from/to window; SNAPSHOT: one current row set
    # Tombstones: the single-object GET whose 404 confirms a deletion. With "{id}" it confirms the
    # record itself; otherwise ("invoices/{invoice_id}") the parent, whose deletion takes its rows along.
    # The other placeholder names a field kept in state next to each id.
    deletes: str | None = None
    text_ids: bool = False  # tombstones: the row id is a string in Harvest (external references)
    sweep_reads_parents: bool = False  # per-parent: a sweep re-reads every parent's list (no other deletion signal)
    embeds: str | None = None  # per-parent: stream whose rows these records embed; a change there re-reads holders
    holders: str | None = None  # the list naming the parents that hold an embedded row, by a column of that row


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("clients", "clients", deletes="clients/{id}"),
    StreamSpec("contacts", "contacts", flat=(("client_id", "client.id"),), deletes="contacts/{id}"),
    StreamSpec("company", "company", data_key="", primary_key=("base_uri",), cursor=None),
    StreamSpec("users", "users", permission=MANAGER, deletes="users/{id}"),
    StreamSpec("roles", "roles", server_filter=False, deletes="roles/{id}"),  # /roles has no updated_since
    StreamSpec("user_roles", parent="roles", embedded="user_ids", element_id_as="user_id",
               parent_key="role_id", primary_key=("user_id", "role_id"), cursor="role_updated_at", deletes="roles/{role_id}"),
    # Rates have no updated_since and no change signal on the user: every user, every sync.
    # Every user's whole list is read each sync, so a rate no longer listed is tombstoned; a deleted user's
    # rates go with the user (the same 404 check as the users stream's).
    StreamSpec("billable_rates", "users/{parent_id}/billable_rates", parent="users", parent_key="user_id",
               every_parent=True, server_filter=False, deletes="users/{user_id}"),
    StreamSpec("cost_rates", "users/{parent_id}/cost_rates", parent="users", parent_key="user_id",
               every_parent=True, server_filter=False, deletes="users/{user_id}"),
    # The teammates a Manager is assigned: Harvest's teammate object (id is the teammate's user id) plus the
    # Manager's id as user_id, like the other /users/{id} lists, so the key is the pair. No updated_at and
    # no change signal: every user, every sync. Harvest answers 422 for a user who is not a Manager.
    # https://help.getharvest.com/api-v2/users-api/users/teammates/ (Administrator only)
    StreamSpec("user_teammates", "users/{parent_id}/teammates", data_key="teammates", parent="users",
               parent_key="user_id", primary_key=("user_id", "id"), cursor=None, every_parent=True,
               no_list_status=HTTP_UNPROCESSABLE_ENTITY),
    StreamSpec("projects", "projects", flat=(("client_id", "client.id"),), permission=MANAGER, deletes="projects/{id}"),
    StreamSpec("tasks", "tasks", deletes="tasks/{id}"),
    StreamSpec("project_tasks", "task_assignments", data_key="task_assignments",
               flat=(("project_id", "project.id"), ("task_id", "task.id")), permission=MANAGER,
               deletes="projects/{project_id}/task_assignments/{id}"),  # no global single GET in Harvest
    StreamSpec("project_users", "user_assignments", data_key="user_assignments",
               flat=(("project_id", "project.id"), ("user_id", "user.id")), permission=MANAGER,
               deletes="projects/{project_id}/user_assignments/{id}"),
    # A user's updated_at need not move when they are assigned; /user_assignments says who changed. A
    # deleted assignment shows nowhere: a sweep re-reads every user's list. Each assignment embeds its
    # project's task assignments: /task_assignments?updated_since says which projects' changed.
    StreamSpec("user_projects", "users/{parent_id}/project_assignments", data_key="project_assignments",
               parent="project_users", parent_id_field="user_id", parent_key="user_id",
               flat=(("client_id", "client.id"), ("project_id", "project.id")), permission=MANAGER,
               deletes="users/{user_id}", sweep_reads_parents=True,
               embeds="project_tasks", holders="projects/{project_id}/user_assignments"),
    StreamSpec("user_project_tasks", parent="user_projects", embedded="task_assignments",
               element_id_as="project_task_id", primary_key=("user_id", "project_task_id"),
               parent_columns=(("user_id", "user_id"), ("project_id", "project_id"),
                               ("project_assignment_id", "id")),
               flat=(("task_id", "task.id"),), cursor="user_project_updated_at", permission=MANAGER,
               deletes="users/{user_id}"),
    StreamSpec("time_entries", "time_entries", permission=MEMBER, deletes="time_entries/{id}",
               flat=(("client_id", "client.id"), ("invoice_id", "invoice.id"), ("project_id", "project.id"),
                     ("task_assignment_id", "task_assignment.id"), ("task_id", "task.id"),
                     ("user_assignment_id", "user_assignment.id"), ("user_id", "user.id"),
                     ("external_reference_id", "external_reference.id"))),
    StreamSpec("time_entry_external_reference", parent="time_entries", embedded="external_reference",
               element_id_as="external_reference_id", parent_key="time_entry_id",
               primary_key=("time_entry_id", "external_reference_id"), cursor="time_entry_updated_at",
               permission=MEMBER, deletes="time_entries/{time_entry_id}", text_ids=True),
    # A reference no time entry names any more is gone: Harvest filters time entries by reference id.
    StreamSpec("external_reference", parent="time_entries", embedded="external_reference", distinct=True,
               cursor="time_entry_updated_at", permission=MEMBER,
               deletes="time_entries?external_reference_id={id}&per_page=1", text_ids=True),
    StreamSpec("expenses", "expenses", permission=MEMBER, deletes="expenses/{id}",
               flat=(("client_id", "client.id"), ("expense_category_id", "expense_category.id"),
                     ("invoice_id", "invoice.id"), ("project_id", "project.id"),
                     ("receipt_content_type", "receipt.content_type"), ("receipt_file_name", "receipt.file_name"),
                     ("receipt_file_size", "receipt.file_size"), ("receipt_url", "receipt.url"),
                     ("user_assignment_id", "user_assignment.id"), ("user_id", "user.id"))),
    StreamSpec("expense_categories", "expense_categories", deletes="expense_categories/{id}"),
    StreamSpec("invoices", "invoices", deletes="invoices/{id}",
               flat=(("client_id", "client.id"), ("creator_id", "creator.id"), ("estimate_id", "estimate.id"),
                     ("retainer_id", "retainer.id"))),
    StreamSpec("invoice_line_items", parent="invoices", embedded="line_items", parent_key="invoice_id",
               flat=(("project_id", "project.id"),), cursor="invoice_updated_at", deletes="invoices/{invoice_id}"),
    StreamSpec("invoice_messages", "invoices/{parent_id}/messages", data_key="invoice_messages",
               parent="invoices", parent_key="invoice_id", deletes="invoices/{invoice_id}"),
    StreamSpec("invoice_payments", "invoices/{parent_id}/payments", data_key="invoice_payments",
               parent="invoices", parent_key="invoice_id", deletes="invoices/{invoice_id}",
               flat=(("payment_gateway_id", "payment_gateway.id"), ("payment_gateway_name", "payment_gateway.name"))),
    StreamSpec("invoice_item_categories", "invoice_item_categories", deletes="invoice_item_categories/{id}"),
    StreamSpec("estimates", "estimates", flat=(("client_id", "client.id"), ("creator_id", "creator.id")), deletes="estimates/{id}"),
    StreamSpec("estimate_line_items", parent="estimates", embedded="line_items", parent_key="estimate_id",
               cursor="estimate_updated_at", deletes="estimates/{estimate_id}"),
    StreamSpec("estimate_messages", "estimates/{parent_id}/messages", data_key="estimate_messages",
               parent="estimates", parent_key="estimate_id", deletes="estimates/{estimate_id}"),
    StreamSpec("estimate_item_categories", "estimate_item_categories", deletes="estimate_item_categories/{id}"),
    # Reports: rows per subject and currency for a from/to window; keyed with the window.
    StreamSpec("time_clients", "reports/time/clients", data_key="results", report=WINDOWED,
               primary_key=("client_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    StreamSpec("time_projects", "reports/time/projects", data_key="results", report=WINDOWED,
               primary_key=("project_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    StreamSpec("time_tasks", "reports/time/tasks", data_key="results", report=WINDOWED,
               primary_key=("task_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    StreamSpec("time_team", "reports/time/team", data_key="results", report=WINDOWED,
               primary_key=("user_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    StreamSpec("expenses_clients", "reports/expenses/clients", data_key="results", report=WINDOWED,
               primary_key=("client_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    StreamSpec("expenses_projects", "reports/expenses/projects", data_key="results", report=WINDOWED,
               primary_key=("project_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    StreamSpec("expenses_categories", "reports/expenses/categories", data_key="results", report=WINDOWED,
               primary_key=("expense_category_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    StreamSpec("expenses_team", "reports/expenses/team", data_key="results", report=WINDOWED,
               primary_key=("user_id", "currency", "from", "to"), cursor="to", permission=MEMBER),
    # Admins see every project; a Manager needs the invoice permission.
    StreamSpec("uninvoiced", "reports/uninvoiced", data_key="results", report=WINDOWED,
               primary_key=("project_id", "currency", "from", "to"), cursor="to"),
    StreamSpec("project_budget", "reports/project_budget", data_key="results", report=SNAPSHOT,
               primary_key=("project_id",), cursor=None, permission=MEMBER),
)

STREAMS_BY_NAME: dict[str, StreamSpec] = {spec.name: spec for spec in STREAMS}
