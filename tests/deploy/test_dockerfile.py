"""The Dockerfiles, checked by structure. The image of Dockerfile is built and run for real
in test_image.py; these checks hold without a container engine. Dockerfile.multistage, the
option for a machine that can pull a Rust image, is not built here: what can go wrong
without building it is checked (its stages, the user, the port, and that its build context
holds every file Cargo needs)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from deploy_support import REPO


def instructions(name: str) -> list[str]:
    """A Dockerfile's instructions with their continuation lines joined, comments dropped."""
    text = (REPO / name).read_text()
    return [
        line.strip()
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def stages(name: str = "Dockerfile.multistage") -> list[list[str]]:
    out: list[list[str]] = []
    for instruction in instructions(name):
        if instruction.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def in_build_context(path: str) -> bool:
    """.dockerignore semantics for its simple patterns: the last matching line wins, and a
    pattern naming a directory covers everything under it."""
    included = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            included = negate
    return included


def cargo_needed_files() -> list[str]:
    """Files Cargo must find to parse the manifest: the lock file, the build script, the
    binary's source, and every explicitly declared target."""
    manifest = tomllib.loads((REPO / "Cargo.toml").read_text())
    needed = ["Cargo.toml", "Cargo.lock", manifest["package"].get("build", "build.rs"), "src/main.rs"]
    defaults = {"bench": "benches", "test": "tests", "example": "examples", "bin": "src/bin"}
    for kind, folder in defaults.items():
        for target in manifest.get(kind, []):
            if "path" in target:
                needed.append(target["path"])
            else:
                single = f"{folder}/{target['name']}.rs"
                needed.append(single if (REPO / single).exists() else f"{folder}/{target['name']}/main.rs")
    return needed


def test_the_image_copies_a_prebuilt_binary_into_an_empty_image():
    (only,) = stages("Dockerfile")
    assert only[0] == "FROM scratch"
    assert [i for i in only if i.split()[0] in ("COPY", "ADD", "RUN")] == [
        "COPY smartlead_exporter /smartlead_exporter"
    ]
    assert "USER 65534:65534" in only
    assert "EXPOSE 10072" in only
    assert 'ENTRYPOINT ["/smartlead_exporter"]' in only
    labels = " ".join(i for i in only if i.startswith("LABEL "))
    for key, arg in [("source", "SOURCE"), ("version", "VERSION"), ("revision", "REVISION")]:
        assert f'org.opencontainers.image.{key}="${{{arg}}}"' in labels, key
        assert any(i.startswith(f"ARG {arg}") for i in only), arg
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels


def test_image_script_builds_the_static_binary_the_dockerfile_copies():
    script = (REPO / "scripts" / "image.sh").read_text()
    assert "--profile \"$profile\" --target \"$target\"" in script
    assert "target=x86_64-unknown-linux-gnu" in script and "profile=dist" in script
    assert "+crt-static" in script
    manifest = tomllib.loads((REPO / "Cargo.toml").read_text())
    assert "dist" in manifest["profile"]
    assert "hickory-dns" in manifest["dependencies"]["reqwest"]["features"]


def test_multi_stage_static_build_into_an_empty_image():
    builder, final = stages()
    assert builder[0] == "FROM rust:1-alpine AS builder"  # musl: a static binary
    assert any("cargo build --release --locked" in i for i in builder)
    assert final[0] == "FROM scratch"
    copies = [i for i in final if i.startswith("COPY")]
    assert copies == ["COPY --from=builder /smartlead_exporter /smartlead_exporter"]
    assert "USER 65534:65534" in final
    assert "EXPOSE 10072" in final
    assert 'ENTRYPOINT ["/smartlead_exporter"]' in final


def test_build_context_and_copies_hold_everything_cargo_needs():
    builder = stages()[0]
    sources = [src.rstrip("/") for i in builder if i.startswith("COPY ") for src in i.split()[1:-1]]
    for path in cargo_needed_files():
        assert (REPO / path).exists(), f"Cargo.toml names {path}, which does not exist"
        assert in_build_context(path), f"{path} is excluded by .dockerignore"
        assert any(path == s or path.startswith(s + "/") for s in sources), f"{path} is not copied into the builder"


def test_build_context_leaves_out_the_rest():
    for path in ["target/debug/smartlead_exporter", ".git/HEAD", "helm/smartlead-exporter/values.yaml", "README.md"]:
        assert not in_build_context(path), path
