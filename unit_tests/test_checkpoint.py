"""Checkpoints inside a stream: what a checkpoint holds, and how a resumed read finds its place again."""

from __future__ import annotations

import pytest
import requests_mock
from airbyte_cdk.models import SyncMode

from source_harvest.idset import IdSet
from source_harvest.streams.checkpoint import ListingPosition, Run
from unit_tests.conftest import API, final_state, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists

NEW = "2024-07-01T00:00:00Z"


def states_of(output, stream: str) -> list[dict]:
    return [m.state.stream.stream_state.__dict__ for m in output.state_messages if m.state.stream.stream_descriptor.name == stream]


def resume_state(listing: dict | None = None, **extra) -> dict:
    return {"resume": {"since": "2024-01-01T00:00:00Z", "started_at": "2024-08-01T00:00:00Z", "newest": NEW,
                       **({"listing": listing} if listing else {}), **extra}}


def test_a_checkpoint_follows_every_page_and_keeps_the_cursor_where_it_was(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(3, NEW), record(2)], next_url=API + "clients?cursor=abc&per_page=2000"))
        mock.get(API + "clients?cursor=abc", json=harvest_page("clients", [record(1)]))
        output = run_read(config, ["clients"], state={"clients": {"updated_at": "2024-05-01T00:00:00Z"}})
    states = states_of(output, "clients")
    assert [s.get("updated_at") for s in states] == ["2024-05-01T00:00:00Z", "2024-05-01T00:00:00Z", NEW]
    assert states[0]["resume"]["listing"] == {"next": API + "clients?cursor=abc&per_page=2000", "last_id": 2,
                                              "last_updated_at": "2024-06-01T00:00:00Z"}
    assert states[0]["resume"]["since"] == "2024-04-30T23:55:00Z" and states[0]["resume"]["newest"] == NEW
    assert "resume" not in states[-1]


def test_a_resumed_cursor_list_goes_on_from_its_saved_link_with_the_same_since(config) -> None:
    saved = resume_state({"next": API + "clients?cursor=abc&per_page=2000&updated_since=2024-01-01T00%3A00%3A00Z", "last_id": 2})
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients?cursor=abc", json=harvest_page("clients", [record(1, "2024-03-01T00:00:00Z")]))
        output = run_read(config, ["clients"], state={"clients": saved})
        sent = get_requests(mock, "/clients")
    assert [r.qs.get("cursor") for r in sent] == [["abc"]]  # no page before it is read again
    assert [r["id"] for r in records_of(output, "clients")] == [1]
    assert final_state(output, "clients") == {"updated_at": NEW}  # the newest seen before the kill counts


def test_a_refused_cursor_link_reads_the_list_again_from_its_start(config, caplog) -> None:
    saved = resume_state({"next": API + "clients?cursor=gone&per_page=2000", "last_id": 2})
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients?cursor=gone", status_code=422, json={"message": "Invalid cursor"})
        mock.get(API + "clients?per_page=2000&updated_since=2024-01-01T00%3A00%3A00Z", json=harvest_page("clients", [record(2), record(1)]),
                 complete_qs=True)
        output = run_read(config, ["clients"], state={"clients": saved})
    assert sorted(r["id"] for r in records_of(output, "clients")) == [1, 2]
    assert "reading that list again from its start" in caplog.text


SINCE = "updated_since=2024-01-01T00%3A00%3A00Z"  # the since of the saved read, carried by Harvest's links
FIRST_PAGE = API + f"time_entries?per_page=2000&{SINCE}"


def page_url(number: int) -> str:
    return API + f"time_entries?page={number}&per_page=2000&{SINCE}"


def test_a_resumed_page_list_goes_back_one_page_and_finds_the_last_record_read(config) -> None:
    saved = resume_state({"next": page_url(3), "last_id": 20, "last_updated_at": "2024-06-01T00:00:00Z"})
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        # Two records created while the sync was stopped pushed the list down: record 20 is now on page 3.
        mock.get(page_url(2), json=harvest_page("time_entries", [record(22), record(21)], next_url=page_url(3)))
        mock.get(page_url(3), json=harvest_page("time_entries", [record(20), record(19)]))
        output = run_read(config, ["time_entries"], state={"time_entries": saved})
        pages = [r.qs["page"] for r in get_requests(mock, "/time_entries")]
    assert pages == [["2"], ["3"]]
    assert [r["id"] for r in records_of(output, "time_entries")] == [22, 21, 20, 19]


def test_a_page_list_that_shifted_out_of_reach_is_read_again_from_its_start(config, caplog) -> None:
    """Records deleted while the sync was stopped pulled the list up by more than a page: record 20,
    and those after it, are out of reach of the pages read after the stop. None may be lost."""
    saved = resume_state({"next": page_url(3), "last_id": 20, "last_updated_at": "2024-06-01T00:00:00Z"})
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(page_url(2), json=harvest_page("time_entries", [record(17)]), complete_qs=True)
        mock.get(FIRST_PAGE, json=harvest_page("time_entries", [record(20), record(19)], next_url=page_url(2)),
                 complete_qs=True)
        output = run_read(config, ["time_entries"], state={"time_entries": saved})
    assert sorted({r["id"] for r in records_of(output, "time_entries")}) == [17, 19, 20]
    assert "shifted while the sync was stopped" in caplog.text


def test_a_page_list_whose_last_record_changed_is_read_again_from_its_start(config) -> None:
    saved = resume_state({"next": page_url(2), "last_id": 20, "last_updated_at": "2024-06-01T00:00:00Z"})
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(page_url(1), json=harvest_page("time_entries", [record(20, "2024-08-02T00:00:00Z")]), complete_qs=True)
        mock.get(FIRST_PAGE, json=harvest_page("time_entries", [record(20, "2024-08-02T00:00:00Z")]),
                 complete_qs=True)
        run_read(config, ["time_entries"], state={"time_entries": saved})
        assert len(get_requests(mock, "/time_entries")) == 2


def test_a_resumed_per_parent_stream_skips_the_parents_it_had_done(config) -> None:
    done = Run(since="2024-01-01T00:00:00Z", started_at="2024-08-01T00:00:00Z", parents=IdSet([1, 2])).to_state()
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [record(1), record(2), record(3)]))
        run_read(config, ["invoice_payments"], state={"invoice_payments": {"resume": done}})
        visited = [r.path for r in get_requests(mock, "/payments")]
    assert visited == ["/v2/invoices/3/payments"]


def test_a_resumed_report_starts_at_the_first_window_it_had_not_finished(config) -> None:
    config.update(replication_start_date="2026-01-01T00:00:00Z", reports_window="month")
    saved = {"resume": {"since": None, "started_at": "2026-11-20T00:00:00Z", "newest": "2026-08-31", "window": "2026-09-01"}}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        output = run_read(config, ["time_team"], state={"time_team": saved})
        sent = [r.qs["from"][0] for r in get_requests(mock, "reports/time/team")]
    assert sent[0] == "20260901"
    assert final_state(output, "time_team")["to"] >= "2026-08-31"


def test_the_cursor_never_passes_the_time_the_stream_started(config) -> None:
    saved = resume_state({"next": None}, newest="2030-01-01T00:00:00Z")
    output = run_read(config, {"clients": SyncMode.incremental}, state={"clients": saved})
    assert final_state(output, "clients") == {"updated_at": "2024-08-01T00:00:00Z"}  # started_at caps it


@pytest.mark.parametrize("resume", [{"started_at": 5}, {"started_at": "x", "listing": {"next": 3}}, {"started_at": "x", "parents": "nope"},
                                    "text"])
def test_a_resume_point_this_connector_did_not_write_is_a_config_error(config, resume) -> None:
    output = run_read(config, ["clients"], state={"clients": {"resume": resume}}, expect_error=True)
    errors = [m.trace.error for m in output.errors]
    assert errors and errors[0].failure_type.value == "config_error"
    assert "Remove `resume` from that stream's state" in errors[0].message


def test_page_before_steps_back_one_page_and_keeps_every_other_parameter() -> None:
    position = ListingPosition(API + "time_entries?page=3&per_page=2000&updated_since=2024-01-01T00%3A00%3A00Z")
    assert position.page_based
    assert position.page_before() == API + "time_entries?page=2&per_page=2000&updated_since=2024-01-01T00%3A00%3A00Z"
    assert not ListingPosition(API + "clients?cursor=abc&per_page=2000").page_based
    assert ListingPosition(API + "time_entries?page=1").page_before() is None


def test_a_list_whose_state_carries_large_id_sets_checkpoints_every_batch_of_pages(config, monkeypatch) -> None:
    """Each checkpoint carries the delivered ids whole: past HEAVY_STATE_CHARS, one every CHECKPOINT_REQUESTS pages."""
    monkeypatch.setattr("source_harvest.streams.resumable.HEAVY_STATE_CHARS", 1)
    monkeypatch.setattr("source_harvest.streams.base.CHECKPOINT_REQUESTS", 2)
    config["capture_deletes"] = True
    pages = 5
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        for number in range(1, pages + 1):
            url = API + "clients" + (f"?cursor=c{number}" if number > 1 else "")
            next_url = API + f"clients?cursor=c{number + 1}&per_page=2000" if number < pages else None
            mock.get(url, json=harvest_page("clients", [record(100 - number)], next_url=next_url))
        output = run_read(config, ["clients"])
    listings = [s["resume"]["listing"]["next"] for s in states_of(output, "clients") if "resume" in s]
    # page 1 (ids still small), then every second page; the last page's checkpoint is the final state.
    assert [url.split("cursor=")[1].split("&")[0] if url else None for url in listings] == ["c2", "c4", None]
    assert "resume" not in states_of(output, "clients")[-1]
