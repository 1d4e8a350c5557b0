"""Odd data Harvest is known to send still validates against the stream schemas."""

from __future__ import annotations

from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from jsonschema import Draft7Validator

from source_harvest.coerce import Coercer

ODD_TIME_ENTRY = {
    "id": "1494415019", "spent_date": "2024-02-29", "hours": "1.50", "rounded_hours": "", "billable": "true",
    "is_running": True, "timer_started_at": "2024-02-29T08:00:00Z", "started_time": "8:00am", "ended_time": None,
    "notes": "", "user": {"id": "7", "name": "Ann"}, "client": {"id": 1, "name": "Acme", "currency": "USD"},
    "task_assignment": {"id": 6, "hourly_rate": "100", "budget": None}, "external_reference": {"id": "35", "group_id": "awme"},
    "a_field_harvest_added_later": {"nested": [1, 2]}, "created_at": "2024-02-29T08:00:00Z", "updated_at": "2024-02-29T08:00:00Z",
}
ODD_INVOICE = {"id": 1, "amount": "100.5", "tax": None, "discount": "", "line_items": [{"id": 2, "quantity": "1.5", "unit_price": "10", "taxed": "false"}],
               "payment_options": [], "client": {"id": 3, "name": "Acme"}, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}


def validate(stream: str, record: dict) -> list[str]:
    schema = ResourceSchemaLoader("source_harvest").get_schema(stream)
    coerced = Coercer(schema)(record)
    return [error.message for error in Draft7Validator(schema).iter_errors(coerced)]


def test_numbers_and_booleans_sent_as_strings_validate() -> None:
    assert validate("time_entries", dict(ODD_TIME_ENTRY)) == []
    assert validate("invoices", dict(ODD_INVOICE)) == []


def test_coercion_converts_values_not_just_types() -> None:
    schema = ResourceSchemaLoader("source_harvest").get_schema("time_entries")
    row = Coercer(schema)(dict(ODD_TIME_ENTRY, user={"id": "7"}))
    assert (row["id"], row["hours"], row["rounded_hours"], row["billable"], row["user"]["id"]) == (1494415019, 1.5, None, True, 7)
    assert row["started_time"] == "8:00am" and row["notes"] == ""


def test_text_that_is_not_a_number_is_left_for_validation_to_name() -> None:
    errors = validate("time_entries", dict(ODD_TIME_ENTRY, hours="one hour"))
    assert errors and "one hour" in errors[0]
