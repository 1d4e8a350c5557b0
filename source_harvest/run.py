"""Console entry point: `source-harvest spec|check|discover|read …`."""

import sys

from airbyte_cdk.entrypoint import launch

from .source import SourceHarvest


def run() -> None:
    launch(SourceHarvest(), sys.argv[1:])
