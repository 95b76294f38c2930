"""Every program the tests start is installed by scripts/test.sh on a fresh Debian machine.

The tests' sources (Python and Rust) are searched for the programs they start; the scripts the
tests run are listed here with the programs they need. For each program, the Debian package
that provides it on this machine (dpkg -S) must be one that `scripts/test.sh --list-packages`
names when that program alone is missing from PATH, unless the package is part of Debian's
essential set. A test that starts a new program fails here until scripts/test.sh installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy_support import REPO

TEST_SH = REPO / "scripts" / "test.sh"
# How tests start a program: Python's subprocess and require_tool, Rust's Command::new. A
# program given by a variable (the exporter binary) is not a tool to install.
START_PATTERNS = [
    re.compile(r"""require_tool\(\s*["']([\w.+-]+)["']"""),
    re.compile(r"""shutil\.which\(\s*["']([\w.+-]+)["']"""),
    re.compile(r"""(?:subprocess\.(?:run|Popen|check_output|check_call|call)|Popen)\(\s*\[\s*["']([\w.+-]+)["']"""),
    re.compile(r"""Command::new\(\s*"([\w.+-]+)"\s*\)"""),
]
# The scripts the tests run, and the programs they start beyond Debian's essential set and the
# Rust toolchain. A test that runs another script fails below until it is listed here.
SCRIPTS = {
    "scripts/image.sh": {"podman", "buildah", "file", "git"},
    "scripts/sync-chart-files.sh": set(),
    "scripts/render-rules.py": {"python3"},
}
# Installed with rustup, as the README's quick start says, not with apt-get.
TOOLCHAIN = {"cargo", "rustc", "cargo-nextest"}
# Started by the tests but not their subject: python3 runs the tests themselves, and
# scripts/test.sh installs python3-venv, which depends on it.
PYTHON = {"python3"}


def source_files() -> list[Path]:
    files = [p for p in (REPO / "tests").rglob("*") if p.suffix in {".py", ".rs"}]
    files += (REPO / "benches").glob("*.rs")
    return sorted(files)


def programs_started_by_tests() -> dict[str, set[str]]:
    """Each program the tests start, with the files that start it."""
    found: dict[str, set[str]] = {}
    for path in source_files():
        if path == Path(__file__):
            continue
        text = path.read_text()
        for pattern in START_PATTERNS:
            for name in pattern.findall(text):
                found.setdefault(name, set()).add(str(path.relative_to(REPO)))
        for script, programs in SCRIPTS.items():
            if script.replace("/", '" / "') in text:
                for name in programs:
                    found.setdefault(name, set()).add(script)
    return found


def scripts_run_by_tests() -> set[str]:
    run = set()
    for path in source_files():
        if path == Path(__file__):
            continue
        text = path.read_text()
        # Tests build a script's path as REPO / "scripts" / NAME (prose naming scripts/test.sh
        # does not run it).
        run |= {"scripts/" + name for name in re.findall(r"""["']scripts["']\s*/\s*["']([\w.-]+)["']""", text)}
    return run


def debian_package(program: str) -> tuple[str, bool]:
    """The package that provides `program` here, and whether it is essential."""
    path = shutil.which(program)
    assert path, f"{program} is not installed here, so its package cannot be checked (run scripts/test.sh)"
    # A copy built by hand in /usr/local shadows the packaged one on some machines.
    candidates = {path, os.path.realpath(path)} | {f"{d}/{program}" for d in ("/usr/bin", "/usr/sbin")}
    for candidate in list(candidates):  # /usr/bin and /bin are one directory since the /usr merge
        for a, b in (("/usr/bin/", "/bin/"), ("/bin/", "/usr/bin/"), ("/usr/sbin/", "/sbin/")):
            if candidate.startswith(a):
                candidates.add(b + candidate[len(a):])
    for candidate in sorted(candidates):
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            package = done.stdout.split(":", 1)[0].split(",")[0].strip()
            essential = subprocess.run(["dpkg-query", "-W", "-f=${Essential}", package],
                                       capture_output=True, text=True, timeout=30).stdout.strip()
            return package, essential == "yes"
    pytest.fail(f"no Debian package provides {program} ({path}) here", pytrace=False)


def listed_packages(path_dir: Path) -> list[str]:
    done = subprocess.run(["/bin/bash", str(TEST_SH), "--list-packages"], capture_output=True, text=True,
                          timeout=30, env={"PATH": str(path_dir), "HOME": str(path_dir)})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_tool_search_finds_the_known_programs():
    # The search itself works: these are started today, each in a different way.
    found = programs_started_by_tests()
    for program in ("promtool", "prometheus", "amtool", "prometheus-alertmanager", "victoria-metrics",
                    "openssl", "podman", "kill", "file"):
        assert program in found, program


def test_every_script_the_tests_run_is_listed():
    assert scripts_run_by_tests() - set(SCRIPTS) == set()


@pytest.mark.parametrize("program", sorted(set(programs_started_by_tests()) - TOOLCHAIN - PYTHON))
def test_scripts_test_sh_installs_every_program_the_tests_start(program, tmp_path):
    package, essential = debian_package(program)
    if essential:
        return  # on every Debian machine
    # PATH holds every other program the tests start, and not this one.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for other in set(programs_started_by_tests()) | PYTHON:
        where = shutil.which(other)
        if other != program and where:
            (bin_dir / other).symlink_to(where)
    assert package in listed_packages(bin_dir), \
        f"{program} (Debian package {package}) is started by {sorted(programs_started_by_tests()[program])} " \
        f"but scripts/test.sh does not install it: add `{program}:{package}` to its `tools`"


def test_list_packages_names_nothing_when_everything_is_installed():
    # Here every program is installed (the tests above need them): nothing to install. With an
    # empty PATH, every package of the table is named once.
    everything = listed_packages(Path("/nonexistent"))
    assert len(everything) == len(set(everything))
    assert {"prometheus", "prometheus-alertmanager", "victoria-metrics", "python3-venv"} <= set(everything)
    done = subprocess.run([str(TEST_SH), "--list-packages"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_readme_quick_start_names_the_rust_toolchain_first():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    before_first_command = quick.split("```sh", 1)[0]
    rust_version = re.search(r'^rust-version = "([\d.]+)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    assert f"Rust {rust_version}" in before_first_command
    assert "rustup" in before_first_command
