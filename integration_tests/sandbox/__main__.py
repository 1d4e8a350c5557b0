"""Run the Harvest sandbox as a process.

``python -m integration_tests.sandbox --port 0 --seed 1 --scale 1`` prints one JSON line (url,
id_url, account_id, tokens, OAuth client and refresh token) and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from .limits import FAULT_KINDS
from .sandbox import DEFAULT_OAUTH_EXPIRES_IN_SECONDS, DEFAULT_OAUTH_REDIRECT_URI, LOOPBACK_HOST, TOKEN_KINDS, Sandbox


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--host", default=LOOPBACK_HOST, help="interface to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 20,000 time entries")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies the rate-limit windows")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="probability of a fault per API request")
    parser.add_argument("--fault-kinds", default="", help=f"comma-separated subset of {','.join(FAULT_KINDS)}")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--anchor", default=None, help="YYYY-MM-DD; data spans the two years before it (default: yesterday)")
    parser.add_argument("--page-size-cap", type=int, default=None, help="serve at most N rows per page (tests)")
    parser.add_argument("--rotate-refresh-tokens", action="store_true")
    parser.add_argument("--oauth-expires-in", type=int, default=DEFAULT_OAUTH_EXPIRES_IN_SECONDS)
    parser.add_argument("--oauth-redirect-uri", default=DEFAULT_OAUTH_REDIRECT_URI, help="the OAuth app's redirect URL")
    parser.add_argument("--config-out", default=None, help="write a connector config (JSON) to this path")
    parser.add_argument("--config-token", default="admin", choices=TOKEN_KINDS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = [kind.strip() for kind in args.fault_kinds.split(",") if kind.strip()] or None
    sandbox = Sandbox(
        seed=args.seed,
        scale=args.scale,
        time_scale=args.time_scale,
        fault_rate=args.fault_rate,
        rate_limits=not args.no_rate_limits,
        anchor=args.anchor,
        page_size_cap=args.page_size_cap,
        rotate_refresh_tokens=args.rotate_refresh_tokens,
        oauth_expires_in=args.oauth_expires_in,
        oauth_redirect_uri=args.oauth_redirect_uri,
        fault_kinds=kinds,
        port=args.port,
        host=args.host,
    ).start()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.config_out:
        with open(args.config_out, "w", encoding="utf-8") as handle:
            json.dump(sandbox.config(args.config_token), handle, indent=2)
            handle.write("\n")
    info = sandbox.info()
    info["generation_seconds"] = round(sandbox.generation_seconds, 3)
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    while not stop.wait(timeout=1.0):
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
