"""--web.config.file against a real Prometheus: it scrapes three exporters (--demo) with its
own tls_config and basic_auth: TLS, mutual TLS, and basic auth over TLS. `up` must be 1 for
each, and 0 for a job that sends the wrong password.

Certificates are made here with the openssl CLI, the bcrypt hash with the `bcrypt` package.
Everything listens on 127.0.0.1 only; every process is started and stopped here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import yaml

from deploy_support import exporter_binary, free_port, loopback_env, require_tool

STARTUP_TIMEOUT = 30  # seconds for a process to start listening
UP_TIMEOUT = 40  # seconds for Prometheus to record `up` for every job
PASSWORD = "scrape-secret"

# Plain urllib without proxies: every request here goes to 127.0.0.1 and must stay there.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run([require_tool("openssl"), *args], cwd=cwd, check=True, capture_output=True)


def make_pki(work: Path) -> None:
    """ca.crt; server.crt/key for localhost and 127.0.0.1; client.crt/key for Prometheus."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=webconfig test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=work)
    for name, subject, ext in [
        ("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "/CN=prometheus", "subjectAltName=DNS:prometheus.test\nextendedKeyUsage=clientAuth\n"),
    ]:
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=work)
        (work / f"{name}.ext").write_text(ext)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=work)


@pytest.fixture(scope="module")
def prometheus_up(tmp_path_factory):
    binary = exporter_binary()
    prometheus_bin = require_tool("prometheus")
    work = tmp_path_factory.mktemp("webconfig")
    make_pki(work)
    tls = {"cert_file": str(work / "server.crt"), "key_file": str(work / "server.key")}
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    web_configs = {
        "tls": {"tls_server_config": tls},
        "mtls": {"tls_server_config": {**tls, "client_ca_file": str(work / "ca.crt"),
                                       "client_auth_type": "RequireAndVerifyClientCert",
                                       "client_allowed_sans": ["prometheus.test"]}},
        "basic": {"tls_server_config": tls, "basic_auth_users": {"prometheus": hashed}},
    }
    processes: list[subprocess.Popen] = []
    ports = {}
    logs = []
    try:
        for name, web in web_configs.items():
            (work / f"{name}.yml").write_text(yaml.safe_dump(web))
            ports[name] = free_port()
            log = work / f"exporter-{name}.log"
            logs.append(log)
            with log.open("wb") as out:
                processes.append(subprocess.Popen(
                    [str(binary), "--demo", f"--web.listen-address=127.0.0.1:{ports[name]}",
                     f"--web.config.file={work / f'{name}.yml'}"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=loopback_env(),
                ))
        ca = {"ca_file": str(work / "ca.crt"), "server_name": "localhost"}
        jobs = [
            ("tls", "tls", {"tls_config": ca}),
            ("mtls", "mtls", {"tls_config": {**ca, "cert_file": str(work / "client.crt"),
                                             "key_file": str(work / "client.key")}}),
            ("basic", "basic", {"tls_config": ca,
                                "basic_auth": {"username": "prometheus", "password": PASSWORD}}),
            ("basic-wrong-password", "basic", {"tls_config": ca,
                                               "basic_auth": {"username": "prometheus", "password": "nope"}}),
        ]
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": job, "scheme": "https", "static_configs": [{"targets": [f"127.0.0.1:{ports[target]}"]}],
                 **extra}
                for job, target, extra in jobs
            ],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        prometheus_port = free_port()
        log = work / "prometheus.log"
        logs.append(log)
        with log.open("wb") as out:
            processes.append(subprocess.Popen(
                [prometheus_bin, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=loopback_env(), cwd=work,
            ))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not all(listening(p) for p in [*ports.values(), prometheus_port]):
            assert time.monotonic() < deadline, "processes did not start:\n" + tails(logs)
            time.sleep(0.25)

        def up() -> dict[str, float]:
            query = urllib.parse.urlencode({"query": "up"})
            try:
                with HTTP.open(f"http://127.0.0.1:{prometheus_port}/api/v1/query?{query}", timeout=5) as r:
                    payload = json.load(r)
            except OSError:
                return {}
            return {s["metric"]["job"]: float(s["value"][1]) for s in payload["data"]["result"]}

        deadline = time.monotonic() + UP_TIMEOUT
        seen = up()
        # Wait until every job has a sample and the good ones are up (a first scrape may race
        # the exporter's start).
        while len(seen) < len(jobs) or any(seen.get(job) != 1.0 for job in ("tls", "mtls", "basic")):
            assert time.monotonic() < deadline, f"up: {seen}\n" + tails(logs)
            time.sleep(0.5)
            seen = up()
        yield seen
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def tails(logs: list[Path]) -> str:
    out = []
    for path in logs:
        try:
            text = "\n".join(path.read_text(errors="replace").splitlines()[-15:])
        except OSError:
            text = "(no log)"
        out.append(f"--- {path.name}:\n{text}")
    return "\n".join(out)


@pytest.mark.parametrize("job", ["tls", "mtls", "basic"])
def test_prometheus_scrapes_through_the_web_config(prometheus_up, job):
    assert prometheus_up[job] == 1.0


def test_a_wrong_password_is_refused(prometheus_up):
    assert prometheus_up["basic-wrong-password"] == 0.0
