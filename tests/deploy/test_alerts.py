"""The alert rules: promtool accepts them, their unit tests pass (and are what
alert_scenarios.py generates), every alert is tested both firing and staying silent, links its
runbook section, keeps the target labels (aggregating `without`), selects the exporter's job
by one exact matcher, and the shipped Alertmanager inhibition rules are valid and name real
alerts. scripts/render-rules.py renders the rules for another job and with shorter durations."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

import alert_scenarios
from deploy_support import (
    INHIBIT_FILE,
    JOB_MATCHER,
    REPO,
    RULES_FILE,
    RULES_TEST_FILE,
    RUNBOOK_BASE,
    RUNBOOK_FILE,
    alert_rules,
    load_rules,
    promtool,
    recording_rules,
    require_tool,
)

# Series every target has, whatever exporter it is: they need the job matcher.
GENERIC_SERIES = re.compile(r"\b(up|process_[a-z_]+)\{")
# Labels the Prometheus Operator sets on every target; none of ours may be called that.
OPERATOR_TARGET_LABELS = {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}
# Every label the exporter itself puts on its series (the metric contract).
EXPORTER_LABELS = {"account", "collector", "sentiment", "origin", "id", "name", "api_endpoint", "code", "reason",
                   "le", "version", "revision", "rustversion", "shard", "total_shards", "category", "status",
                   "campaign_id", "campaign", "client_id", "event", "state", "mailbox_id", "email", "type",
                   "warmup_status", "window"}
# Labels the rules themselves add to an alert (SmartLeadMailboxDisconnected's protocol).
RULE_LABELS = {"protocol"}
# The alerts about one account: each names it, and each is tested beside a healthy account.
ACCOUNT_ALERTS = set(alert_scenarios.ACCOUNT_ALERTS)
RENDER_SCRIPT = REPO / "scripts" / "render-rules.py"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    return {github_anchor(m) for m in re.findall(r"^#{2,3} (.+)$", RUNBOOK_FILE.read_text(), re.M)}


def test_rules_file_passes_promtool_check_rules():
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules()) + len(recording_rules())} rules found" in result.stdout


def test_recording_rules_follow_the_naming_convention_and_are_used():
    # level:metric:operations, and each one read by an alert (or another recording rule).
    for rule in recording_rules():
        assert re.fullmatch(r"[a-z_]+:smartlead_[a-z_]+:[a-z0-9_]+", rule["record"]), rule["record"]
        assert any(rule["record"] in r["expr"] for r in alert_rules() + recording_rules() if r is not rule), rule["record"]


def test_rules_unit_test_file_is_generated_from_the_scenarios():
    assert RULES_TEST_FILE.read_text() == alert_scenarios.unit_test_text(), \
        "alerts/smartlead-exporter.rules.test.yml differs: run target/venv/bin/python tests/deploy/alert_scenarios.py --write"


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
    account_alerts = {r["alert"] for r in alert_rules() if is_account_alert(r["alert"])}
    assert account_alerts == ACCOUNT_ALERTS
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


def runbook_queries() -> list[str]:
    """Every PromQL query of the runbook's ```promql blocks: one a line, a line that starts with
    blanks continuing the one before."""
    queries: list[str] = []
    for block in re.findall(r"```promql\n(.*?)```", RUNBOOK_FILE.read_text(), re.S):
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and queries:
                queries[-1] += "\n" + line
            elif line.strip():
                queries.append(line)
    return queries


def test_every_runbook_query_parses(tmp_path):
    # promtool parses each query as a recording rule's expression; <account> and the like are
    # placeholders inside label values.
    queries = runbook_queries()
    assert len(queries) > 40
    rules = {"groups": [{"name": "runbook", "rules": [{"record": f"runbook:query{i}:parses", "expr": q}
                                                      for i, q in enumerate(queries)]}]}
    path = tmp_path / "runbook.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_account_alerts_name_the_account_in_their_summary():
    for rule in alert_rules():
        account_series = re.search(r"\b(account[a-z_]*:|smartlead_(collector|api|exporter_api|mailbox|campaign)_|smartlead_up\b)",
                                   rule["expr"])
        assert bool(account_series) == (rule["alert"] in ACCOUNT_ALERTS), rule["alert"]
        if rule["alert"] in ACCOUNT_ALERTS:
            assert "{{ $labels.account }}" in rule["annotations"]["summary"], rule["alert"]
            assert rule.get("keep_firing_for") == "10m", rule["alert"]


def test_aggregations_keep_the_target_labels():
    # `by (...)` would drop namespace, pod, cluster and anything else the scrape adds.
    for rule in alert_rules() + recording_rules():
        name = rule.get("alert") or rule["record"]
        assert not re.search(r"\bby\s*\(", rule["expr"]), name
        assert not re.search(r"\bon\s*\(", rule["expr"]), name
        for agg in re.findall(r"\b(sum|avg|min|max|count)\s*(without\s*\([^)]*\))?\s*\(", rule["expr"]):
            assert agg[1], f"{name}: {agg[0]} without a without (...) clause"
    # The one alert that aggregates target labels away drops only what changes from one pod
    # to the next.
    (restarting,) = [r for r in alert_rules() if r["alert"] == "SmartLeadExporterRestarting"]
    assert "sum without (instance, pod) (" in restarting["expr"]


def test_job_matcher_has_one_form_and_only_generic_series_use_it():
    # `up` and `process_*` exist for every target, so they are narrowed to the exporter's job
    # by exactly JOB_MATCHER, an exact match (the chart and scripts/render-rules.py --job
    # replace that string); smartlead_* series are unique to the exporter and work whatever
    # the job is called.
    assert "=~" not in JOB_MATCHER
    for rule in alert_rules() + recording_rules():
        expr = rule["expr"]
        generic = GENERIC_SERIES.findall(expr.replace("smartlead_up", ""))
        assert expr.count("job=") == len(generic), rule["alert"]
        for match in re.finditer(r"\b(up|process_[a-z_]+)\{([^}]*)\}", expr.replace("smartlead_up", "")):
            assert match.group(2) == JOB_MATCHER, rule.get("alert")


def test_no_label_of_ours_is_an_operator_target_label():
    assert (EXPORTER_LABELS | RULE_LABELS) & OPERATOR_TARGET_LABELS == set()
    used = set()
    for rule in alert_rules() + recording_rules():
        used |= set(re.findall(r"\b([a-z_]+)\s*(?:=~|!=|!~|=)\s*\"", rule["expr"]))
        used |= {label for clause in re.findall(r"\b(?:without|ignoring)\s*\(([^)]*)\)", rule["expr"])
                 for label in re.split(r"\s*,\s*", clause.strip())}
        used |= set(re.findall(r"\$labels\.(\w+)", " ".join(rule.get("annotations", {}).values())))
        # label_replace(vector, "destination", "replacement", "source", "regex")
        used |= {m for pair in re.findall(r'"(\w+)",\s*"[^"]*",\s*"(\w*)",', rule["expr"]) for m in pair if m}
    assert "endpoint" not in used, "the Operator's endpoint label is the port name; ours is api_endpoint"
    # job and instance name the target; instance and pod are what SmartLeadExporterRestarting
    # aggregates away.
    assert used <= EXPORTER_LABELS | RULE_LABELS | {"job", "instance", "pod"}, used - EXPORTER_LABELS - RULE_LABELS


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
        # The target's labels; SmartLeadExporterRestarting counts the starts of a job's pods
        # together, so it has no instance.
        assert {"cluster", "namespace", "job"} <= set(rule["equal"])
        sources = set(re.search(r'"([^"]+)"', rule["source_matchers"][0]).group(1).split("|"))
        assert ("instance" in rule["equal"]) == (sources != {"SmartLeadExporterRestarting"}), rule
        # An account's alert only silences the same account's alerts.
        sources = set(re.search(r'"([^"]+)"', rule["source_matchers"][0]).group(1).split("|"))
        if all(is_account_alert(name) for name in sources):
            assert "account" in rule["equal"], rule
    assert "inhibition" in runbook_anchors()


def is_account_alert(name: str) -> bool:
    (rule,) = [r for r in alert_rules() if r["alert"] == name]
    return "{{ $labels.account }}" in rule["annotations"]["summary"]


# --- scripts/render-rules.py ------------------------------------------------------------------


def render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RENDER_SCRIPT), *args], capture_output=True, text=True, timeout=30)


def test_render_rules_without_options_is_the_file_itself():
    result = render()
    assert result.returncode == 0, result.stderr
    assert result.stdout == RULES_FILE.read_text()


def test_render_rules_sets_the_exact_job(tmp_path):
    result = render("--job=smartlead")
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    exprs = [r["expr"] for g in rendered["groups"] for r in g["rules"]]
    assert JOB_MATCHER not in result.stdout
    down = [r for g in rendered["groups"] for r in g["rules"] if r.get("alert") == "SmartLeadExporterDown"][0]
    assert down["expr"] == 'up{job="smartlead"} == 0'
    assert sum(e.count('job="smartlead"') for e in exprs) == sum(e.count(JOB_MATCHER) for e in
                                                                  [r["expr"] for r in alert_rules()])
    # Quotes in the job are escaped for PromQL, and the result is a valid rules file.
    result = render('--job=a"b')
    (tmp_path / "r.yml").write_text(result.stdout)
    assert 'up{job="a\\"b"} == 0' in result.stdout
    assert promtool("check", "rules", str(tmp_path / "r.yml")).returncode == 0


def test_render_rules_divides_every_duration(tmp_path):
    result = render("--time-scale=60")
    assert result.returncode == 0, result.stderr
    scaled = {r.get("alert") or r["record"]: r for g in yaml.safe_load(result.stdout)["groups"] for r in g["rules"]}
    for rule in alert_rules() + recording_rules():
        name = rule.get("alert") or rule["record"]
        for key in ("for", "keep_firing_for"):
            if key in rule:
                assert alert_scenarios_seconds(scaled[name][key]) * 60 == alert_scenarios_seconds(rule[key]), name
        before = re.findall(r"\[(\w+)\]|offset (\w+)", rule["expr"])
        after = re.findall(r"\[(\w+)\]|offset (\w+)", scaled[name]["expr"])
        assert len(before) == len(after) > 0 or not before, name
        for b, a in zip(before, after):
            assert alert_scenarios_seconds(a[0] or a[1]) * 60 == alert_scenarios_seconds(b[0] or b[1]), name
        # Nothing else changes.
        assert re.sub(r"\[\w+\]|offset \w+", "", scaled[name]["expr"]) == re.sub(r"\[\w+\]|offset \w+", "", rule["expr"])
    (tmp_path / "r.yml").write_text(result.stdout)
    assert promtool("check", "rules", str(tmp_path / "r.yml")).returncode == 0
    # Every duration literal of the rules is one the script scales: none is left in minutes or
    # hours once divided by 60.
    assert not re.search(r"\[\d+[mh]\]|offset \d+[mh]|for: \d+[mh]", result.stdout)


def test_render_rules_refuses_what_it_cannot_do():
    result = render("--time-scale=7")
    assert result.returncode == 2 and "not a whole number of milliseconds" in result.stderr
    assert render("--time-scale=0").returncode == 2
    assert render("--job=").returncode == 2


def alert_scenarios_seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", duration))
