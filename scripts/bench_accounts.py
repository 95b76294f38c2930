#!/usr/bin/env python3
"""Helpers of scripts/bench-accounts.sh: the accounts file, and what the logs say.

Subcommands:
  config N INTERVAL GLOBAL_MAX_ID
      Prints an accounts file (--config.file) with N accounts `acct-0001`..., each reading its
      key from the variable KEY_i, polling every INTERVAL, with the given global_max_id.
  schedule ACCESS_LOG START END N INTERVAL_S
      Reads the stand-in's access log (lines `MSEC API_KEY`), keeps the calls made between the
      Unix times START and END by the keys key-1..key-N, and prints one line of key=value
      pairs: calls, calls per account (min, max), how many accounts are outside
      elapsed / interval +- 1, the most calls in any 1-second window and the average rate.
  reload PID LOG [NEW TARGET]
      Renames NEW onto TARGET (when given; atomic), at once sends SIGHUP to PID, and waits for the next "configuration reloaded" line in LOG. Prints
      the milliseconds from just before the signal to the line's own `ts=` time stamp, the
      milliseconds until the line was seen in the file (wall clock, polled every
      POLL_PAUSE), and the line's added/removed/restarted counts. The rename and the signal
      are microseconds apart, far less than the exporter's file-watch settling time (200 ms),
      so the reload logged is the signal's; a line with cause=FileChanged fails.
"""

import os
import re
import signal
import sys
import time
from datetime import datetime

# How often the log is read while waiting for the reload line.
POLL_PAUSE = 0.0005

# A reload that has not logged after this many seconds has failed.
RELOAD_TIMEOUT = 10.0

# The length of the window in which calls are counted for the burst check.
WINDOW_S = 1.0


def config(n, interval, global_max_id):
    lines = ["defaults:", f"  poll_interval: {interval}", "accounts:"]
    for i in range(1, n + 1):
        lines.append(f"  - name: acct-{i:04d}")
        lines.append(f"    api_key_env: KEY_{i}")
        lines.append(f"    global_max_id: {global_max_id}")
    print("\n".join(lines))


def schedule(path, start, end, n, interval):
    keys = {f"key-{i}": 0 for i in range(1, n + 1)}
    times = []
    with open(path, encoding="utf-8") as log:
        for line in log:
            parts = line.split()
            if len(parts) != 2 or parts[1] not in keys:
                continue
            t = float(parts[0])
            if start <= t <= end:
                keys[parts[1]] += 1
                times.append(t)
    times.sort()
    elapsed = end - start
    expected = elapsed / interval
    counts = list(keys.values())
    violating = sum(1 for c in counts if abs(c - expected) > 1)
    # Most calls in any window [t, t + WINDOW_S) starting at a call.
    burst, j = 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + WINDOW_S:
            j += 1
        burst = max(burst, j - i)
    average = len(times) / elapsed if elapsed > 0 else 0.0
    print(
        f"calls={len(times)} elapsed={elapsed:.1f} expected={expected:.2f} "
        f"min={min(counts)} max={max(counts)} violating={violating} "
        f"burst={burst} average={average:.2f} twice_average={2 * average:.2f}"
    )


TS = re.compile(r"\bts=(\S+)")
# The reload line's counts. The accounts whose settings changed (and whose collectors were
# restarted) are `changed=` in the line; builds from before the core reshape wrote
# `restarted=`. Both are printed as `restarted=`, so that the script reads either build.
COUNT = re.compile(r"\b(added|removed|restarted|changed)=(\d+)")
COUNT_NAMES = {"changed": "restarted"}


def parse_ts(value):
    """An RFC 3339 time stamp, with any number of fractional digits (Python reads six)."""
    value = value.strip('"').replace("Z", "+00:00")
    match = re.match(r"^([^.]+)(?:\.(\d+))?(.*)$", value)
    whole, fraction, zone = match.group(1), match.group(2) or "0", match.group(3)
    return datetime.fromisoformat(f"{whole}.{fraction[:6].ljust(6, '0')}{zone}")


def reload(pid, path, rename):
    with open(path, "rb") as log:
        log.seek(0, os.SEEK_END)
        if rename:
            os.rename(*rename)
        sent = time.time()
        started = time.perf_counter()
        os.kill(pid, signal.SIGHUP)
        buffered = b""
        while time.perf_counter() - started < RELOAD_TIMEOUT:
            chunk = log.read()
            if chunk:
                buffered += chunk
                for line in buffered.split(b"\n")[:-1]:
                    text = line.decode("utf-8", "replace")
                    if "configuration reloaded" in text or "reload refused" in text:
                        seen_ms = (time.perf_counter() - started) * 1000
                        if "reload refused" in text:
                            sys.exit(f"bench_accounts.py: reload refused: {text}")
                        if "cause=Signal" not in text:
                            sys.exit(f"bench_accounts.py: not the signal's reload: {text}")
                        ts = TS.search(text)
                        if ts is None:
                            sys.exit(f"bench_accounts.py: no ts= in {text!r}")
                        logged = parse_ts(ts.group(1))
                        ts_ms = (logged.timestamp() - sent) * 1000
                        counts = " ".join(
                            f"{COUNT_NAMES.get(k, k)}={v}" for k, v in COUNT.findall(text)
                        )
                        print(f"ts_ms={ts_ms:.1f} seen_ms={seen_ms:.1f} {counts}")
                        return
            time.sleep(POLL_PAUSE)
    sys.exit(f"bench_accounts.py: no reload line in {path} within {RELOAD_TIMEOUT}s")


def main():
    args = sys.argv[1:]
    if args[:1] == ["config"] and len(args) == 4:
        config(int(args[1]), args[2], int(args[3]))
    elif args[:1] == ["schedule"] and len(args) == 6:
        schedule(args[1], float(args[2]), float(args[3]), int(args[4]), float(args[5]))
    elif args[:1] == ["reload"] and len(args) in (3, 5):
        reload(int(args[1]), args[2], args[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
