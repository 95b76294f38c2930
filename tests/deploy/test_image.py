"""The container image, built by scripts/image.sh and run by podman the way the Helm chart
runs it: read-only root file system, user 65534, every capability dropped, no new
privileges. Each container uses the host's network namespace and talks only to 127.0.0.1:
the exporter's port, and SmartLead stand-ins served by this module (plain HTTP, and HTTPS with
a certificate from a CA made here with openssl).

podman needs runc here (crun cannot set rlimits on this kind of machine) and explicit
ulimits; scripts/test.sh installs podman, buildah and runc. The module is skipped, saying so,
only when podman is missing or cannot start at all (`podman info` fails).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import smartlead_stand_in
from deploy_support import CHART_DIR, REPO, free_port

# The chart runs the image with these ids (values.yaml securityContext).
NOBODY = 65534
# Below 8 MiB uncompressed: the target for an image that only holds the binary.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
# Seconds for the exporter in a container to become ready or show a result.
WAIT_SECONDS = 30
# `podman stop` must end the container within this many seconds (SIGTERM, exit 0).
STOP_SECONDS = 5
# The key the SmartLead stand-ins accept; it must never show in a log.
KEY = "image-test-key-6f1d"
SEED_EXAMPLE = (REPO / "tests" / "fixtures" / "seed-example.json").read_bytes()
# Host name of the stand-ins inside the containers (--add-host).
STAND_IN_HOST = "smartlead.test"

# Plain urllib without proxies: every request here goes to 127.0.0.1.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# How the chart runs the image, plus what this machine needs (runc, explicit ulimits), and no
# proxy settings copied from this environment into the container.
RUN_FLAGS = [
    "--runtime", "runc",
    "--ulimit", "nofile=1024:1024",
    "--ulimit", "nproc=1024:1024",
    "--read-only",
    "--read-only-tmpfs=false",  # podman's default adds writable /tmp and /run; the chart does not
    "--user", f"{NOBODY}:{NOBODY}",
    "--network", "host",
    "--pull", "never",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--http-proxy=false",
]


def chart_image() -> str:
    """The chart's default image: image.repository, and image.tag or else appVersion."""
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    return f"{values['image']['repository']}:{values['image'].get('tag') or chart['appVersion']}"


def podman(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stderr}", pytrace=False)
    return done


@pytest.fixture(scope="module")
def image() -> str:
    """Builds the image with scripts/image.sh (podman as the engine) and returns its name."""
    if shutil.which("podman") is None:
        pytest.skip("no container engine: podman is not installed (scripts/test.sh installs podman, buildah and runc)")
    info = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        pytest.skip(f"no container engine can run here: `podman info` failed:\n{info.stderr}")
    env = dict(os.environ, CONTAINER_ENGINE="podman")
    started = time.monotonic()
    built = subprocess.run(
        [str(REPO / "scripts" / "image.sh")], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    assert built.returncode == 0, f"scripts/image.sh failed:\n{built.stdout}\n{built.stderr}"
    name = chart_image()
    assert f"built {name} " in built.stdout, f"scripts/image.sh did not tag {name}:\n{built.stdout}"
    print(f"\nscripts/image.sh built {name} in {time.monotonic() - started:.0f}s")
    return name


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with HTTP.open(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Container:
    """One detached container of the image, removed at the end of the test."""

    def __init__(self, image: str, args: list[str], extra_flags: list[str] = ()):
        self.name = f"smartlead-exporter-test-{uuid.uuid4().hex[:12]}"
        self.port = free_port()
        podman(
            "run", "--detach", "--name", self.name, *RUN_FLAGS, *extra_flags, image,
            f"--web.listen-address=127.0.0.1:{self.port}", *args,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def running(self) -> bool:
        return podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() == "true"

    def wait_for(self, what: str, check) -> str:
        """Polls /metrics until `check(text)` holds; fails with the logs after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        text = ""
        while time.monotonic() < deadline:
            try:
                status, text = http_get(self.url("/metrics"))
                if status == 200 and check(text):
                    return text
            except OSError:
                if not self.running():
                    break
            time.sleep(0.25)
        pytest.fail(f"{what}: not seen within {WAIT_SECONDS}s.\nmetrics:\n{text}\nlogs:\n{self.logs()}", pytrace=False)

    def stop(self) -> tuple[int, float]:
        """`podman stop` (SIGTERM); returns the exit code and how long stopping took."""
        started = time.monotonic()
        podman("stop", "--time", str(STOP_SECONDS * 2), self.name, timeout=STOP_SECONDS * 4)
        elapsed = time.monotonic() - started
        code = int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip())
        return code, elapsed

    def remove(self) -> None:
        podman("rm", "--force", self.name, check=False)


@pytest.fixture
def containers(image: str) -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def run(image: str, containers: list[Container], args: list[str], extra_flags: list[str] = ()) -> Container:
    container = Container(image, args, list(extra_flags))
    containers.append(container)
    return container


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the first series `name` whose labels include `labels`."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return None


class StandIn:
    """SmartLead on 127.0.0.1, optionally over TLS: to the right key, the seed example for the
    category list and a healthy account (smartlead_stand_in) on the other endpoints the
    collectors call; it counts the requests it answered."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        stand_in = self
        self.answered = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                url = urllib.parse.urlsplit(self.path)
                key = urllib.parse.parse_qs(url.query).get("api_key", [""])[0]
                if key != KEY:
                    status, body = 401, b'{"message": "Invalid API Key"}'
                elif url.path == "/api/v1/leads/fetch-categories":
                    status, body = 200, SEED_EXAMPLE
                else:
                    status, text = smartlead_stand_in.answer(url.path, url.query)
                    body = text.encode()
                if status == 200:
                    stand_in.answered += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def base_url(self, scheme: str) -> str:
        return f"{scheme}://{STAND_IN_HOST}:{self.port}/api/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def secret_file(directory: Path, name: str, content: str, mode: int) -> Path:
    """A file as a Kubernetes Secret volume with defaultMode and fsGroup 65534 presents it:
    owned by root, group 65534."""
    path = directory / name
    path.write_text(content)
    os.chown(path, 0, NOBODY)
    path.chmod(mode)
    return path


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"openssl {' '.join(args)}:\n{done.stderr}"


def make_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for STAND_IN_HOST signed by it; returns the CA's
    certificate, the server's certificate and the server's key."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Image Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={STAND_IN_HOST}", cwd=directory)
    (directory / "server.ext").write_text(
        f"subjectAltName=DNS:{STAND_IN_HOST}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        cwd=directory,
    )
    for name in ["ca.pem", "server.pem"]:
        (directory / name).chmod(0o644)
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def test_image_is_tagged_for_the_chart_and_holds_only_a_static_binary(image: str, tmp_path: Path):
    config = json.loads(podman("image", "inspect", image).stdout)[0]
    size = config["Size"]
    print(f"\n{image}: {size} bytes uncompressed ({size / 1024 / 1024:.2f} MiB)")
    assert size < MAX_IMAGE_BYTES, f"{image} is {size} bytes, over the 8 MiB target"
    assert config["Config"]["User"] == f"{NOBODY}:{NOBODY}"
    assert config["Config"]["Entrypoint"] == ["/smartlead_exporter"]
    assert list(config["Config"]["ExposedPorts"]) == ["10072/tcp"]
    labels = config["Labels"]
    version = re.search(r'^version = "(.*)"$', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    revision = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if revision.returncode == 0:
        assert labels["org.opencontainers.image.revision"] == revision.stdout.strip()
    assert "org.opencontainers.image.source" in labels

    # Every file of every layer: the binary alone, so no shell, no package manager and no
    # directory that the user could write to.
    archive = tmp_path / "image.tar"
    podman("save", "--format", "docker-archive", "--output", str(archive), image, timeout=120)
    files: dict[str, tarfile.TarInfo] = {}
    binary = b""
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                for member in inner.getmembers():
                    files[member.name.removeprefix("./")] = member
                    if member.isfile() and member.name.removeprefix("./") == "smartlead_exporter":
                        binary = inner.extractfile(member).read()
    assert sorted(files) == ["smartlead_exporter"], sorted(files)
    member = files["smartlead_exporter"]
    assert (member.uid, member.mode & 0o7777) == (0, 0o755), (member.uid, oct(member.mode))

    # No dynamic loader: an ELF with a PT_INTERP program header cannot run in an empty image.
    assert binary[:4] == b"\x7fELF" and binary[4] == 2, "not a 64-bit ELF"
    phoff, = struct.unpack_from("<Q", binary, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", binary, 0x36)
    types = [struct.unpack_from("<I", binary, phoff + i * phentsize)[0] for i in range(phnum)]
    pt_interp = 3
    assert pt_interp not in types, "the binary asks for a dynamic loader"


def test_demo_is_ready_and_stops_on_sigterm(image: str, containers: list[Container]):
    exporter = run(image, containers, ["--demo"])
    deadline = time.monotonic() + WAIT_SECONDS
    status = None
    while time.monotonic() < deadline:
        try:
            status, _ = http_get(exporter.url("/-/ready"))
        except OSError:
            status = None
        if status == 200:
            break
        time.sleep(0.25)
    assert status == 200, f"/-/ready answered {status}:\n{exporter.logs()}"
    exporter.wait_for("smartlead_up 1 in demo mode", lambda t: metric(t, "smartlead_up", account="demo") == 1)
    code, elapsed = exporter.stop()
    assert code == 0, exporter.logs()
    assert elapsed < STOP_SECONDS, f"podman stop took {elapsed:.1f}s"


def test_missing_key_exits_2_with_the_error_in_words(image: str):
    done = podman("run", "--rm", *RUN_FLAGS, image, check=False)
    assert done.returncode == 2, done
    assert "smartlead_exporter: error: no SmartLead API key" in done.stderr, done.stderr


def test_key_file_from_a_secret_and_a_host_name(image: str, containers: list[Container], tmp_path: Path):
    stand_in = StandIn()
    try:
        key = secret_file(tmp_path, "api-key", KEY + "\n", 0o440)
        exporter = run(
            image,
            containers,
            [f"--smartlead.base-url={stand_in.base_url('http')}", "--smartlead.api-key-file=/secrets/api-key"],
            ["--add-host", f"{STAND_IN_HOST}:127.0.0.1", "--volume", f"{key}:/secrets/api-key:ro"],
        )
        exporter.wait_for("smartlead_up 1 over HTTP", lambda t: metric(t, "smartlead_up") == 1)
        assert stand_in.answered >= 1
        assert KEY not in exporter.logs()
    finally:
        stand_in.close()


def test_tls_needs_the_ca_file_for_a_private_ca(image: str, containers: list[Container], tmp_path: Path):
    ca, cert, cert_key = make_test_ca(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, cert_key)
    stand_in = StandIn(tls=context)
    try:
        key = secret_file(tmp_path, "api-key", KEY, 0o440)
        args = [f"--smartlead.base-url={stand_in.base_url('https')}", "--smartlead.api-key-file=/secrets/api-key"]
        flags = ["--add-host", f"{STAND_IN_HOST}:127.0.0.1", "--volume", f"{key}:/secrets/api-key:ro"]

        refused = run(image, containers, args, flags)
        text = refused.wait_for(
            "a transport failure for the unknown CA",
            lambda t: (metric(t, "smartlead_api_request_failures_total", api_endpoint="fetch-categories",
                             reason="transport") or 0) > 0,
        )
        assert metric(text, "smartlead_up") == 0
        assert stand_in.answered == 0
        logs = refused.logs()
        failed = [line for line in logs.splitlines() if "poll failed" in line]
        assert failed and "certificate" in failed[0].lower(), logs
        assert KEY not in logs
        refused.remove()

        trusted = run(
            image, containers, [*args, "--smartlead.ca-file=/etc/smartlead/ca.pem"],
            [*flags, "--volume", f"{ca}:/etc/smartlead/ca.pem:ro"],
        )
        trusted.wait_for("smartlead_up 1 over HTTPS", lambda t: metric(t, "smartlead_up") == 1)
        assert stand_in.answered >= 1
    finally:
        stand_in.close()


def test_an_unusable_ca_file_exits_2_naming_flag_and_file(image: str, tmp_path: Path):
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate\n")
    bad.chmod(0o644)
    done = podman(
        "run", "--rm", *RUN_FLAGS, "--volume", f"{bad}:/etc/smartlead/ca.pem:ro", image,
        "--demo", "--smartlead.ca-file=/etc/smartlead/ca.pem",
        check=False,
    )
    assert done.returncode == 2, done
    assert "smartlead_exporter: error:" in done.stderr
    assert "--smartlead.ca-file" in done.stderr and "/etc/smartlead/ca.pem" in done.stderr, done.stderr
