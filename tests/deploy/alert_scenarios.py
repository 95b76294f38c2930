"""The alert rules' unit tests, from a simulation of the exporter's schedule.

Each account of a scenario polls as the exporter does (a first poll, then one per interval;
after a failure, exponential backoff from the interval up to the maximum backoff, without
jitter; a 429's Retry-After honoured up to an hour), with the outcome of each attempt given by
the scenario, and the simulation writes the series the exporter would expose, sampled once a
minute: the per-collector attempts, success, interval and last success, the answers by code,
the failures by reason, the rate-limit headers and the request duration histogram.

Two files come from here:

- alerts/smartlead-exporter.rules.test.yml, the rules' unit tests (every alert firing and
  silent, with the labels and annotations it carries), run with `promtool test rules`. Write it
  again after changing a scenario or the rules' annotations:

      target/venv/bin/python tests/deploy/alert_scenarios.py --write

  (tests/deploy/test_alerts.py fails while the file differs from what this prints.)
- the schedule matrix of tests/deploy/test_alert_schedules.py: every account alert at poll
  intervals of 15 seconds, a minute and an hour with a 30-minute maximum backoff, checked every
  few minutes of a scenario of several hours: firing when it should, silent otherwise (no
  flapping while a cause lasts, no other alert for the same cause).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "alerts" / "smartlead-exporter.rules.yml"
UNIT_TEST_FILE = REPO / "alerts" / "smartlead-exporter.rules.test.yml"

STEP = 60  # seconds between samples: the tests' scrape and evaluation interval
MAX_SERVER_WAIT = 3600  # the exporter honours a Retry-After up to this long
# The call that opens each attempt of a collector; a campaigns attempt then makes one analytics
# call per campaign (Account.fanout).
ENDPOINTS = {"categories": "fetch-categories", "replies": "category-wise-response", "campaigns": "campaigns",
             "mailboxes": "email-accounts"}
FANOUT_ENDPOINT = "campaign-analytics"
PREINITIALISED_CODES = ("401", "403", "429")  # exported at 0 before they first happen
FAILURE_REASONS = ("timeout", "transport", "status", "decode", "too_large")
DURATION_BUCKETS = ("0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "20", "30", "+Inf")
CODES = {"ok": "200", "key": "401", "forbidden": "403", "limit": "429", "down": "500", "slow_body": "200"}
FAILED = {"key", "forbidden", "limit", "down", "timeout", "slow_body"}

# The target labels of a plain static scrape job, and of the Prometheus Operator's.
PLAIN_TARGET = {"job": "smartlead-exporter", "instance": "10.0.1.7:10072"}
OPERATOR_TARGET = {"job": "smartlead-exporter", "instance": "10.0.1.7:10072", "namespace": "monitoring",
                   "service": "smartlead-exporter", "pod": "smartlead-exporter-5c9d8b7f6-x2x4q",
                   "container": "smartlead-exporter", "endpoint": "http"}

ACCOUNT_ALERTS = ("SmartLeadAuthFailing", "SmartLeadRateLimited", "SmartLeadAPIDown", "SmartLeadPollFailuresHigh",
                  "SmartLeadDataStale", "SmartLeadRateLimitBudgetLow", "SmartLeadAPILatencyHigh",
                  "SmartLeadMailboxDisconnected", "SmartLeadMailboxWarmupBlocked", "SmartLeadMailboxReputationLow",
                  "SmartLeadCampaignBounceRateHigh", "SmartLeadAPIBudgetStretching")
# Alerts that carry the collector label (they are per collector).
COLLECTOR_ALERTS = {"SmartLeadAPIDown", "SmartLeadDataStale", "SmartLeadPollFailuresHigh"}

# "ok", "key" (401), "forbidden" (403), "limit" (429), "down" (500), "timeout" (no answer),
# "slow_body" (a 200 whose body times out: an answer and a failure), "stuck" (never finishes).
Outcome = str


def backoff(interval: int, max_backoff: int, failures: int) -> int:
    """The exporter's backoff without jitter: the interval after the first failure, doubling per
    further failure up to max_backoff, never below the interval."""
    if failures == 0:
        return interval
    return max(min(interval * 2 ** min(failures - 1, 40), max_backoff), interval)


def minutes(m: float) -> int:
    return int(m * 60)


def hours(h: float) -> int:
    return int(h * 3600)


@dataclass
class Account:
    """One account polled by the exporter. `outcomes` gives each attempt's outcome: a list of
    (from second, outcome), or a function of (attempt number from 0, second)."""

    name: str
    interval: int = 60
    max_backoff: int = 600
    first: int = 5  # the first attempt, in seconds; off the minute so that samples are clear
    outcomes: list[tuple[int, Outcome]] | Callable[[int, int], Outcome] = field(default_factory=lambda: [(0, "ok")])
    retry_after: int = 0  # seconds a 429 asks to wait
    latency: float | None = None  # seconds per request; None: no duration histogram
    budget: tuple[int, int] | None = None  # X-RateLimit-Limit and -Remaining of every answer
    collector: str = "categories"
    fanout: int = 0  # calls after each successful attempt's first (campaigns: one per campaign)
    fanout_failing: int = 0  # of those, failing with 500 each time; the attempt still succeeds

    def outcome(self, index: int, t: int) -> Outcome:
        if callable(self.outcomes):
            return self.outcomes(index, t)
        current = "ok"
        for start, outcome in self.outcomes:
            if t >= start:
                current = outcome
        return current

    def attempts(self, end: int) -> list[tuple[int, Outcome]]:
        """Every finished attempt up to `end`: (second, outcome). An attempt that is `stuck`
        never finishes, and none follows it."""
        done = []
        t, failures, index = self.first, 0, 0
        while t <= end:
            outcome = self.outcome(index, t)
            if outcome == "stuck":
                break
            done.append((t, outcome))
            index += 1
            if outcome in FAILED:
                failures += 1
                delay = backoff(self.interval, self.max_backoff, failures)
                if outcome == "limit":
                    delay = max(delay, min(self.retry_after, MAX_SERVER_WAIT))
            else:
                failures = 0
                delay = self.interval
            t += delay
        return done

    def first_attempt(self, end: int, outcome: Outcome, after: int = 0) -> int:
        return next(t for t, o in self.attempts(end) if o == outcome and t >= after)

    def last_attempt(self, end: int, outcome: Outcome, before: int) -> int:
        return [t for t, o in self.attempts(end) if o == outcome and t < before][-1]


@dataclass
class Target:
    """An exporter process and the accounts it polls."""

    accounts: list[Account]
    labels: dict[str, str] = field(default_factory=lambda: dict(PLAIN_TARGET))
    up: list[float | None] | None = None  # per step; None: always 1
    start: int = 0  # process start (and configuration load), in seconds
    reload_ok: list[float] | None = None  # smartlead_exporter_config_last_reload_successful per step


Series = dict[str, list[float | None]]  # "name{labels}" -> one value per step


def selector(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def sample_times(end: int) -> list[int]:
    return list(range(0, end + 1, STEP))


def account_series(target: Target, account: Account, end: int, account_level: bool = True) -> Series:
    """The series of one collector of an account; with account_level, the account's own series
    too (an account of several collectors has them once)."""
    base = {**target.labels, "account": account.name}
    col = {**base, "collector": account.collector}
    api = {**base, "api_endpoint": ENDPOINTS[account.collector]}
    fanout_api = {**base, "api_endpoint": FANOUT_ENDPOINT}
    attempts = account.attempts(end)
    times = sample_times(end)
    out: Series = {}

    def put(name: str, labels: dict[str, str], values: list[float | None]):
        out[selector(name, labels)] = values

    polls, success, last_ok, streak, codes, reasons, limit, remaining = [], [], [], [], {}, {}, [], []
    buckets: dict[str, list[float]] = {le: [] for le in DURATION_BUCKETS}
    count = []
    fanout_ok, fanout_failed = [], []
    state = {"polls": 0, "success": 0, "last_ok": None, "streak": 0, "codes": {c: 0 for c in PREINITIALISED_CODES},
             "reasons": {r: 0 for r in FAILURE_REASONS}, "limit": None, "remaining": None, "observed": 0,
             "fanout_ok": 0, "fanout_failed": 0}
    i = 0
    for t in times:
        while i < len(attempts) and attempts[i][0] <= t:
            at, outcome = attempts[i]
            i += 1
            state["polls"] += 1
            state["observed"] += 1
            if outcome in CODES:
                code = CODES[outcome]
                state["codes"][code] = state["codes"].get(code, 0) + 1
                if account.budget:
                    state["limit"], state["remaining"] = account.budget
            if outcome == "ok":
                state["success"], state["last_ok"], state["streak"] = 1, at, 0
                state["fanout_ok"] += account.fanout - account.fanout_failing
                state["fanout_failed"] += account.fanout_failing
            else:
                state["success"] = 0
                state["streak"] += 1
                state["reasons"]["timeout" if outcome in ("timeout", "slow_body") else "status"] += 1
        polls.append(state["polls"])
        success.append(state["success"])
        last_ok.append(state["last_ok"])
        streak.append(state["streak"])
        for code in set(codes) | set(state["codes"]):
            codes.setdefault(code, [None] * (len(polls) - 1)).append(state["codes"].get(code))
        for reason in FAILURE_REASONS:
            reasons.setdefault(reason, []).append(state["reasons"][reason])
        limit.append(state["limit"])
        remaining.append(state["remaining"])
        fanout_ok.append(state["fanout_ok"])
        fanout_failed.append(state["fanout_failed"])
        if account.latency is not None:
            for le in DURATION_BUCKETS:
                inside = le == "+Inf" or account.latency <= float(le)
                buckets[le].append(state["observed"] if inside else 0)
            count.append(state["observed"])

    put("smartlead_collector_polls_total", col, polls)
    put("smartlead_collector_success", col, success)
    put("smartlead_collector_interval_seconds", col, [account.interval] * len(times))
    put("smartlead_collector_last_success_timestamp_seconds", col, last_ok)
    if account_level:
        # The account's own series (of its first collector), as the exporter also exports them.
        put("smartlead_up", base, success)
        put("smartlead_last_success_timestamp_seconds", base, last_ok)
        put("smartlead_poll_consecutive_failures", base, streak)
    for code in sorted(codes, key=int):
        put("smartlead_api_requests_total", {**api, "code": code}, codes[code])
    for reason in FAILURE_REASONS:
        put("smartlead_api_request_failures_total", {**api, "reason": reason}, reasons[reason])
    if account.fanout:
        put("smartlead_api_requests_total", {**fanout_api, "code": "200"}, fanout_ok)
        put("smartlead_api_requests_total", {**fanout_api, "code": "500"}, fanout_failed)
        for reason in FAILURE_REASONS:
            put("smartlead_api_request_failures_total", {**fanout_api, "reason": reason},
                fanout_failed if reason == "status" else [0] * len(times))
    if account.budget and account_level:
        put("smartlead_api_rate_limit_limit", base, limit)
        put("smartlead_api_rate_limit_remaining", base, remaining)
    if account.latency is not None:
        for le in DURATION_BUCKETS:
            put("smartlead_api_request_duration_seconds_bucket", {**api, "le": le}, buckets[le])
        put("smartlead_api_request_duration_seconds_count", api, count)
    return out


def target_series(target: Target, end: int) -> Series:
    times = sample_times(end)
    n = len(times)
    live = [t >= target.start for t in times]

    def alive(value):
        return [value if ok else None for ok in live]

    out: Series = {
        selector("up", target.labels): target.up or alive(1),
        selector("process_start_time_seconds", target.labels): alive(target.start),
        selector("smartlead_exporter_config_last_reload_success_timestamp_seconds", target.labels): alive(target.start),
        selector("smartlead_exporter_config_last_reload_successful", target.labels): target.reload_ok or alive(1),
        selector("smartlead_exporter_shard_accounts", {**target.labels, "shard": "0", "total_shards": "1"}):
            alive(len(target.accounts)),
    }
    assert all(len(v) == n for v in out.values())
    seen: set[str] = set()
    for account in target.accounts:
        series = account_series(target, account, end, account_level=account.name not in seen)
        assert not set(series) & set(out), f"{account.name}: a series twice"
        out.update(series)
        seen.add(account.name)
    return out


def number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return repr(round(value, 6))


def encode(values: list[float | None]) -> str:
    """promtool's notation, run-length encoded: `vxN` is N+1 samples of v, `_xN` N gaps."""
    parts = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        run = j - i + 1
        if values[i] is None:
            parts.append("_" if run == 1 else f"_x{run}")
        else:
            parts.append(number(values[i]) if run == 1 else f"{number(values[i])}x{run - 1}")
        i = j + 1
    return " ".join(parts)


def input_series(series: Series) -> list[dict]:
    return [{"series": name, "values": encode(values)} for name, values in series.items()]


def minute(t: int) -> str:
    assert t % 60 == 0, t
    return f"{t // 60}m"


# --- annotations, rendered as Prometheus would ------------------------------------------------


def rules() -> dict[str, dict]:
    loaded = yaml.safe_load(RULES_FILE.read_text())
    return {r["alert"]: r for g in loaded["groups"] for r in g["rules"] if "alert" in r}


def annotations(alert: str, labels: dict[str, str], value: str | None = None) -> dict[str, str]:
    """The alert's annotations with its labels filled in; `value` is the text Prometheus shows
    for {{ $value }} (after humanizePercentage or humanizeDuration, where the template uses them)."""

    def fill(template: str) -> str:
        template = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
        if "$value" in template:
            assert value is not None, f"{alert}: its annotations show $value; give the expected text"
            template = re.sub(r"\{\{ \$value( \| \w+)? \}\}", value, template)
        return template

    return {k: fill(v) for k, v in rules()[alert]["annotations"].items()}


def expected(alert: str, labels: dict[str, str], value: str | None = None) -> dict:
    rule = rules()[alert]
    full = {**labels, **rule["labels"]}
    return {"exp_labels": full, "exp_annotations": annotations(alert, full, value)}


# --- the unit test file -----------------------------------------------------------------------


def account_labels(target: Target, account: Account, alert: str) -> dict[str, str]:
    labels = {**target.labels, "account": account.name}
    if alert in COLLECTOR_ALERTS:
        labels["collector"] = account.collector
    if alert == "SmartLeadAPILatencyHigh":
        labels["api_endpoint"] = ENDPOINTS[account.collector]
    return labels


# --- what the accounts' data says: mailboxes, campaigns, the budget ---------------------------

Curve = Callable[[int], "float | None"]  # a value at each second; None: no series then


def curve_values(curve: Curve, end: int) -> list[float | None]:
    return [curve(t) for t in sample_times(end)]


def mailbox_series(target: Target, account: str, mailbox_id: str, email: str, end: int,
                   smtp: Curve = lambda t: 1, imap: Curve = lambda t: 1, blocked: Curve = lambda t: 0,
                   reputation: Curve = lambda t: 0.95) -> Series:
    """One mailbox as the mailboxes collector exports it: its info, SMTP and IMAP up (1) or down
    (0), warmup blocked (1) or not, and its warmup reputation (0 to 1; None: SmartLead gives
    none, and the series is absent)."""
    base = {**target.labels, "account": account, "mailbox_id": mailbox_id}
    info = {**base, "email": email, "type": "GMAIL", "client_id": "", "warmup_status": "active"}
    out = {selector("smartlead_mailbox_info", info): curve_values(lambda t: 1, end),
           selector("smartlead_mailbox_smtp_up", base): curve_values(smtp, end),
           selector("smartlead_mailbox_imap_up", base): curve_values(imap, end),
           selector("smartlead_mailbox_suspended", base): curve_values(lambda t: 0, end),
           selector("smartlead_mailbox_warmup_blocked", base): curve_values(blocked, end)}
    values = curve_values(reputation, end)
    if any(v is not None for v in values):
        out[selector("smartlead_mailbox_warmup_reputation_ratio", base)] = values
    return out


def campaign_series(target: Target, account: str, campaign_id: str, name: str, end: int,
                    sent: Curve, bounced: Curve) -> Series:
    """One campaign as the campaigns collector exports it: its info and its lifetime e-mails
    sent and bounced (gauges: they fall when leads are deleted)."""
    base = {**target.labels, "account": account, "campaign_id": campaign_id}
    info = {**base, "campaign": name, "status": "active", "client_id": ""}
    return {selector("smartlead_campaign_info", info): curve_values(lambda t: 1, end),
            selector("smartlead_campaign_emails", {**base, "event": "sent"}): curve_values(sent, end),
            selector("smartlead_campaign_emails", {**base, "event": "bounced"}): curve_values(bounced, end)}


def budget_series(target: Target, account: str, end: int, planned_per_hour: Curve,
                  per_minute: int = 20, per_hour: int = 500) -> Series:
    """An account's budget and the calls its plan needs, per minute and per hour."""
    base = {**target.labels, "account": account}
    return {selector("smartlead_exporter_api_budget_calls", {**base, "window": "minute"}): curve_values(lambda t: per_minute, end),
            selector("smartlead_exporter_api_budget_calls", {**base, "window": "hour"}): curve_values(lambda t: per_hour, end),
            selector("smartlead_exporter_api_planned_calls", {**base, "window": "minute"}):
                curve_values(lambda t: round(planned_per_hour(t) / 60, 6), end),
            selector("smartlead_exporter_api_planned_calls", {**base, "window": "hour"}): curve_values(planned_per_hour, end)}


def case(name: str, targets: list[Target], end: int, checks: list[dict], extra: Series | None = None) -> dict:
    series: Series = {}
    for target in targets:
        series.update(target_series(target, end))
    series.update(extra or {})
    return {"name": name, "interval": "1m", "input_series": input_series(series), "alert_rule_test": checks}


def check(t: int, alert: str, alerts: list[dict] | None = None) -> dict:
    return {"eval_time": minute(t), "alertname": alert, "exp_alerts": alerts or []}


def healthy(name: str = "acme", **kw) -> Account:
    return Account(name, budget=(100, 90), **kw)


def unit_tests() -> dict:
    op = OPERATOR_TARGET
    acme = healthy()
    cases = []

    # The exporter itself.
    other = {"job": "node-exporter", "instance": "10.0.1.9:9100"}
    blackbox = {"job": "blackbox-smartlead-api", "instance": "https://server.smartlead.ai"}
    down = Target([acme], dict(op), up=[1, 1] + [0] * 14)
    cases.append(case(
        "SmartLeadExporterDown fires after 5m of failed scrapes, with every target label; other jobs ignored",
        [down], minutes(15),
        [check(minutes(6), "SmartLeadExporterDown"),
         check(minutes(10), "SmartLeadExporterDown", [expected("SmartLeadExporterDown", dict(op))])],
        {selector("up", other): [0] * 16}))
    cases.append(case(
        "SmartLeadExporterDown stays silent on a short outage",
        [Target([acme], dict(op), up=[1, 1, 0, 0] + [1] * 12)], minutes(15),
        [check(minutes(5), "SmartLeadExporterDown"), check(minutes(12), "SmartLeadExporterDown")]))
    cases.append(case(
        "SmartLeadExporterAbsent fires when no target of the exact job is scraped for 15m, "
        "even with a job whose name contains smartlead",
        [], minutes(30),
        [check(minutes(10), "SmartLeadExporterAbsent"),
         check(minutes(20), "SmartLeadExporterAbsent", [expected("SmartLeadExporterAbsent", {"job": "smartlead-exporter"})])],
        {selector("up", other): [1] * 31, selector("up", blackbox): [1] * 31}))
    cases.append(case(
        "SmartLeadExporterAbsent stays silent while a target of the job exists, up or down",
        [Target([acme], dict(op), up=[1] * 10 + [0] * 21)], minutes(30),
        [check(minutes(25), "SmartLeadExporterAbsent")]))

    # Restarts: per job and shard, new pods included.
    def pod_starts(pods: list[tuple[str, int, int, list[int]]], shard: str = "0") -> Series:
        """Pods as (name, first second, last second, restarts at seconds): each pod its own
        series, as the Operator's `pod` and `instance` labels make it."""
        out: Series = {}
        times = sample_times(minutes(70))
        for n, (pod, born, died, restarts) in enumerate(pods):
            labels = {**op, "pod": pod, "instance": f"10.0.1.{20 + n}:10072"}
            shard_labels = {**labels, "shard": pod.rsplit("-", 1)[-1] if shard == "ordinal" else shard,
                            "total_shards": "3" if shard == "ordinal" else "1"}
            starts = [born] + restarts
            values = [max((s for s in starts if s <= t), default=None) if born <= t <= died else None for t in times]
            out[selector("process_start_time_seconds", labels)] = values
            out[selector("smartlead_exporter_shard_accounts", shard_labels)] = [1 if v is not None else None for v in values]
        return out

    def restarting(value: str, shard: str = "0") -> dict:
        labels = {k: v for k, v in op.items() if k not in ("instance", "pod")}
        return expected("SmartLeadExporterRestarting", {**labels, "shard": shard}, value)

    m = minutes
    cases.append(case(
        "SmartLeadExporterRestarting fires on a fourth start within an hour of one pod (container restarts)",
        [], m(70),
        [check(m(25), "SmartLeadExporterRestarting"),
         check(m(35), "SmartLeadExporterRestarting", [restarting("4")])],
        pod_starts([("smartlead-exporter-5c9d8b7f6-x2x4q", m(1), m(70), [m(10), m(20), m(30)])])
        | {selector("process_start_time_seconds", other): [t for t in sample_times(m(70))]}))
    cases.append(case(
        "SmartLeadExporterRestarting counts new pods: four pods replacing each other within an hour fire it",
        [], m(70),
        [check(m(25), "SmartLeadExporterRestarting"),
         check(m(35), "SmartLeadExporterRestarting", [restarting("4")])],
        pod_starts([("smartlead-exporter-5c9d8b7f6-aaaaa", m(1), m(10), []),
                    ("smartlead-exporter-5c9d8b7f6-bbbbb", m(11), m(20), []),
                    ("smartlead-exporter-7f4b9c6d5-ccccc", m(21), m(30), []),
                    ("smartlead-exporter-7f4b9c6d5-ddddd", m(31), m(70), [])])))
    cases.append(case(
        "SmartLeadExporterRestarting stays silent on two rollouts in an hour, and on one rollout of three shards",
        [], m(70),
        [check(m(35), "SmartLeadExporterRestarting"), check(m(60), "SmartLeadExporterRestarting")],
        pod_starts([("smartlead-exporter-5c9d8b7f6-aaaaa", m(1), m(20), []),
                    ("smartlead-exporter-7f4b9c6d5-bbbbb", m(21), m(30), []),
                    ("smartlead-exporter-7f4b9c6d5-ccccc", m(31), m(70), [])])
        | {k.replace('job="smartlead-exporter"', 'job="smartlead-shards"'): v for k, v in pod_starts(
            [("smartlead-exporter-0", m(1), m(70), [m(40)]), ("smartlead-exporter-1", m(1), m(70), [m(41)]),
             ("smartlead-exporter-2", m(1), m(70), [m(42)])], shard="ordinal").items()}))
    cases.append(case(
        "SmartLeadConfigReloadFailed fires 10m after a rejected reload",
        [Target([acme], dict(op), reload_ok=[1] * 5 + [0] * 20)], m(24),
        [check(m(12), "SmartLeadConfigReloadFailed"),
         check(m(16), "SmartLeadConfigReloadFailed", [expected("SmartLeadConfigReloadFailed", dict(op))])]))
    cases.append(case(
        "SmartLeadConfigReloadFailed stays silent when the next reload succeeds",
        [Target([acme], dict(op), reload_ok=[1] * 5 + [0] * 5 + [1] * 15)], m(24),
        [check(m(9), "SmartLeadConfigReloadFailed"), check(m(20), "SmartLeadConfigReloadFailed")]))

    # The accounts, at the default interval: one failing account (globex) beside a healthy one.
    def account_case(name: str, subject: Account, end: int, alert: str, silent_at: int, firing_at: int,
                     value: str | None = None, others_silent_at: list[int] | None = None) -> dict:
        target = Target([acme, subject], dict(op))
        checks = [check(silent_at, alert),
                  check(firing_at, alert, [expected(alert, account_labels(target, subject, alert), value)])]
        for t in others_silent_at or [firing_at]:
            checks += [check(t, other) for other in ACCOUNT_ALERTS if other != alert]
        return case(name, [target], end, checks)

    def account_silent(name: str, subject: Account, end: int, alert: str, at: list[int]) -> dict:
        return case(name, [Target([acme, subject], dict(op))], end, [check(t, alert) for t in at])

    cases.append(account_case(
        "A revoked key (globex; acme healthy) fires SmartLeadAuthFailing for globex and nothing else; the first "
        "401 counts because the code is pre-initialised at 0",
        Account("globex", outcomes=[(0, "ok"), (m(4), "key")]), m(90), "SmartLeadAuthFailing", m(6), m(12),
        others_silent_at=[m(12), m(45), m(90)]))
    cases.append(account_silent(
        "SmartLeadAuthFailing stays silent on a single 401 followed by a success",
        Account("globex", outcomes=[(0, "ok"), (m(4), "key"), (m(5), "ok")]), m(30), "SmartLeadAuthFailing",
        [m(6), m(12), m(20)]))
    cases.append(account_case(
        "429s with a 20-minute Retry-After (globex) fire SmartLeadRateLimited for globex and nothing else, for the "
        "whole wait",
        Account("globex", outcomes=[(0, "ok"), (m(4), "limit")], retry_after=m(20)), m(120), "SmartLeadRateLimited",
        m(20), m(40), others_silent_at=[m(40), m(80), m(120)]))
    cases.append(account_silent(
        "SmartLeadRateLimited stays silent on a single 429 followed by a success",
        Account("globex", outcomes=[(0, "ok"), (m(4), "limit"), (m(5), "ok")]), m(60), "SmartLeadRateLimited",
        [m(20), m(40), m(60)]))
    cases.append(account_case(
        "Every poll of globex failing with 500 fires SmartLeadAPIDown for globex and nothing else",
        Account("globex", outcomes=[(0, "ok"), (m(4), "down")]), m(60), "SmartLeadAPIDown", m(10), m(25),
        others_silent_at=[m(25), m(60)]))
    cases.append(account_silent(
        "SmartLeadAPIDown stays silent on one failed poll followed by a success",
        Account("globex", outcomes=[(0, "ok"), (m(4), "timeout"), (m(5), "ok")]), m(40), "SmartLeadAPIDown",
        [m(10), m(20), m(30)]))
    cases.append(account_case(
        "One poll in three of globex failing fires SmartLeadPollFailuresHigh for globex and nothing else",
        Account("globex", outcomes=lambda i, t: "down" if i % 3 == 2 else "ok"), m(70), "SmartLeadPollFailuresHigh",
        m(30), m(70), value="33.33%", others_silent_at=[m(50), m(70)]))
    cases.append(account_case(
        "Two polls in seven of globex timing out after their 200 fire SmartLeadPollFailuresHigh (about 28%): the "
        "share is failed attempts over attempts, a timed-out 200 counted once",
        Account("globex", outcomes=lambda i, t: "slow_body" if i % 7 in (3, 6) else "ok"), m(80),
        "SmartLeadPollFailuresHigh", m(30), m(80), value="28.33%", others_silent_at=[m(80)]))
    cases.append(account_silent(
        "SmartLeadPollFailuresHigh stays silent on one poll in ten failing",
        Account("globex", outcomes=lambda i, t: "timeout" if i % 10 == 9 else "ok"), m(70),
        "SmartLeadPollFailuresHigh", [m(50), m(70)]))
    cases.append(account_case(
        "A poller of globex that stops after a success fires SmartLeadDataStale for globex and nothing else",
        Account("globex", outcomes=[(0, "ok"), (m(10), "stuck")]), m(40), "SmartLeadDataStale", m(20), m(30),
        others_silent_at=[m(30), m(40)]))
    cases.append(account_silent(
        "SmartLeadDataStale stays silent for an account polled every hour",
        Account("globex", interval=3600), hours(4), "SmartLeadDataStale", [m(70), m(130), m(190), m(235)]))
    cases.append(account_case(
        "Less than 10% of globex's rate budget left fires SmartLeadRateLimitBudgetLow for globex only",
        Account("globex", budget=(100, 5)), m(40), "SmartLeadRateLimitBudgetLow", m(10), m(20), value="5%",
        others_silent_at=[m(20), m(40)]))
    cases.append(account_silent(
        "SmartLeadRateLimitBudgetLow stays silent while the account is rate limited (SmartLeadRateLimited)",
        Account("globex", budget=(100, 0), outcomes=[(0, "limit")], retry_after=m(5)), m(60),
        "SmartLeadRateLimitBudgetLow", [m(30), m(60)]))
    cases.append(account_case(
        "Requests of globex taking 7s fire SmartLeadAPILatencyHigh for globex only",
        Account("globex", latency=7), m(70), "SmartLeadAPILatencyHigh", m(20), m(50), value="9.75s",
        others_silent_at=[m(50), m(70)]))
    cases.append(account_silent(
        "SmartLeadAPILatencyHigh stays silent at 0.3s",
        Account("globex", latency=0.3), m(70), "SmartLeadAPILatencyHigh", [m(50), m(70)]))
    # The failure share per collector, with collectors of different call counts.
    def two_collectors(name: str, campaigns: Account, end: int, checks: list[dict]) -> dict:
        globex = [Account("globex"), campaigns]
        return case(name, [Target([acme, *globex], dict(op))], end, checks)

    campaign_labels = {**op, "account": "globex", "collector": "campaigns"}
    cases.append(two_collectors(
        "globex's campaigns attempts make 11 calls each, 5 of whose analytics fail while the attempt succeeds: "
        "no SmartLeadPollFailuresHigh (failed calls over attempts would be 5 per campaigns attempt)",
        Account("globex", collector="campaigns", interval=300, fanout=10, fanout_failing=5), m(130),
        [check(t, alert) for t in (m(70), m(100), m(130)) for alert in ACCOUNT_ALERTS]))
    cases.append(two_collectors(
        "One campaigns attempt in three of globex failing fires SmartLeadPollFailuresHigh for globex's campaigns "
        "alone, beside its healthy categories collector polling twelve times as often",
        Account("globex", collector="campaigns", interval=300, fanout=10,
                outcomes=lambda i, t: "down" if i % 3 == 2 else "ok"), m(130),
        [check(m(40), "SmartLeadPollFailuresHigh"),
         check(m(100), "SmartLeadPollFailuresHigh", [expected("SmartLeadPollFailuresHigh", campaign_labels, "33.33%")]),
         *[check(m(100), other) for other in ACCOUNT_ALERTS if other != "SmartLeadPollFailuresHigh"]]))

    # What the accounts' data says. acme's mailbox, campaign and budget are healthy throughout.
    def data_case(name: str, end: int, alert: str, silent_at: list[int], firing_at: int | None,
                  fired: list[tuple[dict, str | None]], globex: Series) -> dict:
        target = Target([acme, Account("globex")], dict(op))
        extra = {**mailbox_series(target, "acme", "101", "ann@acme.example", end),
                 **campaign_series(target, "acme", "201", "Acme Spring", end, sent=lambda t: 100 * (t // 60),
                                   bounced=lambda t: 2 * (t // 60)),
                 **budget_series(target, "acme", end, lambda t: 208), **globex}
        checks = [check(t, alert) for t in silent_at]
        if firing_at is not None:
            checks.append(check(firing_at, alert, [expected(alert, {**op, "account": "globex", **labels}, value)
                                                   for labels, value in fired]))
            checks += [check(firing_at, other) for other in ACCOUNT_ALERTS if other != alert]
        return case(name, [target], end, checks, extra)

    target = Target([], dict(op))
    down_from = lambda start: (lambda t: 0 if t >= start else 1)
    cases.append(data_case(
        "globex's mailbox 301 losing SMTP and 302 losing IMAP for good fire SmartLeadMailboxDisconnected after 30m, "
        "once per mailbox and protocol",
        m(60), "SmartLeadMailboxDisconnected", [m(35)], m(45),
        [({"mailbox_id": "301", "email": "bo@globex.example", "protocol": "smtp"}, None),
         ({"mailbox_id": "302", "email": "cy@globex.example", "protocol": "imap"}, None)],
        {**mailbox_series(target, "globex", "301", "bo@globex.example", m(60), smtp=down_from(m(10))),
         **mailbox_series(target, "globex", "302", "cy@globex.example", m(60), imap=down_from(m(10)))}))
    cases.append(data_case(
        "SmartLeadMailboxDisconnected stays silent for a mailbox whose SMTP, then IMAP, fail 4 minutes in every 20 "
        "(the demo's)",
        m(90), "SmartLeadMailboxDisconnected", [m(40), m(60), m(90)], None, [],
        mailbox_series(target, "globex", "301", "bo@globex.example", m(90),
                       smtp=lambda t: 0 if t // 60 % 20 < 4 else 1, imap=lambda t: 0 if 4 <= t // 60 % 20 < 8 else 1)))
    cases.append(data_case(
        "A warmup blocked on globex's mailbox fires SmartLeadMailboxWarmupBlocked after 15m",
        m(40), "SmartLeadMailboxWarmupBlocked", [m(15)], m(25),
        [({"mailbox_id": "301", "email": "bo@globex.example"}, None)],
        mailbox_series(target, "globex", "301", "bo@globex.example", m(40), blocked=lambda t: 1 if t >= m(5) else 0)))
    cases.append(data_case(
        "SmartLeadMailboxWarmupBlocked stays silent on a block lifted after 10 minutes",
        m(40), "SmartLeadMailboxWarmupBlocked", [m(20), m(30), m(40)], None, [],
        mailbox_series(target, "globex", "301", "bo@globex.example", m(40),
                       blocked=lambda t: 1 if m(5) <= t < m(15) else 0)))
    cases.append(data_case(
        "A warmup reputation of 62% on globex's mailbox fires SmartLeadMailboxReputationLow after 6h; a mailbox "
        "without reputation does not",
        hours(7), "SmartLeadMailboxReputationLow", [m(330)], m(375),
        [({"mailbox_id": "301", "email": "bo@globex.example"}, "62%")],
        {**mailbox_series(target, "globex", "301", "bo@globex.example", hours(7), reputation=lambda t: 0.62),
         **mailbox_series(target, "globex", "302", "cy@globex.example", hours(7), reputation=lambda t: None)}))
    cases.append(data_case(
        "SmartLeadMailboxReputationLow stays silent on 75% for 5h that then recovers to 85%",
        hours(7), "SmartLeadMailboxReputationLow", [m(330), m(375), m(420)], None, [],
        mailbox_series(target, "globex", "301", "bo@globex.example", hours(7),
                       reputation=lambda t: 0.75 if t < hours(5) else 0.85)))
    cases.append(data_case(
        "A campaign of globex bouncing 7% of 100 sends a minute fires SmartLeadCampaignBounceRateHigh after 30m",
        m(60), "SmartLeadCampaignBounceRateHigh", [m(25)], m(40),
        [({"campaign_id": "401", "campaign": "Globex Cold"}, "7%")],
        campaign_series(target, "globex", "401", "Globex Cold", m(60), sent=lambda t: 5000 + 100 * (t // 60),
                        bounced=lambda t: 150 + 7 * (t // 60))))
    cases.append(data_case(
        "SmartLeadCampaignBounceRateHigh stays silent at 3% bounces",
        m(60), "SmartLeadCampaignBounceRateHigh", [m(40), m(60)], None, [],
        campaign_series(target, "globex", "401", "Globex Cold", m(60), sent=lambda t: 5000 + 100 * (t // 60),
                        bounced=lambda t: 150 + 3 * (t // 60))))
    cases.append(data_case(
        "SmartLeadCampaignBounceRateHigh stays silent for a campaign of 16% lifetime bounces sending 6 e-mails an "
        "hour: fewer than 100 sends in the window",
        hours(6), "SmartLeadCampaignBounceRateHigh", [m(120), m(360)], None, [],
        campaign_series(target, "globex", "401", "Globex Cold", hours(6), sent=lambda t: 5000 + t // 600,
                        bounced=lambda t: 800 + t // 3600)))
    cases.append(data_case(
        "SmartLeadCampaignBounceRateHigh stays silent at 3% when bounced leads are deleted: the bounced total falls "
        "from 750 to 150, which increase() would count as 150 new bounces",
        m(90), "SmartLeadCampaignBounceRateHigh", [m(40), m(60), m(90)], None, [],
        campaign_series(target, "globex", "401", "Globex Cold", m(90), sent=lambda t: 5000 + 100 * (t // 60),
                        bounced=lambda t: (750 if t < m(30) else 150) + 3 * (t // 60))))
    cases.append(data_case(
        "A plan that needs the whole hourly budget of globex for an hour fires SmartLeadAPIBudgetStretching",
        m(80), "SmartLeadAPIBudgetStretching", [m(50)], m(70), [({}, "100%")],
        budget_series(target, "globex", m(80), lambda t: 500)))
    cases.append(data_case(
        "SmartLeadAPIBudgetStretching stays silent at 60% of the budget, and after 40 minutes at the budget",
        m(100), "SmartLeadAPIBudgetStretching", [m(50), m(80), m(100)], None, [],
        {**budget_series(target, "globex", m(100), lambda t: 500 if m(10) <= t < m(50) else 300)}))
    # The latency case's acme has no histogram: give the silent case one too.
    return {"rule_files": [RULES_FILE.name], "evaluation_interval": "1m", "tests": cases}


HEADER = """\
# Unit tests for smartlead-exporter.rules.yml: every alert firing and silent, with the label set
# the Prometheus Operator gives a target (namespace, service, pod, container, endpoint) and two
# accounts, one healthy (acme) and one failing (globex), so that each cause is shown to fire
# exactly one alert for the failing account and none for the healthy one.
# Run: promtool test rules smartlead-exporter.rules.test.yml (from alerts/).
#
# Generated from a simulation of the exporter's schedule by tests/deploy/alert_scenarios.py;
# edit the scenarios there and write this file again with
#   target/venv/bin/python tests/deploy/alert_scenarios.py --write
# The alerts at 15-second, 1-minute and 1-hour intervals are tested by
# tests/deploy/test_alert_schedules.py.
"""


class Dumper(yaml.SafeDumper):
    """Block style, long lines kept whole."""


def dump(data: dict) -> str:
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=100_000, default_flow_style=False)


def unit_test_text() -> str:
    return HEADER + dump(unit_tests())


# --- the schedule matrix ----------------------------------------------------------------------


@dataclass
class Fire:
    """An alert for one account that must be silent up to `silent_until`, firing from
    `firing_from` to `firing_until`, and silent again from `silent_from` (None: firing to the
    end). Between, it may be either: the `for`, the evaluation and the sample steps."""

    alert: str
    account: str
    silent_until: int
    firing_from: int
    firing_until: int | None = None
    silent_from: int | None = None

    def state(self, t: int) -> str | None:
        if t <= self.silent_until:
            return "silent"
        if t < self.firing_from:
            return None
        if self.firing_until is None or t <= self.firing_until:
            return "firing"
        if self.silent_from is not None and t >= self.silent_from:
            return "silent"
        return None


@dataclass
class Scenario:
    name: str
    accounts: list[Account]
    end: int
    fires: list[Fire] = field(default_factory=list)
    every: int = minutes(3)


def up_step(t: float) -> int:
    """The first sample at or after `t`."""
    return int(math.ceil(t / STEP) * STEP)


def schedule_scenarios() -> list[Scenario]:
    out = []
    slack = 2 * STEP  # a sample after the event, an evaluation after the sample
    for interval in (15, 60, 3600):
        label = {15: "15s", 60: "60s", 3600: "1h"}[interval]
        long = interval >= 3600
        backoff_max = minutes(30)

        def account(name: str, **kw) -> Account:
            return Account(name, interval=interval, max_backoff=backoff_max, **kw)

        acme = account("acme")
        t0 = minutes(30)

        end = hours(8) if long else hours(3)
        out.append(Scenario(f"{label}: a healthy account fires nothing", [acme, account("globex")], end,
                            every=minutes(10) if long else minutes(5)))

        globex = account("globex", outcomes=[(0, "ok"), (t0, "key")])
        first = globex.first_attempt(end, "key")
        out.append(Scenario(
            f"{label}: a revoked key fires SmartLeadAuthFailing without a break, and nothing else", [acme, globex],
            end, [Fire("SmartLeadAuthFailing", "globex", first - 1, up_step(first) + minutes(5) + slack)],
            every=minutes(5) if long else minutes(3)))

        t1 = hours(5) if long else hours(2)
        end = t1 + hours(1)
        globex = account("globex", outcomes=[(0, "ok"), (t0, "down"), (t1, "ok")])
        failed = globex.first_attempt(end, "down")
        last_ok = globex.last_attempt(end, "ok", before=failed)
        down_from = max(failed, last_ok + 2 * interval)
        recovered = globex.first_attempt(end, "ok", after=t1)
        out.append(Scenario(
            f"{label}: an outage (500) fires SmartLeadAPIDown until the recovery, and nothing else", [acme, globex],
            end, [Fire("SmartLeadAPIDown", "globex", down_from - 1, up_step(down_from) + minutes(15) + slack,
                       recovered, up_step(recovered) + minutes(10) + slack)],
            every=minutes(5) if long else minutes(3)))

        t1 = hours(5) if long else hours(2)
        end = t1 + hours(1)
        wait = minutes(30) if long else minutes(20)
        globex = account("globex", outcomes=[(0, "ok"), (t0, "limit"), (t1, "ok")], retry_after=wait)
        limited = globex.first_attempt(end, "limit")
        recovered = globex.first_attempt(end, "ok", after=t1)
        out.append(Scenario(
            f"{label}: 429s with a {wait // 60}-minute Retry-After fire SmartLeadRateLimited until the recovery, "
            "and nothing else", [acme, globex], end,
            [Fire("SmartLeadRateLimited", "globex", limited - 1, up_step(limited) + minutes(30) + slack,
                  recovered, up_step(recovered) + minutes(10) + slack)],
            every=minutes(5) if long else minutes(3)))

        end = t0 + 2 * interval + hours(1)
        globex = account("globex", outcomes=[(0, "ok"), (t0, "stuck")])
        last_ok = globex.last_attempt(end, "ok", before=t0)
        out.append(Scenario(
            f"{label}: a poller stuck after a success fires SmartLeadDataStale, and nothing else", [acme, globex], end,
            [Fire("SmartLeadDataStale", "globex", last_ok + 2 * interval, up_step(last_ok + 2 * interval) + minutes(15) + slack)],
            every=minutes(5) if long else minutes(3)))

        end = 2 * interval + hours(1)
        globex = account("globex", outcomes=[(0, "stuck")])
        out.append(Scenario(
            f"{label}: a first poll that never finishes fires SmartLeadDataStale, and nothing else", [acme, globex],
            end, [Fire("SmartLeadDataStale", "globex", 2 * interval, up_step(2 * interval) + minutes(15) + slack)],
            every=minutes(5) if long else minutes(3)))

        globex = account("globex", outcomes=lambda i, t: "down" if i % 3 == 2 else "ok")
        end = hours(12) if long else hours(2)
        attempts = globex.attempts(end)
        tenth = attempts[9][0]  # the ratio needs ten attempts in its window
        out.append(Scenario(
            f"{label}: one poll in three failing fires SmartLeadPollFailuresHigh, and nothing else", [acme, globex],
            end, [Fire("SmartLeadPollFailuresHigh", "globex", tenth - 1, up_step(tenth) + minutes(30) + slack)],
            every=minutes(5)))
    return out


def schedule_case(scenario: Scenario) -> dict:
    target = Target(scenario.accounts)
    series = target_series(target, scenario.end)
    checks = []
    for t in range(scenario.every, scenario.end + 1, scenario.every):
        t -= t % STEP
        firing, unknown = [], []
        for fire in scenario.fires:
            state = fire.state(t)
            if state == "firing":
                firing.append(fire)
            elif state is None:
                unknown.append(fire)
        # Firing alerts by name and account, leaving out those that may be either now.
        query = 'count by (alertname, account) (ALERTS{alertstate="firing"}'
        if unknown:
            query += " unless (" + " or ".join(
                f'ALERTS{{alertname="{f.alert}", account="{f.account}"}}' for f in unknown) + ")"
        query += ")"
        checks.append({
            "expr": query,
            "eval_time": minute(t),
            "exp_samples": [{"labels": f'{{alertname="{f.alert}", account="{f.account}"}}', "value": 1} for f in firing],
        })
    return {"name": scenario.name, "interval": "1m", "input_series": input_series(series), "promql_expr_test": checks}


def schedule_tests(rules_file: Path = RULES_FILE) -> dict:
    return {"rule_files": [str(rules_file)], "evaluation_interval": "1m",
            "tests": [schedule_case(s) for s in schedule_scenarios()]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Writes alerts/smartlead-exporter.rules.test.yml.")
    parser.add_argument("--write", action="store_true", help="write the file (default: print it)")
    args = parser.parse_args(argv)
    text = unit_test_text()
    if args.write:
        UNIT_TEST_FILE.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
