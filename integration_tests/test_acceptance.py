"""What Airbyte's acceptance tests (CAT) check on acceptance-test-config.yml and the CDK's standard
tests (test_standard.py) do not, written from CAT's reference documentation
(docs.airbyte.com, "Connector Acceptance Tests reference"), against the sandbox account the yaml's
configs describe (standard_account.py), on their fixed port.

- the config itself: what `test_strictness_level: high` requires of it;
- TestBasicRead: the records of a read of every discovered stream against expected_records.jsonl,
  which must also be what `python -m integration_tests.expected_records` makes now;
- TestFullRefresh: two reads of the full-refresh catalog deliver the same records;
- TestIncremental: two sequential reads, reads from every checkpoint of a stream, the future state;
- TestConnectorAttributes: primary keys, metadata's allowedHosts;
- TestConnectorDocumentation: docs/harvest.md's headings, prerequisites and template lines.
Spec conventions (OAuth first, additionalProperties) are in unit_tests/test_spec.py.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

import pytest
import yaml
from markdown_it import MarkdownIt

from integration_tests.conftest import Run, show
from integration_tests.expected_records import (
    ABNORMAL_STATE,
    EXPECTED_RECORDS,
    INCREMENTAL_CATALOG,
    basic_read,
    files_from,
    stale_files,
)
from integration_tests.sandbox import Sandbox
from integration_tests.standard_account import ROOT, Connector, acceptance_test_config, load, running_sandbox
from source_harvest.catalog import STREAMS_BY_NAME
from source_harvest.config import parse_config
from source_harvest.constants import DATETIME_FORMAT

CONFIG = acceptance_test_config()
TESTS = CONFIG["acceptance_tests"]
# Every section CAT knows; at high strictness the first six must each hold tests or a bypass_reason.
MANDATORY_AT_HIGH = ("spec", "connection", "discovery", "basic_read", "full_refresh", "incremental")
SECTIONS = (*MANDATORY_AT_HIGH, "connector_attributes", "connector_documentation")
# The keys CAT's configuration accepts in each section's entries (it refuses any other).
ENTRY_KEYS = {
    "spec": {"spec_path", "config_path", "timeout_seconds", "deployment_mode", "backward_compatibility_tests_config",
             "auth_default_method"},
    "connection": {"config_path", "status", "timeout_seconds", "deployment_mode"},
    "discovery": {"config_path", "timeout_seconds", "deployment_mode", "backward_compatibility_tests_config",
                  "validate_primary_keys_data_type"},
    "basic_read": {"config_path", "deployment_mode", "configured_catalog_path", "empty_streams", "expect_records", "validate_schema",
                   "validate_stream_statuses", "validate_state_messages", "validate_primary_keys_data_type",
                   "fail_on_extra_columns", "validate_data_points", "expect_trace_message_on_failure", "timeout_seconds",
                   "file_types", "client_container_config"},
    "full_refresh": {"config_path", "configured_catalog_path", "timeout_seconds", "deployment_mode", "ignored_fields",
                     "client_container_config"},
    "incremental": {"config_path", "configured_catalog_path", "future_state", "timeout_seconds", "deployment_mode",
                    "skip_comprehensive_incremental_tests", "client_container_config"},
    "connector_attributes": {"config_path", "timeout_seconds", "streams_without_primary_key", "allowed_hosts", "suggested_streams"},
    "connector_documentation": {"config_path", "timeout_seconds"},
}
EXPECT_RECORDS_KEYS = {"path", "bypass_reason", "exact_order"}
FUTURE_STATE_KEYS = {"future_state_path", "missing_streams", "bypass_reason", "cursor_format"}


def entries(section: str) -> list[dict[str, Any]]:
    return TESTS.get(section, {}).get("tests") or []


def only_entry(section: str) -> dict[str, Any]:
    found = entries(section)
    assert len(found) == 1, f"these tests read the one {section} entry of the yaml; found {len(found)}"
    return found[0]


# --- the config at high strictness ---------------------------------------------------------------

def test_the_config_is_at_high_strictness_and_configures_every_test_class() -> None:
    assert CONFIG["test_strictness_level"] == "high"
    assert set(TESTS) <= set(SECTIONS)
    for section in SECTIONS:
        block = TESTS.get(section) or {}
        assert bool(block.get("tests")) != bool(block.get("bypass_reason")), f"{section}: tests, or a bypass_reason, not both"


@pytest.mark.parametrize("section", SECTIONS)
def test_entries_set_only_keys_cat_accepts(section: str) -> None:
    for entry in entries(section):
        assert set(entry) <= ENTRY_KEYS[section], set(entry) - ENTRY_KEYS[section]
        assert "config_path" in entry
    for entry in entries("basic_read"):
        assert set(entry.get("expect_records", {})) <= EXPECT_RECORDS_KEYS
    for entry in entries("incremental"):
        assert set(entry.get("future_state", {})) <= FUTURE_STATE_KEYS


def test_basic_read_meets_high_strictness() -> None:
    """No configured catalog (every discovered stream is read), expected records or a reason, schema
    validation on, and a reason for every stream allowed to be empty."""
    for entry in entries("basic_read"):
        assert "configured_catalog_path" not in entry
        expect = entry["expect_records"]
        assert bool(expect.get("path")) != bool(expect.get("bypass_reason"))
        assert entry.get("validate_schema", True) is True
        assert all(stream.get("bypass_reason") for stream in entry.get("empty_streams", []))


def test_incremental_meets_high_strictness() -> None:
    """A future state file (or a reason), and a reason for every stream it leaves out."""
    for entry in entries("incremental"):
        future = entry["future_state"]
        assert bool(future.get("future_state_path")) != bool(future.get("bypass_reason"))
        assert all(stream.get("bypass_reason") for stream in future.get("missing_streams", []))


def test_every_file_the_config_names_exists() -> None:
    paths = [entry[key] for section in SECTIONS for entry in entries(section)
             for key in ("spec_path", "config_path", "configured_catalog_path") if key in entry]
    paths += [entry["expect_records"]["path"] for entry in entries("basic_read")]
    paths += [entry["future_state"]["future_state_path"] for entry in entries("incremental")]
    assert [path for path in paths if not (ROOT / path).is_file()] == []
    assert {only_entry("basic_read")["expect_records"]["path"], only_entry("incremental")["configured_catalog_path"],
            only_entry("incremental")["future_state"]["future_state_path"]} == {
        str(path.relative_to(ROOT)) for path in (EXPECTED_RECORDS, INCREMENTAL_CATALOG, ABNORMAL_STATE)}


# --- reads against the account --------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    try:
        with running_sandbox() as box:
            yield box
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def connector(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Connector:
    return Connector(tmp_path_factory.mktemp("acceptance"), load(only_entry("basic_read")["config_path"]))


@pytest.fixture(scope="module")
def discovered(connector: Connector) -> list[dict[str, Any]]:
    return connector.discovered_streams()


@pytest.fixture(scope="module")
def full_read(connector: Connector) -> tuple[list[dict[str, Any]], Run]:
    return basic_read(connector)


def field_at(data: Any, path: list[str]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def primary_key(stream: dict[str, Any], data: dict[str, Any]) -> tuple[Any, ...]:
    """A record's key: the value at each path of the stream's source-defined primary key."""
    return tuple(field_at(data, path) for path in stream["source_defined_primary_key"])


def expected_record_problems(expected: Iterable[dict[str, Any]], actual: dict[str, list[dict[str, Any]]],
                             streams: list[dict[str, Any]], exact_order: bool) -> list[str]:
    """CAT's comparison of expected records, by primary key: every expected key is read (in the same
    order, as a prefix of what is read, with exact_order); here also every expected record is read
    exactly as the file holds it."""
    by_name = {stream["name"]: stream for stream in streams}
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in expected:
        grouped[line["stream"]].append(line["data"])
    problems = []
    for name, records in grouped.items():
        if name not in by_name:
            problems.append(f"{name}: not a discovered stream")
            continue
        stream = by_name[name]
        read = {primary_key(stream, data): data for data in actual.get(name, [])}
        keys = [primary_key(stream, data) for data in records]
        read_keys = [primary_key(stream, data) for data in actual.get(name, [])]
        missing = [key for key in keys if key not in read]
        if missing:
            problems.append(f"{name}: {len(missing)} expected primary keys not read, first {missing[0]}")
        elif exact_order and read_keys[:len(keys)] != keys:
            problems.append(f"{name}: the expected primary keys are not read first, in their order")
        differing = [key for key, data in zip(keys, records, strict=True) if key in read and read[key] != data]
        if differing:
            problems.append(f"{name}: {len(differing)} records read with other values, first {differing[0]}")
    return problems


def test_expected_record_comparison_finds_missing_reordered_and_changed_records() -> None:
    stream = {"name": "s", "source_defined_primary_key": [["id"]]}
    expected = [{"stream": "s", "data": {"id": 1, "v": "a"}}, {"stream": "s", "data": {"id": 2, "v": "b"}}]
    assert expected_record_problems(expected, {"s": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3}]}, [stream], True) == []
    assert expected_record_problems(expected, {"s": [{"id": 2, "v": "b"}, {"id": 1, "v": "a"}]}, [stream], False) == []
    assert expected_record_problems(expected, {"s": [{"id": 2, "v": "b"}, {"id": 1, "v": "a"}]}, [stream], True) != []
    assert expected_record_problems(expected, {"s": [{"id": 1, "v": "a"}]}, [stream], False) != []
    assert expected_record_problems(expected, {"s": [{"id": 1, "v": "a"}, {"id": 2, "v": "c"}]}, [stream], False) != []
    assert expected_record_problems([{"stream": "t", "data": {}}], {}, [stream], False) != []


def test_committed_inputs_are_what_the_generator_makes_now(full_read: tuple[list[dict[str, Any]], Run]) -> None:
    """expected_records.jsonl, incremental_catalog.json and abnormal_state.json cannot go stale."""
    assert stale_files(files_from(*full_read)) == [], "regenerate them: python -m integration_tests.expected_records"


def test_basic_read_returns_the_expected_records(full_read: tuple[list[dict[str, Any]], Run]) -> None:
    streams, run = full_read
    entry = only_entry("basic_read")
    expected = [json.loads(line) for line in (ROOT / entry["expect_records"]["path"]).read_text(encoding="utf-8").splitlines()]
    assert expected_record_problems(expected, run.records, streams, entry["expect_records"].get("exact_order", False)) == []
    empty = {stream["name"] for stream in entry.get("empty_streams", [])}
    assert {line["stream"] for line in expected} == {stream["name"] for stream in streams} - empty


def test_basic_read_returns_records_of_every_stream_without_extra_columns(full_read: tuple[list[dict[str, Any]], Run]) -> None:
    """CAT's fail_on_extra_columns (on by default): no record holds a column its schema does not declare."""
    streams, run = full_read
    empty = {stream["name"] for stream in only_entry("basic_read").get("empty_streams", [])}
    assert [stream["name"] for stream in streams if not run.records.get(stream["name"]) and stream["name"] not in empty] == []
    extra = {stream["name"]: sorted({column for data in run.records[stream["name"]] for column in data} - set(stream["json_schema"]["properties"]))
             for stream in streams}
    assert {name: columns for name, columns in extra.items() if columns} == {}


def test_basic_read_states_and_primary_keys_are_as_cat_validates_them(full_read: tuple[list[dict[str, Any]], Run]) -> None:
    """CAT's validate_state_messages and validate_primary_keys_data_type (both on by default): every
    stream emits per-stream STATE messages with sourceStats, and no primary key is an object, an
    array, or null in all its parts."""
    streams, run = full_read
    states = [message["state"] for message in run.messages if message["type"] == "STATE"]
    assert all(state["type"] == "STREAM" and "recordCount" in state.get("sourceStats", {}) for state in states)
    assert {state["stream"]["stream_descriptor"]["name"] for state in states} == {stream["name"] for stream in streams}
    for stream in streams:
        for data in run.records[stream["name"]]:
            key = primary_key(stream, data)
            assert not any(isinstance(part, (dict, list)) for part in key) and any(part is not None for part in key), stream["name"]


def test_full_refresh_sequential_reads_deliver_the_same_records(connector: Connector) -> None:
    catalog = load(only_entry("full_refresh")["configured_catalog_path"])
    first, second = connector.read_catalog(catalog), connector.read_catalog(catalog)
    assert first.exit_code == second.exit_code == 0
    for name in first.records.keys() | second.records.keys():
        canonical = [Counter(json.dumps(data, sort_keys=True) for data in run.records[name]) for run in (first, second)]
        assert canonical[0] == canonical[1], name


# --- incremental ---------------------------------------------------------------------------------

def incremental_catalog() -> dict[str, Any]:
    return load(only_entry("incremental")["configured_catalog_path"])


def latest_states(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last STATE of each stream, as the platform hands them back (without sourceStats)."""
    latest: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message["type"] == "STATE":
            state = message["state"]
            latest[state["stream"]["stream_descriptor"]["name"]] = {"type": state["type"], "stream": state["stream"]}
    return list(latest.values())


def earliest_cursor(stream: str, state: dict[str, Any]) -> str | None:
    """The oldest cursor value a read from `state` may deliver: its committed cursor less the
    lookback the config asks for (minutes for updated_at cursors, days for report windows)."""
    spec = STREAMS_BY_NAME[stream]
    committed = state.get(spec.cursor or "")
    if not isinstance(committed, str):
        return None
    config = parse_config(load(only_entry("incremental")["config_path"]))
    if spec.report:
        return (datetime.fromisoformat(committed) - timedelta(days=config.reports_lookback_days)).date().isoformat()
    moment = datetime.strptime(committed, DATETIME_FORMAT).replace(tzinfo=timezone.utc) - config.lookback
    return moment.strftime(DATETIME_FORMAT)


def reread_by_embedded_changes(stream: str) -> bool:
    """A stream whose rows are read again when a row they embed changes (user_projects, which embeds
    project_tasks), or a stream derived from one: such rows come back with their own older cursor."""
    spec = STREAMS_BY_NAME[stream]
    source = STREAMS_BY_NAME[spec.parent] if spec.embedded and spec.parent else spec
    return source.embeds is not None


def records_before(stream: str, state: dict[str, Any], records: Iterable[dict[str, Any]]) -> list[Any]:
    """Cursor values of records older than a read from `state` may deliver (CAT's reference: none older
    than the state's cursor, less the lookback here; CAT itself now checks only that the reads differ)."""
    if reread_by_embedded_changes(stream):
        return []
    earliest = earliest_cursor(stream, state)
    cursor = STREAMS_BY_NAME[stream].cursor or ""
    return [] if earliest is None else [data[cursor] for data in records if data.get(cursor) is None or data[cursor] < earliest]


def test_only_rows_reread_for_embedded_changes_are_exempt_from_the_cursor_rule() -> None:
    assert reread_by_embedded_changes("user_projects") and reread_by_embedded_changes("user_project_tasks")
    assert not reread_by_embedded_changes("clients") and not reread_by_embedded_changes("invoice_line_items")


def test_two_sequential_reads_deliver_only_what_the_state_has_not_seen(connector: Connector) -> None:
    catalog = incremental_catalog()
    first = connector.read_catalog(catalog)
    assert first.exit_code == 0 and any(first.records.values())
    state = latest_states(first.messages)
    assert {s["stream"]["stream_descriptor"]["name"] for s in state} == {entry["stream"]["name"] for entry in catalog["streams"]}
    second = connector.read_catalog(catalog, state)
    assert second.exit_code == 0
    assert sum(map(len, second.records.values())) < sum(map(len, first.records.values()))  # CAT: the reads differ
    for saved in state:
        name = saved["stream"]["stream_descriptor"]["name"]
        assert records_before(name, saved["stream"]["stream_state"], second.records.get(name, [])) == [], name


def checkpoints(run: Run, stream: str) -> list[tuple[dict[str, Any], int]]:
    """Each distinct STATE a one-stream read emitted, with how many records followed it."""
    found: list[tuple[dict[str, Any], int]] = []
    after = 0
    for message in reversed(run.messages):
        if message["type"] == "RECORD" and message["record"]["stream"] == stream:
            after += 1
        elif message["type"] == "STATE" and message["state"]["stream"]["stream_descriptor"]["name"] == stream:
            state = message["state"]["stream"]["stream_state"]
            if not found or found[-1][0] != state:
                found.append((state, after))
    return found[::-1]


def test_reads_from_every_checkpoint_go_on_from_there(connector: Connector, pytestconfig: pytest.Config) -> None:
    """CAT's sequential slices: read each incremental stream alone, then again from each checkpoint it
    emitted; such a read delivers at least the records that followed the checkpoint, none older than
    its committed cursor allows, and, from the last checkpoint, fewer records than the whole read."""
    started, reads = time.perf_counter(), 0
    for entry in incremental_catalog()["streams"]:
        name, catalog = entry["stream"]["name"], {"streams": [entry]}
        whole = connector.read_catalog(catalog)
        assert whole.exit_code == 0 and whole.count(name), name
        found = checkpoints(whole, name)
        assert found, f"{name}: no checkpoint"
        for state, following in found:
            resumed = connector.read_catalog(catalog, [{"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": state}}])
            reads += 1
            assert resumed.exit_code == 0, (name, resumed.errors())
            assert resumed.count(name) >= following, (name, state)
            assert records_before(name, state, resumed.records[name]) == [], (name, state)
        assert following == 0 and resumed.count(name) < whole.count(name), name
    show(pytestconfig, "acceptance", f"sequential slices: {reads} reads from checkpoints in {time.perf_counter() - started:.1f} s")


def test_future_state_covers_every_incremental_stream_and_reads_nothing(connector: Connector) -> None:
    future = only_entry("incremental")["future_state"]
    state = load(future["future_state_path"])
    missing = {stream["name"] for stream in future.get("missing_streams", [])}
    catalog = incremental_catalog()
    assert {s["stream"]["stream_descriptor"]["name"] for s in state} == {entry["stream"]["name"] for entry in catalog["streams"]} - missing
    run = connector.read_catalog(catalog, state)
    assert run.exit_code == 0, run.errors()
    assert dict(run.records) == {}
    assert any(message["type"] == "STATE" for message in run.messages)


def test_the_incremental_catalog_holds_the_streams_discovery_offers_incremental(discovered: list[dict[str, Any]]) -> None:
    offered = {stream["name"]: stream["default_cursor_field"] for stream in discovered if "incremental" in stream["supported_sync_modes"]}
    configured = {entry["stream"]["name"]: entry["cursor_field"] for entry in incremental_catalog()["streams"]
                  if entry["sync_mode"] == "incremental"}
    assert configured == offered


# --- connector attributes ------------------------------------------------------------------------

def test_streams_without_a_primary_key_are_declared_with_a_reason(discovered: list[dict[str, Any]]) -> None:
    declared = only_entry("connector_attributes").get("streams_without_primary_key") or []
    assert all(stream.get("bypass_reason") for stream in declared)
    assert {stream["name"] for stream in discovered if not stream.get("source_defined_primary_key")} <= {s["name"] for s in declared}


def test_metadata_allowed_hosts_cover_every_host_the_connector_calls_by_default() -> None:
    bypass = (only_entry("connector_attributes").get("allowed_hosts") or {}).get("bypass_reason")
    hosts = (yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"].get("allowedHosts") or {}).get("hosts")
    assert bypass or hosts, "metadata.yaml needs allowedHosts.hosts, or connector_attributes an allowed_hosts bypass_reason"
    raw = yaml.safe_load((ROOT / "source_harvest" / "spec.yaml").read_text(encoding="utf-8"))
    defaults = [raw["connectionSpecification"]["properties"][key]["default"] for key in ("api_url", "id_url")]
    oauth = raw["advanced_auth"]["oauth_config_specification"]["oauth_connector_input_specification"]
    called = {urlsplit(url).hostname for url in (*defaults, oauth["consent_url"], oauth["access_token_url"])}
    assert called <= set(hosts)


# --- connector documentation ---------------------------------------------------------------------
# Airbyte's connector page template: its headings in order (True: required), where a connector's
# own headings may go (CONNECTOR_SPECIFIC), and the lines it prescribes under some of them.

CONNECTOR_DOC = ROOT / "docs" / "harvest.md"
CONNECTOR_SPECIFIC = "<headings of the connector's own>"
TEMPLATE_HEADINGS = (
    ("{name}", True), ("Prerequisites", True), ("Setup guide", True), ("Set up {name}", True),
    ("For Airbyte Cloud:", False), ("For Airbyte Open Source:", False),
    ("Set up the {name} connector in Airbyte", False), ("For Airbyte Cloud:", False), ("For Airbyte Open Source:", False),
    ("Supported sync modes", True), ("Supported Streams", True), (CONNECTOR_SPECIFIC, False),
    ("Performance considerations", False), ("Data type map", False), ("Troubleshooting", False), ("Tutorials", False),
    ("Changelog", True),
)
LINK_TARGET = "(…)"  # any link target: the template leaves it to the connector
TEMPLATE_LINES = {
    "{name}": ["", "<HideInUI>", "", f"This page contains the setup guide and reference information for the [{{name}}]{LINK_TARGET} source connector.",
               "", "</HideInUI>"],
    "Supported sync modes": ["", "The {name} source connector supports the following "
                                 "[sync modes](https://docs.airbyte.com/cloud/core-concepts/#connection-sync-modes):"],
}
CREDENTIALS_WORDS = ("account", "auth", "credentials", "access")


def connector_name() -> str:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]["name"]


def doc_headings(text: str) -> list[tuple[str, int]]:
    """(heading, index of the line after it) for every heading of any level, a "Step N: " prefix dropped."""
    tokens = MarkdownIt("commonmark").parse(text)
    found = []
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type == "heading_open" and opening.map:
            found.append((re.sub(r"^Step \d+: ", "", inline.content), opening.map[1]))
    return found


def heading_problems(headings: list[str], name: str) -> list[str]:
    """Where the headings leave the template: a heading out of place, or a required one missing.
    Optional template headings may be left out; the connector's own headings go after Supported
    Streams; nothing after Changelog is checked."""
    template = [(heading.format(name=name), required) for heading, required in TEMPLATE_HEADINGS]
    names = {heading for heading, _ in template}
    position = 0
    for heading in headings:
        while position < len(template):
            slot, required = template[position]
            if slot == heading:
                position += 1
                break
            if slot == CONNECTOR_SPECIFIC and heading not in names:
                break
            if required:
                return [f"'{heading}' where the template has '{slot}'"]
            position += 1
        if position == len(template):
            break
    return [f"'{slot}' is missing" for slot, required in template[position:] if required]


def section_lines(text: str, heading: str) -> list[str]:
    """The lines between `heading` and the next heading."""
    headings = doc_headings(text)
    lines = text.splitlines()
    starts = [start for found, start in headings if found == heading]
    assert starts, f"no heading {heading!r}"
    following = [start - 1 for _, start in headings if start > starts[0]]
    return lines[starts[0]:min(following, default=len(lines))]


def template_line_problems(text: str, name: str) -> list[str]:
    problems = []
    for heading, template in TEMPLATE_LINES.items():
        heading = heading.format(name=name)
        if heading not in {found for found, _ in doc_headings(text)}:
            continue
        for line, expected in zip(section_lines(text, heading), template, strict=False):
            pattern = re.escape(expected.format(name=name)).replace(re.escape(LINK_TARGET), r"\([^)]*\)")
            if not re.fullmatch(pattern, line):
                problems.append(f"under '{heading}': {line!r}, where the template has {expected.format(name=name)!r}")
    return problems


def test_heading_rule_finds_missing_misplaced_and_misspelt_headings() -> None:
    good = ["X", "Prerequisites", "Setup guide", "Set up X", "Set up the X connector in Airbyte", "Supported sync modes",
            "Supported Streams", "Limits", "Notes", "Troubleshooting", "Changelog", "Anything"]
    assert heading_problems(good, "X") == []
    assert heading_problems([h for h in good if h != "Setup guide"], "X") != []
    assert heading_problems(["X", "Prerequisites", "Limits", *good[2:]], "X") != []
    assert heading_problems([h.replace("Streams", "streams") for h in good], "X") != []
    assert heading_problems(good[:-2], "X") == ["'Changelog' is missing"]
    assert heading_problems([*good[:-2], "Notes", *good[-2:]], "X") != []  # own headings only before the template's last ones


def test_template_line_rule_finds_a_changed_line() -> None:
    page = ("# X\n\n<HideInUI>\n\nThis page contains the setup guide and reference information for the [X](a.md) source connector.\n\n"
            "</HideInUI>\n\n## Supported sync modes\n\nThe X source connector supports the following "
            "[sync modes](https://docs.airbyte.com/cloud/core-concepts/#connection-sync-modes):\n")
    assert template_line_problems(page, "X") == []
    assert template_line_problems(page.replace("reference information", "information"), "X") != []
    assert template_line_problems(page.replace("source connector supports", "connector supports"), "X") != []


def test_documentation_headings_follow_airbytes_template() -> None:
    text = CONNECTOR_DOC.read_text(encoding="utf-8")
    assert heading_problems([heading for heading, _ in doc_headings(text)], connector_name()) == []


def test_documentation_keeps_the_template_lines() -> None:
    assert template_line_problems(CONNECTOR_DOC.read_text(encoding="utf-8"), connector_name()) == []


def test_prerequisites_name_every_required_field_and_the_credentials() -> None:
    spec = yaml.safe_load((ROOT / "source_harvest" / "spec.yaml").read_text(encoding="utf-8"))["connectionSpecification"]
    prerequisites = "\n".join(section_lines(CONNECTOR_DOC.read_text(encoding="utf-8"), "Prerequisites")).lower()
    titles = [spec["properties"][field]["title"].lower() for field in spec["required"] if field != "credentials"]
    assert [title for title in titles if title not in prerequisites] == []
    assert "credentials" not in spec["required"] or any(word in prerequisites for word in CREDENTIALS_WORDS)


def test_documentation_ends_with_a_changelog_of_versions() -> None:
    lines = section_lines(CONNECTOR_DOC.read_text(encoding="utf-8"), "Changelog")
    assert any(line.startswith("| 0.1.0 |") for line in lines)  # unit_tests/test_docs.py checks it against CHANGELOG.md
