"""The account alerts at poll intervals of 15 seconds, a minute and an hour, with a 30-minute
maximum backoff: each cause (a revoked key, an outage, 429s with a long Retry-After, a stuck
poller, a first poll that never finishes, one poll in three failing) fires its alert when it
should and without a break while the cause lasts, and nothing else fires, for the failing
account or the healthy one beside it. The series come from a simulation of the exporter's
schedule (alert_scenarios.py), checked by promtool every few minutes of each scenario."""

from __future__ import annotations

import yaml

import alert_scenarios
from deploy_support import RULES_FILE, promtool


def test_the_simulated_schedule_backs_off_as_the_exporter_does():
    # The exporter's backoff (src/poller.rs, jitter aside): from the interval, doubling, capped
    # by the maximum backoff, never below the interval; a Retry-After honoured up to an hour.
    account = alert_scenarios.Account("a", interval=60, max_backoff=1800, first=5,
                                      outcomes=[(0, "ok"), (100, "key")])
    times = [t for t, _ in account.attempts(4 * 3600)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:10] == [60, 60, 60, 120, 240, 480, 960, 1800, 1800, 1800]
    hourly = alert_scenarios.Account("h", interval=3600, max_backoff=1800, outcomes=[(0, "down")])
    hourly_times = [t for t, _ in hourly.attempts(8 * 3600)]
    assert [b - a for a, b in zip(hourly_times, hourly_times[1:])] == [3600] * 7
    limited = alert_scenarios.Account("l", interval=60, max_backoff=600, outcomes=[(0, "limit")], retry_after=7200)
    limited_times = [t for t, _ in limited.attempts(5 * 3600)]
    assert limited_times[1] - limited_times[0] == 3600  # the wait capped at an hour


def test_every_account_alert_meets_its_cause_at_15s_1m_and_1h(tmp_path):
    scenarios = alert_scenarios.schedule_scenarios()
    # The matrix covers each interval for each cause.
    names = [s.name for s in scenarios]
    for interval in ("15s", "60s", "1h"):
        assert sum(n.startswith(f"{interval}:") for n in names) == len(names) // 3
    fired = {f.alert for s in scenarios for f in s.fires}
    assert fired == {"SmartLeadAuthFailing", "SmartLeadAPIDown", "SmartLeadRateLimited", "SmartLeadDataStale",
                     "SmartLeadPollFailuresHigh"}
    path = tmp_path / "schedules.test.yml"
    path.write_text(alert_scenarios.dump(alert_scenarios.schedule_tests(RULES_FILE)))
    result = promtool("test", "rules", str(path), timeout=600)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr


def test_the_matrix_checks_firing_and_silence_every_few_minutes():
    # A flap is at least the alert's `for` long (5m for the shortest): the checks come closer
    # together than that, firing and silent both.
    tests = alert_scenarios.schedule_tests(RULES_FILE)["tests"]
    for case in tests:
        times = [int(c["eval_time"].removesuffix("m")) for c in case["promql_expr_test"]]
        assert max(b - a for a, b in zip(times, times[1:])) <= 5 or case["name"].endswith("fires nothing")
        assert any(c["exp_samples"] for c in case["promql_expr_test"]) or "nothing" in case["name"]
        assert any(not c["exp_samples"] for c in case["promql_expr_test"])
    assert yaml.safe_load(alert_scenarios.dump({"tests": tests}))["tests"] == tests
