#!/usr/bin/env python3
"""Renders alerts/smartlead-exporter.rules.yml for a Prometheus that scrapes the exporter under
another job name, or (for tests) with every duration shortened. Prints the rules on stdout.

    scripts/render-rules.py --job=NAME [FILE]        job="smartlead-exporter" -> job="NAME"
    scripts/render-rules.py --time-scale=N [FILE]    every duration divided by N

--job: the rules select the exporter's targets by exactly job="smartlead-exporter" (only in the
rules on `up` and `process_*`); give the job your scrape configuration uses. The Helm chart does
the same for its PrometheusRule.

--time-scale: divides every `for`, `keep_firing_for`, range ([10m], [1h:5m]) and `offset` of the
rules by N, so that with N=60 a minute becomes a second. Thresholds derived from the exporter's
own poll interval (smartlead_collector_interval_seconds) need nothing: run the exporter with a
poll interval N times shorter too. The end-to-end test runs the exporter at --poll.interval=1s
against the rules rendered with --time-scale=60.

Python 3 standard library only. Exit status 2 on bad arguments or a duration that would
become shorter than a millisecond.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "alerts" / "smartlead-exporter.rules.yml"
# The job matcher of the shipped rules.
JOB_MATCHER = 'job="smartlead-exporter"'
UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
# `for:` and `keep_firing_for:` values, range and subquery selectors, offsets.
FOR_LINE = re.compile(rf"^(\s*(?:for|keep_firing_for):\s*)({DURATION})(\s*)$", re.M)
RANGE = re.compile(rf"\[({DURATION})(?::({DURATION})?)?\]")
OFFSET = re.compile(rf"\boffset\s+({DURATION})\b")


class RenderError(Exception):
    """A duration that cannot be scaled, or a bad argument."""


def milliseconds(duration: str) -> int:
    return sum(int(n) * UNITS_MS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration))


def scaled(duration: str, scale: int) -> str:
    total = milliseconds(duration)
    if total % scale:
        raise RenderError(f"{duration} divided by {scale} is not a whole number of milliseconds")
    ms = total // scale
    if ms == 0:
        raise RenderError(f"{duration} divided by {scale} is shorter than a millisecond")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(text: str, job: str | None = None, time_scale: int = 1) -> str:
    if job is not None:
        if not job:
            raise RenderError("--job: empty job name")
        if JOB_MATCHER not in text:
            raise RenderError(f"the rules do not contain {JOB_MATCHER}")
        text = text.replace(JOB_MATCHER, f"job={promql_string(job)}")
    if time_scale != 1:
        text = FOR_LINE.sub(lambda m: m.group(1) + scaled(m.group(2), time_scale) + m.group(3), text)

        def scale_range(m: re.Match) -> str:
            inner = scaled(m.group(1), time_scale)
            if ":" in m.group(0):
                inner += ":" + (scaled(m.group(2), time_scale) if m.group(2) else "")
            return f"[{inner}]"

        text = RANGE.sub(scale_range, text)
        text = OFFSET.sub(lambda m: "offset " + scaled(m.group(1), time_scale), text)
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--job", help='the scrape job of the exporter (default: the file\'s job="smartlead-exporter")')
    parser.add_argument("--time-scale", type=int, default=1, metavar="N",
                        help="divide every duration of the rules by N (default 1)")
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    if args.time_scale < 1:
        parser.error("--time-scale: must be 1 or more")
    try:
        text = args.file.read_text()
        sys.stdout.write(render(text, args.job, args.time_scale))
    except (OSError, RenderError) as e:
        print(f"render-rules.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
