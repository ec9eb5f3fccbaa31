"""The HTML report: written by `textpipe run` and `textpipe report`, numbers equal to a
recount of the datasets with pandas, text from the input escaped, and the charts
rendered by real headless Chromium with the network off."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from textpipe import report, store
from chromium import Browser, chromium_path
from report_inputs import HOSTILE_PUBLISHER, HOSTILE_TITLE, LONG_TITLE, one_article_input, rejects_only_input

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


def textpipe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TEXTPIPE, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def stores(tmp_path_factory, analyst_store) -> dict[str, tuple[Path, Path, subprocess.CompletedProcess]]:
    """name -> (input, output, the run's result) for three stores as real runs leave them."""
    root = tmp_path_factory.mktemp("report")
    built = {"analyst": analyst_store}
    for name, make in (("one", one_article_input), ("rejects", rejects_only_input)):
        input_dir, output = make(root / f"{name}-input"), root / name
        built[name] = (input_dir, output, textpipe("run", "--input", str(input_dir), "--output", str(output)))
        assert built[name][2].returncode == 0, built[name][2].stderr[-3000:]
    return built


def read(output: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(output / name)


def page(output: Path) -> str:
    return (output / "report.html").read_text(encoding="utf-8")


class _Page(HTMLParser):
    """Every tag with its attributes, and the text of each section's table cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.notes: dict[str, list[str]] = {}
        self._section: str | None = None
        self._cell: list[str] | None = None
        self._note: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "section":
            self._section = dict(attrs)["id"]
        elif tag == "tr" and self._section:
            self.tables.setdefault(self._section, []).append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "p" and dict(attrs).get("class") == "note":
            self._note = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._section:
            self.tables[self._section][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "p" and self._note is not None:
            self.notes.setdefault(self._section or "", []).append("".join(self._note))
            self._note = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._note):
            if sink is not None:
                sink.append(data)


def parse(output: Path) -> _Page:
    parsed = _Page()
    parsed.feed(page(output))
    return parsed


def rows_of(parsed: _Page, section: str) -> list[dict[str, str]]:
    header, *rows = parsed.tables[section]
    return [dict(zip(header, row, strict=True)) for row in rows]


# ---------------------------------------------------------------- what the run leaves


def test_every_run_writes_the_report_and_its_outcome_line_names_it(stores):
    for _, output, result in stores.values():
        path = (output / "report.html").resolve()
        assert path.is_file()
        assert f"; report {path} [" in result.stdout.strip().splitlines()[-1]
        assert report.is_current(output)


def test_the_page_loads_nothing_and_runs_nothing(stores):
    """No script, stylesheet, font or image from anywhere: every reference is in the page."""
    for _, output, _ in stores.values():
        parsed = parse(output)
        tags = {tag for tag, _ in parsed.tags}
        assert not tags & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}, tags
        for tag, attrs in parsed.tags:
            for name, value in attrs.items():
                if name in ("href", "xlink:href", "src"):
                    assert value and value.startswith(("#", "data:image/png;base64,")), (tag, name, value)
                assert not name.startswith("on"), (tag, name)
        assert re.findall(r"url\((?!#)", page(output)) == [] and "@import" not in page(output)  # only clip paths: url(#id)
        csp = [a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
        assert csp and "default-src 'none'" in csp[0]


def test_text_from_articles_is_escaped(stores):
    _, output, _ = stores["analyst"]
    articles = read(output, "articles")
    assert HOSTILE_TITLE in set(articles.title) and HOSTILE_PUBLISHER in set(articles.publisher)  # the store holds the markup
    text = page(output)
    for markup in ("<script", "<b>rural", "<img", "onerror=\""):
        assert markup not in text
    assert html.escape(HOSTILE_TITLE) in text
    stories = rows_of(parse(output), "stories")
    assert HOSTILE_TITLE in [row["title (of the earliest article)"] for row in stories]
    assert any(HOSTILE_PUBLISHER in row["publishers"] for row in stories)


def test_headline_numbers_equal_a_recount(stores):
    for _, output, _ in stores.values():
        _, headline = report.render(output)
        articles, stories = read(output, "articles"), read(output, "stories")
        dates = articles.published_at.dropna().dt.date
        scored = articles.sentiment_compound.dropna()
        assert headline.articles == len(articles) and headline.scored == len(scored)
        assert headline.sentiment_mean == pytest.approx(scored.mean() if len(scored) else None)
        assert (headline.first_date, headline.last_date) == ((dates.min(), dates.max()) if len(dates) else (None, None))
        assert headline.undated == articles.published_at.isna().sum()
        assert headline.stories == len(stories) == articles.story_id.nunique()
        assert headline.stories_with_copies == (stories.n_articles > 1).sum()
        assert headline.stories_across_publishers == (articles.groupby("story_id").publisher.nunique() > 1).sum()
        assert headline.publishers == articles.publisher.nunique()
        assert headline.topics == len(read(output, "topics").query("model_id == @headline.model_id"))
        assert headline.terms == read(output, "terms").term.nunique()
        assert headline.rejects == len(read(output, "rejects"))
        shown = dict(headline.rows())
        assert f"<dd>{html.escape(shown['articles'])}</dd>" in page(output)


def test_the_largest_stories_are_those_with_the_most_articles(stores):
    _, output, _ = stores["analyst"]
    articles = read(output, "articles")
    expected = read(output, "stories").query("n_articles > 1").sort_values(
        ["n_articles", "n_publishers", "first_seen"], ascending=[False, False, True]).head(report.TOP_STORIES)
    shown = rows_of(parse(output), "stories")
    assert len(shown) == len(expected) >= 8
    for row, story in zip(shown, expected.itertuples(), strict=True):
        assert int(row["articles"]) == story.n_articles and int(row["n publishers"]) == story.n_publishers
        publishers = sorted(articles[articles.story_id == story.story_id].publisher.dropna().unique())
        assert row["publishers"].split(" and ")[0] == ", ".join(publishers[:5])
        assert row["first seen (UTC)"] == f"{story.first_seen:%Y-%m-%d}\xa0{story.first_seen:%H:%M}"
        title = row["title (of the earliest article)"]
        assert title == story.title or (len(story.title) > report.TITLE_CHARS and title.endswith("…") and story.title.startswith(title[:-1]))
    assert LONG_TITLE in [story.title for story in expected.itertuples()]
    assert f'title="{html.escape(LONG_TITLE)}"' in page(output)  # the whole title, as a tooltip


def test_many_publishers_are_cut_to_the_largest_with_the_rest_as_other(stores):
    _, output, _ = stores["analyst"]
    articles = read(output, "articles")
    counts = articles.publisher.value_counts()
    assert len(counts) > report.TOP_PUBLISHERS + 1
    shown = {row["publisher"]: int(row["articles"].replace(",", "")) for row in rows_of(parse(output), "publishers")}
    named = {name: n for name, n in shown.items() if name not in (report.OTHER_PUBLISHERS, report.NO_PUBLISHER)}
    assert len(named) == report.TOP_PUBLISHERS and all(counts[name] == n for name, n in named.items())
    assert min(named.values()) >= counts.drop(list(named)).max()
    assert shown[report.OTHER_PUBLISHERS] == counts.drop(list(named)).sum()
    assert shown[report.NO_PUBLISHER] == articles.publisher.isna().sum()


def test_top_n_keeps_the_heaviest_and_folds_the_rest():
    values = pd.Series(["a", "b", "c", "d", "a", "b", "a"])
    assert list(report._top_n(values, pd.Series([1] * 7), 2, "other")) == ["a", "b", "other", "other", "a", "b", "a"]
    assert list(report._top_n(values, pd.Series([1] * 7), 3, "other")) == list(values)  # one left out: kept whole
    unknown = pd.Series(["?", "?", "?", "a", "b", "c", "d"])
    assert list(report._top_n(unknown, pd.Series([1] * 7), 1, "other", "?")) == ["?", "?", "?", "a", "other", "other", "other"]


def test_undated_and_unscored_articles_are_said_not_charted(stores):
    _, output, _ = stores["analyst"]
    articles = read(output, "articles")
    notes = " ".join(parse(output).notes["coverage"])
    undated, unscored = articles.published_at.isna().sum(), articles.sentiment_compound.isna().sum()
    assert undated and unscored and (articles.language != "en").any()
    assert f"{undated} articles have no publication date" in notes
    assert "1 article has no sentiment score" in notes if unscored == 1 else f"{unscored} articles have no sentiment score" in notes


def test_a_store_without_dates_charts_per_topic(stores):
    _, output, _ = stores["one"]
    parsed = parse(output)
    assert "No article in this store has a publication date" in " ".join(parsed.notes["coverage"])
    coverage = page(output).split('<section id="coverage">')[1].split("</section>")[0]
    assert coverage.count('<figure class="chart"') == 1
    assert "The store has one article" in " ".join(parsed.notes["stories"])


def test_a_store_with_only_rejects_says_so_and_lists_them(stores):
    _, output, _ = stores["rejects"]
    parsed = parse(output)
    assert parsed.notes["coverage"] == ["No articles yet."]
    rejects = read(output, "rejects")
    shown = {row["reason"]: int(row["files and records"]) for row in rows_of(parsed, "rejects")}
    assert shown == rejects.reason.value_counts().to_dict() and len(shown) == 2
    assert "&lt;b onclick=&quot;x&quot;&gt;odd &amp; co.jsonl" in page(output)


def test_the_topic_table_shows_the_current_models_labels(stores):
    _, output, _ = stores["analyst"]
    topics = read(output, "topics")
    current = topics[topics.model_id == report.current_model_id(output)].sort_values("topic_id")
    shown = rows_of(parse(output), "topics")
    assert [(int(r["topic"]), r["label"], int(r["articles"])) for r in shown] == list(zip(current.topic_id, current.label, current.n_articles, strict=True))
    assert len(shown) == 12


# ---------------------------------------------------------------- when it is written


def test_a_report_lost_after_its_run_is_written_by_the_next_run_even_with_nothing_new(stores):
    # (That a rerun keeps a current report, and imports no matplotlib, is in test_e2e.)
    input_dir, output, _ = stores["one"]
    path = output / "report.html"
    path.unlink()
    rerun = textpipe("run", "--input", str(input_dir), "--output", str(output))
    assert rerun.returncode == 0 and " 0 new," in rerun.stdout
    assert path.is_file() and report.is_current(output) and f"; report {path.resolve()} [" in rerun.stdout


def test_the_report_goes_stale_when_the_store_changes(stores, tmp_path):
    _, output, _ = stores["analyst"]
    assert report.is_current(output)
    copy = tmp_path / "store"
    import shutil

    shutil.copytree(output, copy)
    assert report.is_current(copy)
    runs = read(copy, "runs")
    row = runs.iloc[0].to_dict() | {"run_id": "20990101T000000Z-ffffffff", "n_rejected": 1, "n_new": 0}
    store.write_table(copy / "runs" / store.part_name(row["run_id"]), store.table_from_rows([row], store.RUNS), store.RUNS)
    assert not report.is_current(copy)  # a run that rejected something changes the rejects table


# ---------------------------------------------------------------- textpipe report


def test_report_command_writes_the_page_where_asked(stores, tmp_path):
    _, output, _ = stores["analyst"]
    target = tmp_path / "reports" / "today.html"
    done = textpipe("report", "--output", str(output), "--to", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"textpipe report: {target} ({report.render(output)[1].one_line()})"
    assert target.read_text(encoding="utf-8").split("written")[0] == page(output).split("written")[0]
    assert [p.name for p in target.parent.iterdir()] == ["today.html"]


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_report_command_without_a_store_is_a_usage_error(tmp_path, where):
    output = tmp_path / "store"
    if where == "empty":
        output.mkdir()
    done = textpipe("report", "--output", str(output))
    assert done.returncode == 2
    assert done.stderr.strip() == f"textpipe: error: no textpipe store under {output}: run `textpipe run --output {output}` first"
    assert not (output / "report.html").exists()


def test_a_failed_write_leaves_the_old_report_and_no_temporary_file(stores, tmp_path, monkeypatch):
    _, output, _ = stores["one"]
    target = tmp_path / "report.html"
    target.write_text("the report of yesterday", encoding="utf-8")

    def disk_error(path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "fsync", disk_error)
    with pytest.raises(OSError):
        report.write_report(output, target)
    assert target.read_text(encoding="utf-8") == "the report of yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_headline_markdown_names_the_file_and_every_number(stores):
    _, output, _ = stores["analyst"]
    _, headline = report.render(output)
    markdown = report.headline_markdown(headline, output / "report.html")
    assert f"`{(output / 'report.html').resolve()}`" in markdown.splitlines()[0]
    for label, value in headline.rows():
        assert f"| {label} | {value} |" in markdown


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with Browser(tmp_path_factory.mktemp("chromium"), width=1280, height=900) as browser:
        yield browser


CHART_BOXES = """Array.from(document.querySelectorAll('figure.chart svg')).map(svg => {
  const box = svg.getBoundingClientRect();
  return {x: box.x + window.scrollX, y: box.y + window.scrollY, width: box.width, height: box.height,
          drawn: svg.querySelectorAll('path, use, image').length};
})"""


def test_chromium_renders_every_chart_and_requests_nothing(stores, browser, tmp_path):
    from PIL import Image

    # The detector itself: a page that asks for remote files shows those requests.
    control = tmp_path / "control.html"
    control.write_text('<img src="http://example.invalid/x.png"><script src="https://cdn.example.com/a.js"></script>')
    browser.open(control.as_uri())
    assert {"http://example.invalid/x.png", "https://cdn.example.com/a.js"} <= set(browser.requests())

    for name, (_, output, _) in stores.items():
        url = (output / "report.html").resolve().as_uri()
        browser.open(url)
        assert [r for r in browser.requests() if not r.startswith("data:")] == [url], name
        assert browser.log_entries() == [], name
        charts = browser.evaluate(CHART_BOXES)
        assert len(charts) == page(output).count('<figure class="chart"') >= (5 if name == "analyst" else 1), name
        for box in charts:
            assert box["width"] > 300 and box["height"] > 50 and box["drawn"] > 10, (name, box)
        # Painted, not only laid out: the first chart's pixels hold its colours.
        shot = browser.screenshot(tmp_path / f"{name}.png", clip={k: charts[0][k] for k in ("x", "y", "width", "height")})
        with Image.open(shot) as image:
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 20, name
    assert browser.evaluate("document.body.innerText").count(HOSTILE_TITLE) == 0  # the last page was another store's
    browser.open((stores["analyst"][1] / "report.html").resolve().as_uri())
    assert HOSTILE_TITLE in browser.evaluate("document.body.innerText")
    assert browser.evaluate("document.querySelectorAll('script, img, b').length") == 0
