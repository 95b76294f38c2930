#!/usr/bin/env python3
"""Measures how long a freshly exec'd exporter takes to answer GET /-/healthy.

Spawns the command, then tries to connect and send the request in a tight loop (every
SPIN_PAUSE seconds) until the answer is a 200 or TIMEOUT passes. Prints the milliseconds from
just before the spawn to the complete answer, then stops the process (SIGTERM, then SIGKILL).

Usage: startup_time.py PORT COMMAND [ARGS...]
"""

import socket
import subprocess
import sys
import time

# Give up after this many seconds: the exporter is broken, not slow.
TIMEOUT = 5.0

# Pause between connection attempts, so the loop measures the exporter, not itself.
SPIN_PAUSE = 0.0002

# Each connection attempt waits at most this long for the answer.
ATTEMPT_TIMEOUT = 0.5

# How long the stopped process gets to exit after SIGTERM before SIGKILL.
STOP_GRACE = 5.0


def healthy(port):
    """True when GET /-/healthy on 127.0.0.1:port answers 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=ATTEMPT_TIMEOUT) as conn:
            conn.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while b"\r\n" not in answer:
                chunk = conn.recv(256)
                if not chunk:
                    break
                answer += chunk
            return answer.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit("usage: startup_time.py PORT COMMAND [ARGS...]")
    port = int(sys.argv[1])
    started = time.perf_counter()
    process = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not healthy(port):
            if process.poll() is not None:
                sys.exit(f"startup_time.py: the exporter exited with status {process.returncode}")
            if time.perf_counter() - started > TIMEOUT:
                sys.exit(f"startup_time.py: no 200 from /-/healthy on port {port} in {TIMEOUT}s")
            time.sleep(SPIN_PAUSE)
        print(f"{(time.perf_counter() - started) * 1000:.1f}")
    finally:
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
