"""Convergence (issue 19): after weeks of changes, faults and kills, the warehouse equals Harvest.

The harness is integration_tests/convergence.py; `make soak` runs it longer (more seeds, rounds, a larger
account, real SIGKILLs). First the harness itself: the warehouse fold and the comparison must see a
missing, a ghost and a stale row, or a green soak would prove nothing.
"""

from __future__ import annotations

import pytest
import requests

from integration_tests.conftest import ANCHOR
from integration_tests.convergence import PAGE_LISTS, SeedResult, Warehouse, compare, render, soak, truth
from integration_tests.sandbox import Sandbox
from source_harvest.streams.deletes import DELETED_AT

SEEDS = (1, 2, 3)
ROUNDS = 4  # busy rounds per seed, after the first sync and before the quiet one
OLD, NEW = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def folded(*records: dict) -> dict:
    warehouse = Warehouse()
    warehouse.begin_sync()
    for record in records:
        warehouse.fold("clients", record)
    warehouse.end_sync(succeeded=True)
    return warehouse.tables["clients"]


def test_the_greatest_cursor_wins_whatever_the_order() -> None:
    assert folded({"id": 1, "updated_at": NEW, "name": "b"}, {"id": 1, "updated_at": OLD, "name": "a"})[1]["name"] == "b"
    assert folded({"id": 1, "updated_at": OLD, "name": "a"}, {"id": 1, "updated_at": NEW, "name": "b"})[1]["name"] == "b"


def test_a_tie_goes_to_the_later_record() -> None:
    assert folded({"id": 1, "updated_at": OLD, "name": "a"}, {"id": 1, "updated_at": OLD, "name": "b"})[1]["name"] == "b"


def test_a_tombstone_removes_the_key_unless_the_row_is_newer() -> None:
    assert 1 not in folded({"id": 1, "updated_at": OLD}, {"id": 1, "updated_at": OLD, DELETED_AT: OLD})
    assert 1 in folded({"id": 1, "updated_at": NEW}, {"id": 1, "updated_at": OLD, DELETED_AT: OLD})
    assert 1 in folded({"id": 1, "updated_at": NEW, DELETED_AT: NEW}, {"id": 1, "updated_at": OLD})  # a row after its removal returns


def test_within_one_attempt_a_tombstone_beats_an_older_record_that_follows_it() -> None:
    warehouse = Warehouse()
    warehouse.fold_batch("clients", [{"id": 1, "updated_at": NEW, DELETED_AT: NEW}, {"id": 1, "updated_at": OLD}])
    assert 1 not in warehouse.tables["clients"]
    warehouse.fold_batch("clients", [{"id": 1, "updated_at": OLD}])  # in a later attempt it comes back
    assert 1 in warehouse.tables["clients"]


def test_full_refresh_rows_replace_the_table_when_the_sync_succeeds() -> None:
    warehouse = Warehouse()
    for rows, succeeded in (([{"project_id": 1}, {"project_id": 2}], True), ([{"project_id": 3}], False), ([{"project_id": 2}], True)):
        warehouse.begin_sync()
        for row in rows:
            warehouse.fold("project_budget", row)
        warehouse.end_sync(succeeded)
        if succeeded:
            assert set(warehouse.tables["project_budget"]) == {row["project_id"] for row in rows}
    assert set(warehouse.tables["project_budget"]) == {2}  # the failed sync's row never landed


def test_the_comparison_counts_a_missing_a_ghost_and_a_stale_row() -> None:
    warehouse = Warehouse()
    warehouse.begin_sync()
    for record in ({"id": 1, "updated_at": OLD}, {"id": 2, "updated_at": OLD}, {"id": 9, "updated_at": OLD}):
        warehouse.fold("clients", record)
    warehouse.fold("user_roles", {"user_id": 5, "role_id": 6, "role_updated_at": NEW})
    warehouse.end_sync(succeeded=True)
    expected = {"clients": {1: {"updated_at": OLD}, 2: {"updated_at": NEW}, 3: {"updated_at": OLD}},
                "user_roles": {(5, 6): {"role_updated_at": NEW}}}
    result = compare(warehouse, expected)
    assert result["clients"].missing == [3] and result["clients"].ghost == [9]
    assert [key for key, _, _ in result["clients"].stale] == [2]
    assert result["user_roles"].clean and not result["contacts"].compared
    table = render(result)
    total = next(line for line in table.splitlines() if line.startswith("TOTAL"))
    assert total.split()[1:] == ["1", "1", "1"] and "not compared (no truth defined for this stream): contacts" in table


def test_the_truth_follows_the_account() -> None:
    box = Sandbox(seed=4, scale=0.05, anchor=ANCHOR)
    role = next(r for r in box.records("roles") if r["user_ids"])
    invoice = box.records("invoices")[0]
    before = truth(box)
    assert (role["user_ids"][0], role["id"]) in before["user_roles"]
    box.delete("roles", role["id"])
    box.update("invoices", invoice["id"], {"subject": "changed"})
    after = truth(box)
    assert not any(key[1] == role["id"] for key in after["user_roles"])
    updated_at = box.records("invoices")[0]["updated_at"]
    assert {after["invoice_line_items"][item["id"]]["invoice_updated_at"] for item in invoice["line_items"]} == {updated_at}
    assert set(after["project_budget"]) == {row["project_id"] for row in box.report("project_budget")}


@pytest.fixture(scope="module")
def results() -> dict[int, SeedResult]:
    return {seed: soak(seed, rounds=ROUNDS) for seed in SEEDS}


def test_the_soak_really_changes_faults_kills_and_shifts(results: dict[int, SeedResult]) -> None:
    """What the convergence below is proved against, over the seeds."""
    totals = [r.totals for r in results.values()]
    assert sum(t.kills for t in totals) >= 2 and sum(t.faults for t in totals) >= 20
    assert sum(t.tombstones for t in totals) > 0
    changes = [r.changes for r in results.values()]
    for collection in PAGE_LISTS:
        assert sum(c.get(f"shift-delete {collection}", 0) for c in changes) > 0, f"no row of {collection} shifted mid-list"
    done = {name for c in changes for name, count in c.items() if count}
    everywhere = ("clients", "contacts", "users", "roles", "projects", "tasks", "task_assignments", "user_assignments", "time_entries",
                  "expenses", "invoices", "invoice_payments", "estimates")
    wanted = {f"{verb} {collection}" for verb in ("create", "update", "delete") for collection in everywhere}
    wanted |= {f"create {collection}" for collection in ("invoice_messages", "estimate_messages", "billable_rates", "cost_rates",
                                                         "expense_categories", "invoice_item_categories", "estimate_item_categories")}
    assert wanted <= done, f"never done: {sorted(wanted - done)}"


@pytest.mark.parametrize("seed", SEEDS)
def test_the_warehouse_converges_to_the_account(results: dict[int, SeedResult], seed: int) -> None:
    result = results[seed]
    if not result.clean:
        pytest.fail("the warehouse differs from the account\n" + result.report(), pytrace=False)


@pytest.mark.parametrize("collection", PAGE_LISTS)
def test_a_deletion_on_a_page_already_read_moves_the_next_pages_up_one_row(collection: str) -> None:
    """Why `Life.shift` bites: the sandbox's page lists are slices of the rows as they stand at each request."""
    box = Sandbox(seed=4, scale=0.05, anchor=ANCHOR, page_size_cap=3).start()
    try:
        headers = {"Authorization": f"Bearer {box.admin_token}", "Harvest-Account-Id": box.account_id, "User-Agent": "soak test"}

        def page(number: int) -> list[int]:
            response = requests.get(f"{box.url}{collection}", params={"page": number, "per_page": 3}, headers=headers, timeout=10)
            return [row["id"] for row in response.json()[collection]]

        first, second, third = page(1), page(2), page(3)
        box.delete(collection, first[0])
        assert page(2) == [*second[1:], third[0]]  # second[0] moved up to page 1, already read: a reader skips it
    finally:
        box.stop()
