"""Reads every stream of source-harvest through PyAirbyte into its default DuckDB cache.

Runs with the python of .venv-pyairbyte/ (PyAirbyte's own venv; its dependencies conflict with the
connector's), never imported by the test suite:

    AIRBYTE_OFFLINE_MODE=1 DO_NOT_TRACK=1 AIRBYTE_CACHE_ROOT=/tmp/cache \\
        .venv-pyairbyte/bin/python integration_tests/pyairbyte_driver.py \\
        --config config.json --executable .venv/bin/source-harvest [--out counts.json]

Prints one JSON line, {"rows": {stream: rows in the cache}, "processed_records": n}, and writes it
to --out when given. AIRBYTE_OFFLINE_MODE keeps PyAirbyte from fetching Airbyte's connector
registry (unreachable offline, and this connector is not in it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import airbyte as ab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="connector config JSON")
    parser.add_argument("--executable", type=Path, required=True, help="the source-harvest console script")
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    args = parser.parse_args()

    source = ab.get_source(
        "source-harvest",
        config=json.loads(args.config.read_text()),
        local_executable=args.executable,
    )
    source.check()
    source.select_all_streams()
    cache = ab.get_default_cache()
    result = source.read(cache=cache)
    document = {
        "rows": {name: len(dataset) for name, dataset in sorted(result.streams.items())},
        "processed_records": result.processed_records,
        "cache": str(cache.db_path),
    }
    line = json.dumps(document)
    if args.out:
        args.out.write_text(line)
    print(line)


if __name__ == "__main__":
    main()
