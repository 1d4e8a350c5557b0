"""The files each verb reads (config; for `read` also the catalog and the state), and the config_error
for one the connector cannot open: it names the file, the user id the process runs as (uid 1000 in
the image) and what to do, instead of the CDK's "Something went wrong in the connector"."""

from __future__ import annotations

import argparse
import os

from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .config import config_error

# Per verb, the argparse destinations of the files it reads, in the order the CDK reads them.
VERB_INPUTS = {"check": ("config",), "discover": ("config",), "read": ("config", "catalog", "state")}


def unreadable_file_message(kind: str, path: str, error: OSError) -> str:
    uid = os.getuid()
    said = f"Cannot read the {kind} file {path}"
    if isinstance(error, PermissionError):
        return (f"{said}: permission denied for uid {uid}, the user the connector runs as. Make the file readable by it: "
                f"`chmod a+r` the file (and `chmod a+x` its folders) on the host, or mount it owned by uid {uid}.")
    if isinstance(error, IsADirectoryError):
        return (f"{said} (the connector runs as uid {uid}): it is a directory. Pass the path of the JSON file itself; "
                "`docker run -v` creates an empty directory when the file it mounts does not exist on the host.")
    if isinstance(error, FileNotFoundError):
        return (f"{said} (the connector runs as uid {uid}): it does not exist. Check the path, and that the folder "
                "holding the file is mounted into the container (`docker run -v HOST_DIR:/secrets ...`).")
    return f"{said} as uid {uid}: {error.strerror}. Make sure it exists and is readable by uid {uid}."


def first_unreadable_input(parsed_args: argparse.Namespace) -> AirbyteTracedException | None:
    """A config_error for the first file this verb reads that cannot be opened, or None when all can."""
    for kind in VERB_INPUTS.get(parsed_args.command, ()):
        path = getattr(parsed_args, kind, None)
        if not path:  # --state is optional
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            return config_error(unreadable_file_message(kind, path, error))
    return None
