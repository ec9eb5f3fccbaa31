"""Input folders for the report's and the notebook helper's tests (and the report's
screenshot in docs/): real text, shaped like what real stores hold.

`analyst_input` is the committed sample (data/raw: dates, a few publishers, a German
article) plus 200 BBC articles as a JSONL export from 16 outlets over 40 days, with
stories several outlets tell (the same body under new headlines), one title too
long for a table, and markup in a title and a publisher name (escaped in the JSON, as
feeds double-escape it, so the store holds the literal `<script>`), which the report
must show as text. One broken record makes a reject.
"""

from __future__ import annotations

import html
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import BBC, RAW

OUTLETS = [f"Outlet {name}" for name in (
    "Ashford Herald", "Brixton Post", "Carlisle Courier", "Dover Daily", "Exeter Echo", "Fife Free Press", "Gower Gazette",
    "Hull Mail", "Ipswich Star", "Jarrow Journal", "Kendal Times", "Leith Ledger", "Morecambe Visitor", "Newry Reporter")]
HOSTILE_PUBLISHER = '<img src=x onerror="alert(1)">Wire & Co'
HOSTILE_TITLE = '<script>alert("title")</script> Minister pledges $5m & more for <b>rural</b> buses'
LONG_TITLE = ("Council approves a twenty-year plan for the harbour, the railway station, three schools and the old market hall "
              "after a consultation that drew more responses than any before it")
START = datetime(2024, 3, 1, 7, 0, tzinfo=UTC)


def bbc_records(per_category: int) -> list[dict]:
    """The first `per_category` articles of each BBC category as (title, body) records."""
    records = []
    for category in sorted(p.name for p in BBC.iterdir() if p.is_dir()):
        for path in sorted((BBC / category).glob("*.txt"))[:per_category]:
            title, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
            records.append({"title": title.strip(), "text": body.strip(), "section": category})
    return records


def analyst_input(folder: Path) -> Path:
    shutil.copytree(RAW, folder)
    records = bbc_records(40)
    rows = []
    for index, record in enumerate(records):
        published = START + timedelta(days=index % 40, hours=index % 9)
        rows.append({**record, "publisher": OUTLETS[index % len(OUTLETS)], "published_at": published.isoformat(), "id": f"wire-{index}"})
    # Both head stories with copies, so the largest-stories table shows them.
    rows[6] = {**rows[6], "title": html.escape(HOSTILE_TITLE)}
    rows[12] = {**rows[12], "title": LONG_TITLE}
    # Stories several outlets tell: the same body a day later, under another outlet's headline.
    for index in range(0, 60, 6):
        outlets = (HOSTILE_PUBLISHER, OUTLETS[(index + 5) % len(OUTLETS)], OUTLETS[(index + 9) % len(OUTLETS)])
        for copy, outlet in enumerate(outlets[: 1 + index // 6 % 3]):
            original = rows[index]
            title = html.unescape(original["title"])
            rows.append({**original, "id": f"{original['id']}-copy{copy}", "publisher": html.escape(outlet), "title": html.escape(f"{title}, update {copy + 1}"),
                         "published_at": (datetime.fromisoformat(original["published_at"]) + timedelta(days=1)).isoformat()})
    lines = [json.dumps(row, ensure_ascii=False) for row in rows] + ['{"title": "broken", "text": ']
    (folder / "wire").mkdir()
    (folder / "wire" / "export.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def one_article_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(BBC / "politics" / "001.txt", folder / "001.txt")
    return folder


def rejects_only_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "empty.txt").write_bytes(b"")
    (folder / '<b onclick="x">odd & co.jsonl').write_text('{"title": broken\n', encoding="utf-8")
    return folder
