"""Packaging for source-harvest, an Airbyte source for the Harvest REST API v2."""

from setuptools import find_packages, setup

MAIN_REQUIREMENTS = [
    "airbyte-cdk>=7.39,<8",
    # 2.34 added runtime-Protocol isinstance checks to every request's preparation, which cost
    # ~0.1 ms of CPU a request on Python 3.11 (measured with `make bench`); 2.33 has the same API.
    "requests>=2.32.5,<2.34",
    # Imported directly (HTTP bodies and the sync's spill files; the config's schema check), so declared
    # here with the CDK's own ranges rather than left to arrive through it.
    "orjson>=3.10.7,<4",
    "jsonschema>=4.17.3,<5",
    # Roaring bitmaps for the ids a stream remembers for tombstones (source_harvest/idset.py): about
    # 2-4 bytes an id in memory against ~76 for a Python set, C-speed add, membership and set algebra,
    # 64-bit ids. Maintained (CRoaring inside), MIT, wheels for every CPython we support.
    "pyroaring>=1.0,<2",  # 1.0 added BitMap64
    # Sorted id-pair columns and the vectorised state encoding (idset.py); already installed with the
    # CDK (through pandas), named because we import it.
    "numpy>=1.22",
]

TEST_REQUIREMENTS = [
    "pytest>=8",
    "requests-mock>=1.12",
    "docker>=7",
    "ruff>=0.6",
    "trustme>=1.1",  # a throwaway CA: check and read trust the same certificates (unit_tests/test_http_faults.py)
    "markdown-it-py>=3",  # the docs' links and headings (unit_tests/test_docs.py); already locked, via rich
]

setup(
    name="source-harvest",
    version="0.1.0",
    description="Airbyte source connector for Harvest (time tracking and invoicing), REST API v2.",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["source_harvest", "source_harvest.*"]),
    install_requires=MAIN_REQUIREMENTS,
    extras_require={"tests": TEST_REQUIREMENTS},
    package_data={"source_harvest": ["spec.yaml", "schemas/*.json", "schemas/shared/*.json"]},
    entry_points={"console_scripts": ["source-harvest=source_harvest.run:run"]},
)
