"""End to end through a real Alertmanager: the exporter polls a SmartLead stand-in on loopback,
a real Prometheus scrapes it and evaluates the shipped rules, and Debian's Alertmanager, with
the shipped inhibition rules, sends every notification to a webhook receiver inside this test.

To keep it short, the rules are rendered with scripts/render-rules.py --time-scale=60 (a
minute of the rules is a second here) and the exporter polls every second: the same rules and
inhibitions, sixty times faster. Three accounts, each with every collector: acme is healthy
throughout; globex's key is revoked until the end (every endpoint answers 401); initech's
category list fails with 500 until it recovers (its other endpoints answer). The phases:

1. SmartLeadAuthFailing is notified once for globex and SmartLeadAPIDown once for initech,
   nothing for acme, nothing else for either;
2. initech recovers: SmartLeadAPIDown's resolved notification, nothing more;
3. the exporter stops: SmartLeadExporterDown is notified, and globex's SmartLeadAuthFailing,
   which ends in Prometheus with its series, is silenced by the inhibition instead of being
   notified as resolved;
4. the exporter starts again with globex's key fixed: SmartLeadExporterDown's resolved
   notification, and nothing for the accounts.

Everything listens on 127.0.0.1 only; every process is started and stopped here. About a
minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
from deploy_support import INHIBIT_FILE, REPO, exporter_binary, free_port, loopback_env, require_tool

TIME_SCALE = 60  # the rules' minutes become seconds
JOB = "smartlead-e2e"  # the scrape job, set in the rules with render-rules.py --job
GOOD, REVOKED, FAILING = "acme", "globex", "initech"
STARTUP_TIMEOUT = 30
# Seconds to wait for a notification: the slowest is SmartLeadAPIDown, 2 failed polls and
# `for: 15m` (15s here) after the start.
NOTIFY_TIMEOUT = 60
QUIET = 4  # seconds of no further notification that count as "nothing more"

HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SmartLead:
    """The stand-in's behaviour per account key, switched by the test: 200 (every endpoint
    answers as a healthy account), 401 (every endpoint refuses the key) or 500 (the category
    list fails, the other endpoints answer)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = {"key-acme": 200, "key-globex": 401, "key-initech": 500}

    def set(self, key: str, status: int) -> None:
        with self.lock:
            self.answers[key] = status

    def status(self, key: str) -> int:
        with self.lock:
            return self.answers.get(key, 401)


def stand_in_handler(smartlead: SmartLead):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            key = (urllib.parse.parse_qs(url.query).get("api_key") or [""])[0]
            status = smartlead.status(key)
            if status == 401:
                body = '{"message":"Invalid API Key"}'
            elif status == 500 and url.path.endswith("/leads/fetch-categories"):
                body = '{"message":"Internal Server Error"}'
            else:
                status, body = smartlead_stand_in.answer(url.path, url.query)
            body = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


@dataclass
class Webhook:
    """Every notification Alertmanager sends, one alert each (grouped by all labels)."""

    received: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self):
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with webhook.lock:
                    for alert in payload["alerts"]:
                        webhook.received.append({"alertname": alert["labels"]["alertname"],
                                                 "account": alert["labels"].get("account"),
                                                 "status": alert["status"], "at": time.monotonic()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def notifications(self) -> list[tuple[str, str | None, str]]:
        with self.lock:
            return [(n["alertname"], n["account"], n["status"]) for n in self.received]

    def last_at(self) -> float:
        with self.lock:
            return max((n["at"] for n in self.received), default=0.0)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with HTTP.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def ready(url: str) -> bool:
    try:
        return http_get(url, timeout=1)[0] == 200
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Stack:
    work: Path
    smartlead: SmartLead
    webhook: Webhook
    prometheus_url: str
    exporter_port: int
    logs: dict[str, Path]
    processes: list[subprocess.Popen] = field(default_factory=list)
    exporter: subprocess.Popen | None = None

    def wait(self, what: str, check, timeout: float = NOTIFY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        details = "\n".join(f"--- {name} log:\n{log_tail(path)}" for name, path in self.logs.items())
        pytest.fail(f"timed out after {timeout}s waiting for {what}; notifications: "
                    f"{self.webhook.notifications()}\n{details}", pytrace=False)

    def quiet(self) -> None:
        """Waits until no notification has come for QUIET seconds."""
        self.wait("the notifications to settle", lambda: time.monotonic() - self.webhook.last_at() >= QUIET)

    def alerts(self) -> set[tuple[str, str | None]]:
        """The alerts Prometheus holds now, pending or firing."""
        status, body = http_get(f"{self.prometheus_url}/api/v1/alerts")
        assert status == 200, body
        return {(a["labels"]["alertname"], a["labels"].get("account")) for a in json.loads(body)["data"]["alerts"]}

    def start_exporter(self) -> None:
        with self.logs["exporter"].open("ab") as out:
            self.exporter = subprocess.Popen(
                [str(exporter_binary()), f"--web.listen-address=127.0.0.1:{self.exporter_port}",
                 f"--config.file={self.work / 'accounts.yml'}", "--smartlead.allowed-hosts=127.0.0.1"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**loopback_env(), **{f"E2E_KEY_{n.upper()}": f"key-{n}" for n in (GOOD, REVOKED, FAILING)}})
        self.wait("the exporter's /-/healthy",
                  lambda: ready(f"http://127.0.0.1:{self.exporter_port}/-/healthy"), STARTUP_TIMEOUT)


def render_rules(work: Path) -> Path:
    """The shipped rules, for this job and sixty times faster, by the documented script."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "render-rules.py"), f"--job={JOB}",
                           f"--time-scale={TIME_SCALE}"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    path = work / "rules.yml"
    path.write_text(done.stdout)
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    prometheus_bin = require_tool("prometheus")
    alertmanager_bin = require_tool("prometheus-alertmanager", "prometheus-alertmanager")
    work = tmp_path_factory.mktemp("alertmanager")
    smartlead, webhook = SmartLead(), Webhook()
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), stand_in_handler(smartlead)),
               ThreadingHTTPServer(("127.0.0.1", 0), webhook.handler())]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{servers[0].server_address[1]}/api/v1"
    prometheus_port, alertmanager_port = free_port(), free_port()
    s = Stack(work, smartlead, webhook, f"http://127.0.0.1:{prometheus_port}", free_port(),
              {name: work / f"{name}.log" for name in ("prometheus", "alertmanager", "exporter")})
    # Polls the categories every second, as the rules' minutes are seconds; backoff up to 8s;
    # the other collectors at their intervals; a budget that fits (the exporter refuses one that
    # cannot hold the categories collector).
    (work / "accounts.yml").write_text(yaml.safe_dump({
        "defaults": {"poll_interval": "1s", "max_backoff": "8s", "base_url": base_url,
                     "max_calls_per_minute": 300, "max_calls_per_hour": 18000},
        "accounts": [{"name": name, "api_key_env": f"E2E_KEY_{name.upper()}"} for name in (GOOD, REVOKED, FAILING)],
    }))
    inhibit = yaml.safe_load(INHIBIT_FILE.read_text())
    (work / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "webhook", "group_by": ["..."], "group_wait": "1s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "webhook", "webhook_configs": [
            {"url": f"http://127.0.0.1:{servers[1].server_address[1]}/", "send_resolved": True}]}],
        **inhibit,
    }))
    (work / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(render_rules(work))],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{s.exporter_port}"]}]}],
    }))
    env = loopback_env()
    try:
        with s.logs["alertmanager"].open("wb") as log:
            s.processes.append(subprocess.Popen(
                [alertmanager_bin, f"--config.file={work / 'alertmanager.yml'}", f"--storage.path={work / 'am'}",
                 f"--web.listen-address=127.0.0.1:{alertmanager_port}", "--cluster.listen-address=",
                 "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=work))
        with s.logs["prometheus"].open("wb") as log:
            s.processes.append(subprocess.Popen(
                [prometheus_bin, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=work))
        s.wait("Alertmanager's /-/ready", lambda: ready(f"http://127.0.0.1:{alertmanager_port}/-/ready"), STARTUP_TIMEOUT)
        s.wait("Prometheus' /-/ready", lambda: ready(f"{s.prometheus_url}/-/ready"), STARTUP_TIMEOUT)
        s.start_exporter()
        yield s
    finally:
        if s.exporter is not None:
            stop(s.exporter)
        for process in reversed(s.processes):
            stop(process)
        for server in servers:
            server.shutdown()
            server.server_close()


def test_notifications_through_alertmanager(stack):
    started = time.monotonic()
    notified = stack.webhook.notifications

    # 1. A revoked key and an outage: one notification each, for their account only.
    stack.wait("SmartLeadAuthFailing and SmartLeadAPIDown notified",
               lambda: {("SmartLeadAuthFailing", REVOKED, "firing"), ("SmartLeadAPIDown", FAILING, "firing")}
               <= set(notified()))
    stack.quiet()
    assert sorted(notified()) == [("SmartLeadAPIDown", FAILING, "firing"), ("SmartLeadAuthFailing", REVOKED, "firing")]

    # 2. initech's SmartLead recovers: the resolved notification, nothing else.
    stack.smartlead.set("key-initech", 200)
    stack.wait("SmartLeadAPIDown resolved", lambda: ("SmartLeadAPIDown", FAILING, "resolved") in notified())
    stack.quiet()
    assert notified()[2:] == [("SmartLeadAPIDown", FAILING, "resolved")]

    # 3. The exporter stops: SmartLeadExporterDown; globex's alert ends in Prometheus with its
    # series, and its "resolved" is silenced by the inhibition.
    before = len(notified())
    stop(stack.exporter)
    stack.wait("SmartLeadExporterDown notified", lambda: ("SmartLeadExporterDown", None, "firing") in notified())
    stack.wait("Prometheus to end SmartLeadAuthFailing", lambda: ("SmartLeadAuthFailing", REVOKED) not in stack.alerts())
    stack.quiet()
    assert notified()[before:] == [("SmartLeadExporterDown", None, "firing")]

    # 4. The exporter is back, globex's key fixed: SmartLeadExporterDown resolved, nothing else.
    stack.smartlead.set("key-globex", 200)
    before = len(notified())
    stack.start_exporter()
    stack.wait("SmartLeadExporterDown resolved", lambda: ("SmartLeadExporterDown", None, "resolved") in notified())
    stack.quiet()
    assert notified()[before:] == [("SmartLeadExporterDown", None, "resolved")]
    assert not [n for n in notified() if n[1] == GOOD]
    assert time.monotonic() - started < 120
