"""Project tooling that make runs (lock file, audit); not part of the connector package."""
