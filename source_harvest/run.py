"""Console entry point: `source-harvest spec|check|discover|read …`."""

from __future__ import annotations

import sys
from typing import Any, List, Mapping

from airbyte_cdk.entrypoint import PRINT_BUFFER, AirbyteEntrypoint
from airbyte_cdk.models import ConnectorSpecification

from .source import SourceHarvest


class HarvestEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, with `check` validating the config through SourceHarvest.validate_config,
    whose messages name the field and what to fix (the CDK's name neither)."""

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        SourceHarvest().validate_config(config)


def launch(args: List[str]) -> None:
    entrypoint = HarvestEntrypoint(SourceHarvest())
    parsed_args = entrypoint.parse_args(args)
    with PRINT_BUFFER:
        for message in entrypoint.run(parsed_args):
            sys.stdout.write(message + "\n")  # one write (print makes two, each taking the buffer's lock)


def run() -> None:
    launch(sys.argv[1:])
