"""End to end with a real Prometheus: it scrapes the exporter in --demo mode on loopback and
loads the alert rules; then every dashboard query and variable, with the variables
substituted as Grafana would, must return data, and every alert expression must evaluate.

Everything listens on 127.0.0.1 only; both processes are started and killed here, and the
whole module takes about half a minute.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from deploy_support import RULES_FILE, alert_rules, exporter_binary, load_dashboard, promtool, require_tool

JOB = "smartlead-exporter"
SCRAPE_SECONDS = 20  # how long Prometheus scrapes (every second) before the queries run
STARTUP_TIMEOUT = 30  # seconds for either process to become ready
# Grafana's interval variables, as it would substitute them for a short time range.
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1m", "__range_s": "60", "__range_ms": "60000"}

# Plain urllib without proxies: every request here goes to 127.0.0.1 and must stay there.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

DASHBOARD = load_dashboard()
TARGETS = [(p["title"], t) for p in DASHBOARD["panels"] if p["type"] != "row" for t in p.get("targets", [])]
QUERY_VARIABLES = [v for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env() -> dict[str, str]:
    """The test's environment without proxies or SmartLead settings, so that nothing is sent
    anywhere but to the demo stand-in on loopback."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and not k.upper().startswith("SMARTLEAD_")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with HTTP.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Stack:
    exporter_url: str
    prometheus_url: str
    logs: dict[str, Path]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def api(self, path: str, **params) -> dict:
        url = f"{self.prometheus_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        status, body = http_get(url, timeout=10)
        payload = json.loads(body)
        assert status == 200 and payload["status"] == "success", f"{path} {params}: {status} {payload}"
        return payload["data"]


def wait_until(what: str, check, timeout: float, logs: dict[str, Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    details = "\n".join(f"--- {name} log:\n{log_tail(path)}" for name, path in logs.items())
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{details}", pytrace=False)


def ready(url: str) -> bool:
    try:
        return http_get(url, timeout=1)[0] == 200
    except OSError:
        return False


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    binary = exporter_binary()
    prometheus_bin = require_tool("prometheus")
    work = tmp_path_factory.mktemp("e2e")
    exporter_port, prometheus_port = free_port(), free_port()
    logs = {"prometheus": work / "prometheus.log", "exporter": work / "exporter.log"}
    s = Stack(f"http://127.0.0.1:{exporter_port}", f"http://127.0.0.1:{prometheus_port}", logs)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    try:
        # Prometheus first, so that it sees the exporter's very first polls: the demo stand-in
        # answers 429 now and then, and the exporter then waits for the rate-limit reset (up
        # to a minute) before it polls again.
        with logs["prometheus"].open("wb") as log:
            s.processes.append(subprocess.Popen(
                [prometheus_bin, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=loopback_env(), cwd=work,
            ))
        wait_until("Prometheus' /-/ready", lambda: ready(f"{s.prometheus_url}/-/ready"), STARTUP_TIMEOUT, logs)
        with logs["exporter"].open("wb") as log:
            s.processes.append(subprocess.Popen(
                [str(binary), "--demo", f"--web.listen-address=127.0.0.1:{exporter_port}", "--poll.interval=1s"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=loopback_env(),
            ))
        wait_until("the exporter's /-/ready", lambda: ready(f"{s.exporter_url}/-/ready"), STARTUP_TIMEOUT, logs)
        time.sleep(SCRAPE_SECONDS)
        for process, name in zip(s.processes, logs):
            assert process.poll() is None, f"{name} exited early:\n{log_tail(logs[name])}"
        yield s
    finally:
        for process in reversed(s.processes):
            stop(process)


# --- variable substitution, as Grafana does it ------------------------------------------------


def regex_for(values: list[str]) -> str:
    """A multi-value variable in a PromQL regex matcher: values regex-escaped, joined with |,
    backslashes doubled for the PromQL string (Grafana's prometheusRegularEscape)."""
    escaped = [re.sub(r"([\\$^*+?.()|{}\[\]])", r"\\\1", v).replace("\\", "\\\\") for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(expr: str, variables: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name in GRAFANA_INTERVALS:
            return GRAFANA_INTERVALS[name]
        assert name in variables, f"unknown variable ${name} in {expr}"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def variable_query(var: dict) -> tuple[str, str]:
    query = var["query"] if isinstance(var["query"], str) else var["query"]["query"]
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert match, f"variable {var['name']}: not a label_values() query: {query}"
    return match.group(1), match.group(2)


def resolve_variables(stack: Stack) -> dict[str, list[str]]:
    """Each variable's values as Grafana would list them, each query narrowed by the
    variables before it (all their values selected)."""
    resolved: dict[str, list[str]] = {}
    now = time.time()
    for var in QUERY_VARIABLES:
        selector, label = variable_query(var)
        selector = substitute(selector, {k: regex_for(v) for k, v in resolved.items()})
        resolved[var["name"]] = stack.api(f"label/{label}/values", **{"match[]": selector, "start": now - 60, "end": now})
    return resolved


# --- the checks -------------------------------------------------------------------------------


def test_prometheus_scrapes_the_exporter(stack):
    targets = stack.api("targets")["activeTargets"]
    assert [t["labels"]["job"] for t in targets] == [JOB]
    assert targets[0]["health"] == "up", targets[0]["lastError"]
    samples = stack.api("query", query=f'count_over_time(up{{job="{JOB}"}}[1m])')["result"]
    assert float(samples[0]["value"][1]) >= SCRAPE_SECONDS / 2
    # The first poll of the demo stand-in always succeeds; later ones may get a 429 or a 500
    # (and after a 429 the exporter waits for the rate-limit reset), so smartlead_up may be 0.
    up = stack.api("query", query=f'smartlead_up{{job="{JOB}"}}')["result"]
    assert [r["metric"]["account"] for r in up] == ["demo"]
    assert up[0]["value"][1] in {"0", "1"}
    assert stack.api("query", query=f'smartlead_last_success_timestamp_seconds{{job="{JOB}"}} > 0')["result"]


def test_metrics_pass_promtool_check_metrics(stack):
    status, body = http_get(f"{stack.exporter_url}/metrics")
    assert status == 200
    result = subprocess.run([require_tool("promtool"), "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


@pytest.fixture(scope="module")
def resolved(stack) -> dict[str, list[str]]:
    return resolve_variables(stack)


@pytest.mark.parametrize("var", QUERY_VARIABLES, ids=lambda v: v["name"])
def test_every_variable_query_returns_values(resolved, var):
    assert resolved[var["name"]], f"variable {var['name']} lists no values"
    if var["name"] == "job":
        assert resolved["job"] == [JOB]
    if var["name"] == "account":
        assert resolved["account"] == ["demo"]


@pytest.mark.parametrize("selection", ["all", "selected"])
@pytest.mark.parametrize("item", TARGETS, ids=lambda i: f"{i[0]}/{i[1]['refId']}")
def test_every_panel_query_returns_series(stack, resolved, item, selection):
    title, target = item
    if selection == "all":  # "All" selected: Grafana sends the allValue .+
        variables = {v["name"]: v["allValue"] for v in QUERY_VARIABLES}
    else:  # every listed value selected explicitly
        variables = {k: regex_for(v) for k, v in resolved.items()}
    variables["datasource"] = "unused"
    expr = substitute(target["expr"], variables)
    now = time.time()
    instant = stack.api("query", query=expr, time=now)
    assert instant["result"], f"{title}: no series for {expr}"
    ranged = stack.api("query_range", query=expr, start=now - SCRAPE_SECONDS, end=now, step=1)
    assert ranged["result"], f"{title}: no series over time for {expr}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_expression_evaluates(stack, rule):
    stack.api("query", query=rule["expr"], time=time.time())


def test_rules_are_loaded_and_healthy(stack):
    expected = {rule["alert"] for rule in alert_rules()}
    loaded = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        groups = stack.api("rules", type="alert")["groups"]
        loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
        if set(loaded) == expected and all(r["health"] == "ok" for r in loaded.values()):
            break
        time.sleep(0.5)
    assert set(loaded) == expected
    for name, rule in loaded.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
        assert not rule.get("lastError"), name
    # A healthy exporter talking to a healthy (demo) SmartLead fires nothing that matters.
    firing = {name for name, rule in loaded.items() if rule["state"] == "firing"}
    assert firing == set()


def test_rules_file_check_with_the_same_promtool(stack):
    # The Prometheus that loaded the rules and the promtool that checks them are one version.
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
