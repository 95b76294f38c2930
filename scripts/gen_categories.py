#!/usr/bin/env python3
"""Writes a SmartLead `GET /leads/fetch-categories` answer with N categories to stdout.

Used by scripts/bench.sh as the body the SmartLead stand-in serves. The shape follows what
SmartLead really sends (see docs/collectors.md, "What the exporter accepts from SmartLead"):
SmartLead's nine global categories first, then user-created ones with ids ascending,
sentiments mixed (some null, some unknown), a timestamp on most, and the odd name that needs
escaping. About 110 bytes per category: 100,000 categories make about 11 MB.

Usage: gen_categories.py N
"""

import json
import sys

# SmartLead's real global categories (ids 1 to 9), as the demo stand-in serves them.
GLOBALS = [
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

# User categories cycle through these sentiments: mostly set, some null, one unknown value.
SENTIMENTS = ["positive", "negative", "neutral", None, "positive", "mixed"]

# User-created ids start here, as on a real account (ids below belong to SmartLead).
FIRST_USER_ID = 1000

# Every this many user categories, the name holds a double quote, which must be escaped.
QUOTED_EVERY = 97

# Every this many user categories, created_at is null.
UNDATED_EVERY = 13


def category(i):
    """The i-th element (0-based) as a compact JSON object."""
    if i < len(GLOBALS):
        cid, name, sentiment = GLOBALS[i]
        created = "2022-08-30T06:13:04.000Z"
    else:
        n = i - len(GLOBALS)
        cid = FIRST_USER_ID + n
        name = f'Say "hi" {cid}' if n % QUOTED_EVERY == 0 else f"Follow Up Later {cid}"
        sentiment = SENTIMENTS[n % len(SENTIMENTS)]
        created = None if n % UNDATED_EVERY == 0 else (
            f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}T10:30:00.000Z"
        )
    return json.dumps(
        {"id": cid, "name": name, "sentiment_type": sentiment, "created_at": created},
        separators=(",", ":"),
    )


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: gen_categories.py N   (N: how many categories, e.g. 1000)")
    n = int(sys.argv[1])
    out = sys.stdout
    out.write("[")
    for i in range(n):
        if i:
            out.write(",")
        out.write(category(i))
    out.write("]\n")


if __name__ == "__main__":
    main()
