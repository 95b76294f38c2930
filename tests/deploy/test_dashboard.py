"""Structure of the Grafana dashboard, after the rules of Grafana's dashboard-linter: a
datasource variable used everywhere; cluster/job/instance/account variables whose "All" selects
only this exporter's targets; every query filtered on them; counters only inside
rate()/increase(); rate and quantile panels at least two poll intervals wide; a title,
description and unit on every panel; and the panels an operator opens first."""

from __future__ import annotations

import re

import pytest

import yaml

from deploy_support import DASHBOARD_FILE, load_dashboard, promtool

DASHBOARD = load_dashboard()
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]  # rows only group panels
ROWS = [p for p in DASHBOARD["panels"] if p["type"] == "row"]
VARIABLES = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
ANNOTATIONS = [a for a in DASHBOARD["annotations"]["list"] if a.get("builtIn") != 1]
DATASOURCE_UIDS = {"${datasource}", "$datasource"}
# Twice the default 60s poll interval: a narrower rate() window holds zero or one poll.
MIN_INTERVAL_SECONDS = 120

# Every series the exporter exposes (the contract); anything else in a query is a typo.
EXPORTER_METRICS = {
    "smartlead_up",
    "smartlead_categories",
    "smartlead_category_info",
    "smartlead_category_created_timestamp_seconds",
    "smartlead_api_request_duration_seconds_bucket",
    "smartlead_api_request_duration_seconds_count",
    "smartlead_api_request_duration_seconds_sum",
    "smartlead_api_requests_total",
    "smartlead_api_request_failures_total",
    "smartlead_last_success_timestamp_seconds",
    "smartlead_api_rate_limit_limit",
    "smartlead_api_rate_limit_remaining",
    "smartlead_poll_consecutive_failures",
    "smartlead_category_replies",
    "smartlead_campaigns",
    "smartlead_campaign_info",
    "smartlead_campaign_emails",
    "smartlead_campaign_unique_leads",
    "smartlead_campaign_leads",
    "smartlead_campaign_interested_leads",
    "smartlead_mailbox_info",
    "smartlead_mailbox_smtp_up",
    "smartlead_mailbox_imap_up",
    "smartlead_mailbox_suspended",
    "smartlead_mailbox_warmup_blocked",
    "smartlead_mailbox_warmup_reputation_ratio",
    "smartlead_mailbox_daily_sent_emails",
    "smartlead_mailbox_daily_limit_emails",
    "smartlead_mailbox_campaigns",
    "smartlead_collector_interval_seconds",
    "smartlead_exporter_api_budget_calls",
    "smartlead_exporter_api_planned_calls",
}
# SmartLead's lifetime totals: gauges that fall when leads are deleted.
LIFETIME_GAUGES = {"smartlead_campaign_emails", "smartlead_campaign_unique_leads", "smartlead_campaign_leads",
                   "smartlead_campaign_interested_leads"}
# The campaigns collector's default interval: a window over its gauges holds two of its runs.
CAMPAIGNS_INTERVAL_SECONDS = 300
# Series of the exporter process or of the scrape, without an account label.
TARGET_METRICS = {
    "up",
    "scrape_duration_seconds",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "smartlead_exporter_build_info",
    "smartlead_exporter_config_last_reload_successful",
    "smartlead_exporter_shard_accounts",
}
COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")

SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
METRIC_TOKEN = re.compile(r"\b(smartlead_[a-z_]+|up|process_[a-z_]+|scrape_[a-z_]+|ALERTS)\b")
TARGET_FILTER = ['cluster=~"$cluster"', 'job=~"$job"', 'instance=~"$instance"']

TARGETS = [(panel["title"], panel, t) for panel in PANELS for t in panel.get("targets", [])]
EXPRESSIONS = [(title, t["expr"]) for title, _, t in TARGETS] + [(a["name"], a["expr"]) for a in ANNOTATIONS]


def target_id(item):
    return f"{item[0]}/{item[2]['refId']}"


def seconds(duration: str) -> int:
    value, unit = re.fullmatch(r"(\d+)([smh])", duration).groups()
    return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]


def test_dashboard_identity():
    assert DASHBOARD["uid"] == "smartlead-exporter"
    assert DASHBOARD["id"] is None
    assert DASHBOARD["schemaVersion"] >= 39
    assert DASHBOARD["title"]
    assert DASHBOARD["description"]
    assert "__inputs" not in DASHBOARD, "provisioning does not resolve ${DS_...} inputs"


def test_datasource_variable():
    ds = VARIABLES["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    assert ds["label"] == "Data Source"
    assert list(VARIABLES)[0] == "datasource"


@pytest.mark.parametrize(
    "name,label,metric,previous",
    [
        ("cluster", "Cluster", "smartlead_exporter_build_info", []),
        ("job", "Job", "smartlead_exporter_build_info", ["cluster"]),
        ("instance", "Instance", "smartlead_exporter_build_info", ["cluster", "job"]),
        ("account", "Account", "smartlead_up", ["cluster", "job", "instance"]),
    ],
)
def test_filter_variables(name, label, metric, previous):
    var = VARIABLES[name]
    assert var["type"] == "query"
    assert var["label"] == label
    assert var["description"]
    assert var["datasource"]["uid"] in DATASOURCE_UIDS
    assert var["multi"] is True
    assert var["includeAll"] is True
    query = var["query"] if isinstance(var["query"], str) else var["query"]["query"]
    assert query == var["definition"]
    assert query.startswith(f"label_values({metric}") and query.endswith(f", {name})")
    for prev in previous:  # chained: narrowing the cluster or job narrows the lists after it
        assert f'{prev}=~"${prev}"' in query


def test_all_selects_only_this_exporters_targets():
    # job and instance have no custom allValue: Grafana's "All" then expands to the values the
    # variable lists (derived from smartlead_exporter_build_info), never to every target.
    for name in ("job", "instance"):
        assert VARIABLES[name].get("allValue") in (None, ""), name
    # account and cluster may match anything: every query also selects job and instance.
    assert VARIABLES["account"]["allValue"] == ".+"
    # "All" clusters must match series that have no cluster label at all.
    assert VARIABLES["cluster"]["allValue"] == ".*"
    assert VARIABLES["cluster"]["hide"] == 2, "cluster is hidden unless you have one"


def test_panels_have_title_description_unit_and_the_datasource_variable():
    for panel in PANELS:
        title = panel.get("title", "")
        assert title.strip(), f"panel {panel['id']} has no title"
        assert panel.get("description", "").strip(), f"{title}: no description"
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit, f"{title}: no unit"
        assert unit != "reqps", f"{title}: a poll a minute reads 0.017 reqps; show per minute"
        assert panel["datasource"]["uid"] in DATASOURCE_UIDS, title
        assert panel.get("targets"), f"{title}: no queries"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in DATASOURCE_UIDS, title
    for row in ROWS:
        assert row["title"].strip()
    titles = [p["title"] for p in PANELS]
    assert len(titles) == len(set(titles)), "panel titles are unique"


def test_heatmap_axis_has_a_unit():
    heatmaps = [p for p in PANELS if p["type"] == "heatmap"]
    assert heatmaps
    for panel in heatmaps:
        assert panel["options"]["yAxis"]["unit"] == "s"
        assert panel["options"]["calculate"] is False  # Prometheus buckets, not Grafana's
        assert all(t.get("format") == "heatmap" for t in panel["targets"])


def test_no_row_is_collapsed_over_panels():
    # A collapsed row keeps its panels inside it, where neither these checks nor the end-to-end
    # queries (test_e2e.py, test_victoriametrics.py) would read them.
    for row in ROWS:
        assert row.get("collapsed") is False and not row.get("panels"), row["title"]


def test_panel_ids_unique_and_layout_does_not_overlap():
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))


@pytest.mark.parametrize("item", EXPRESSIONS, ids=lambda i: i[0])
def test_every_selector_filters_on_cluster_job_instance_and_account(item):
    title, expr = item
    selectors = SELECTOR.findall(expr)
    assert selectors, f"{title}: no selector in {expr}"
    # Every metric name in the query carries a label selector (nothing unfiltered).
    assert len(METRIC_TOKEN.findall(expr)) == len(selectors), f"{title}: unfiltered metric in {expr}"
    for metric, matchers in selectors:
        if metric == "ALERTS":
            # Alerts of the selected targets and accounts, and those that have no target
            # (SmartLeadExporterAbsent) or no account (the exporter's own).
            assert 'alertname=~"SmartLead.*"' in matchers, title
            for label in ("cluster", "job", "instance", "account"):
                assert f'{label}=~"${label}|"' in matchers, f"{title}: ALERTS not filtered on ${label}"
            continue
        assert metric in EXPORTER_METRICS | TARGET_METRICS, f"{title}: unknown metric {metric}"
        for matcher in TARGET_FILTER:
            assert matcher in matchers, f"{title}: {metric} lacks {matcher}"
        if metric in EXPORTER_METRICS:
            assert 'account=~"$account"' in matchers, f"{title}: {metric} not filtered on $account"


@pytest.mark.parametrize("item", EXPRESSIONS, ids=lambda i: i[0])
def test_no_operator_label_name_is_ours(item):
    # The Operator's `endpoint` target label is the ServiceMonitor's port name; the API
    # endpoint is `api_endpoint`.
    title, expr = item
    assert not re.search(r"(?<![a-z_])endpoint\b", expr), f"{title}: {expr}"


@pytest.mark.parametrize("item", TARGETS, ids=target_id)
def test_counters_only_inside_rate_or_increase(item):
    title, panel, target = item
    expr = target["expr"]
    for match in SELECTOR.finditer(expr):
        if not match.group(1).endswith(COUNTER_SUFFIXES):
            continue
        before = expr[: match.start()]
        after = expr[match.end():]
        assert re.search(r"\b(rate|increase)\(\s*$", before), f"{title}: {match.group(1)} not in rate()/increase()"
        if target.get("instant") and panel["type"] == "table":
            # A table column over a fixed window that its header names ("Failures (1h)").
            assert after.startswith("[1h])"), f"{title}: {match.group(1)}"
        else:
            assert after.startswith("[$__rate_interval])"), f"{title}: {match.group(1)} not over $__rate_interval"


@pytest.mark.parametrize("item", TARGETS, ids=target_id)
def test_lifetime_gauges_grow_by_delta_or_deriv_never_below_zero(item):
    # The campaigns' totals fall when leads are deleted: increase() and rate() would read a fall
    # as a counter reset and count the whole total again. Over a window they go through delta()
    # or deriv(), clamped at 0, and the panel says why.
    title, panel, target = item
    expr = target["expr"]
    for match in SELECTOR.finditer(expr):
        if match.group(1) not in LIFETIME_GAUGES:
            continue
        before = expr[: match.start()]
        after = expr[match.end():]
        assert not re.search(r"\b(rate|irate|increase)\(\s*$", before), f"{title}: {match.group(1)} as a counter"
        if after.startswith("["):
            assert re.search(r"\bclamp_min\(\s*(delta|deriv)\(\s*$", before), f"{title}: {match.group(1)} over a window"
            assert re.match(r"\[[^]]+\]\), 0\)", after), f"{title}: {match.group(1)} not clamped at 0"
            assert "gauge" in panel["description"] and "increase()" in panel["description"], title
            if "$__rate_interval" in after:
                assert seconds(panel["interval"]) >= 2 * CAMPAIGNS_INTERVAL_SECONDS, title


def test_rate_and_quantile_panels_span_at_least_two_polls():
    for panel in PANELS:
        exprs = [t["expr"] for t in panel["targets"]]
        if any("$__rate_interval" in e for e in exprs):
            assert seconds(panel.get("interval", "0s")) >= MIN_INTERVAL_SECONDS, panel["title"]


def test_legends_name_the_api_endpoint_not_the_operators_endpoint():
    for _, panel, target in TARGETS:
        assert "{{endpoint}}" not in target.get("legendFormat", ""), panel["title"]


def test_per_account_series_are_not_stacked():
    for panel in PANELS:
        if panel["type"] == "timeseries" and "per account" in panel["description"].lower():
            stacking = panel["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"]
            assert stacking == "none", panel["title"]


def panel_using(predicate):
    return [p["title"] for p in PANELS if any(predicate(p, t) for t in p["targets"])]


@pytest.mark.parametrize(
    "what,predicate",
    [
        ("exporter up", lambda p, t: t["expr"].startswith("up{")),
        ("accounts failing", lambda p, t: "smartlead_up{" in t["expr"] and "== 0" in t["expr"]),
        ("categories by sentiment", lambda p, t: "by (account, sentiment) (smartlead_categories{" in t["expr"]),
        ("categories by origin", lambda p, t: "by (account, origin) (smartlead_categories{" in t["expr"]),
        ("category changes", lambda p, t: "changes(smartlead_categories{" in t["expr"]),
        ("category table", lambda p, t: p["type"] == "table" and t["expr"].startswith("smartlead_category_info{")),
        ("categories created", lambda p, t: p["type"] != "table" and "smartlead_category_created_timestamp_seconds" in t["expr"]),
        ("latency p50", lambda p, t: t["expr"].startswith("histogram_quantile(0.5,")),
        ("latency p95", lambda p, t: t["expr"].startswith("histogram_quantile(0.95,")),
        ("latency p99", lambda p, t: t["expr"].startswith("histogram_quantile(0.99,")),
        ("latency heatmap", lambda p, t: p["type"] == "heatmap" and "_bucket{" in t["expr"]),
        ("responses by code per minute",
         lambda p, t: "by (account, code) (rate(smartlead_api_requests_total{" in t["expr"] and t["expr"].endswith("* 60")
         and p["fieldConfig"]["defaults"]["unit"] == "opm"),
        ("failures by reason per minute",
         lambda p, t: "by (account, reason) (rate(smartlead_api_request_failures_total{" in t["expr"] and t["expr"].endswith("* 60")
         and p["fieldConfig"]["defaults"]["unit"] == "opm"),
        ("rate-limit budget", lambda p, t: "smartlead_api_rate_limit_remaining{" in t["expr"]),
        ("firing alerts", lambda p, t: t["expr"].startswith('ALERTS{alertname=~"SmartLead.*", alertstate="firing"')),
        ("scrape duration", lambda p, t: t["expr"].startswith("scrape_duration_seconds{")),
        ("process memory", lambda p, t: t["expr"].startswith("process_resident_memory_bytes{")),
        ("process CPU", lambda p, t: t["expr"].startswith("rate(process_cpu_seconds_total{")),
        ("build version", lambda p, t: "smartlead_exporter_build_info{" in t["expr"] and "{{version}}" in t["legendFormat"]),
        ("config reload", lambda p, t: "smartlead_exporter_config_last_reload_successful{" in t["expr"]),
        ("accounts per shard", lambda p, t: "smartlead_exporter_shard_accounts{" in t["expr"]),
        ("replies by category", lambda p, t: "by (account, category, sentiment) (smartlead_category_replies{" in t["expr"]),
        ("replies by sentiment", lambda p, t: "by (account, sentiment) (smartlead_category_replies{" in t["expr"]),
        ("campaigns by status", lambda p, t: "by (status) (smartlead_campaigns{" in t["expr"]),
        ("campaign table", lambda p, t: p["type"] == "table" and "smartlead_campaign_info{" in t["expr"]),
        ("campaign funnel over time",
         lambda p, t: p["type"] == "timeseries" and "by (account, event)" in t["expr"] and "smartlead_campaign_emails{" in t["expr"]),
        ("leads by state", lambda p, t: "by (account, state) (smartlead_campaign_leads{" in t["expr"]),
        ("mailbox table", lambda p, t: p["type"] == "table" and "smartlead_mailbox_info{" in t["expr"]),
        ("mailboxes unhealthy", lambda p, t: p["type"] == "stat" and "smartlead_mailbox_smtp_up{" in t["expr"]),
        ("daily sent against limit", lambda p, t: "smartlead_mailbox_daily_limit_emails{" in t["expr"] and p["type"] == "timeseries"),
        ("warmup reputation", lambda p, t: p["type"] == "timeseries" and t["expr"].startswith("smartlead_mailbox_warmup_reputation_ratio{")),
        ("planned against budget",
         lambda p, t: "smartlead_exporter_api_planned_calls{" in t["expr"] and "/ smartlead_exporter_api_budget_calls{" in t["expr"]),
        ("intervals in force", lambda p, t: t["expr"].startswith("smartlead_collector_interval_seconds{")),
        ("calls made against planned",
         lambda p, t: "smartlead_exporter_api_planned_calls{" in t["expr"] and 'window="minute"' in t["expr"]
         and any("rate(smartlead_api_requests_total{" in o["expr"] for o in p["targets"])),
        ("exporters per account", lambda p, t: t["expr"].startswith("count by (account) (smartlead_up{")),
    ],
)
def test_required_panel_exists(what, predicate):
    assert panel_using(predicate), f"no panel shows {what}"


def test_accounts_table_heads_the_dashboard_failing_first():
    first = min(PANELS, key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    assert first["title"] == "Accounts" and first["type"] == "table"
    exprs = " ".join(t["expr"] for t in first["targets"])
    for signal in ("smartlead_up{", "smartlead_poll_consecutive_failures{", "time() - max without () (smartlead_last_success_timestamp_seconds{",
                   "smartlead_categories{", "increase(smartlead_api_request_failures_total{", "smartlead_api_rate_limit_remaining{"):
        assert signal in exprs, signal
    assert all(t.get("instant") and t.get("format") == "table" for t in first["targets"])
    (sort,) = [t for t in first["transformations"] if t["id"] == "sortBy"]
    assert sort["options"]["sort"] == [{"field": "Failed in a row", "desc": True}]
    renamed = next(t for t in first["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    assert renamed["Value #B"] == "Failed in a row"


def panel(title: str) -> dict:
    (found,) = [p for p in PANELS if p["title"] == title]
    return found


@pytest.mark.parametrize("title", ["Replies by category (30 days)", "Replies by sentiment (30 days)"])
def test_replies_are_coloured_by_sentiment(title):
    # Each sentiment the exporter exports has its colour, matched on the end of the legend.
    colours = {}
    for override in panel(title)["fieldConfig"]["overrides"]:
        assert override["matcher"]["id"] == "byRegexp"
        sentiment = re.search(r"(\w+)\$$", override["matcher"]["options"]).group(1)
        (prop,) = override["properties"]
        colours[sentiment] = prop["value"]["fixedColor"]
    assert colours == {"positive": "green", "negative": "red", "neutral": "yellow", "none": "text", "other": "purple"}
    (target,) = panel(title)["targets"]
    assert target["legendFormat"].endswith("{{sentiment}}")


def test_tables_list_the_worst_first():
    for title, field in [("Mailboxes, unhealthy first", "Problems"), ("Campaigns", "Bounce rate (24h)")]:
        (sort,) = [t for t in panel(title)["transformations"] if t["id"] == "sortBy"]
        assert sort["options"]["sort"] == [{"field": field, "desc": True}], title
        renamed = next(t for t in panel(title)["transformations"] if t["id"] == "organize")["options"]["renameByName"]
        assert field in renamed.values(), title
    problems = next(t["expr"] for t in panel("Mailboxes, unhealthy first")["targets"] if t["refId"] == "B")
    for signal in ("1 - smartlead_mailbox_smtp_up{", "1 - smartlead_mailbox_imap_up{", "smartlead_mailbox_warmup_blocked{",
                   "smartlead_mailbox_suspended{", "smartlead_mailbox_warmup_reputation_ratio{"):
        assert signal in problems, signal
    # A mailbox without a reputation still has a count of its problems.
    assert "< bool 0.8) or smartlead_mailbox_smtp_up{" in problems


def test_the_intervals_panel_states_the_configured_defaults():
    description = panel("Collector intervals in force")["description"]
    for default in ("categories 60s", "replies 15m", "campaigns 5m", "mailboxes 5m"):
        assert default in description, default
    assert panel("Collector intervals in force")["fieldConfig"]["defaults"]["unit"] == "s"


def test_dashboard_is_read_only_as_provisioned():
    # Grafana's dashboard-linter: a provisioned dashboard is not editable (changes made in the
    # UI would be lost at the next provisioning).
    assert DASHBOARD["editable"] is False


def test_restart_annotation_marks_new_pods_and_restarts(tmp_path):
    # A rollout or an eviction starts a new pod, whose series is new: changes() of the old
    # series never shows it. The annotation marks every process that started within the last
    # five minutes, new series included. Evaluated by promtool on: a pod restarted in place at
    # 10m, replaced by a new pod at 20m.
    (restarts,) = [a for a in ANNOTATIONS if a["name"] == "Exporter restarts"]
    expr = restarts["expr"].replace("$cluster", ".*").replace("$job", ".*").replace("$instance", ".*")
    old = 'process_start_time_seconds{job="smartlead-exporter",instance="10.0.1.7:10072",pod="a"}'
    new = 'process_start_time_seconds{job="smartlead-exporter",instance="10.0.1.8:10072",pod="b"}'
    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": old, "values": "0x9 600x9 stale"}, {"series": new, "values": "_x20 1200x20"}],
        "promql_expr_test": [
            {"expr": expr, "eval_time": "5m", "exp_samples": []},
            {"expr": expr, "eval_time": "11m", "exp_samples": [{"labels": old, "value": 600}]},
            {"expr": expr, "eval_time": "17m", "exp_samples": []},
            {"expr": expr, "eval_time": "21m", "exp_samples": [{"labels": new, "value": 1200}]},
            {"expr": expr, "eval_time": "30m", "exp_samples": []},
        ]}]}
    path = tmp_path / "annotation.test.yml"
    path.write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert restarts["step"] == "1m" and restarts["useValueForTime"] is False


def test_annotations_mark_restarts_and_version_changes():
    exprs = {a["name"]: a["expr"] for a in ANNOTATIONS}
    assert "process_start_time_seconds{" in exprs["Exporter restarts"]
    assert "smartlead_exporter_build_info{" in exprs["Version changes"] and "offset" in exprs["Version changes"]
    for a in ANNOTATIONS:
        assert a["datasource"]["uid"] in DATASOURCE_UIDS and a["enable"] is True


def test_links_to_readme_and_runbook():
    urls = {link["title"]: link["url"] for link in DASHBOARD["links"]}
    assert urls["README"].endswith("#readme")
    assert urls["Runbook"].endswith("/docs/runbook.md")


def test_linter_exceptions_are_the_deliberate_ones():
    # dashboards/.lint: Grafana's dashboard-linter wants allValue '.+' on job and instance,
    # which would make All select every target in Prometheus; and the alerts panel matches "$job|".
    lint = yaml.safe_load((DASHBOARD_FILE.parent / ".lint").read_text())
    assert set(lint) == {"exclusions"}
    exclusions = lint["exclusions"]
    assert set(exclusions) == {"template-job-rule", "template-instance-rule", "target-job-rule", "target-instance-rule"}
    for rule in exclusions.values():
        assert rule["reason"].strip()
    for name in ("target-job-rule", "target-instance-rule"):
        assert exclusions[name]["entries"] == [{"panel": "Firing alerts"}]
    assert "Firing alerts" in {p["title"] for p in PANELS}
