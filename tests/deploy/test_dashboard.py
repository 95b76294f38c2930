"""Structure of the Grafana dashboard, after the rules of Grafana's dashboard-linter:
a datasource variable used everywhere, job/instance/account variables, every query filtered
on them, counters only inside rate()/increase() over $__rate_interval, and a title,
description and unit on every panel."""

from __future__ import annotations

import re

import pytest

from deploy_support import load_dashboard

DASHBOARD = load_dashboard()
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]  # rows only group panels
ROWS = [p for p in DASHBOARD["panels"] if p["type"] == "row"]
VARIABLES = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
DATASOURCE_UIDS = {"${datasource}", "$datasource"}

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
    "smartlead_exporter_build_info",
}
# Series without an account label: only job and instance can be filtered.
NO_ACCOUNT_LABEL = {"up", "smartlead_exporter_build_info"}
COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")

SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
METRIC_TOKEN = re.compile(r"\b(smartlead_[a-z_]+|up|process_[a-z_]+)\b")

TARGETS = [(panel["title"], t) for panel in PANELS for t in panel.get("targets", [])]


def target_id(item):
    return f"{item[0]}/{item[1]['refId']}"


def test_dashboard_identity():
    assert DASHBOARD["uid"] == "smartlead-exporter"
    assert DASHBOARD["id"] is None
    assert DASHBOARD["schemaVersion"] >= 39
    assert DASHBOARD["title"]
    assert "__inputs" not in DASHBOARD, "provisioning does not resolve ${DS_...} inputs"


def test_datasource_variable():
    ds = VARIABLES["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    assert ds["label"] == "Data Source"


@pytest.mark.parametrize(
    "name,label,metric,previous",
    [
        ("job", "Job", "smartlead_exporter_build_info", []),
        ("instance", "Instance", "smartlead_exporter_build_info", ["job"]),
        ("account", "Account", "smartlead_up", ["job", "instance"]),
    ],
)
def test_filter_variables(name, label, metric, previous):
    var = VARIABLES[name]
    assert var["type"] == "query"
    assert var["label"] == label
    assert var["datasource"]["uid"] in DATASOURCE_UIDS
    assert var["multi"] is True
    assert var["includeAll"] is True
    assert var["allValue"] == ".+"
    query = var["query"] if isinstance(var["query"], str) else var["query"]["query"]
    assert query.startswith(f"label_values({metric}") and query.endswith(f", {name})")
    for prev in previous:  # chained: narrowing job narrows the instance and account lists
        assert f'{prev}=~"${prev}"' in query


def test_panels_have_title_description_unit_and_the_datasource_variable():
    for panel in PANELS:
        title = panel.get("title", "")
        assert title.strip(), f"panel {panel['id']} has no title"
        assert panel.get("description", "").strip(), f"{title}: no description"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title}: no unit"
        assert panel["datasource"]["uid"] in DATASOURCE_UIDS, title
        assert panel.get("targets"), f"{title}: no queries"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in DATASOURCE_UIDS, title
    for row in ROWS:
        assert row["title"].strip()


def test_heatmap_axis_has_a_unit():
    heatmaps = [p for p in PANELS if p["type"] == "heatmap"]
    assert heatmaps
    for panel in heatmaps:
        assert panel["options"]["yAxis"]["unit"] == "s"
        assert panel["options"]["calculate"] is False  # Prometheus buckets, not Grafana's
        assert all(t.get("format") == "heatmap" for t in panel["targets"])


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


@pytest.mark.parametrize("item", TARGETS, ids=target_id)
def test_every_selector_filters_on_job_instance_and_account(item):
    title, target = item
    expr = target["expr"]
    selectors = SELECTOR.findall(expr)
    assert selectors, f"{title}: no selector in {expr}"
    # Every metric name in the query carries a label selector (nothing unfiltered).
    assert len(METRIC_TOKEN.findall(expr)) == len(selectors), f"{title}: unfiltered metric in {expr}"
    for metric, matchers in selectors:
        assert metric in EXPORTER_METRICS | NO_ACCOUNT_LABEL, f"{title}: unknown metric {metric}"
        assert 'job=~"$job"' in matchers, f"{title}: {metric} not filtered on $job"
        assert 'instance=~"$instance"' in matchers, f"{title}: {metric} not filtered on $instance"
        if metric not in NO_ACCOUNT_LABEL:
            assert 'account=~"$account"' in matchers, f"{title}: {metric} not filtered on $account"


@pytest.mark.parametrize("item", TARGETS, ids=target_id)
def test_counters_only_inside_rate_or_increase_over_rate_interval(item):
    title, target = item
    expr = target["expr"]
    for match in SELECTOR.finditer(expr):
        if not match.group(1).endswith(COUNTER_SUFFIXES):
            continue
        before = expr[: match.start()]
        after = expr[match.end():]
        assert re.search(r"\b(rate|increase)\(\s*$", before), f"{title}: {match.group(1)} not in rate()/increase()"
        assert after.startswith("[$__rate_interval])"), f"{title}: {match.group(1)} not over $__rate_interval"


def panel_using(predicate):
    return [p["title"] for p in PANELS if any(predicate(p, t["expr"]) for t in p["targets"])]


@pytest.mark.parametrize(
    "what,predicate",
    [
        ("exporter up", lambda p, e: e.startswith("up{")),
        ("data freshness", lambda p, e: "time() - smartlead_last_success_timestamp_seconds" in e),
        ("categories by sentiment", lambda p, e: "by (account, sentiment) (smartlead_categories{" in e),
        ("categories by origin", lambda p, e: "by (account, origin) (smartlead_categories{" in e),
        ("category table", lambda p, e: p["type"] == "table" and e.startswith("smartlead_category_info{")),
        ("categories created", lambda p, e: p["type"] != "table" and "smartlead_category_created_timestamp_seconds" in e),
        ("latency p50", lambda p, e: e.startswith("histogram_quantile(0.5,")),
        ("latency p95", lambda p, e: e.startswith("histogram_quantile(0.95,")),
        ("latency p99", lambda p, e: e.startswith("histogram_quantile(0.99,")),
        ("latency heatmap", lambda p, e: p["type"] == "heatmap" and "_bucket{" in e),
        ("responses by code", lambda p, e: "by (account, code) (rate(smartlead_api_requests_total{" in e),
        ("failures by reason", lambda p, e: "by (account, reason) (rate(smartlead_api_request_failures_total{" in e),
        ("rate-limit budget", lambda p, e: "smartlead_api_rate_limit_remaining{" in e),
    ],
)
def test_required_panel_exists(what, predicate):
    assert panel_using(predicate), f"no panel shows {what}"
