"""The chart's values.schema.json accepts what the exporter accepts and refuses what it refuses.

One list of values, each checked twice: by the Helm engine against the schema (a render with
the value) and by the real exporter binary with --config.check (the value as the flag, the
accounts file's setting or the web config the chart passes it to). The two verdicts must agree,
and match the list. Ranges (a poll interval between 1s and 24h...) are the exporter's alone:
the list holds values inside every range, so that only the syntax is compared.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import helm_python as helm
import pytest
import yaml

import test_chart as chart
from deploy_support import exporter_binary

# Durations between 61s and 10m: inside the range of every duration setting (a timeout up to
# 10m, a stale-after and a maximum backoff above the default 60s interval).
DURATIONS = {
    "accepted": ["90s", "2m", "2min", "1m 30s", "1m30s", "2 min", "1.5m", "120sec", "3mins", "4minutes", "2minute",
                 " 2m ", "1min 30sec"],
    "refused": ["often", "60", "1H", "30S", "1m30", "1h-30m", "-2m", "1m, 30s", "PT2M", "2m ago", "2 m x"],
}
# Sizes between 1KiB and 1GiB, the exporter's bounds.
SIZES = {
    "accepted": ["16MiB", "16Mi", "16M", "16mib", "16 MiB", "16mb", "16777216", "1.5MiB", "16_000_000", "2048KiB",
                 "512k", "16m", "1GB"],
    "refused": ["sixteen", "16 megabytes", "16MiB/s", "-1MiB", "16Q", "MiB", "16 MiB please"],
}
# Campaign statuses: letters and '_', at most 32, case and surrounding blanks as they come.
STATUSES = {
    "accepted": ["ACTIVE", "paused", "Stopped", " COMPLETED ", "CUSTOM_STATUS", "A" * 32],
    "refused": ["in progress", "x-y", "1", "", "A" * 33, "ÄCTIVE"],
}
# The key's budget: whole calls per minute (1 to 300) and per hour (up to 18,000; at least the
# 60 an hour the categories collector takes at its default minute, which the exporter alone
# checks).
CALLS_PER_MINUTE = {"accepted": [1, 20, 300], "refused": [0, 301, -1, 20.5]}
CALLS_PER_HOUR = {"accepted": [60, 500, 18000], "refused": [0, 18001, -5, 100.5]}
# Hosts the keys may be sent to: a name or an address, without scheme, port or path.
HOSTS = {
    "accepted": ["example.com", "EXAMPLE.com", "1.2.3.4", "[::1]", "smartlead.example.internal", "*.smartlead.ai"],
    "refused": ["https://a.example", "a.example/x", "a b", "", "a.example:443"],
}
# A collector's `enabled`, in the accounts file.
ENABLED = {"accepted": [True, False], "refused": ["yes", 1]}
# Top-level keys of the exporter-toolkit web config.
WEB_CONFIG_KEYS = {
    "accepted": [{"rate_limit": {"interval": "1s", "burst": 10}},
                 {"http_server_config": {"headers": {"X-Frame-Options": "deny"}}},
                 {"basic_auth_users": {"prometheus": "$2y$10$" + "a" * 53}}],
    "refused": [{"tls_config": {}}, {"rate_limits": {}}, {"basic_auth": {}}],
}
# extraArgs: whole flags, or a flag and its value as separate tokens.
EXTRA_ARGS = {
    "accepted": [["--log.level=debug"], ["--log.level", "debug"], ["--log.format", "json", "--log.level=warn"],
                 ["--poll.concurrency", "4"]],
    "refused": [["debug"], [""], ["log.level=debug"]],
}


def exporter_check(tmp_path: Path, args: list[str], accounts: dict | None = None,
                   web_config: dict | None = None) -> bool:
    """--config.check of the real exporter: True when it accepts."""
    key = tmp_path / "api-key"
    key.write_text("sl-schema-test-key")
    argv = [str(exporter_binary()), "--config.check", f"--smartlead.api-key-file={key}"]
    if accounts is not None:
        for account in accounts["accounts"]:
            account["api_key_file"] = str(key)
        (tmp_path / "accounts.yml").write_text(yaml.safe_dump(accounts))
        argv = [str(exporter_binary()), "--config.check", f"--config.file={tmp_path / 'accounts.yml'}"]
    if web_config is not None:
        (tmp_path / "web.yml").write_text(yaml.safe_dump(web_config))
        argv.append(f"--web.config.file={tmp_path / 'web.yml'}")
    done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode in (0, 2), done.stderr  # 2: refused with a message; never a crash
    return done.returncode == 0


def schema_accepts(values: dict) -> bool:
    try:
        chart.raw_render(values)
    except helm.HelmValuesError:
        return False
    return True


def single(extra: dict) -> dict:
    return {"smartlead": {"existingSecret": "k", **extra.pop("smartlead", {})}, **extra}


def many(account: dict | None = None, defaults: dict | None = None) -> dict:
    values = {"accounts": [{"name": "acme", "existingSecret": "s", **(account or {})}]}
    if defaults:
        values["accountDefaults"] = defaults
    return values


# Each setting: (chart values for a value, the exporter's check of the same value).
DURATION_SETTINGS = {
    "smartlead.pollInterval": (lambda v: single({"smartlead": {"pollInterval": v}}),
                               lambda v, tmp: exporter_check(tmp, [f"--poll.interval={v}"])),
    "accountDefaults.pollInterval": (lambda v: many(defaults={"pollInterval": v}),
                                     lambda v, tmp: exporter_check(tmp, [], {"defaults": {"poll_interval": v},
                                                                             "accounts": [{"name": "acme"}]})),
    "accounts[].timeout": (lambda v: many({"timeout": v}),
                           lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", "timeout": v}]})),
    "accounts[].maxBackoff": (lambda v: many({"maxBackoff": v}),
                              lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", "max_backoff": v}]})),
    "accounts[].staleAfter": (lambda v: many({"staleAfter": v}),
                              lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", "stale_after": v}]})),
    "smartlead.collectors.replies.interval": (
        lambda v: single({"smartlead": {"collectors": {"replies": {"interval": v}}}}),
        lambda v, tmp: exporter_check(tmp, [f"--collector.replies.interval={v}"])),
    "accounts[].collectors.campaigns.interval": (
        lambda v: many({"collectors": {"campaigns": {"interval": v}}}),
        lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", "collectors": {"campaigns": {"interval": v}}}]})),
    "accountDefaults.collectors.mailboxes.interval": (
        lambda v: many(defaults={"collectors": {"mailboxes": {"interval": v}}}),
        lambda v, tmp: exporter_check(tmp, [], {"defaults": {"collectors": {"mailboxes": {"interval": v}}},
                                                "accounts": [{"name": "acme"}]})),
}
SIZE_SETTINGS = {
    "accounts[].maxBodySize": (lambda v: many({"maxBodySize": v}),
                               lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", "max_body_size": v}]})),
    "accountDefaults.maxBodySize": (lambda v: many(defaults={"maxBodySize": v}),
                                    lambda v, tmp: exporter_check(tmp, [], {"defaults": {"max_body_size": v},
                                                                            "accounts": [{"name": "acme"}]})),
}


STATUS_SETTINGS = {
    "smartlead.campaignStatuses": (lambda v: single({"smartlead": {"campaignStatuses": [v]}}),
                                   lambda v, tmp: exporter_check(tmp, [f"--collector.campaigns.statuses={v}"])),
    "accounts[].campaignStatuses": (lambda v: many({"campaignStatuses": [v]}),
                                    lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", "campaign_statuses": [v]}]})),
}


def budget_settings(chart_key: str, flag: str, file_key: str) -> dict:
    return {
        f"smartlead.{chart_key}": (lambda v: single({"smartlead": {chart_key: v}}),
                                   lambda v, tmp: exporter_check(tmp, [f"--smartlead.{flag}={v}"])),
        f"accounts[].{chart_key}": (lambda v: many({chart_key: v}),
                                    lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", file_key: v}]})),
        f"accountDefaults.{chart_key}": (lambda v: many(defaults={chart_key: v}),
                                         lambda v, tmp: exporter_check(tmp, [], {"defaults": {file_key: v},
                                                                                 "accounts": [{"name": "acme"}]})),
    }


MINUTE_SETTINGS = budget_settings("maxCallsPerMinute", "max-calls-per-minute", "max_calls_per_minute")
HOUR_SETTINGS = budget_settings("maxCallsPerHour", "max-calls-per-hour", "max_calls_per_hour")
HOST_SETTINGS = {
    "smartlead.allowedHosts": (
        lambda v: single({"smartlead": {"allowedHosts": [v]}}),
        lambda v, tmp: exporter_check(tmp, [f"--smartlead.allowed-hosts=server.smartlead.ai,{v}"])),
}
ENABLED_SETTINGS = {
    "accounts[].collectors.replies.enabled": (
        lambda v: many({"collectors": {"replies": {"enabled": v}}}),
        lambda v, tmp: exporter_check(tmp, [], {"accounts": [{"name": "acme", "collectors": {"replies": {"enabled": v}}}]})),
}


def cases(table: dict, settings: dict):
    for setting, (values_for, check) in settings.items():
        for verdict, items in table.items():
            for value in items:
                yield pytest.param(values_for, check, value, verdict == "accepted", id=f"{setting}={value!r}")


@pytest.mark.parametrize("values_for,check,value,accepted",
                         list(cases(DURATIONS, DURATION_SETTINGS)) + list(cases(SIZES, SIZE_SETTINGS)))
def test_schema_and_exporter_agree_on_durations_and_sizes(values_for, check, value, accepted, tmp_path):
    assert check(value, tmp_path) is accepted, f"the exporter {'refuses' if accepted else 'accepts'} {value!r}"
    assert schema_accepts(values_for(value)) is accepted, f"the schema {'refuses' if accepted else 'accepts'} {value!r}"


@pytest.mark.parametrize("values_for,check,value,accepted",
                         list(cases(STATUSES, STATUS_SETTINGS)) + list(cases(CALLS_PER_MINUTE, MINUTE_SETTINGS))
                         + list(cases(CALLS_PER_HOUR, HOUR_SETTINGS)) + list(cases(HOSTS, HOST_SETTINGS))
                         + list(cases(ENABLED, ENABLED_SETTINGS)))
def test_schema_and_exporter_agree_on_collectors_budget_and_hosts(values_for, check, value, accepted, tmp_path):
    assert check(value, tmp_path) is accepted, f"the exporter {'refuses' if accepted else 'accepts'} {value!r}"
    assert schema_accepts(values_for(value)) is accepted, f"the schema {'refuses' if accepted else 'accepts'} {value!r}"


@pytest.mark.parametrize("config,accepted", [(c, v == "accepted") for v, cs in WEB_CONFIG_KEYS.items() for c in cs],
                         ids=lambda x: str(x))
def test_schema_and_exporter_agree_on_web_config_keys(config, accepted, tmp_path):
    assert exporter_check(tmp_path, [], web_config=config) is accepted
    assert schema_accepts(single({"webConfig": {"config": config}})) is accepted


@pytest.mark.parametrize("args,accepted", [(a, v == "accepted") for v, cs in EXTRA_ARGS.items() for a in cs],
                         ids=lambda x: str(x))
def test_schema_and_exporter_agree_on_extra_args(args, accepted, tmp_path):
    assert exporter_check(tmp_path, args) is accepted
    assert schema_accepts(single({"extraArgs": args})) is accepted
    if accepted:
        assert chart.Rendered(single({"extraArgs": args})).container["args"][-len(args):] == args


def test_the_budget_as_a_string_is_refused_in_the_accounts_file(tmp_path):
    # The accounts file takes whole numbers only ("20" is refused there, though a flag is text).
    for chart_key, file_key in (("maxCallsPerMinute", "max_calls_per_minute"), ("maxCallsPerHour", "max_calls_per_hour")):
        assert not exporter_check(tmp_path, [], {"accounts": [{"name": "acme", file_key: "500"}]})
        assert not schema_accepts(many({chart_key: "500"}))


def test_the_lists_hold_what_the_exporter_is_known_to_accept():
    # The values people write, which an earlier schema refused.
    for value in ("2min", "1m 30s"):
        assert value in DURATIONS["accepted"]
    for value in ("16Mi", "16M", "16mib"):
        assert value in SIZES["accepted"]
    assert {"rate_limit": {"interval": "1s", "burst": 10}} in WEB_CONFIG_KEYS["accepted"]
    assert ["--log.level", "debug"] in EXTRA_ARGS["accepted"]


@pytest.mark.parametrize("tag,expected", [(2, "2"), (1.5, "1.5"), ("v2", "v2")])
def test_image_tag_may_be_a_number(tag, expected):
    r = chart.Rendered(single({"image": {"tag": tag}, "tests": {"image": {"tag": tag}}}))
    assert r.container["image"] == f"smartlead-exporter:{expected}"
    assert r.workload["metadata"]["labels"]["app.kubernetes.io/version"] == expected
    assert r.test_pod["spec"]["containers"][0]["image"].endswith(f"busybox:{expected}")


@pytest.mark.parametrize("handler", [{"exec": {"command": ["/smartlead_exporter", "--version"]}},
                                     {"grpc": {"port": 10073}}, {"tcpSocket": {"port": "http"}}])
def test_probe_handlers_other_than_http(handler):
    for probe in ("livenessProbe", "readinessProbe"):
        r = chart.Rendered(single({probe: {**handler, "periodSeconds": 20}}))
        rendered = r.container[probe]
        assert {k: rendered[k] for k in handler} == handler and "httpGet" not in rendered
        assert rendered["periodSeconds"] == 20
