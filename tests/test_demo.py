"""`monitor demo`: no network, no config; the alert and the log are printed within 30 seconds."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from monitor.cli import main


def test_demo_prints_the_alert_with_its_rule_and_the_event_log_quickly(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert main(["demo"]) == 0
    assert time.monotonic() - started < 30
    out = capsys.readouterr().out

    alert = out[out.index("alert received") : out.index("The event log")]
    assert "[high]" in alert and "hk-data-requests" in alert
    assert "Example Corp has resumed processing Hong Kong government data requests." in alert
    assert re.search(r"matched rule hk-data-requests on the added text", alert)

    log = out[out.index("The event log") :].splitlines()
    kinds = [line.split()[3] for line in log if re.match(r"\s+\d+\s+\d{4}-", line)]
    # The change is signed at once (a checkpoint), and the alert recorded as sent.
    assert [k for k in kinds if k != "CheckpointSigned"] == [
        "SourceRegistered",
        "BaselineCaptured",
        "ChangeDetected",
        "NotificationSent",
    ]
    assert "CheckpointSigned" in kinds
    assert "Demo finished" in out
    # Nothing is left behind: no config, no database in the working directory.
    assert list(workdir.iterdir()) == []
