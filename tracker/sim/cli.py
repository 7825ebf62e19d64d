"""`tracker sim [--port P] [--scenario FILE | synthetic:N[:SEED]]`: serve until interrupted."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tracker.sim.scenario import ScenarioError
from tracker.sim.server import SimHTTPServer, as_scenario, env_for


def serve(port: int, scenario_path: str | Path | None, host: str = "127.0.0.1") -> None:
    """Serve until interrupted, printing the URL and the variables to export."""
    httpd = SimHTTPServer((host, port), as_scenario(scenario_path))
    base = httpd.base_url()
    exports = " ".join(f"{k}={v}" for k, v in env_for(base).items())
    print(f"tracker sim: {httpd.scenario.name} on {base}  export {exports}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.stopping.set()
        httpd.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="tracker sim",
        description="A local tracking service that speaks the real sources' formats.",
    )
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--scenario", default=None, help="scenario JSON, or synthetic:N[:SEED] (default: the demo)"
    )
    args = parser.parse_args(argv)
    try:
        serve(args.port, args.scenario, args.host)
    except (ScenarioError, OSError) as exc:  # a bad scenario, a port already taken
        print(f"tracker sim: {exc}", file=sys.stderr)
        return 2
    return 0
