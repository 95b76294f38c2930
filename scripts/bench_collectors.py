#!/usr/bin/env python3
"""Helpers of scripts/bench-collectors.sh: the stand-in's files, the accounts file, waiting for
the exporter's first full collection, checking its exposition, reading the stand-in's call log
against the budget and the plan, and the pacing model.

Subcommands:
  account ROOT KEY[,KEY...] --categories N --campaigns N --active N [--deleted N] --mailboxes N
      Writes one fake SmartLead account under ROOT/KEY/ (the same under each KEY), one file per answer the stand-in
      serves (nginx routes `api_key` to the directory and `offset` to the page file), in the
      shapes the exporter parses and with SmartLead's quirks, as tests/common/fake.rs generates
      them: counters as strings, reputations as "95%", 95 or "95", null warmup details and
      client ids, `{}` for a deleted campaign's analytics, credentials (canaries) in every
      mailbox. The first `active` campaigns are ACTIVE (the last `deleted` of them answer
      `{}`), the others in turn DRAFTED, COMPLETED, STOPPED and ARCHIVED: outside the default
      selection (ACTIVE,PAUSED). Writes ROOT/KEY/manifest.json: what a full collection costs.
  accounts YAML MAP N
      An accounts file of N accounts acct-001..., each reading its key from BENCH_KEY_001...,
      every setting at its default; MAP gets one `account key variable` line per account.
  wait-full URL START TIMEOUT ACCOUNTS PID KEEP_DIR
      Scrapes URL (gzip, as Prometheus does) every POLL_PAUSE until ACCOUNTS accounts each
      show `smartlead_collector_last_success_timestamp_seconds` for all four collectors.
      The first value seen per account and collector is its first success (no collector runs
      twice within POLL_PAUSE). Prints key=value pairs, times in seconds after the Unix time
      START: `full_s` (the last account's first full collection, the latest of its
      collectors' first successes), per collector the latest first success, `seen_s`.
      Gives up at once if the process PID (the exporter) is gone. Counts the gzip answers that
      do not inflate (`corrupt=`), keeping the first few in KEEP_DIR.
  watch KEEP_DIR URL...
      Scrapes every URL (gzip, as Prometheus does) five times a second for three minutes,
      while the first collections rebuild the exposition often, then once a second, until
      SIGTERM; then prints
      how many answers did not inflate (the first few kept in KEEP_DIR) or failed.
  text URL FILE
      The exposition (gzip, inflated) into FILE; asks again after a corrupt answer and
      prints how many came first.
  exposition FILE ACCOUNTS CAMPAIGNS ANALYSED MAILBOXES
      Checks a scraped exposition: that many accounts, each up, with CAMPAIGNS campaign_info
      series (a deleted campaign has none), ANALYSED campaigns with analytics and MAILBOXES mailbox_info series, and no
      canary password anywhere. Prints its sample count.
  budget LOG KEY_REGEX PER_MINUTE PER_HOUR
      The calls of the keys matching KEY_REGEX in the stand-in's log (lines `MSEC KEY URI
      OFFSET STATUS`), over the whole log: the most calls of one key in any 1-second,
      60-second and 3,600-second window, calls not answered 200, calls to unknown paths.
  plan LOG MANIFESTS MAP METRICS_START METRICS_END WINDOW_START WINDOW_END DETAIL
      For every account of MAP, the calls its key made per collector over the window against
      the plan: the intervals in force (`smartlead_collector_interval_seconds`, the same at
      the window's start and end), the cost per run (the manifest: what the stand-in serves),
      and the exporter's `smartlead_exporter_api_planned_calls`. Prints a table and a summary
      line; one line per account and collector goes to DETAIL.
  calls-until LOG KEY UNIX_TIME
      The calls of KEY in the log up to then, in all and per collector.
  model PER_MINUTE PER_HOUR CAMPAIGN_CALLS MAILBOX_PAGES
      The pacing rules of src/collect/budget.rs played out for one account from its start:
      when each collector's first run ends, the calls made by then (per collector too), and
      the intervals in force after it.
"""

import gzip
import json
import math
import os
import re
import statistics
import sys
import time
import signal
import urllib.request
import zlib

# The collectors, most important first (the order slots are granted in).
COLLECTORS = ["categories", "replies", "campaigns", "mailboxes"]

# Default intervals in force, seconds (src/settings: Collector::default_interval).
DEFAULT_INTERVALS = {"categories": 60.0, "replies": 900.0, "campaigns": 300.0, "mailboxes": 300.0}

# The pacing rules (src/collect/budget.rs): at most MAX_PER_SECOND calls a second, windows
# measured WINDOW_MARGIN longer than their names, a stretched interval at most a day.
MAX_PER_SECOND = 5
WINDOW_MARGIN = 0.5
MAX_STRETCHED_INTERVAL = 86400.0

# The mailbox page size the exporter asks for, and the largest SmartLead serves.
PAGE = 100

# Statuses given to campaigns past the active ones, in turn: none is in ACTIVE,PAUSED.
OTHER_STATUSES = ["DRAFTED", "COMPLETED", "STOPPED", "ARCHIVED"]
# The campaign statuses the exporter selects by default.
DEFAULT_SELECTION = {"ACTIVE", "PAUSED"}

# Canary passwords in every mailbox answer: they must never leave the exporter.
SMTP_CANARY = "smtp-canary-b7e1c04d"
IMAP_CANARY = "imap-canary-3a9f52e6"

# SmartLead's global categories: id, name, sentiment.
GLOBAL_CATEGORIES = [
    (1, "Interested", "positive"),
    (2, "Meeting Request", "positive"),
    (3, "Not Interested", "negative"),
    (4, "Do Not Contact", "negative"),
    (5, "Information Request", "positive"),
    (6, "Out Of Office", None),
    (7, "Wrong Person", "negative"),
    (8, "Uncategorizable by Ai", None),
    (9, "Sender Originated Bounce", "negative"),
]

# How often wait-full scrapes.
POLL_PAUSE = 0.5

# How often watch scrapes each exporter: often during the first collections, when the
# exposition is rebuilt many times a second, then once a second.
WATCH_FAST_PAUSE = 0.2
WATCH_FAST_S = 180.0
WATCH_PAUSE = 1.0

# Corrupt answers kept as evidence, per command.
KEEP_CORRUPT = 5

# Times are passed on to the millisecond: a call logged this close after a cut counts as
# before it.
CLOCK_SLACK = 0.005

# How many times `text` asks before giving up on corrupt answers.
TEXT_ATTEMPTS = 10


def die(message):
    sys.exit(f"bench_collectors.py: {message}")


def dump(path, value):
    with open(path, "w", encoding="utf-8") as f:
        f.write(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))


# --- the stand-in's files ----------------------------------------------------------------


def categories_of(n):
    out = []
    for i in range(n):
        if i < len(GLOBAL_CATEGORIES):
            cid, name, sentiment = GLOBAL_CATEGORIES[i]
        else:
            cid, name = 1000 + i, f"User category {i}"
            sentiment = ["positive", "negative", None][i % 3]
        out.append({"id": cid, "name": name, "sentiment_type": sentiment, "replies": (i * 7) % 50})
    return out


def replies_json(categories):
    uncategorized = 1000 + len(categories)
    total = sum(c["replies"] for c in categories) + uncategorized

    def percent(n):
        return f"{n * 100 / max(total, 1):.2f}%"

    grouping = [
        {
            "name": c["name"],
            "sentiment_type": c["sentiment_type"],
            "total_response": c["replies"],
            "percentage": percent(c["replies"]),
        }
        for c in categories
    ]
    grouping.append(
        {"name": "Uncategorized", "total_response": uncategorized, "percentage": percent(uncategorized)}
    )
    return {
        "success": True,
        "message": "Lead responses by category fetched successfully",
        "data": {"lead_responses_by_category": {"leadResponseGrouping": grouping}},
    }


def campaign(i, active):
    status = "ACTIVE" if i < active else OTHER_STATUSES[(i - active) % len(OTHER_STATUSES)]
    return {
        "id": 2_000_000 + i,
        "user_id": 33120,
        "created_at": "2025-07-01T09:12:44.912Z",
        "updated_at": "2025-07-14T16:03:10.077Z",
        "status": status,
        "name": f"Campaign {i}",
        "track_settings": [],
        "scheduler_cron_value": {"tz": "UTC", "days": [1, 2, 3, 4, 5]},
        "min_time_btwn_emails": 10,
        "max_leads_per_day": 50,
        "client_id": 4821 if i % 2 else None,
        "parent_campaign_id": None,
    }


def analytics(c, i):
    unique_sent = 100 + i * 10
    sent = unique_sent * 2 + i
    leads = [i % 5 * 10, 40 + i, unique_sent // 2, i % 3, i % 2, i % 4]
    return {
        "id": c["id"],
        "user_id": 33120,
        "status": c["status"],
        "name": c["name"],
        "client_id": c["client_id"],
        "client_name": "Acme Agency Client" if c["client_id"] else None,
        "sent_count": str(sent),
        "unique_sent_count": str(unique_sent),
        "open_count": str(unique_sent // 2),
        "unique_open_count": str(unique_sent // 3),
        "click_count": str(i),
        "unique_click_count": str(i // 2),
        "reply_count": str(i % 17),
        "block_count": str(i % 3),
        "bounce_count": str(i % 9),
        "unsubscribed_count": str(i % 4),
        "sequence_count": "3",
        "campaign_lead_stats": {
            "total": sum(leads),
            "notStarted": leads[0],
            "inprogress": leads[1],
            "completed": leads[2],
            "paused": leads[3],
            "stopped": leads[4],
            "blocked": leads[5],
            "interested": i % 11,
            "revenue": 0,
        },
    }


def mailbox(i):
    email = f"sender{i}@fake-mail.example"
    smtp_ok, imap_ok = i % 11 != 10, i % 13 != 12
    warmup = None
    if i % 7 != 6:
        reputation = 62 if i % 5 == 4 else 90 + i % 11
        blocked = i % 17 == 16
        warmup = {
            "status": ["ACTIVE", "ACTIVE", "PAUSED", "INACTIVE"][i % 4],
            "total_sent_count": "120",
            "total_spam_count": 2,
            "warmup_reputation": [f"{reputation}%", reputation, str(reputation)][i % 3],
            "is_warmup_blocked": blocked,
            "blocked_reason": "High spam rate" if blocked else None,
        }
    return {
        "id": 5_000_000 + i,
        "from_name": f"Sender {i}",
        "from_email": email,
        "username": email,
        "smtp_host": "smtp.fake-mail.example",
        "smtp_port": 465,
        "smtp_username": email,
        "smtp_password": SMTP_CANARY,
        "imap_host": "imap.fake-mail.example",
        "imap_port": 993,
        "imap_username": email,
        "imap_password": IMAP_CANARY,
        "message_per_day": 40,
        "daily_sent_count": str(i % 41),
        "campaign_count": i % 4 if i % 2 == 0 else str(i % 4),
        "is_smtp_success": smtp_ok,
        "is_imap_success": imap_ok,
        "smtp_failure_error": None if smtp_ok else "535 Authentication failed",
        "imap_failure_error": None,
        "is_suspended": i % 29 == 28,
        "type": ["GMAIL", "OUTLOOK", "SMTP", "ZOHO"][i % 4],
        "client_id": 4821 if i % 2 else None,
        "warmup_details": warmup,
    }


def account(root, key, categories, campaigns, active, deleted, mailboxes):
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
        die(f"a key must match [A-Za-z0-9_-]{{1,64}} (nginx routes only those): {key!r}")
    if active > campaigns or deleted > active:
        die("need deleted <= active <= campaigns")
    base = os.path.join(root, key)
    os.makedirs(os.path.join(base, "analytics"), exist_ok=True)
    os.makedirs(os.path.join(base, "email-accounts"), exist_ok=True)
    cats = categories_of(categories)
    dump(
        os.path.join(base, "fetch-categories.json"),
        [
            {"id": c["id"], "name": c["name"], "sentiment_type": c["sentiment_type"],
             "created_at": "2022-08-30T06:13:04.000Z"}
            for c in cats
        ],
    )
    dump(os.path.join(base, "category-wise-response.json"), replies_json(cats))
    listed = [campaign(i, active) for i in range(campaigns)]
    dump(os.path.join(base, "campaigns.json"), listed)
    gone = set(range(active - deleted, active))
    for i, c in enumerate(listed):
        body = "{}" if i in gone else analytics(c, i)
        dump(os.path.join(base, "analytics", f"{c['id']}.json"), body)
    # Pages up to the first short one: a list of whole pages ends with an empty page.
    pages = mailboxes // PAGE + 1
    for page in range(pages):
        offset = page * PAGE
        dump(
            os.path.join(base, "email-accounts", f"{offset}.json"),
            [mailbox(i) for i in range(offset, min(offset + PAGE, mailboxes))],
        )
    selected = sum(1 for c in listed if c["status"] in DEFAULT_SELECTION)
    manifest = {
        "key": key,
        "categories": categories,
        "campaigns": campaigns,
        "selected": selected,
        "analysed": selected - len(gone & set(range(selected))),
        "mailboxes": mailboxes,
        "pages": pages,
        "costs": {"categories": 1, "replies": 1, "campaigns": 1 + selected, "mailboxes": pages},
    }
    dump(os.path.join(base, "manifest.json"), manifest)
    print(json.dumps(manifest["costs"]))


def accounts(yaml_path, map_path, n):
    lines = ["accounts:"]
    rows = []
    for i in range(1, n + 1):
        name, key, var = f"acct-{i:03d}", f"b-{i:03d}", f"BENCH_KEY_{i:03d}"
        lines += [f"  - name: {name}", f"    api_key_env: {var}"]
        rows.append(f"{name} {key} {var}")
    dump(yaml_path, "\n".join(lines) + "\n")
    dump(map_path, "\n".join(rows) + "\n")


# --- the exposition ----------------------------------------------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text):
    """(name, labels, value) of every sample line."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            yield m.group(1), dict(LABEL.findall(m.group(2) or "")), m.group(3)


class Corrupt(Exception):
    """A gzip answer that does not inflate, or inflates to something that is not text; holds
    the body as served."""

    def __init__(self, why, body):
        super().__init__(why)
        self.body = body


def scrape(url):
    """The exposition, asked for in gzip as Prometheus does. Raises Corrupt when the answer
    is not gzip or does not inflate whole (gzip checks the CRC-32 and length too)."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
        encoding = answer.headers.get("Content-Encoding")
    if encoding != "gzip":
        raise Corrupt(f"Content-Encoding {encoding!r} to Accept-Encoding: gzip", body)
    try:
        text = gzip.decompress(body).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise Corrupt(f"{type(e).__name__}: {e}", body) from e
    if text and not text.endswith("\n"):
        raise Corrupt("the text does not end with a newline", body)
    return text


def keep_corrupt(directory, n, body):
    """Keeps the first few corrupt answers as they were served, for a look at them."""
    if directory and n <= KEEP_CORRUPT:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"corrupt-{n}.gz"), "wb") as f:
            f.write(body)


def wait_full(url, start, timeout, want, pid, keep):
    first = {}
    scrapes = corrupt = 0
    deadline = time.time() + timeout
    wanted = "smartlead_collector_last_success_timestamp_seconds{"
    while True:
        if pid and not os.path.exists(f"/proc/{pid}"):
            die(f"the exporter (pid {pid}) exited before its first full collection")
        scrapes += 1
        try:
            text = scrape(url)
        except Corrupt as e:
            corrupt += 1
            keep_corrupt(keep, corrupt, e.body)
            text, error = "", e
        except OSError as e:
            text, error = "", e
        else:
            error = None
        lines = "\n".join(line for line in text.splitlines() if line.startswith(wanted))
        for _, labels, value in samples(lines):
            first.setdefault((labels.get("account"), labels.get("collector")), float(value))
        per_account = {}
        for (acct, collector), at in first.items():
            per_account.setdefault(acct, {})[collector] = at
        full = {a: c for a, c in per_account.items() if all(x in c for x in COLLECTORS)}
        if len(full) >= want:
            break
        if time.time() > deadline:
            missing = {c: sum(1 for a in per_account.values() if c not in a) for c in COLLECTORS}
            die(
                f"{len(full)} of {want} accounts had a first success of every collector after "
                f"{timeout:.0f}s (accounts seen {len(per_account)}; without a success per "
                f"collector: {missing}; last scrape error: {error})"
            )
        time.sleep(POLL_PAUSE)
    seen = time.time() - start
    whole = [max(c.values()) - start for c in full.values()]
    out = {"full_s": max(whole), "full_min_s": min(whole), "full_median_s": statistics.median(whole)}
    for collector in COLLECTORS:
        out[f"{collector}_s"] = max(c[collector] for c in full.values()) - start
    out["seen_s"] = seen
    print(
        " ".join(f"{k}={v:.3f}" for k, v in out.items()),
        f"accounts={len(full)} scrapes={scrapes} corrupt={corrupt}",
    )


def watch(keep, urls):
    """Scrapes every URL every WATCH_FAST_PAUSE for WATCH_FAST_S, then every WATCH_PAUSE,
    until SIGTERM; then prints how many answers there were and how many were corrupt or
    failed."""
    scrapes = corrupt = failed = 0
    first = ""

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    try:
        while True:
            for url in urls:
                scrapes += 1
                try:
                    scrape(url)
                except Corrupt as e:
                    corrupt += 1
                    keep_corrupt(keep, corrupt, e.body)
                    first = first or f"{time.strftime('%H:%M:%S')} {url}: {e}"
                except OSError:
                    failed += 1
            fast = time.monotonic() - started < WATCH_FAST_S
            time.sleep(WATCH_FAST_PAUSE if fast else WATCH_PAUSE)
    finally:
        print(f"scrapes={scrapes} corrupt={corrupt} failed={failed}", flush=True)
        if first:
            print(f"first corrupt answer: {first}", flush=True)


def text_of(url, path):
    """Writes the exposition to `path`, asking again after a corrupt answer; prints how many
    corrupt answers came first."""
    for attempt in range(TEXT_ATTEMPTS):
        try:
            text = scrape(url)
        except Corrupt:
            time.sleep(POLL_PAUSE)
            continue
        dump(path, text)
        print(attempt)
        return
    die(f"{TEXT_ATTEMPTS} corrupt answers in a row from {url}")


def exposition(path, want_accounts, want_campaigns, want_analysed, want_mailboxes):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for canary in (SMTP_CANARY, IMAP_CANARY):
        if canary in text:
            die(f"{path}: a mailbox password is in the exposition")
    up, info, analysed, boxes = {}, {}, {}, {}
    count = 0
    for name, labels, value in samples(text):
        count += 1
        acct = labels.get("account")
        if name == "smartlead_up":
            up[acct] = value
        elif name == "smartlead_campaign_info":
            info[acct] = info.get(acct, 0) + 1
        elif name == "smartlead_campaign_emails" and labels.get("event") == "sent":
            analysed[acct] = analysed.get(acct, 0) + 1
        elif name == "smartlead_mailbox_info":
            boxes[acct] = boxes.get(acct, 0) + 1
    if len(up) != want_accounts:
        die(f"{path}: {len(up)} accounts, expected {want_accounts}")
    problems = []
    for acct in sorted(up):
        if up[acct] != "1":
            problems.append(f"{acct} smartlead_up {up[acct]}")
        for what, got, want in (
            ("smartlead_campaign_info", info.get(acct, 0), want_campaigns),
            ("campaigns with smartlead_campaign_emails", analysed.get(acct, 0), want_analysed),
            ("smartlead_mailbox_info", boxes.get(acct, 0), want_mailboxes),
        ):
            if got != want:
                problems.append(f"{acct}: {got} {what}, expected {want}")
    if problems:
        die(f"{path}: " + "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    print(count)


# --- the call log ------------------------------------------------------------------------


def collector_of(uri):
    """(collector, starts a run) of a stand-in path; None for an unknown path."""
    if uri == "/api/v1/leads/fetch-categories":
        return "categories", True
    if uri == "/api/v1/analytics/lead/category-wise-response":
        return "replies", True
    if uri == "/api/v1/campaigns/":
        return "campaigns", True
    if re.fullmatch(r"/api/v1/campaigns/[0-9]+/analytics", uri):
        return "campaigns", False
    if uri == "/api/v1/email-accounts/":
        return "mailboxes", None
    return None


def read_log(path):
    """Per key, its calls (time, collector, starts a run, status, uri), in time order."""
    calls = {}
    with open(path, encoding="utf-8") as log:
        for line in log:
            parts = line.split()
            if len(parts) != 5:
                continue
            at, key, uri, offset, status = parts
            kind = collector_of(uri)
            if kind is None:
                collector, starts = None, False
            else:
                collector, starts = kind
                if starts is None:
                    starts = offset == "0"
            calls.setdefault(key, []).append((float(at), collector, starts, status, uri))
    for key in calls:
        calls[key].sort(key=lambda c: c[0])
    return calls


def most_in_window(times, window):
    """The most times in any [t, t + window), and where such a window starts."""
    best, at, j = 0, None, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + window:
            j += 1
        if j - i > best:
            best, at = j - i, t
    return best, at


def budget(path, pattern, per_minute, per_hour):
    calls = read_log(path)
    keys = sorted(k for k in calls if re.fullmatch(pattern, k))
    if not keys:
        die(f"no call of a key matching {pattern} in {path}")
    worst = {}
    total = failed = unknown = 0
    for key in keys:
        times = [c[0] for c in calls[key]]
        total += len(times)
        failed += sum(1 for c in calls[key] if c[3] != "200")
        unknown += sum(1 for c in calls[key] if c[1] is None)
        for name, window in (("second", 1.0), ("minute", 60.0), ("hour", 3600.0)):
            most, at = most_in_window(times, window)
            if most > worst.get(name, (0, None, None))[0]:
                worst[name] = (most, key, at)
    over = {
        "second": MAX_PER_SECOND,
        "minute": per_minute,
        "hour": per_hour,
    }
    over_keys = {
        name: sum(
            1 for key in keys
            if most_in_window([c[0] for c in calls[key]], w)[0] > over[name]
        )
        for name, w in (("second", 1.0), ("minute", 60.0), ("hour", 3600.0))
    }
    span = max(c[0] for k in keys for c in calls[k]) - min(c[0] for k in keys for c in calls[k])
    print(
        f"keys={len(keys)} calls={total} span_s={span:.0f} failed={failed} unknown={unknown} "
        + " ".join(
            f"max_{n}={worst[n][0]} max_{n}_key={worst[n][1]} over_{n}={over_keys[n]}"
            for n in ("second", "minute", "hour")
        )
    )


def metrics_of(path):
    """Per account: the intervals in force and the planned calls per hour."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    intervals, planned = {}, {}
    for name, labels, value in samples(text):
        acct = labels.get("account")
        if name == "smartlead_collector_interval_seconds":
            intervals.setdefault(acct, {})[labels["collector"]] = float(value)
        elif name == "smartlead_exporter_api_planned_calls" and labels.get("window") == "hour":
            planned[acct] = float(value)
    return intervals, planned


def plan_check(log, manifests, map_path, metrics_start, metrics_end, ws, we, detail_path):
    calls = read_log(log)
    window = we - ws
    start_intervals, _ = metrics_of(metrics_start)
    intervals, planned = metrics_of(metrics_end)
    rows = {c: {"runs": [], "per_run": [], "calls": [], "off": 0, "intervals": set(), "costs": set(),
                "expected_runs": set()} for c in COLLECTORS}
    totals, off_keys, planned_mismatch, changed = [], set(), 0, 0
    planned_seen = set()
    detail = []
    accounts_map = []
    with open(map_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                accounts_map.append(line.split()[:2])
    for acct, key in accounts_map:
        with open(os.path.join(manifests, key, "manifest.json"), encoding="utf-8") as f:
            costs = json.load(f)["costs"]
        own = intervals.get(acct)
        if own is None or any(c not in own for c in COLLECTORS):
            die(f"no smartlead_collector_interval_seconds for every collector of {acct}")
        if start_intervals.get(acct) != own:
            changed += 1
        # The plan from the intervals in force and the costs per run, per hour.
        calc = sum(costs[c] * 3600.0 / own[c] for c in COLLECTORS)
        exported = planned.get(acct, float("nan"))
        planned_seen.add((round(exported, 3), round(calc, 3)))
        if not abs(exported - calc) <= 0.01:
            planned_mismatch += 1
            off_keys.add(key)
        mine = calls.get(key, [])
        in_window = 0
        for collector in COLLECTORS:
            interval, cost = own[collector], costs[collector]
            # Runs: each call that starts one; the calls of a run are those up to the next start.
            runs = []
            for at, who, starts, _, _ in mine:
                if who != collector:
                    continue
                if starts:
                    runs.append([at, 0])
                if runs:
                    runs[-1][1] += 1
            started = [r for r in runs if ws <= r[0] < we]
            made = sum(1 for at, who, _, _, _ in mine if who == collector and ws <= at < we)
            in_window += made
            expected_runs = window / interval
            per_run = sorted({r[1] for r in started})
            ok = abs(len(started) - expected_runs) <= 1 and all(n == cost for n in per_run)
            row = rows[collector]
            row["runs"].append(len(started))
            row["per_run"] += per_run
            row["calls"].append(made)
            row["intervals"].add(interval)
            row["costs"].add(cost)
            row["expected_runs"].add(round(expected_runs, 2))
            if not ok:
                row["off"] += 1
                off_keys.add(key)
            detail.append(
                f"{acct} {key} {collector} interval={interval:g}s cost={cost} "
                f"runs={len(started)} expected_runs={expected_runs:.2f} calls_per_run={per_run} "
                f"calls={made} expected_calls={expected_runs * cost:.1f} {'ok' if ok else 'OFF'}"
            )
        # Every call in the window, against the exporter's plan (one run of each of slack).
        slack = sum(costs.values())
        expected = exported * window / 3600.0
        totals.append((in_window, expected))
        if abs(in_window - expected) > slack:
            off_keys.add(key)
        detail.append(
            f"{acct} {key} total calls={in_window} planned={expected:.1f} "
            f"(exporter {exported:g}/h, from intervals and costs {calc:g}/h)"
        )
    with open(detail_path, "w", encoding="utf-8") as f:
        f.write("\n".join(detail) + "\n")

    def span(values):
        values = sorted(values)
        return f"{values[0]:g}" if values[0] == values[-1] else f"{values[0]:g} to {values[-1]:g}"

    print(f"window {window:.0f} s, {len(accounts_map)} keys; per key:")
    print("| collector | interval in force | calls per run (cost) | runs expected (window / interval) "
          "| runs made | calls per run made | calls expected | calls made | keys off the plan |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for collector in COLLECTORS:
        row = rows[collector]
        expected_calls = {round(r * c, 1) for r in row["expected_runs"] for c in row["costs"]}
        print(
            f"| {collector} | {span(row['intervals'])} s | {span(row['costs'])} | "
            f"{span(row['expected_runs'])} | {span(row['runs'])} | "
            f"{span(row['per_run']) if row['per_run'] else 'none'} | {span(expected_calls)} | "
            f"{span(row['calls'])} | {row['off']} |"
        )
    made = [t[0] for t in totals]
    expected = [t[1] for t in totals]
    print(
        f"| all | | | | | | {span([round(e, 1) for e in expected])} (exporter's planned calls x window) "
        f"| {span(made)} | {len(off_keys)} |"
    )
    print(
        "planned calls per hour, exporter / from the intervals and costs: "
        + ", ".join(f"{e:g} / {c:g}" for e, c in sorted(planned_seen))
    )
    print(
        f"summary keys={len(accounts_map)} off={len(off_keys)} planned_mismatch={planned_mismatch} "
        f"intervals_changed={changed}"
    )


# --- the pacing model --------------------------------------------------------------------


def plan(costs, per_minute, per_hour, intervals=DEFAULT_INTERVALS):
    """The intervals in force (src/collect/budget.rs: plan), every collector enabled."""
    rate = min(per_minute / 60.0, per_hour / 3600.0)
    rates = {c: max(costs[c], 1) / intervals[c] for c in COLLECTORS}
    excess = sum(rates.values()) - rate
    stretched = set()
    for c in reversed(COLLECTORS):
        if excess <= 0:
            continue
        floor = max(costs[c], 1) / MAX_STRETCHED_INTERVAL
        cut = min(excess, rates[c] - floor)
        if cut > 0:
            rates[c] -= cut
            excess -= cut
            stretched.add(c)
    out = {}
    for c in COLLECTORS:
        if c in stretched:
            ms = math.ceil(max(costs[c], 1) / rates[c] * 1000.0)
            out[c] = min(max(ms / 1000.0, intervals[c]), MAX_STRETCHED_INTERVAL)
        else:
            out[c] = intervals[c]
    return out


def model(per_minute, per_hour, campaign_calls, mailbox_pages, latency=0.001):
    """Plays the pacer out: each collector's runs are due at its start and every interval in
    force after that; a run's calls are made one after the other, each when the key's windows
    allow it and no more important collector is waiting for a slot; a call in flight for
    `latency` seconds is not waiting. Returns each collector's first run's end and the calls
    made by the time every collector has finished its first run."""
    costs = {c: 1 for c in COLLECTORS}
    intervals = plan(costs, per_minute, per_hour)
    full_cost = {"categories": 1, "replies": 1, "campaigns": campaign_calls, "mailboxes": mailbox_pages}
    sent = []
    made = {c: 0 for c in COLLECTORS}
    due = {c: 0.0 for c in COLLECTORS}  # when the current run was due
    ready = {c: 0.0 for c in COLLECTORS}  # when its next call is wanted
    done_calls = {c: 0 for c in COLLECTORS}  # calls of the current run made
    first_end = {}
    limits = [(MAX_PER_SECOND, 1.0), (per_minute, 60.0), (per_hour, 3600.0)]

    def earliest(now):
        at = now
        for limit, window in limits:
            if len(sent) >= limit:
                at = max(at, sent[-limit] + window + WINDOW_MARGIN)
        return at

    while len(first_end) < len(COLLECTORS):
        r = min(ready.values())
        g = earliest(r)
        waiting = [c for c in COLLECTORS if ready[c] <= g]
        c = waiting[0]
        sent.append(g)
        made[c] += 1
        done_calls[c] += 1
        finished = g + latency
        if c == "campaigns" and done_calls[c] == 1:
            # The list tells the run's cost: the plan is made anew.
            costs["campaigns"] = campaign_calls
            intervals = plan(costs, per_minute, per_hour)
        if done_calls[c] >= full_cost[c]:
            first_end.setdefault(c, finished)
            if c == "mailboxes":
                costs["mailboxes"] = mailbox_pages
                intervals = plan(costs, per_minute, per_hour)
            done_calls[c] = 0
            due[c] = max(due[c] + intervals[c], finished)
            ready[c] = due[c]
        else:
            ready[c] = finished
    full = max(first_end.values())
    print(
        f"full_s={full:.2f} calls={len(sent)} "
        + " ".join(f"{c}_s={first_end[c]:.2f}" for c in COLLECTORS)
        + " " + " ".join(f"{c}_interval_s={intervals[c]:.0f}" for c in COLLECTORS)
        + " " + " ".join(f"{c}_calls={made[c]}" for c in COLLECTORS)
    )


def calls_until(path, key, until):
    """The calls of `key` up to the Unix time `until` (and CLOCK_SLACK after it), in all and
    per collector."""
    mine = [c for c in read_log(path).get(key, []) if c[0] <= until + CLOCK_SLACK]
    print(
        f"calls={len(mine)} "
        + " ".join(f"{c}_calls={sum(1 for m in mine if m[1] == c)}" for c in COLLECTORS)
    )


def main():
    args = sys.argv[1:]
    cmd = args[:1]
    try:
        if cmd == ["account"] and len(args) >= 3:
            opts = dict(zip(args[3::2], args[4::2]))
            known = {"--categories", "--campaigns", "--active", "--deleted", "--mailboxes"}
            if set(opts) - known or len(args[3:]) % 2:
                die(__doc__)
            for key in args[2].split(","):
                account(
                    args[1], key,
                    int(opts.get("--categories", 9)), int(opts.get("--campaigns", 0)),
                    int(opts.get("--active", 0)), int(opts.get("--deleted", 0)),
                    int(opts.get("--mailboxes", 0)),
                )
        elif cmd == ["accounts"] and len(args) == 4:
            accounts(args[1], args[2], int(args[3]))
        elif cmd == ["wait-full"] and len(args) == 7:
            wait_full(args[1], float(args[2]), float(args[3]), int(args[4]), int(args[5]), args[6])
        elif cmd == ["watch"] and len(args) >= 3:
            watch(args[1], args[2:])
        elif cmd == ["text"] and len(args) == 3:
            text_of(args[1], args[2])
        elif cmd == ["exposition"] and len(args) == 6:
            exposition(args[1], *map(int, args[2:]))
        elif cmd == ["budget"] and len(args) == 5:
            budget(args[1], args[2], int(args[3]), int(args[4]))
        elif cmd == ["plan"] and len(args) == 9:
            plan_check(args[1], args[2], args[3], args[4], args[5], float(args[6]), float(args[7]), args[8])
        elif cmd == ["calls-until"] and len(args) == 4:
            calls_until(args[1], args[2], float(args[3]))
        elif cmd == ["model"] and len(args) == 5:
            model(*map(int, args[1:]))
        else:
            die(__doc__)
    except ValueError as e:
        die(f"bad argument: {e}")
    except OSError as e:
        die(str(e))


if __name__ == "__main__":
    main()
