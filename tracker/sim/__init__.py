"""`tracker sim`: a local HTTP service that speaks the tracking sources' real formats.

Scenario files (`scenario.py`) describe parcels, their journeys, each source's fakes and
misbehaviour; `render.py` turns a journey into each source's response body; `server.py` serves
them (`SimServer` for tests, `run`/`main` for the CLI). Point `TRACKER_<SOURCE>_URL` at
`http://127.0.0.1:PORT/<source>` and the adapters need nothing else.
"""

from __future__ import annotations

from tracker.sim.cli import main, serve
from tracker.sim.scenario import Scenario, ScenarioError, from_dict, load
from tracker.sim.server import SimServer, run
from tracker.sim.synthetic import generate

__all__ = [
    "Scenario",
    "ScenarioError",
    "SimServer",
    "from_dict",
    "generate",
    "load",
    "main",
    "run",
    "serve",
]
