"""`make demo` end to end: engine + sink + `cdktf deploy` of cdk/main.py + events -> every notification arrives.

This is the newcomer's first five minutes; it must not rot. Needs terraform on PATH and cdktf-cli in
./node_modules (`make test` installs it first)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_the_demo_delivers_every_notification_it_promises():
    assert shutil.which("terraform"), "terraform must be on PATH"
    assert (ROOT / "node_modules" / ".bin" / "cdktf").exists(), "run scripts/setup-cdktf.sh (make test does)"
    proc = subprocess.run([sys.executable, "scripts/demo.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, stdin=subprocess.DEVNULL)
    tail = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    assert "7 notifications arrived (7 expected)" in proc.stdout, tail
    assert "PagerDuty        [CRITICAL] charge-cards failed repeatedly" in proc.stdout
    assert "SLA late-finish: nightly-etl has not finished after 15 s" in proc.stdout
