"""Per-parent streams: one list per parent, parent id added, only changed parents when incremental."""

from __future__ import annotations

import requests_mock
from airbyte_cdk.models import SyncMode

from source_harvest.catalog import STREAMS_BY_NAME
from source_harvest.streams.checkpoint import CHECKPOINT_REQUESTS
from source_harvest.streams.resumable import ResumableStream
from unit_tests.conftest import API, final_state, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists

OLD = "2023-06-01T00:00:00Z"
NEW = "2024-07-01T00:00:00Z"


def test_child_adds_parent_id_and_visits_each_parent(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [record(1), record(2)]))
        mock.get(API + "invoices/1/payments", json=harvest_page("invoice_payments", [record(10, payment_gateway={"id": None, "name": "Stripe"})]))
        output = run_read(config, ["invoice_payments"])
        visited = {r.path for r in get_requests(mock, "/payments")}
    assert visited == {"/v2/invoices/1/payments", "/v2/invoices/2/payments"}
    row = records_of(output, "invoice_payments")[0]
    assert (row["invoice_id"], row.get("payment_gateway_id"), row["payment_gateway_name"]) == (1, None, "Stripe")


def test_incremental_child_visits_only_parents_changed_since_its_cursor(config) -> None:
    state = {"invoice_messages": {"updated_at": "2024-06-01T00:00:00Z"}}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [record(1, NEW), record(2, "2024-05-31T23:00:00Z")]))
        run_read(config, ["invoice_messages"], state=state)
        parents = get_requests(mock, "/v2/invoices?")
        visited = {r.path for r in get_requests(mock, "/messages")}
        child = get_requests(mock, "/messages")[0]
    assert "updated_since=2024-05-31T23%3A55%3A00Z" in parents[0].url
    assert visited == {"/v2/invoices/1/messages"}
    assert "updated_since=2024-05-31T23%3A55%3A00Z" in child.url


def test_user_projects_visit_users_named_by_changed_user_assignments(config) -> None:
    state = {"user_projects": {"updated_at": "2024-06-01T00:00:00Z"}}
    assignments = [record(1, NEW, user={"id": 7}, project={"id": 1}), record(2, NEW, user={"id": 7}, project={"id": 2}),
                   record(3, NEW, user={"id": 8}, project={"id": 1})]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "user_assignments", json=harvest_page("user_assignments", assignments))
        mock.get(API + "users/7/project_assignments", json=harvest_page("project_assignments", [record(1, NEW, project={"id": 1}, client={"id": 9})]))
        output = run_read(config, ["user_projects"], state=state)
        visited = [r.path for r in get_requests(mock, "/project_assignments")]
        users_listed = get_requests(mock, "/v2/users?")
    assert sorted(visited) == ["/v2/users/7/project_assignments", "/v2/users/8/project_assignments"]  # each user once
    assert users_listed == []  # a user's own updated_at is no signal
    row = records_of(output, "user_projects")[0]
    assert (row["user_id"], row["project_id"], row["client_id"]) == (7, 1, 9)


def test_rates_visit_every_user_and_filter_client_side(config) -> None:
    state = {"cost_rates": {"updated_at": "2024-06-01T00:00:00Z"}}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "users", json=harvest_page("users", [record(1, OLD), record(2, OLD)]))
        mock.get(API + "users/2/cost_rates", json=harvest_page("cost_rates", [record(5, OLD), record(6, NEW)]))
        output = run_read(config, ["cost_rates"], state=state)
        users_query = get_requests(mock, "/v2/users?")[0]
        visited = {r.path for r in get_requests(mock, "/cost_rates")}
        rate_query = get_requests(mock, "/cost_rates")[0]
    assert "updated_since" not in users_query.qs  # every user, however old
    assert visited == {"/v2/users/1/cost_rates", "/v2/users/2/cost_rates"}
    assert "updated_since" not in rate_query.qs  # the endpoint has no such filter
    assert [(r["id"], r["user_id"]) for r in records_of(output, "cost_rates")] == [(6, 2)]


def test_parent_deleted_during_sync_is_skipped_with_a_warning(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "estimates", json=harvest_page("estimates", [record(1), record(2)]))
        mock.get(API + "estimates/1/messages", status_code=404, json={"message": "Not found"})
        mock.get(API + "estimates/2/messages", json=harvest_page("estimate_messages", [record(20)]))
        output = run_read(config, ["estimate_messages"])
    assert [r["estimate_id"] for r in records_of(output, "estimate_messages")] == [2]
    assert output.is_in_logs("estimates 1 was deleted during the sync")
    assert not output.errors


def teammate(teammate_id: int) -> dict[str, object]:
    return {"id": teammate_id, "first_name": "Jim", "last_name": f"Allen {teammate_id}", "email": f"jim{teammate_id}@example.com"}


def test_teammates_are_keyed_by_manager_and_teammate_and_a_non_manager_has_none(config) -> None:
    users = [record(1, OLD), record(2, OLD), record(3, OLD)]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "users", json=harvest_page("users", users))
        mock.get(API + "users/1/teammates", json=harvest_page("teammates", [teammate(2), teammate(3)]))
        mock.get(API + "users/2/teammates", json=harvest_page("teammates", []))  # a Manager with no teammates
        mock.get(API + "users/3/teammates", status_code=422, json={"message": "The user must be a Manager"})
        output = run_read(config, {"user_teammates": SyncMode.full_refresh})
        users_query = get_requests(mock, "/v2/users?")[0]
        visited = sorted(r.path for r in get_requests(mock, "/teammates"))
    assert "updated_since" not in users_query.qs  # every user, every sync
    assert visited == ["/v2/users/1/teammates", "/v2/users/2/teammates", "/v2/users/3/teammates"]
    rows = records_of(output, "user_teammates")
    key = STREAMS_BY_NAME["user_teammates"].primary_key
    assert [tuple(r[k] for k in key) for r in rows] == [(1, 2), (1, 3)]
    assert rows[0] == {"user_id": 1, **teammate(2)}
    assert not output.errors
    assert output.is_in_logs("Harvest answered 422 for 1 of 3 users at /users/{id}/teammates")
    assert output.is_in_logs("summary user_teammates: records=2 requests=3 ")  # the 422 is a request too
    assert final_state(output, "user_teammates") == {"__ab_no_cursor_state_message": True}


def test_422_fails_a_per_parent_stream_that_documents_no_such_answer(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "users", json=harvest_page("users", [record(1, OLD)]))
        mock.get(API + "users/1/cost_rates", status_code=422, json={"message": "Unprocessable"})
        output = run_read(config, ["cost_rates"])
    assert any("422 Unprocessable Entity" in e.trace.error.message for e in output.errors)


def test_a_full_refresh_per_parent_stream_reads_every_parent_once_across_checkpoints(config, monkeypatch) -> None:
    checkpoints: list[str] = []
    taken = ResumableStream._checkpoint
    monkeypatch.setattr(ResumableStream, "_checkpoint", lambda stream: checkpoints.append(stream.name) or taken(stream))
    users = [record(user_id, OLD) for user_id in range(1, CHECKPOINT_REQUESTS + 8)]  # a checkpoint, then the rest
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "users", json=harvest_page("users", users))
        for user in users:
            mock.get(API + f"users/{user['id']}/teammates", json=harvest_page("teammates", [teammate(user["id"] + 1000)]))
        output = run_read(config, {"user_teammates": SyncMode.full_refresh})
        visited = [r.path for r in get_requests(mock, "/teammates")]
    assert len(visited) == len(set(visited)) == len(users)
    assert sorted(r["user_id"] for r in records_of(output, "user_teammates")) == [u["id"] for u in users]
    assert not output.errors
    assert output.get_stream_statuses("user_teammates")[-1].name == "COMPLETE"
    assert checkpoints == ["user_teammates"]  # the slice after CHECKPOINT_REQUESTS requests, then the rest
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages
              if m.state.stream.stream_descriptor.name == "user_teammates"]
    assert states == [{"__ab_no_cursor_state_message": True}]  # full refresh: no resume point goes out


def read_user_projects_after_a_task_assignment_changed(config, state: dict) -> tuple[list, list, list]:
    """Project 50's task assignment 70 changed after the cursor; user 9, assigned to project 50 long ago,
    must be read again: (the visits of user 9's list, user_projects rows, user_project_tasks rows)."""
    old = "2024-02-01T00:00:00Z"
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "task_assignments", json=harvest_page("task_assignments", [record(70, "2024-06-05T00:00:00Z", project={"id": 50})]))
        mock.get(API + "projects/50/user_assignments", json=harvest_page("user_assignments", [record(1, old, user={"id": 9}, project={"id": 50})]))
        mock.get(API + "users/9/project_assignments",
                 json=harvest_page("project_assignments", [record(1, old, project={"id": 50}, task_assignments=[{"id": 70, "updated_at": "2024-06-05T00:00:00Z"}])]))
        output = run_read(config, ["user_projects", "user_project_tasks"], state=state)
        visits = get_requests(mock, "users/9/project_assignments")
    return visits, records_of(output, "user_projects"), records_of(output, "user_project_tasks")


def test_a_changed_task_assignment_reads_its_projects_users_again_whatever_their_updated_at(config) -> None:
    """With tombstones off, the list is read without updated_since: the server would drop the assignment."""
    state = {"user_projects": {"updated_at": "2024-06-01T00:00:00Z"},
             "user_project_tasks": {"user_project_updated_at": "2024-06-01T00:00:00Z"}}
    visits, projects, tasks = read_user_projects_after_a_task_assignment_changed(config, state)
    assert len(visits) == 1 and "updated_since" not in visits[0].qs
    assert [r["id"] for r in projects] == [1]
    assert [(r["user_id"], r["project_task_id"]) for r in tasks] == [(9, 70)]


def test_a_consumer_on_its_first_sync_does_not_hide_changed_task_assignments_from_the_others(config) -> None:
    """user_project_tasks is new (its since is the start date); user_projects has a cursor: the signal stands."""
    visits, projects, _ = read_user_projects_after_a_task_assignment_changed(config, {"user_projects": {"updated_at": "2024-06-01T00:00:00Z"}})
    assert len(visits) == 1 and [r["id"] for r in projects] == [1]
