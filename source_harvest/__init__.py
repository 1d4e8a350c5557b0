"""source-harvest: an Airbyte source for the Harvest REST API v2."""

from .source import SourceHarvest

__all__ = ["SourceHarvest"]
