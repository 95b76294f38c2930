"""End to end with a real Prometheus: it scrapes the exporter in --demo mode on loopback twice,
once as a plain static job and once with the scrape configuration the Prometheus Operator
generates for the chart's ServiceMonitor (the same relabelings: namespace, service, pod,
container, endpoint, job from the Service), and loads the alert rules. Then every dashboard
query, variable and annotation, with the variables substituted as Grafana would, must return
data under either job and with "All" selected, and every alert expression must evaluate and
find its series under both jobs.

A second exporter, scraped by the plain job too, polls two accounts of a loopback SmartLead
stand-in, one with a revoked key: of the account alerts, only SmartLeadAuthFailing's expression
must hold, and only for that account; of the mailbox, campaign and budget alerts, none for
either (the stand-in's account is healthy), while the demo's low-reputation mailbox meets
SmartLeadMailboxReputationLow's. The demo exporter is restarted once, so that the restart
annotation has something to show.
Everything listens on 127.0.0.1 only; both processes are started and killed here, and the
whole module takes about half a minute.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import smartlead_stand_in
from deploy_support import (
    JOB_MATCHER,
    RULES_FILE,
    alert_rules,
    recording_rules,
    exporter_binary,
    free_port,
    load_dashboard,
    loopback_env,
    promtool,
    require_tool,
)

PLAIN_JOB = "smartlead"  # a hand-written scrape job
OPERATOR_JOB = "smartlead-exporter"  # the chart's Service, as the Operator names the job
JOBS = [PLAIN_JOB, OPERATOR_JOB]
OTHER_JOB = "prometheus"  # Prometheus scraping itself: a target that is not the exporter
# A second exporter, scraped by the plain job beside the demo one, polls two accounts of a
# loopback SmartLead stand-in: acme with a good key, globex with a revoked one.
GOOD_ACCOUNT, REVOKED_ACCOUNT = "acme", "globex"
GOOD_KEY = "e2e-good-key"
ACCOUNT_ALERTS = ["SmartLeadAuthFailing", "SmartLeadRateLimited", "SmartLeadAPIDown", "SmartLeadPollFailuresHigh",
                  "SmartLeadDataStale", "SmartLeadRateLimitBudgetLow", "SmartLeadAPILatencyHigh",
                  "SmartLeadMailboxDisconnected", "SmartLeadMailboxWarmupBlocked", "SmartLeadMailboxReputationLow",
                  "SmartLeadCampaignBounceRateHigh", "SmartLeadAPIBudgetStretching"]
NAMESPACE = "monitoring"
POD = "smartlead-exporter-5c9d8b7f6-x2x4q"
CLUSTER = "e2e"  # added by a user relabeling (serviceMonitor.relabelings), as multi-cluster setups do
SCRAPE_SECONDS = 15  # how long Prometheus scrapes (every second) after the restart before the queries run
STARTUP_TIMEOUT = 30  # seconds for either process to become ready
# Grafana's interval variables, as it would substitute them for a short time range.
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1m", "__range_s": "60", "__range_ms": "60000"}
# An alert that always fires, so that the dashboard's alerts panel has something to list.
PROBE_ALERT = "SmartLeadE2EProbe"

# Every collector every few seconds, so that the data moves within the test, and a budget that
# holds them (4 calls a second for the demo's 5 campaigns whose analytics are collected).
COLLECTOR_ARGS = ["--poll.interval=1s", "--collector.replies.interval=2s", "--collector.campaigns.interval=3s",
                  "--collector.mailboxes.interval=2s", "--smartlead.max-calls-per-minute=300",
                  "--smartlead.max-calls-per-hour=18000"]
# Every endpoint the collectors call: the api_endpoint label's values.
API_ENDPOINTS = ["campaign-analytics", "campaigns", "category-wise-response", "email-accounts", "fetch-categories"]

# Plain urllib without proxies: every request here goes to 127.0.0.1 and must stay there.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

DASHBOARD = load_dashboard()
TARGETS = [(p["title"], t) for p in DASHBOARD["panels"] if p["type"] != "row" for t in p.get("targets", [])]
ANNOTATIONS = [a for a in DASHBOARD["annotations"]["list"] if a.get("builtIn") != 1]
QUERY_VARIABLES = [v for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]


def operator_scrape_config(target: str) -> dict:
    """The scrape configuration the Prometheus Operator generates for the chart's ServiceMonitor
    (endpoint port `http`, jobLabel app.kubernetes.io/name), with Kubernetes service discovery
    replaced by a static target that carries the same __meta_kubernetes_* labels."""
    meta = {
        "__meta_kubernetes_namespace": NAMESPACE,
        "__meta_kubernetes_service_name": OPERATOR_JOB,
        "__meta_kubernetes_service_label_app_kubernetes_io_name": "smartlead-exporter",
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name": "true",
        "__meta_kubernetes_service_label_app_kubernetes_io_instance": "smartlead-exporter",
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance": "true",
        "__meta_kubernetes_endpoint_port_name": "http",
        "__meta_kubernetes_endpoint_address_target_kind": "Pod",
        "__meta_kubernetes_endpoint_address_target_name": POD,
        "__meta_kubernetes_pod_name": POD,
        "__meta_kubernetes_pod_container_name": "smartlead-exporter",
        "__meta_kubernetes_pod_phase": "Running",
    }
    keep = lambda labels, regex: {"source_labels": labels, "regex": regex, "action": "keep"}
    copy = lambda source, target: {"source_labels": [source], "target_label": target, "replacement": "${1}", "action": "replace"}
    return {
        "job_name": f"serviceMonitor/{NAMESPACE}/{OPERATOR_JOB}/0",
        "honor_labels": False,
        "metrics_path": "/metrics",
        "scheme": "http",
        "static_configs": [{"targets": [target], "labels": meta}],
        "relabel_configs": [
            {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name", "action": "replace"},
            keep(["__meta_kubernetes_service_label_app_kubernetes_io_instance",
                  "__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance"], "(smartlead-exporter);true"),
            keep(["__meta_kubernetes_service_label_app_kubernetes_io_name",
                  "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name"], "(smartlead-exporter);true"),
            keep(["__meta_kubernetes_endpoint_port_name"], "http"),
            {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind", "__meta_kubernetes_endpoint_address_target_name"],
             "separator": ";", "regex": "Node;(.*)", "target_label": "node", "replacement": "${1}", "action": "replace"},
            {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind", "__meta_kubernetes_endpoint_address_target_name"],
             "separator": ";", "regex": "Pod;(.*)", "target_label": "pod", "replacement": "${1}", "action": "replace"},
            copy("__meta_kubernetes_namespace", "namespace"),
            copy("__meta_kubernetes_service_name", "service"),
            copy("__meta_kubernetes_pod_name", "pod"),
            copy("__meta_kubernetes_pod_container_name", "container"),
            {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)", "action": "drop"},
            copy("__meta_kubernetes_service_name", "job"),
            {"source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name"], "regex": "(.+)",
             "target_label": "job", "replacement": "${1}", "action": "replace"},
            {"target_label": "endpoint", "replacement": "http", "action": "replace"},
            {"source_labels": ["__address__"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
            keep(["__tmp_hash"], "0"),
            # serviceMonitor.relabelings: what a multi-cluster setup adds.
            {"target_label": "cluster", "replacement": CLUSTER, "action": "replace"},
        ],
    }


class StandIn(BaseHTTPRequestHandler):
    """SmartLead on loopback: every endpoint answers as a healthy account (three categories,
    smartlead_stand_in) for GOOD_KEY; SmartLead's 401 for any other key."""

    def do_GET(self):  # noqa: N802 (the http.server name)
        url = urllib.parse.urlsplit(self.path)
        if urllib.parse.parse_qs(url.query).get("api_key") == [GOOD_KEY]:
            status, body = smartlead_stand_in.answer(url.path, url.query)
        else:
            status, body = 401, '{"message":"Invalid API Key"}'
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-RateLimit-Limit", "60")
        self.send_header("X-RateLimit-Remaining", "50")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


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


def start_exporter(binary: Path, port: int, log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(binary), f"--web.listen-address=127.0.0.1:{port}", *COLLECTOR_ARGS, *(args or ["--demo"])],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**loopback_env(), **(env or {})},
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    binary = exporter_binary()
    prometheus_bin = require_tool("prometheus")
    work = tmp_path_factory.mktemp("e2e")
    exporter_port, accounts_port, prometheus_port = free_port(), free_port(), free_port()
    logs = {"prometheus": work / "prometheus.log", "exporter": work / "exporter.log",
            "accounts exporter": work / "accounts-exporter.log"}
    s = Stack(f"http://127.0.0.1:{exporter_port}", f"http://127.0.0.1:{prometheus_port}", logs)
    stand_in = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{stand_in.server_address[1]}/api/v1"
    accounts = {"accounts": [{"name": GOOD_ACCOUNT, "api_key_env": "E2E_GOOD_KEY", "base_url": base_url},
                             {"name": REVOKED_ACCOUNT, "api_key_env": "E2E_REVOKED_KEY", "base_url": base_url}]}
    (work / "accounts.yml").write_text(yaml.safe_dump(accounts))
    probe = {"groups": [{"name": "e2e-probe", "rules": [{"alert": PROBE_ALERT, "expr": "smartlead_up >= 0",
                                                          "labels": {"severity": "info"}}]}]}
    (work / "probe.rules.yml").write_text(yaml.safe_dump(probe))
    target = f"127.0.0.1:{exporter_port}"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_FILE), str(work / "probe.rules.yml")],
        "scrape_configs": [
            {"job_name": PLAIN_JOB, "static_configs": [{"targets": [target, f"127.0.0.1:{accounts_port}"]}]},
            operator_scrape_config(target),
            # Another target, which "All" must not select.
            {"job_name": OTHER_JOB, "static_configs": [{"targets": [f"127.0.0.1:{prometheus_port}"]}]},
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    exporter = None
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
        s.processes.append(start_exporter(
            binary, accounts_port, logs["accounts exporter"], f"--config.file={work / 'accounts.yml'}",
            "--smartlead.allowed-hosts=127.0.0.1",
            env={"E2E_GOOD_KEY": GOOD_KEY, "E2E_REVOKED_KEY": "e2e-revoked-key"}))
        # Start, get scraped under both jobs, stop and start again: one restart to annotate.
        # process_start_time_seconds counts whole seconds, so the second start is a second later.
        exporter = start_exporter(binary, exporter_port, logs["exporter"])
        wait_until("the exporter's /-/ready", lambda: ready(f"{s.exporter_url}/-/ready"), STARTUP_TIMEOUT, logs)
        wait_until("both jobs to scrape the exporter",
                   lambda: len(s.api("query", query=f'process_start_time_seconds{{instance="{target}"}}')["result"]) == len(JOBS),
                   10, logs)
        stop(exporter)
        assert exporter.returncode == 0, f"exporter exit status {exporter.returncode}\n{log_tail(logs['exporter'])}"
        time.sleep(1.5)
        exporter = start_exporter(binary, exporter_port, logs["exporter"])
        s.processes.append(exporter)
        wait_until("the restarted exporter's /-/ready", lambda: ready(f"{s.exporter_url}/-/ready"), STARTUP_TIMEOUT, logs)
        time.sleep(SCRAPE_SECONDS)
        for process, name in zip(s.processes, ["prometheus", "accounts exporter", "exporter"]):
            assert process.poll() is None, f"{name} exited early:\n{log_tail(logs[name])}"
        yield s
    finally:
        for process in reversed(s.processes):
            stop(process)
        if exporter is not None:
            stop(exporter)
        stand_in.shutdown()
        stand_in.server_close()


# --- variable substitution, as Grafana does it ------------------------------------------------


def regex_for(values: list[str]) -> str:
    """A multi-value variable in a PromQL regex matcher: values regex-escaped, joined with |,
    backslashes doubled for the PromQL string (Grafana's prometheusRegularEscape). This is also
    what "All" sends for a variable without a custom allValue."""
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


def label_values(stack: Stack, selector: str, label: str) -> list[str]:
    now = time.time()
    return stack.api(f"label/{label}/values", **{"match[]": selector, "start": now - 60, "end": now})


def selection_value(var: dict, values: list[str]) -> str:
    """What Grafana sends for a variable with every listed value selected, or "All" when it
    lists none (a hidden cluster variable without clusters)."""
    if not values:
        assert var.get("allValue"), f"variable {var['name']} lists nothing and has no allValue"
        return var["allValue"]
    return regex_for(values)


def resolve_variables(stack: Stack, job: str | None) -> dict[str, list[str]]:
    """Each variable's values as Grafana would list them, each query narrowed by the variables
    before it: with "All" selected, or with `job` alone selected (the cluster list is then that
    job's clusters) and every listed value of the others."""
    by_name = {v["name"]: v for v in QUERY_VARIABLES}

    def value(name: str, values: list[str]) -> str:
        if job is None:  # "All" everywhere: the allValue, else every listed value
            return by_name[name].get("allValue") or regex_for(values)
        return selection_value(by_name[name], values)

    resolved: dict[str, list[str]] = {}
    for var in QUERY_VARIABLES:
        selector, label = variable_query(var)
        if job is not None and var["name"] == "job":
            resolved["job"] = [job]
            continue
        if job is not None and var["name"] == "cluster":
            resolved["cluster"] = label_values(stack, f'smartlead_exporter_build_info{{job="{job}"}}', label)
            continue
        selector = substitute(selector, {k: value(k, v) for k, v in resolved.items()})
        resolved[var["name"]] = label_values(stack, selector, label)
    return resolved


SELECTIONS = ["all", f"job={PLAIN_JOB}", f"job={OPERATOR_JOB}"]


@pytest.fixture(scope="module")
def selections(stack) -> dict[str, dict[str, str]]:
    """The variables' values as Grafana substitutes them, per selection: everything "All",
    or only the plain job, or only the Operator's job (with every value listed selected)."""
    by_name = {v["name"]: v for v in QUERY_VARIABLES}
    everything = resolve_variables(stack, None)
    out = {"all": {name: (var["allValue"] if var.get("allValue") else regex_for(everything[name]))
                   for name, var in by_name.items()}}
    for job in JOBS:
        resolved = resolve_variables(stack, job)
        out[f"job={job}"] = {name: selection_value(by_name[name], values) for name, values in resolved.items()}
    for variables in out.values():
        variables["datasource"] = "unused"
    return out


def query_returns_data(stack: Stack, what: str, expr: str) -> list[dict]:
    now = time.time()
    instant = stack.api("query", query=expr, time=now)
    assert instant["result"], f"{what}: no series for {expr}"
    ranged = stack.api("query_range", query=expr, start=now - SCRAPE_SECONDS, end=now, step=1)
    assert ranged["result"], f"{what}: no series over time for {expr}"
    return instant["result"] + ranged["result"]


# --- the checks -------------------------------------------------------------------------------


def test_prometheus_scrapes_the_exporter_under_both_jobs(stack):
    targets = stack.api("targets")["activeTargets"]
    assert sorted(t["labels"]["job"] for t in targets) == sorted(JOBS + [PLAIN_JOB, OTHER_JOB])
    for t in targets:
        assert t["health"] == "up", t["lastError"]
    (operator,) = [t["labels"] for t in targets if t["labels"]["job"] == OPERATOR_JOB]
    assert operator == {"job": OPERATOR_JOB, "instance": operator["instance"], "namespace": NAMESPACE,
                        "service": OPERATOR_JOB, "pod": POD, "container": "smartlead-exporter",
                        "endpoint": "http", "cluster": CLUSTER}
    for job in JOBS:
        samples = stack.api("query", query=f'count_over_time(up{{job="{job}"}}[1m])')["result"]
        assert float(samples[0]["value"][1]) >= SCRAPE_SECONDS / 2
        # The first poll of the demo stand-in always succeeds; later ones may get a 429 or a
        # 500 (and after a 429 the exporter waits for the rate-limit reset), so smartlead_up may be 0.
        up = stack.api("query", query=f'smartlead_up{{job="{job}", account="demo"}}')["result"]
        assert len(up) == 1 and up[0]["value"][1] in {"0", "1"}
        assert stack.api("query", query=f'smartlead_last_success_timestamp_seconds{{job="{job}", account="demo"}} > 0')["result"]
    up = {r["metric"]["account"]: r["value"][1] for r in stack.api("query", query="smartlead_up")["result"]}
    assert up[GOOD_ACCOUNT] == "1" and up[REVOKED_ACCOUNT] == "0"


def test_no_label_of_ours_collides_with_the_operators_target_labels(stack):
    # A collision would show as exported_<label> (honor_labels: false), as `endpoint` did.
    now = time.time()
    names = stack.api("labels", **{"match[]": f'{{job="{OPERATOR_JOB}"}}', "start": now - 60, "end": now})
    assert [n for n in names if n.startswith("exported_")] == []
    assert "api_endpoint" in names
    assert stack.api("label/endpoint/values", **{"match[]": f'{{job="{OPERATOR_JOB}"}}'}) == ["http"]
    assert stack.api("label/api_endpoint/values", **{"match[]": f'{{job="{OPERATOR_JOB}"}}'}) == API_ENDPOINTS


def test_metrics_pass_promtool_check_metrics(stack):
    status, body = http_get(f"{stack.exporter_url}/metrics")
    assert status == 200
    result = subprocess.run([require_tool("promtool"), "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


@pytest.mark.parametrize("var", QUERY_VARIABLES, ids=lambda v: v["name"])
def test_every_variable_query_returns_values(stack, var):
    resolved = resolve_variables(stack, None)
    assert resolved[var["name"]], f"variable {var['name']} lists no values"
    expected = {"cluster": [CLUSTER], "job": sorted(JOBS), "account": sorted(["demo", GOOD_ACCOUNT, REVOKED_ACCOUNT])}
    if var["name"] in expected:
        assert sorted(resolved[var["name"]]) == expected[var["name"]]


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("item", TARGETS, ids=lambda i: f"{i[0]}/{i[1]['refId']}")
def test_every_panel_query_returns_series_of_the_exporter_only(stack, selections, item, selection):
    title, target = item
    result = query_returns_data(stack, f"{title} ({selection})", substitute(target["expr"], selections[selection]))
    # Whatever is selected, "All" included, no series of another target (Prometheus' own up,
    # scrape duration, process metrics) is shown.
    wanted = JOBS if selection == "all" else [selection.removeprefix("job=")]
    jobs = {series["metric"]["job"] for series in result if "job" in series["metric"]}
    assert jobs <= set(wanted), f"{title} ({selection}): series of {jobs - set(wanted)}"


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=lambda a: a["name"])
def test_every_annotation_query_returns_events(stack, selections, annotation, selection):
    # The fixture restarted the exporter once, and its version is new to this Prometheus.
    query_returns_data(stack, f"{annotation['name']} ({selection})", substitute(annotation["expr"], selections[selection]))


def selectors_of(expr: str) -> list[str]:
    """Every vector selector of a PromQL expression: name{matchers} or a bare name, recorded
    series (level:metric:operations) included."""
    return [m.group(0) for m in re.finditer(
        r"(?<![\w:])(?:[a-z_]+:smartlead_[a-z_]+:[a-z0-9_]+|smartlead_[a-z_]+|up|process_[a-z_]+)\b(?:\{[^}]*\})?", expr)]


@pytest.mark.parametrize("rule", alert_rules() + recording_rules(), ids=lambda r: r.get("alert") or r["record"])
def test_every_rule_expression_evaluates_and_finds_its_series_under_both_jobs(stack, rule):
    # The series of the exporter under either job; `up` and `process_*` only under the job of
    # the rules' exact matcher (the Operator's job here, as the chart renders it).
    stack.api("query", query=rule["expr"], time=time.time())
    for selector in selectors_of(rule["expr"]):
        found = stack.api("query", query=f"count by (job) ({selector})")["result"]
        expected = [OPERATOR_JOB] if JOB_MATCHER in selector else JOBS
        if ":" in selector.split("{")[0]:
            # A recorded series exists where its condition holds (a collector down, ten
            # requests in a window...): under either job or none.
            assert {r["metric"]["job"] for r in found} <= set(JOBS)
            continue
        assert sorted(r["metric"]["job"] for r in found) == sorted(expected), f"{rule.get('alert') or rule['record']}: {selector}"


def test_a_revoked_key_meets_one_alert_expression(stack):
    # The exporter's real series for a revoked key (globex) and a good one (acme): of the account
    # alerts, only SmartLeadAuthFailing's expression holds, and only for globex (`for` aside).
    # Each expression is evaluated at the accounts exporter's latest scrape: evaluated later,
    # the samples' age (up to the 1 s scrape interval, as long as the 1 s polls here) would add
    # to the time since the last success that SmartLeadDataStale compares with two intervals.
    (scraped,) = stack.api("query", query=f'max(timestamp(smartlead_up{{account="{GOOD_ACCOUNT}"}}))')["result"]
    at = float(scraped["value"][1])
    for rule in alert_rules():
        if rule["alert"] not in ACCOUNT_ALERTS:
            continue
        result = stack.api("query", query=rule["expr"], time=at)["result"]
        accounts = sorted(r["metric"]["account"] for r in result if r["metric"]["account"] != "demo")
        expected = [REVOKED_ACCOUNT] if rule["alert"] == "SmartLeadAuthFailing" else []
        assert accounts == expected, rule["alert"]
    assert set(ACCOUNT_ALERTS) <= {rule["alert"] for rule in alert_rules()}


def test_the_demos_low_reputation_mailbox_meets_its_alert_expression(stack):
    # The demo has one mailbox with a warmup reputation under 0.8: the expression finds it
    # (`for` aside) under either job, named by the e-mail address joined from its info series.
    (rule,) = [r for r in alert_rules() if r["alert"] == "SmartLeadMailboxReputationLow"]
    result = stack.api("query", query=rule["expr"], time=time.time())["result"]
    found = sorted((r["metric"]["job"], r["metric"]["account"]) for r in result)
    assert found == sorted((job, "demo") for job in JOBS), result
    for r in result:
        assert r["metric"]["email"].endswith(".example") and r["metric"]["mailbox_id"], r["metric"]
        assert float(r["value"][1]) < 0.8
    info = stack.api("query", query=f'smartlead_mailbox_info{{account="demo", email="{result[0]["metric"]["email"]}"}}')
    assert {r["metric"]["mailbox_id"] for r in info["result"]} == {result[0]["metric"]["mailbox_id"]}


def test_accounts_table_lists_the_failing_account_with_its_failures(stack, selections):
    (accounts,) = [p for p in DASHBOARD["panels"] if p["title"] == "Accounts"]
    values: dict[str, dict[str, str]] = {}
    for target in accounts["targets"]:
        for series in stack.api("query", query=substitute(target["expr"], selections["all"]))["result"]:
            values.setdefault(series["metric"]["account"], {})[target["refId"]] = series["value"][1]
    assert values[GOOD_ACCOUNT]["A"] == "1" and values[GOOD_ACCOUNT]["B"] == "0"
    assert values[REVOKED_ACCOUNT]["A"] == "0" and int(values[REVOKED_ACCOUNT]["B"]) > 0
    assert float(values[REVOKED_ACCOUNT]["E"]) > 0  # failures in the last hour
    assert "C" not in values[REVOKED_ACCOUNT]  # never succeeded: no data age
    assert float(values[GOOD_ACCOUNT]["D"]) == 3  # the stand-in's categories


def test_rules_are_loaded_and_healthy(stack):
    expected = {rule["alert"] for rule in alert_rules()} | {PROBE_ALERT}
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
    assert firing == {PROBE_ALERT}


def test_rules_file_check_with_the_same_promtool(stack):
    # The Prometheus that loaded the rules and the promtool that checks them are one version.
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
