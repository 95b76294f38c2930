"""The alert rules: promtool accepts them, their unit tests pass, and every alert is tested
both firing and staying silent."""

from __future__ import annotations

import yaml

from deploy_support import RULES_FILE, RULES_TEST_FILE, alert_rules, promtool


def test_rules_file_passes_promtool_check_rules():
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_rules_unit_tests_pass_promtool_test_rules():
    # Run from alerts/ because the test file names the rules file relative to itself.
    result = promtool("test", "rules", RULES_TEST_FILE.name, cwd=RULES_TEST_FILE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_unit_tests_load_the_canonical_rules_file():
    tests = yaml.safe_load(RULES_TEST_FILE.read_text())
    assert tests["rule_files"] == [RULES_FILE.name]


def test_every_alert_has_a_firing_and_a_silent_test_case():
    tests = yaml.safe_load(RULES_TEST_FILE.read_text())
    fired: set[str] = set()
    silent: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            if check.get("exp_alerts"):
                fired.add(check["alertname"])
            else:
                silent.add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"
    assert (fired | silent) - names == set(), "tests name alerts that do not exist"


def test_alert_names_are_unique():
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))


def test_every_alert_has_severity_summary_description_and_runbook_hint():
    for rule in alert_rules():
        assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            assert annotations.get(key, "").strip(), f"{rule['alert']} lacks annotation {key}"


def test_required_alerts_exist_with_their_signals():
    exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    assert 'up{job=~".*smartlead.*"} == 0' in exprs["SmartLeadExporterDown"]
    assert "smartlead_up == 0" in exprs["SmartLeadAPIDown"]
    assert '401|403' in exprs["SmartLeadAuthFailing"]
    assert 'code="429"' in exprs["SmartLeadRateLimited"]
    assert "time() - smartlead_last_success_timestamp_seconds" in exprs["SmartLeadDataStale"]
    assert "histogram_quantile" in exprs["SmartLeadAPILatencyHigh"]


def test_only_up_needs_the_job_matcher():
    # `up` exists for every target, so it must be narrowed to the exporter's job; smartlead_*
    # series are unique to the exporter and must work whatever the job is called.
    for rule in alert_rules():
        if "up{" in rule["expr"].replace("smartlead_up", ""):
            assert 'job=~".*smartlead.*"' in rule["expr"], rule["alert"]
        else:
            assert "job=" not in rule["expr"], rule["alert"]
