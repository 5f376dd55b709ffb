"""The systemd units in deploy/systemd pass ``systemd-analyze verify``.

Only the install paths and the service user are pointed at this checkout, so
that the verifier can find the executables the units start.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import ROOT

UNITS = ROOT / "deploy" / "systemd"


def localised(text):
    venv = Path(sys.executable).parent.parent
    return (
        text.replace("/srv/chat/.venv", str(venv))
        .replace("/srv/chat", str(ROOT))
        .replace("EnvironmentFile=/etc/chat/chat.env", "EnvironmentFile=-/etc/chat/chat.env")
        .replace("User=chat", "User=root")
        .replace("Group=chat", "Group=root")
    )


def test_every_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    names = []
    for unit in sorted(UNITS.glob("*.service")):
        name = unit.name.replace("@.service", "@8001.service")
        (tmp_path / name).write_text(localised(unit.read_text()))
        names.append(str(tmp_path / name))
    assert len(names) == 4
    result = subprocess.run(
        [analyze, "verify", *names],
        capture_output=True,
        text=True,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
