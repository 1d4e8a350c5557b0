"""Rows derived from another record follow it (issue 19, item 2): when the source is deleted its rows
get tombstones, and when it changes, rows it no longer holds get tombstones and new ones arrive.

Each test syncs the sandbox, changes the source, syncs again from the first sync's state, and folds
both syncs' records per primary key as an Append + Deduped destination would; the folded table must
equal what the account holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from integration_tests.conftest import Connector, Run
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS_BY_NAME
from source_harvest.streams.deletes import DELETED_AT


def fold(stream: str, runs: Iterable[Run]) -> set[tuple[Any, ...]]:
    """The keys an Append + Deduped table holds after these syncs (a tombstone removes its key)."""
    columns = STREAMS_BY_NAME[stream].primary_key
    table: dict[tuple[Any, ...], bool] = {}
    for run in runs:
        for row in run.records.get(stream, []):
            table[tuple(row[c] for c in columns)] = DELETED_AT not in row
    return {key for key, alive in table.items() if alive}


def sync_twice(sandbox: Sandbox, tmp_path: Path, names: list[str], change: Any) -> tuple[Run, Run]:
    connector = Connector(tmp_path, sandbox.config("admin", deletes_sweep_hours=0))
    streams = [STREAMS_BY_NAME[n] for n in names]
    first = connector.read(streams)
    assert first.exit_code == 0, first.errors()
    change()
    second = connector.read(streams, state=first.state())
    assert second.exit_code == 0, second.errors()
    return first, second


def user_roles(sandbox: Sandbox) -> set[tuple[Any, ...]]:
    return {(user, role["id"]) for role in sandbox.records("roles") for user in role["user_ids"]}


def external_references(sandbox: Sandbox) -> set[tuple[Any, ...]]:
    return {(e["id"], e["external_reference"]["id"]) for e in sandbox.records("time_entries") if e.get("external_reference")}


def test_user_roles_follow_a_role_deletion_and_a_change_of_its_users(sandbox: Sandbox, tmp_path: Path) -> None:
    roles = [r for r in sandbox.records("roles") if len(r["user_ids"]) >= 2]
    deleted, changed = roles[0], roles[1]
    removed_user = changed["user_ids"][0]

    def change() -> None:
        sandbox.delete("roles", deleted["id"])
        sandbox.update("roles", changed["id"], {"user_ids": changed["user_ids"][1:]})

    first, second = sync_twice(sandbox, tmp_path, ["roles", "user_roles"], change)
    gone = {(u, deleted["id"]) for u in deleted["user_ids"]} | {(removed_user, changed["id"])}
    assert gone <= fold("user_roles", [first])
    assert fold("user_roles", [first, second]) == user_roles(sandbox)
    assert not gone & fold("user_roles", [first, second])


def test_time_entry_external_reference_follows_its_time_entry(sandbox: Sandbox, tmp_path: Path) -> None:
    entries = [e for e in sandbox.records("time_entries") if e.get("external_reference")]
    deleted, changed = entries[0], entries[1]
    new_reference = {**changed["external_reference"], "id": "5f1e2d3c4b5a69788796a5b4"}  # a service's own (non-decimal) id

    def change() -> None:
        sandbox.delete("time_entries", deleted["id"])
        sandbox.update("time_entries", changed["id"], {"external_reference": new_reference})

    first, second = sync_twice(sandbox, tmp_path, ["time_entries", "time_entry_external_reference"], change)
    assert fold("time_entry_external_reference", [first, second]) == external_references(sandbox)
    assert (changed["id"], new_reference["id"]) in fold("time_entry_external_reference", [first, second])
    assert (deleted["id"], deleted["external_reference"]["id"]) not in fold("time_entry_external_reference", [first, second])


def test_a_text_id_survives_in_state_to_tombstone_its_row(sandbox: Sandbox, tmp_path: Path) -> None:
    """A non-decimal external reference id, delivered in one sync, is tombstoned in a later one by its text."""
    entry = next(e for e in sandbox.records("time_entries") if e.get("external_reference"))
    text_id = "card-Xk2pQ-17"
    sandbox.update("time_entries", entry["id"], {"external_reference": {**entry["external_reference"], "id": text_id}})
    first, second = sync_twice(sandbox, tmp_path, ["time_entries", "time_entry_external_reference"],
                               lambda: sandbox.delete("time_entries", entry["id"]))
    assert (entry["id"], text_id) in fold("time_entry_external_reference", [first])
    tombstoned = [r for r in second.records["time_entry_external_reference"] if DELETED_AT in r]
    assert [(r["time_entry_id"], r["external_reference_id"]) for r in tombstoned] == [(entry["id"], text_id)]


def project_assignment_keys(sandbox: Sandbox) -> set[tuple[Any, ...]]:
    return {(a["id"],) for a in sandbox.records("project_assignments")}


def project_assignment_tasks(sandbox: Sandbox) -> dict[tuple[Any, ...], str]:
    """(user_id, task assignment id) -> that task assignment's updated_at, as user_project_tasks must hold."""
    return {(a["_parent_id"], t["id"]): t["updated_at"] for a in sandbox.records("project_assignments") for t in a["task_assignments"]}


def latest(stream: str, runs: Iterable[Run], column: str) -> dict[tuple[Any, ...], Any]:
    columns = STREAMS_BY_NAME[stream].primary_key
    table: dict[tuple[Any, ...], Any] = {}
    for run in runs:
        for row in run.records.get(stream, []):
            key = tuple(row[c] for c in columns)
            if DELETED_AT in row:
                table.pop(key, None)
            else:
                table[key] = row[column]
    return table


USER_PROJECT_STREAMS = ["project_tasks", "project_users", "user_projects", "user_project_tasks"]


def test_user_projects_and_their_tasks_follow_deleted_user_assignments(sandbox: Sandbox, tmp_path: Path) -> None:
    assignments = sandbox.records("user_assignments")
    per_user: dict[int, list[dict[str, Any]]] = {}
    for a in assignments:
        per_user.setdefault(a["user"]["id"], []).append(a)
    users = [rows for rows in per_user.values() if len(rows) >= 2]
    several, lone = users[0], users[1]

    def change() -> None:
        sandbox.delete("user_assignments", several[0]["id"])  # the user keeps other assignments
        for assignment in lone:  # the user has none left
            sandbox.delete("user_assignments", assignment["id"])

    first, second = sync_twice(sandbox, tmp_path, USER_PROJECT_STREAMS, change)
    assert {(several[0]["id"],), (lone[0]["id"],)} <= fold("user_projects", [first])
    assert fold("user_projects", [first, second]) == project_assignment_keys(sandbox)
    assert fold("user_project_tasks", [first, second]) == set(project_assignment_tasks(sandbox))


def test_user_project_tasks_follow_task_assignments_created_changed_and_deleted(sandbox: Sandbox, tmp_path: Path) -> None:
    by_project: dict[int, list[dict[str, Any]]] = {}
    for ta in sandbox.records("task_assignments"):
        by_project.setdefault(ta["project"]["id"], []).append(ta)
    staffed = {a["project"]["id"] for a in sandbox.records("user_assignments")}
    projects = [p for p, rows in by_project.items() if p in staffed and len(rows) >= 2]
    changed, deleted = by_project[projects[0]][0], by_project[projects[1]][0]
    used = {ta["task"]["id"] for ta in by_project[projects[0]]}
    new_task = next(t for t in sandbox.records("tasks") if t["id"] not in used)

    def change() -> None:
        sandbox.update("task_assignments", changed["id"], {"billable": not changed["billable"]})
        sandbox.create("task_assignments", {"_parent_id": projects[0], "task_id": new_task["id"]})
        sandbox.delete("task_assignments", deleted["id"])

    first, second = sync_twice(sandbox, tmp_path, USER_PROJECT_STREAMS, change)
    truth = project_assignment_tasks(sandbox)
    assert latest("user_project_tasks", [first, second], "updated_at") == truth  # no row missing, left behind or stale
    assert any(key[1] == changed["id"] for key in truth)


def test_rates_follow_a_deleted_user(sandbox: Sandbox, tmp_path: Path) -> None:
    rates = sandbox.records("billable_rates")
    user = rates[0]["_parent_id"]
    first, second = sync_twice(sandbox, tmp_path, ["users", "billable_rates", "cost_rates"], lambda: sandbox.delete("users", user))
    for stream in ("billable_rates", "cost_rates"):
        assert any(r["user_id"] == user for r in first.records[stream]) or stream == "cost_rates"
        assert fold(stream, [first, second]) == {(r["id"],) for r in sandbox.records(stream)}, stream


def test_external_reference_leaves_when_no_time_entry_names_it_and_follows_a_change(sandbox: Sandbox, tmp_path: Path) -> None:
    entries = [e for e in sandbox.records("time_entries") if e.get("external_reference")]
    by_reference: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_reference.setdefault(entry["external_reference"]["id"], []).append(entry)
    gone, kept = sorted(by_reference)[0], sorted(by_reference)[1]
    renamed = {**by_reference[kept][0]["external_reference"], "permalink": "https://example.test/moved"}

    def change() -> None:
        for entry in by_reference[gone]:  # every time entry naming it
            sandbox.delete("time_entries", entry["id"])
        sandbox.update("time_entries", by_reference[kept][0]["id"], {"external_reference": renamed})

    first, second = sync_twice(sandbox, tmp_path, ["time_entries", "external_reference"], change)
    assert (gone,) in fold("external_reference", [first])
    assert fold("external_reference", [first, second]) == {(e["external_reference"]["id"],) for e in sandbox.records("time_entries")
                                                           if e.get("external_reference")}
    assert latest("external_reference", [first, second], "permalink")[(kept,)] == "https://example.test/moved"
