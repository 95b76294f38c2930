"""What a healthy SmartLead account answers on each endpoint the exporter calls, in the shapes
real clients parse (counters as strings, `"95%"`), small: three categories, replies in two of
them, one active campaign with its analytics, two mailboxes. The deploy tests' stand-ins serve it
for a good key, on loopback; how they fail for other keys is theirs.

    status, body = answer("/api/v1/campaigns/", "api_key=...")
"""

from __future__ import annotations

import json
import urllib.parse

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


def answer(path: str, query: str = "") -> tuple[int, str]:
    """The status and JSON body a healthy account answers to GET path?query."""
    segments = [s for s in path.removeprefix(BASE_PATH).split("/") if s]
    params = urllib.parse.parse_qs(query)
    match segments:
        case ["leads", "fetch-categories"]:
            return 200, json.dumps(CATEGORIES)
        case ["analytics", "lead", "category-wise-response"]:
            if not (params.get("start_date") and params.get("end_date")):
                return 400, '{"success":false,"message":"start_date and end_date are required"}'
            return 200, json.dumps(REPLIES)
        case ["campaigns"]:
            return 200, json.dumps(CAMPAIGNS)
        case ["campaigns", campaign, "analytics"]:
            return 200, json.dumps(ANALYTICS if campaign == str(CAMPAIGN_ID) else {})
        case ["email-accounts"]:
            offset = int(params.get("offset", ["0"])[0])
            return 200, json.dumps(MAILBOXES[offset:])
    return 404, '{"message":"Not Found"}'
