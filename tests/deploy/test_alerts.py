"""The alert rules: promtool accepts them, their unit tests pass, every alert is tested both
firing and staying silent, links its runbook section, keeps the target labels (aggregating
`without`), and the shipped Alertmanager inhibition rules are valid and name real alerts."""

from __future__ import annotations

import re
import subprocess

import yaml

from deploy_support import (
    INHIBIT_FILE,
    JOB_MATCHER,
    RULES_FILE,
    RULES_TEST_FILE,
    RUNBOOK_BASE,
    RUNBOOK_FILE,
    alert_rules,
    promtool,
    require_tool,
)

# Series every target has, whatever exporter it is: they need the job matcher.
GENERIC_SERIES = re.compile(r"\b(up|process_[a-z_]+)\{")
# Labels the Prometheus Operator sets on every target; none of ours may be called that.
OPERATOR_TARGET_LABELS = {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}
# Every label the exporter itself puts on its series (the metric contract).
EXPORTER_LABELS = {"account", "sentiment", "origin", "id", "name", "api_endpoint", "code", "reason", "le",
                   "version", "revision", "rustversion", "shard", "total_shards"}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    return {github_anchor(m) for m in re.findall(r"^#{2,3} (.+)$", RUNBOOK_FILE.read_text(), re.M)}


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


def test_account_alerts_are_tested_with_two_accounts_one_failing():
    # Every account alert fires in some case whose input also holds a healthy account (acme)
    # for which it stays silent.
    tests = yaml.safe_load(RULES_TEST_FILE.read_text())
    account_alerts = {r["alert"] for r in alert_rules() if "smartlead_exporter_" not in r["expr"]
                      and not GENERIC_SERIES.search(r["expr"].replace("smartlead_up", ""))}
    covered = set()
    for case in tests["tests"]:
        has_acme = any('account="acme"' in s["series"] for s in case["input_series"])
        for check in case["alert_rule_test"]:
            accounts = {a["exp_labels"].get("account") for a in check.get("exp_alerts") or []}
            if has_acme and accounts and "acme" not in accounts:
                covered.add(check["alertname"])
    assert account_alerts - covered == set()


def test_alert_names_are_unique():
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))


def test_every_alert_has_severity_summary_description_and_runbook_url():
    for rule in alert_rules():
        # Nothing pages as critical by default: SmartLead data serves no end users.
        assert rule.get("labels", {}).get("severity") in {"warning", "info"}, rule["alert"]
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key, "").strip(), f"{rule['alert']} lacks annotation {key}"
        assert set(annotations) == {"summary", "description", "runbook_url"}, rule["alert"]


def test_runbook_urls_point_at_a_section_of_docs_runbook():
    anchors = runbook_anchors()
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url == f"{RUNBOOK_BASE}#{rule['alert'].lower()}", rule["alert"]
        assert rule["alert"].lower() in anchors, f"docs/runbook.md has no section {rule['alert']}"


def test_every_runbook_section_says_meaning_impact_diagnosis_and_fix():
    text = RUNBOOK_FILE.read_text()
    for rule in alert_rules():
        section = text.split(f"\n## {rule['alert']}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Fix.**"):
            assert part in section, f"runbook {rule['alert']}: no {part}"
        assert "```promql" in section, f"runbook {rule['alert']}: no query"


def test_account_alerts_name_the_account_in_their_summary():
    for rule in alert_rules():
        if "smartlead_" in rule["expr"] and "smartlead_exporter_" not in rule["expr"] \
                and not GENERIC_SERIES.search(rule["expr"]):
            assert "{{ $labels.account }}" in rule["annotations"]["summary"], rule["alert"]


def test_aggregations_keep_the_target_labels():
    # `by (...)` would drop namespace, pod, cluster and anything else the scrape adds.
    for rule in alert_rules():
        assert not re.search(r"\bby\s*\(", rule["expr"]), rule["alert"]
        assert not re.search(r"\bon\s*\(", rule["expr"]), rule["alert"]
        for agg in re.findall(r"\b(sum|avg|min|max|count)\s*(without\s*\([^)]*\))?\s*\(", rule["expr"]):
            assert agg[1], f"{rule['alert']}: {agg[0]} without a without (...) clause"


def test_job_matcher_has_one_form_and_only_generic_series_use_it():
    # `up` and `process_*` exist for every target, so they are narrowed to the exporter's job
    # by exactly JOB_MATCHER (the chart replaces that string); smartlead_* series are unique to
    # the exporter and work whatever the job is called.
    for rule in alert_rules():
        expr = rule["expr"]
        generic = GENERIC_SERIES.findall(expr.replace("smartlead_up", ""))
        assert expr.count("job=") == len(generic), rule["alert"]
        for match in re.finditer(r"\b(up|process_[a-z_]+)\{([^}]*)\}", expr.replace("smartlead_up", "")):
            assert match.group(2) == JOB_MATCHER, rule["alert"]


def test_no_label_of_ours_is_an_operator_target_label():
    assert EXPORTER_LABELS & OPERATOR_TARGET_LABELS == set()
    used = set()
    for rule in alert_rules():
        used |= set(re.findall(r"\b([a-z_]+)\s*(?:=~|!=|!~|=)\s*\"", rule["expr"]))
        used |= {label for clause in re.findall(r"\b(?:without|ignoring)\s*\(([^)]*)\)", rule["expr"])
                 for label in re.split(r"\s*,\s*", clause.strip())}
        used |= set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
    assert "endpoint" not in used, "the Operator's endpoint label is the port name; ours is api_endpoint"
    assert used <= EXPORTER_LABELS | {"job", "instance"}, used - EXPORTER_LABELS


# --- Alertmanager inhibition ----------------------------------------------------------------


def test_inhibit_rules_pass_amtool_check_config(tmp_path):
    inhibit = yaml.safe_load(INHIBIT_FILE.read_text())
    config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}], **inhibit}
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    amtool = require_tool("amtool", "prometheus-alertmanager")
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(inhibit['inhibit_rules'])} inhibit rules" in result.stdout


def test_inhibit_rules_name_real_alerts_and_their_labels():
    names = {rule["alert"] for rule in alert_rules()}
    inhibit = yaml.safe_load(INHIBIT_FILE.read_text())
    assert set(inhibit) == {"inhibit_rules"}
    for rule in inhibit["inhibit_rules"]:
        for side in ("source_matchers", "target_matchers"):
            (matcher,) = rule[side]
            match = re.fullmatch(r'alertname(=~|=)"([^"]+)"', matcher)
            assert match, matcher
            listed = set(match.group(2).split("|"))
            assert listed <= names, listed - names
        assert {"cluster", "namespace", "job", "instance"} <= set(rule["equal"])
        # An account's alert only silences the same account's alerts.
        sources = set(re.search(r'"([^"]+)"', rule["source_matchers"][0]).group(1).split("|"))
        if all(is_account_alert(name) for name in sources):
            assert "account" in rule["equal"], rule
    assert "inhibition" in runbook_anchors()


def is_account_alert(name: str) -> bool:
    (rule,) = [r for r in alert_rules() if r["alert"] == name]
    return "{{ $labels.account }}" in rule["annotations"]["summary"]
