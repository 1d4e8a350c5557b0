"""Console entry point: `source-harvest spec|check|discover|read …`."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable, List, Mapping

from airbyte_cdk.entrypoint import PRINT_BUFFER, AirbyteEntrypoint
from airbyte_cdk.models import ConnectorSpecification

from .inputs import first_unreadable_input
from .source import SourceHarvest


class HarvestEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, with `check` validating the config through SourceHarvest.validate_config,
    whose messages name the field and what to fix (the CDK's name neither), and every input file
    checked for readability before the CDK reads it."""

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        SourceHarvest().validate_config(config)

    def run(self, parsed_args: argparse.Namespace) -> Iterable[str]:
        """An input file the process cannot open ends the verb with a config_error TRACE (and, for `check`,
        a FAILED status, as the CDK answers a config error there), without a Python traceback: exit 1,
        or 0 for `check`."""
        unreadable = first_unreadable_input(parsed_args)
        if unreadable is None:
            yield from super().run(parsed_args)
            return
        yield self.airbyte_message_to_string(unreadable.as_sanitized_airbyte_message())
        if parsed_args.command == "check":
            yield self.airbyte_message_to_string(unreadable.as_connection_status_message())
            return
        raise SystemExit(1)


def launch(args: List[str]) -> None:
    entrypoint = HarvestEntrypoint(SourceHarvest())
    parsed_args = entrypoint.parse_args(args)
    with PRINT_BUFFER:
        for message in entrypoint.run(parsed_args):
            sys.stdout.write(message + "\n")  # one write (print makes two, each taking the buffer's lock)


def run() -> None:
    launch(sys.argv[1:])
