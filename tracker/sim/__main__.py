"""`python -m tracker.sim [--port P] [--scenario FILE]` (the same as `tracker sim`)."""

from tracker.sim.cli import main

raise SystemExit(main())
