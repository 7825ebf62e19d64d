"""The judge, deadlines, alerts and evidence stages import no I/O library."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("requests", "redis", "celery", "sqlalchemy", "httpx", "urllib3")


def test_pure_stages_import_no_io_library() -> None:
    code = (
        "import sys\n"
        "import tracker.judge, tracker.deadlines, tracker.alerts, tracker.evidence\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
