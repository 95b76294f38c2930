"""What a healthy SmartLead account answers on each endpoint the exporter calls, in the shapes
real clients parse (counters as strings, `"95%"`), small: three categories, replies in two of
them, one active campaign with its analytics, two mailboxes. The deploy tests' stand-ins serve it
for a good key, on loopback; how they fail for other keys is theirs.

    status, body = answer("/api/v1/campaigns/", "api_key=...")

`generated(...)` builds an account of any size in the same shapes (the sizing of the chart's
sampleLimit measures the exporter against it), and `serve(account, key)` answers it on loopback.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CATEGORIES = [
    {"id": 1, "name": "Interested", "sentiment_type": "positive", "created_at": "2022-08-30T06:13:04.000Z"},
    {"id": 3, "name": "Not Interested", "sentiment_type": "negative", "created_at": "2022-08-30T06:13:04.000Z"},
    {"id": 789, "name": "Follow Up Later", "sentiment_type": "neutral", "created_at": "2025-11-20T14:22:00.000Z"},
]
REPLIES = {"success": True, "message": "Lead responses by category fetched successfully",
           "data": {"lead_responses_by_category": {"leadResponseGrouping": [
               {"name": "Interested", "sentiment_type": "positive", "total_response": 4, "percentage": "40.00%"},
               {"name": "Not Interested", "sentiment_type": "negative", "total_response": 5, "percentage": "50.00%"},
               {"name": "Uncategorized", "total_response": 1, "percentage": "10.00%"}]}}}
CAMPAIGN_ID = 4401
CAMPAIGNS = [{"id": CAMPAIGN_ID, "name": "E2E Outbound", "status": "ACTIVE", "client_id": None,
              "created_at": "2025-07-01T09:12:44.912Z", "parent_campaign_id": None}]
ANALYTICS = {"id": CAMPAIGN_ID, "name": "E2E Outbound", "status": "ACTIVE", "client_id": None,
             "sent_count": "240", "unique_sent_count": "150", "open_count": "130", "unique_open_count": "90",
             "click_count": "12", "unique_click_count": "10", "reply_count": "9", "bounce_count": "3",
             "block_count": "0", "unsubscribed_count": "1", "sequence_count": "3",
             "campaign_lead_stats": {"total": 200, "notStarted": 50, "inprogress": 100, "completed": 38, "paused": 2,
                                     "stopped": 9, "blocked": 1, "interested": 4}}
MAILBOXES = [
    {"id": 9101, "from_email": "ann@e2e.example", "type": "GMAIL", "client_id": None, "message_per_day": 40,
     "daily_sent_count": "12", "campaign_count": "1", "is_smtp_success": True, "is_imap_success": True,
     "is_suspended": False, "warmup_details": {"status": "ACTIVE", "warmup_reputation": "96%",
                                               "is_warmup_blocked": False}},
    {"id": 9102, "from_email": "bob@e2e.example", "type": "SMTP", "client_id": None, "message_per_day": 30,
     "daily_sent_count": "7", "campaign_count": "1", "is_smtp_success": True, "is_imap_success": True,
     "is_suspended": False, "warmup_details": None},
]
BASE_PATH = "/api/v1"


@dataclass(frozen=True)
class Account:
    """What one key answers: the four endpoints' data, analytics by campaign id."""

    categories: list[dict]
    replies: dict
    campaigns: list[dict]
    analytics: dict[int, dict]
    mailboxes: list[dict]

    def answer(self, path: str, query: str = "") -> tuple[int, str]:
        """The status and JSON body of GET path?query."""
        segments = [s for s in path.removeprefix(BASE_PATH).split("/") if s]
        params = urllib.parse.parse_qs(query)
        match segments:
            case ["leads", "fetch-categories"]:
                return 200, json.dumps(self.categories)
            case ["analytics", "lead", "category-wise-response"]:
                if not (params.get("start_date") and params.get("end_date")):
                    return 400, '{"success":false,"message":"start_date and end_date are required"}'
                return 200, json.dumps(self.replies)
            case ["campaigns"]:
                return 200, json.dumps(self.campaigns)
            case ["campaigns", campaign, "analytics"]:
                return 200, json.dumps(self.analytics.get(int(campaign), {}) if campaign.isdigit() else {})
            case ["email-accounts"]:
                offset = int(params.get("offset", ["0"])[0])
                limit = int(params.get("limit", ["100"])[0])
                if not 1 <= limit <= MAILBOX_PAGE_MAX:
                    return 422, '{"message":"limit must be between 1 and 100"}'
                return 200, json.dumps(self.mailboxes[offset:offset + limit])
        return 404, '{"message":"Not Found"}'


# SmartLead's largest page of /email-accounts.
MAILBOX_PAGE_MAX = 100
HEALTHY = Account(CATEGORIES, REPLIES, CAMPAIGNS, {CAMPAIGN_ID: ANALYTICS}, MAILBOXES)


def answer(path: str, query: str = "") -> tuple[int, str]:
    """The status and JSON body a healthy account answers to GET path?query."""
    return HEALTHY.answer(path, query)


# Statuses of the campaigns whose analytics the exporter does not fetch by default, in turn.
UNSELECTED_STATUSES = ["DRAFTED", "COMPLETED", "STOPPED", "ARCHIVED"]
SENTIMENTS = ["positive", "negative", "neutral"]


def generated(categories: int, selected: int, unselected: int, mailboxes: int) -> Account:
    """An account of that many categories (each with replies, and Uncategorized), campaigns
    whose analytics are collected by default (active and paused, in turn), other campaigns
    (drafted, completed, stopped, archived) and mailboxes, each with every field the exporter
    reads (warmup details included), in the shapes of the healthy account above."""
    cats = [{"id": 1000 + i, "name": f"Category {i}", "sentiment_type": SENTIMENTS[i % 3],
             "created_at": "2025-01-02T03:04:05.000Z"} for i in range(categories)]
    grouping = [{"name": c["name"], "sentiment_type": c["sentiment_type"], "total_response": i + 1,
                 "percentage": "1.00%"} for i, c in enumerate(cats)]
    grouping.append({"name": "Uncategorized", "total_response": 1, "percentage": "1.00%"})
    replies = {"success": True, "message": "ok", "data": {"lead_responses_by_category": {"leadResponseGrouping": grouping}}}
    campaigns, analytics = [], {}
    for i in range(selected + unselected):
        campaign_id = 50_000 + i
        status = ("ACTIVE", "PAUSED")[i % 2] if i < selected else UNSELECTED_STATUSES[i % len(UNSELECTED_STATUSES)]
        campaign = {"id": campaign_id, "name": f"Campaign {i}", "status": status, "client_id": i % 7 or None,
                    "created_at": "2025-07-01T09:12:44.912Z", "parent_campaign_id": None}
        campaigns.append(campaign)
        analytics[campaign_id] = {**ANALYTICS, **{k: campaign[k] for k in ("id", "name", "status", "client_id")}}
    boxes = [{**MAILBOXES[0], "id": 90_000 + i, "from_email": f"sender{i}@generated.example", "client_id": i % 7 or None,
              "warmup_details": {"status": "ACTIVE", "warmup_reputation": f"{90 + i % 10}%", "is_warmup_blocked": False}}
             for i in range(mailboxes)]
    return Account(cats, replies, campaigns, analytics, boxes)


def serve(account: Account, key: str) -> ThreadingHTTPServer:
    """A server on a free loopback port answering `account` for `key` and SmartLead's 401 for
    any other key, in a daemon thread; its base URL is base_url(server). The caller shuts it
    down (shutdown(), server_close())."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server name)
            url = urllib.parse.urlsplit(self.path)
            if urllib.parse.parse_qs(url.query).get("api_key") == [key]:
                status, body = account.answer(url.path, url.query)
            else:
                status, body = 401, '{"message":"Invalid API Key"}'
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            # The rate-limit headers SmartLead sends with every answer.
            self.send_header("X-RateLimit-Limit", "60")
            self.send_header("X-RateLimit-Remaining", "59")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def base_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
