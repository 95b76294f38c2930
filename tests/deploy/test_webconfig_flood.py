"""A wrong-password flood against basic auth, watched by a real Prometheus.

The exporter (--demo) requires basic auth at bcrypt cost 10. A real Prometheus scrapes it every
second with the right password. Once Prometheus is scraping, a flood of 200 requests a second
with wrong passwords (a new password and a new connection each) runs for 12 seconds, while
`/-/healthy` is probed twice a second (open through --web.health-unauthenticated). Prometheus
must record `up` = 1 for at least 95 % of its scrapes during the flood, and every probe must
answer 200 within a second.

Everything listens on 127.0.0.1 only; every process is started and stopped here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import yaml

from deploy_support import exporter_binary, free_port, loopback_env, require_tool

STARTUP_TIMEOUT = 30  # seconds for the processes to listen and Prometheus to see `up` = 1
FLOOD_RATE = 200  # wrong-password requests a second
FLOOD_SECONDS = 12
PROBE_EVERY = 0.5  # seconds between two /-/healthy probes
PASSWORD = "flood-test-secret"

HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with HTTP.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError:
        return 0, b""


async def one_request(port: int, authorization: str | None, path: str, timeout: float) -> int:
    """One GET on a new connection; the status, or 0 without an answer within `timeout`."""

    async def exchange() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        auth = f"Authorization: {authorization}\r\n" if authorization else ""
        writer.write(f"GET {path} HTTP/1.1\r\nHost: exporter\r\n{auth}Connection: close\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readline()
        writer.close()
        return int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else 0

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        return 0


async def flood_and_probe(port: int) -> tuple[dict[int, int], list[tuple[int, float]]]:
    """Runs the flood and the probes; the flood's statuses counted, and each probe's status
    and time."""
    flood: dict[int, int] = {}
    probes: list[tuple[int, float]] = []
    started = time.monotonic()

    async def attacker(n: int) -> None:
        wrong = base64.b64encode(f"prometheus:guess-{n}".encode()).decode()
        status = await one_request(port, f"Basic {wrong}", "/metrics", 20)
        flood[status] = flood.get(status, 0) + 1

    async def prober() -> None:
        while time.monotonic() - started < FLOOD_SECONDS:
            t0 = time.monotonic()
            status = await one_request(port, None, "/-/healthy", 5)
            probes.append((status, time.monotonic() - t0))
            await asyncio.sleep(PROBE_EVERY)

    probe_task = asyncio.create_task(prober())
    attacks = []
    n = 0
    while time.monotonic() - started < FLOOD_SECONDS:
        due = started + n / FLOOD_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        attacks.append(asyncio.create_task(attacker(n)))
        n += 1
    await asyncio.gather(*attacks)
    await probe_task
    return flood, probes


@pytest.fixture(scope="module")
def flooded(tmp_path_factory):
    binary = exporter_binary()
    prometheus_bin = require_tool("prometheus")
    work = tmp_path_factory.mktemp("flood")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    (work / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
    port = free_port()
    prometheus_port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{
            "job_name": "flooded",
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            "basic_auth": {"username": "prometheus", "password": PASSWORD},
        }],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    processes: list[subprocess.Popen] = []
    try:
        with (work / "exporter.log").open("wb") as out:
            processes.append(subprocess.Popen(
                [str(binary), "--demo", f"--web.listen-address=127.0.0.1:{port}",
                 f"--web.config.file={work / 'web.yml'}", "--web.health-unauthenticated"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=loopback_env(),
            ))
        with (work / "prometheus.log").open("wb") as out:
            processes.append(subprocess.Popen(
                [prometheus_bin, f"--config.file={work / 'prometheus.yml'}",
                 f"--storage.tsdb.path={work / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=loopback_env(), cwd=work,
            ))

        def query(expr: str, at: float | None = None) -> list:
            params = {"query": expr}
            if at is not None:
                params["time"] = f"{at:.3f}"
            status, body = get(f"http://127.0.0.1:{prometheus_port}/api/v1/query?"
                               + urllib.parse.urlencode(params))
            return json.loads(body)["data"]["result"] if status == 200 else []

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            result = query('up{job="flooded"}')
            if result and float(result[0]["value"][1]) == 1.0:
                break
            assert time.monotonic() < deadline, "Prometheus never scraped the exporter with up=1"
            time.sleep(0.5)

        flood_start = time.time()
        flood, probes = asyncio.run(flood_and_probe(port))
        flood_end = time.time()
        time.sleep(2)  # the last scrape of the flood is ingested
        window = f"{int(flood_end - flood_start)}s"
        ups = query(f'sum_over_time(up{{job="flooded"}}[{window}])', flood_end)
        scrapes = query(f'count_over_time(up{{job="flooded"}}[{window}])', flood_end)
        yield {
            "flood": flood,
            "probes": probes,
            "up": float(ups[0]["value"][1]) if ups else 0.0,
            "scrapes": float(scrapes[0]["value"][1]) if scrapes else 0.0,
        }
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def test_prometheus_keeps_up_through_a_wrong_password_flood(flooded):
    print(f"flood answers {flooded['flood']}; up=1 on {flooded['up']:.0f} of {flooded['scrapes']:.0f} scrapes")
    assert flooded["scrapes"] >= FLOOD_SECONDS - 2, flooded
    assert flooded["up"] / flooded["scrapes"] >= 0.95, flooded


def test_every_probe_answers_during_the_flood(flooded):
    slow_or_failed = [(status, round(took, 3)) for status, took in flooded["probes"] if status != 200 or took > 1]
    assert len(flooded["probes"]) >= FLOOD_SECONDS, flooded["probes"]
    assert not slow_or_failed, slow_or_failed


def test_the_flood_is_refused_at_once_past_the_bcrypt_queue(flooded):
    # 401 for the wrong passwords checked, 503 for the rest, and none left unanswered.
    assert flooded["flood"].get(503, 0) > 0, flooded["flood"]
    assert flooded["flood"].get(0, 0) == 0, flooded["flood"]
