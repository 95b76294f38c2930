"""Shared paths and helpers for the deploy checks.

These tests use the real tools: Helm's engine (helm-python-sdk), kubernetes-validate,
promtool and a real Prometheus. A missing tool is a failure with a message saying what to
install, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "smartlead-exporter"
RULES_FILE = REPO / "alerts" / "smartlead-exporter.rules.yml"
RULES_TEST_FILE = REPO / "alerts" / "smartlead-exporter.rules.test.yml"
INHIBIT_FILE = REPO / "alerts" / "alertmanager-inhibit.yml"
RUNBOOK_FILE = REPO / "docs" / "runbook.md"
# Every runbook_url is this base plus the alert's anchor (the chart templates the base).
RUNBOOK_BASE = "https://github.com/smartlead-exporter/smartlead_exporter/blob/main/docs/runbook.md"
# The one job matcher of the rules: exact (the chart and scripts/render-rules.py --job replace
# this string).
JOB_MATCHER = 'job="smartlead-exporter"'
DASHBOARD_FILE = REPO / "dashboards" / "smartlead-exporter.json"


def require_tool(name: str, package: str = "prometheus") -> str:
    """Absolute path of a command-line tool, or a test failure naming the package to install."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. These checks need Debian's {package} package "
            f"(apt-get install -y {package}), which provides /usr/bin/{name}.",
            pytrace=False,
        )
    return path


def promtool(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run promtool and return the finished process (the caller checks returncode)."""
    return subprocess.run(
        [require_tool("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load_rules() -> dict:
    with RULES_FILE.open() as f:
        return yaml.safe_load(f)


def alert_rules() -> list[dict]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "alert" in rule]


def recording_rules() -> list[dict]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "record" in rule]


def load_dashboard() -> dict:
    with DASHBOARD_FILE.open() as f:
        return json.load(f)


def exporter_binary() -> Path:
    """The exporter under test: $SMARTLEAD_EXPORTER_BIN, else the debug build in target/."""
    configured = os.environ.get("SMARTLEAD_EXPORTER_BIN")
    path = Path(configured) if configured else REPO / "target" / "debug" / "smartlead_exporter"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"exporter binary {path} not found or not executable: run `cargo build` first "
            f"or point SMARTLEAD_EXPORTER_BIN at a built smartlead_exporter",
            pytrace=False,
        )
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env() -> dict[str, str]:
    """The test's environment without proxies or SmartLead settings, so that nothing is sent
    anywhere but to servers on loopback."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and not k.upper().startswith("SMARTLEAD_")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env
