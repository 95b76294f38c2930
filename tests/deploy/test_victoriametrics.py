"""A second scraper: Debian's VictoriaMetrics scrapes two exporters (--demo) under three jobs,
plain, gzip, and over TLS with basic auth through --web.config.file, and every dashboard query,
variable and annotation, substituted as Grafana does, returns data from it as from Prometheus
(test_e2e.py). The plain and gzip jobs go through a recording proxy on loopback, which shows
what VictoriaMetrics asked for and what the exporter answered. vmalert, from the same package,
evaluates an always-firing probe rule into VictoriaMetrics, so that the dashboard's alerts panel
has an ALERTS series to show.

Everything listens on 127.0.0.1 only; every process is started and stopped here. About 25
seconds.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import pytest
import yaml

import test_e2e as e2e
import test_webconfig_prometheus as webconfig
from deploy_support import exporter_binary, free_port, loopback_env, require_tool

JOBS = {"plain": "smartlead-plain", "gzip": "smartlead-gzip", "tls": "smartlead-tls"}
PASSWORD = "vm-scrape-secret"
CLUSTER = {"cluster": "vm-e2e"}  # a target label, as multi-cluster setups add
SCRAPE_SECONDS = 15  # how long VictoriaMetrics scrapes before the queries run
STARTUP_TIMEOUT = 30
PROBE_ALERT = e2e.PROBE_ALERT


class RecordingProxy:
    """Forwards GET requests to the exporter as they are, and records the Accept-Encoding asked
    for and the Content-Encoding answered."""

    def __init__(self, upstream_port: int):
        self.seen: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                connection = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=5)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection.request("GET", self.path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                proxy.seen.append((self.headers.get("Accept-Encoding", ""), response.getheader("Content-Encoding", "")))
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                connection.close()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Sink(BaseHTTPRequestHandler):
    """vmalert's notifier: accepts and drops (Alertmanager is test_alertmanager_e2e.py's)."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@dataclass
class VictoriaMetrics:
    url: str
    proxies: dict[str, RecordingProxy]
    logs: dict[str, Path]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        status, body = e2e.http_get(url, timeout=10)
        payload = json.loads(body)
        assert status == 200 and payload["status"] == "success", f"{path} {params}: {status} {payload}"
        return payload["data"]


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    binary = exporter_binary()
    victoria = require_tool("victoria-metrics", "victoria-metrics")
    vmalert = require_tool("vmalert", "victoria-metrics")
    work = tmp_path_factory.mktemp("victoriametrics")
    webconfig.make_pki(work)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    (work / "web.yml").write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(work / "server.crt"), "key_file": str(work / "server.key")},
        "basic_auth_users": {"prometheus": hashed}}))
    plain_port, tls_port, vm_port, vmalert_port = free_port(), free_port(), free_port(), free_port()
    logs = {name: work / f"{name}.log" for name in ("exporter", "tls exporter", "victoria-metrics", "vmalert")}
    proxies = {"plain": None, "gzip": None}
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    s = VictoriaMetrics(f"http://127.0.0.1:{vm_port}", {}, logs)
    env = loopback_env()
    try:
        for port, log, extra in [(plain_port, logs["exporter"], []),
                                 (tls_port, logs["tls exporter"], [f"--web.config.file={work / 'web.yml'}"])]:
            with log.open("wb") as out:
                s.processes.append(subprocess.Popen(
                    [str(binary), f"--web.listen-address=127.0.0.1:{port}", *e2e.COLLECTOR_ARGS, "--demo", *extra],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env))
        e2e.wait_until("the plain exporter", lambda: e2e.ready(f"http://127.0.0.1:{plain_port}/-/ready"),
                       STARTUP_TIMEOUT, logs)
        e2e.wait_until("the TLS exporter", lambda: webconfig.listening(tls_port), STARTUP_TIMEOUT, logs)
        s.proxies = {name: RecordingProxy(plain_port) for name in proxies}
        scrape = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": [
            {"job_name": JOBS["plain"], "disable_compression": True,
             "static_configs": [{"targets": [f"127.0.0.1:{s.proxies['plain'].port}"], "labels": CLUSTER}]},
            {"job_name": JOBS["gzip"], "static_configs": [{"targets": [f"127.0.0.1:{s.proxies['gzip'].port}"], "labels": CLUSTER}]},
            {"job_name": JOBS["tls"], "scheme": "https",
             "tls_config": {"ca_file": str(work / "ca.crt"), "server_name": "localhost"},
             "basic_auth": {"username": "prometheus", "password": PASSWORD},
             "static_configs": [{"targets": [f"127.0.0.1:{tls_port}"], "labels": CLUSTER}]},
        ]}
        (work / "scrape.yml").write_text(yaml.safe_dump(scrape))
        probe = {"groups": [{"name": "e2e-probe", "rules": [
            {"alert": PROBE_ALERT, "expr": "smartlead_up >= 0", "labels": {"severity": "info"}}]}]}
        (work / "probe.rules.yml").write_text(yaml.safe_dump(probe))
        with logs["victoria-metrics"].open("wb") as out:
            s.processes.append(subprocess.Popen(
                [victoria, f"-httpListenAddr=127.0.0.1:{vm_port}", f"-storageDataPath={work / 'vm'}",
                 "-retentionPeriod=1d", f"-promscrape.config={work / 'scrape.yml'}", "-search.latencyOffset=0s",
                 "-search.disableCache", "-loggerLevel=WARN"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=work))
        e2e.wait_until("VictoriaMetrics' /health", lambda: e2e.ready(f"{s.url}/health"), STARTUP_TIMEOUT, logs)
        with logs["vmalert"].open("wb") as out:
            s.processes.append(subprocess.Popen(
                [vmalert, f"-rule={work / 'probe.rules.yml'}", f"-datasource.url={s.url}", f"-remoteWrite.url={s.url}",
                 f"-notifier.url=http://127.0.0.1:{sink.server_address[1]}", "-evaluationInterval=1s",
                 "-remoteWrite.flushInterval=1s", f"-httpListenAddr=127.0.0.1:{vmalert_port}", "-loggerLevel=WARN"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=work))
        time.sleep(SCRAPE_SECONDS)
        for process in s.processes:
            assert process.poll() is None, f"{process.args[0]} exited early:\n" + \
                "\n".join(f"--- {n}:\n{e2e.log_tail(p)}" for n, p in logs.items())
        yield s
    finally:
        for process in reversed(s.processes):
            e2e.stop(process)
        for proxy in s.proxies.values():
            proxy.close()
        sink.shutdown()
        sink.server_close()


@pytest.fixture(scope="module")
def selections(vm) -> dict[str, dict[str, str]]:
    """As test_e2e.selections: everything "All", or one job alone."""
    by_name = {v["name"]: v for v in e2e.QUERY_VARIABLES}
    everything = e2e.resolve_variables(vm, None)
    out = {"all": {name: (var["allValue"] if var.get("allValue") else e2e.regex_for(everything[name]))
                   for name, var in by_name.items()}}
    for job in JOBS.values():
        resolved = e2e.resolve_variables(vm, job)
        out[f"job={job}"] = {name: e2e.selection_value(by_name[name], values) for name, values in resolved.items()}
    for variables in out.values():
        variables["datasource"] = "unused"
    return out


SELECTIONS = ["all"] + [f"job={job}" for job in JOBS.values()]


def query_returns_data(vm: VictoriaMetrics, what: str, expr: str) -> list[dict]:
    now = time.time()
    instant = vm.api("query", query=expr, time=now)
    assert instant["result"], f"{what}: no series for {expr}"
    ranged = vm.api("query_range", query=expr, start=now - SCRAPE_SECONDS + 5, end=now, step=1)
    assert ranged["result"], f"{what}: no series over time for {expr}"
    return instant["result"] + ranged["result"]


def test_victoriametrics_scrapes_plain_gzip_and_tls(vm):
    up = {r["metric"]["job"]: r["value"][1] for r in vm.api("query", query="up")["result"]}
    assert up == {job: "1" for job in JOBS.values()}
    samples = {r["metric"]["job"]: float(r["value"][1]) for r in
               vm.api("query", query="count_over_time(smartlead_up[1m])")["result"]}
    assert set(samples) == set(JOBS.values()) and min(samples.values()) >= SCRAPE_SECONDS / 2
    # The plain job asked for no compression and got none; the gzip job asked for and got gzip.
    assert vm.proxies["plain"].seen and all(answer == "" and "gzip" not in asked
                                            for asked, answer in vm.proxies["plain"].seen)
    assert vm.proxies["gzip"].seen and all("gzip" in asked and answer == "gzip" for asked, answer in vm.proxies["gzip"].seen)


@pytest.mark.parametrize("var", e2e.QUERY_VARIABLES, ids=lambda v: v["name"])
def test_every_variable_query_returns_values(vm, var):
    resolved = e2e.resolve_variables(vm, None)
    assert resolved[var["name"]], f"variable {var['name']} lists no values"
    if var["name"] == "job":
        assert sorted(resolved["job"]) == sorted(JOBS.values())


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("item", e2e.TARGETS, ids=lambda i: f"{i[0]}/{i[1]['refId']}")
def test_every_panel_query_returns_data(vm, selections, item, selection):
    title, target = item
    result = query_returns_data(vm, f"{title} ({selection})", e2e.substitute(target["expr"], selections[selection]))
    wanted = set(JOBS.values()) if selection == "all" else {selection.removeprefix("job=")}
    jobs = {series["metric"]["job"] for series in result if "job" in series["metric"]}
    assert jobs <= wanted, f"{title} ({selection}): series of {jobs - wanted}"


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("annotation", e2e.ANNOTATIONS, ids=lambda a: a["name"])
def test_every_annotation_query_returns_events(vm, selections, annotation, selection):
    query_returns_data(vm, f"{annotation['name']} ({selection})", e2e.substitute(annotation["expr"], selections[selection]))
