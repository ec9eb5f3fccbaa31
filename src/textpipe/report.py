"""The analyst's report: one self-contained HTML page about a store, with charts.

`write_report` reads the datasets through `textpipe.store` and writes the page
atomically: coverage and tone per day (or per topic, for a store without dates), the
largest stories, the most mentioned terms, sentiment by publisher, rejects by reason
and the topic table. Charts are matplotlib figures inlined as SVG (text drawn as
paths): the page loads nothing, and its Content-Security-Policy forbids loading or
running anything. Every text from the input (titles, publishers, terms, file names)
is HTML-escaped, and matplotlib is told not to read `$...$` in it as mathematics.

pandas and matplotlib are imported only when a page is rendered: `is_current`, which
every run calls, must cost a run with nothing new neither (~1 s of imports).
"""

from __future__ import annotations

import hashlib
import html
import math
import io
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from textpipe import store

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

REPORT_NAME = "report.html"
# Bumped when the page changes, so that a store's report is written again by the next run.
LAYOUT_VERSION = "1"
STATE_META = "textpipe-report-of"
TOP_TOPICS = 8
TOP_PUBLISHERS = 12
TOP_STORIES = 15
TOP_TERMS = 25
TITLE_CHARS = 110
# Bars per coverage chart at most: a longer span is counted per week, then per month.
MAX_PERIODS = 120
NO_TOPIC, OTHER_TOPICS = "(no topic)", "other topics"
NO_PUBLISHER, OTHER_PUBLISHERS = "(not known)", "other publishers"


def default_path(output: Path) -> Path:
    return output / REPORT_NAME


# ---------------------------------------------------------------- is the report current?


def store_state(output: Path) -> str:
    """A digest of everything the page shows that a run can change: the derived datasets'
    marks (articles added, refits), the runs that rejected input, the current model."""
    runs = store.read_dataset(output, "runs", ["run_id", "n_rejected"])
    rejecting = sorted(r["run_id"] for r in runs.to_pylist() if r["n_rejected"])
    parts = [LAYOUT_VERSION, current_model_id(output) or "", *(f"{name}={store.derived_from(output, name)}" for name in store.DERIVED), *rejecting]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def is_current(output: Path, path: Path | None = None) -> bool:
    """Whether the report at `path` (default `<output>/report.html`) shows the store as it is."""
    try:
        with open(path or default_path(output), "rb") as page:
            head = page.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return f'<meta name="{STATE_META}" content="{store_state(output)}">' in head


def current_model_id(output: Path) -> str | None:
    model_dir = store.current_model_path(output)
    return model_dir.name if model_dir else None


# ---------------------------------------------------------------- headline numbers


@dataclass(frozen=True)
class Headline:
    """The numbers at the top of the page (and of the run's `report` artifact)."""

    articles: int
    scored: int  # with a sentiment score
    sentiment_mean: float | None
    first_date: date | None
    last_date: date | None
    undated: int
    stories: int
    stories_with_copies: int
    stories_across_publishers: int
    publishers: int
    model_id: str | None
    topics: int
    terms: int
    rejects: int

    def rows(self) -> list[tuple[str, str]]:
        dates = f"{self.first_date} to {self.last_date}" if self.first_date else "none (no article has a publication date)"
        if self.first_date and self.undated:
            dates += f"; {self.undated:,} without one"
        return [
            ("articles", f"{self.articles:,}"),
            ("with a sentiment score", f"{self.scored:,}" + (f" ({self.articles - self.scored:,} without: not English, or no sentence)" if self.articles > self.scored else "")),
            ("mean sentiment (VADER compound)", _signed(self.sentiment_mean)),
            ("publication dates", dates),
            ("stories", f"{self.stories:,} ({self.stories_with_copies:,} with copies, {self.stories_across_publishers:,} told by several publishers)"),
            ("publishers", f"{self.publishers:,}" if self.publishers else "none known"),
            ("topics", f"{self.topics} (model {self.model_id})" if self.model_id else "no topic model yet"),
            ("terms (names) mentioned", f"{self.terms:,}"),
            ("rejected inputs", f"{self.rejects:,}"),
        ]

    def one_line(self) -> str:
        return (f"{self.articles:,} articles, {self.stories_with_copies:,} {'story' if self.stories_with_copies == 1 else 'stories'} with copies, {self.publishers:,} publishers, "
                f"{self.topics} topics, {self.terms:,} terms, {self.rejects:,} rejects")


def headline_markdown(headline: Headline, path: Path) -> str:
    """The run's `report` artifact: where the page is, and its headline numbers."""
    lines = [f"Report: `{path.resolve()}` (open it in a browser; it needs no network)", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {_markdown_cell(value)} |" for label, value in headline.rows()]
    return "\n".join(lines)


def _markdown_cell(value: str) -> str:
    return value.replace("|", "\\|")


def _signed(value: object) -> str:
    """A mean compound as +0.123; n/a for None, NaN and pandas' NA."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(number) else f"{number:+.3f}"


# ---------------------------------------------------------------- reading the store


@dataclass
class _Store:
    """What the page shows, read once; small pandas frames."""

    output: Path
    model_id: str | None
    trends: pd.DataFrame  # every model's rows, `topic` labelled for the current model
    topics: pd.DataFrame  # the current model's
    stories: pd.DataFrame  # the largest, with `publishers`
    n_stories: int
    n_with_copies: int
    n_across_publishers: int
    n_articles: int
    n_publishers: int
    terms: pd.DataFrame  # summed over dates, most mentioned first
    rejects: pd.DataFrame  # reason, n, example
    stale: list[str]

    @property
    def current(self) -> pd.DataFrame:
        """Trends rows of the current model (all rows when the store has no model)."""
        return self.trends[self.trends.model_id == self.model_id] if self.model_id else self.trends


def _read(output: Path) -> _Store:
    from textpipe import derived
    from textpipe.reader import StoreReader, sum_terms

    reader = StoreReader(output)
    trends = reader.trends(all_models=True)
    for column in ("n_articles", "n_stories", "n_positive", "n_neutral", "n_negative"):
        trends[column] = trends[column].astype("int64")  # never null: plain integers for matplotlib
    trends["sentiment_mean"] = trends.sentiment_mean.astype("float64")
    ids = trends.topic_id.astype("string")
    trends["topic"] = (ids + " · " + trends.topic_label.astype("string")).fillna("topic " + ids).fillna(NO_TOPIC).astype(object)
    trends["publisher"] = trends.publisher.fillna(NO_PUBLISHER)
    trends["scored"] = trends.n_positive + trends.n_neutral + trends.n_negative
    publishers = store.read_dataset(output, "articles", ["publisher"]).column("publisher")
    sizes = store.read_dataset(output, "stories", ["n_articles", "n_publishers"])
    rejects = reader.rejects()
    return _Store(
        output=output, model_id=reader.model_id, trends=trends, topics=reader.topics(),
        stories=reader.stories(min_articles=2, limit=TOP_STORIES), n_stories=sizes.num_rows,
        n_with_copies=_count(pc.greater(sizes.column("n_articles"), 1)),
        n_across_publishers=_count(pc.greater(sizes.column("n_publishers"), 1)),
        n_articles=len(publishers), n_publishers=len(pc.unique(publishers).drop_null()),
        terms=sum_terms(store.read_dataset(output, "terms")),
        rejects=rejects.groupby("reason").agg(n=("source", "size"), example=("source", "first")).sort_values("n", ascending=False).reset_index(),
        stale=derived.stale(output),
    )


def _count(mask: pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)


def headline_of(data: _Store) -> Headline:
    trends = data.trends
    scored = int(trends.scored.sum())
    dated = trends.dropna(subset=["date"])
    return Headline(
        articles=data.n_articles, scored=scored, sentiment_mean=_weighted_mean(trends),
        first_date=dated.date.min().date() if len(dated) else None, last_date=dated.date.max().date() if len(dated) else None,
        undated=int(trends[trends.date.isna()].n_articles.sum()), stories=data.n_stories, stories_with_copies=data.n_with_copies,
        stories_across_publishers=data.n_across_publishers, publishers=data.n_publishers, model_id=data.model_id,
        topics=len(data.topics), terms=len(data.terms), rejects=int(data.rejects.n.sum()),
    )


def _weighted_mean(rows: pd.DataFrame) -> float | None:
    """The mean compound of the scored articles behind trends rows (each row's mean weighs its scored count)."""
    scored = rows.scored.sum()
    return float((rows.sentiment_mean.fillna(0.0) * rows.scored).sum() / scored) if scored else None


def _tone(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Trends rows summed per `keys`: articles, scored articles and their mean compound."""
    frame = rows.assign(weighted=rows.sentiment_mean.fillna(0.0) * rows.scored)
    grouped = frame.groupby(keys, dropna=False)[["n_articles", "scored", "weighted"]].sum()
    grouped["sentiment_mean"] = (grouped.weighted / grouped.scored).where(grouped.scored > 0)
    return grouped.drop(columns="weighted").reset_index()


def _top_n(values: pd.Series, weights: pd.Series, n: int, other: str, unknown: str | None = None) -> pd.Series:
    """`values` with all but the n heaviest replaced by `other` (kept whole when only one more
    would go); `unknown` (no topic, no publisher) stays itself and is not counted in n."""
    known = values != unknown
    totals = weights[known].groupby(values[known]).sum().sort_values(ascending=False, kind="stable")
    if len(totals) <= n + 1:
        return values
    return values.where(values.isin({*totals.index[:n], unknown}), other)


# ---------------------------------------------------------------- charts


def _text_inches(texts: list[str], points: float = 10.0) -> float:
    """Width of the widest of `texts` in DejaVu Sans (matplotlib's font) at `points`, in inches."""
    from matplotlib.font_manager import FontProperties, findfont, get_font

    font = get_font(findfont(FontProperties()))
    font.set_size(points, 72)
    widest = 0.0
    for text in texts:
        font.set_text(text, 0.0)
        widest = max(widest, font.get_width_height()[0] / 64 / 72)
    return widest


def _axes(width: float, height: float, left: float, right: float = 0.25, bottom: float = 0.6, top: float = 0.15) -> tuple[Figure, Any]:
    """A figure with one axes placed by margins in inches.

    Margins are measured from the labels instead of by `layout="constrained"`, which
    lays every text out several times: 0.4 s of a 20,000-article report's 1 s.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((left / width, bottom / height, 1 - (left + right) / width, 1 - (bottom + top) / height))
    return figure, axes


def _legend_right(figure: Figure, axes: Any, title: str) -> None:
    """The axes' legend in the figure's right margin."""
    width, height = figure.get_size_inches()
    box = axes.get_position()
    figure.legend(*axes.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(box.x1 + 0.15 / width, box.y1),
                  fontsize="small", title=title, title_fontsize="small", frameon=False)


def _legend_inches(labels: list[str]) -> float:
    return _text_inches(labels, 8.33) + 0.75


def _svg(figure: Figure, caption: str) -> str:
    """The figure as inline SVG (no XML prolog), in a <figure> with an escaped caption."""
    import matplotlib

    buffer = io.StringIO()
    # Text as paths: the page needs no font. No mathtext: a title's "$5m ... $2m" is text.
    with matplotlib.rc_context({"svg.fonttype": "path", "text.parse_math": False, "svg.hashsalt": "textpipe"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    return f'<figure class="chart" role="img" aria-label="{_e(caption)}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _colors(names: list[str]) -> dict[str, Any]:
    """One colour per topic or publisher, the same in every chart; grey for the catch-alls."""
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    named = [n for n in names if n not in (OTHER_TOPICS, NO_TOPIC, OTHER_PUBLISHERS, NO_PUBLISHER)]
    colors: dict[str, Any] = {name: palette[i % len(palette)] for i, name in enumerate(named)}
    return colors | {OTHER_TOPICS: "#b0b0b0", OTHER_PUBLISHERS: "#b0b0b0", NO_TOPIC: "#707070", NO_PUBLISHER: "#707070"}


def _periods(dates: pd.Series) -> tuple[pd.Series, str, str]:
    """Dates grouped into at most about MAX_PERIODS periods: (period start, 'day'|'week'|'month', pandas frequency)."""
    span = (dates.max() - dates.min()).days + 1
    if span <= MAX_PERIODS:
        return dates, "day", "D"
    if span <= 7 * MAX_PERIODS:
        return dates.dt.to_period("W").dt.start_time, "week", "W-MON"
    return dates.dt.to_period("M").dt.start_time, "month", "MS"


def _coverage_charts(rows: pd.DataFrame) -> tuple[str, str]:
    """Articles per period by topic (stacked) and mean sentiment per period per topic (lines)."""
    import numpy as np
    import pandas as pd

    rows = rows.assign(topic=_top_n(rows.topic, rows.n_articles, TOP_TOPICS, OTHER_TOPICS, NO_TOPIC))
    period, unit, freq = _periods(rows.date)
    per = _tone(rows.assign(period=period), ["period", "topic"])
    totals = per.groupby("topic").n_articles.sum().sort_values(ascending=False, kind="stable")
    order = [t for t in totals.index if t not in (OTHER_TOPICS, NO_TOPIC)] + [t for t in (OTHER_TOPICS, NO_TOPIC) if t in totals.index]
    colors = _colors(order)
    # Every period on the axis: a period without articles is a gap, not a line across it.
    every = pd.date_range(per.period.min(), per.period.max(), freq=freq)
    counts = per.pivot(index="period", columns="topic", values="n_articles").reindex(index=every, columns=order).fillna(0)
    # Stacked bars drawn as one stepped band per topic: a Rectangle per bar costs ~1 ms each to lay out.
    edges = np.append(every.to_numpy(), (every[-1] + every.freq).to_datetime64())
    right = _legend_inches(order)
    figure, axes = _axes(10, 4.2, left=0.8, right=right)
    bottom = np.zeros(len(every) + 1)
    for topic in order:
        top = bottom + np.append(counts[topic].to_numpy(), counts[topic].iloc[-1])
        axes.fill_between(edges, bottom, top, step="post", color=colors[topic], label=topic, linewidth=0)
        bottom = top
    _date_axis(axes)
    axes.set_xlim(edges[0], edges[-1])
    axes.set_ylabel(f"articles per {unit}")
    axes.set_ylim(bottom=0)
    _whole_numbers(axes.yaxis)
    _legend_right(figure, axes, "topic")
    coverage = _svg(figure, f"Articles per {unit} by topic (stacked); the {TOP_TOPICS} largest topics of the current model, the rest as '{OTHER_TOPICS}'.")
    means = per.pivot(index="period", columns="topic", values="sentiment_mean").reindex(index=every, columns=order)
    middles = edges[:-1] + (edges[1:] - edges[:-1]) / 2  # each point in the middle of its bar
    figure, axes = _axes(10, 4.2, left=0.8, right=right)
    for topic in order:
        if means[topic].notna().any():
            axes.plot(middles, means[topic], marker="o", markersize=2.5, linewidth=1.2, label=topic, color=colors[topic])
    axes.axhline(0.0, color="#999999", linewidth=0.8)
    _date_axis(axes)
    axes.set_xlim(edges[0], edges[-1])
    axes.set_ylabel("mean sentiment (compound)")
    _legend_right(figure, axes, "topic")
    tone = _svg(figure, f"Mean sentiment (VADER compound, -1 to 1) per {unit} per topic, over the articles with a score; a gap is a {unit} without one.")
    return coverage, tone


def _whole_numbers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _date_axis(axes: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.grid(axis="y", color="#e5e5e5")
    axes.set_axisbelow(True)


def _per_topic_charts(rows: pd.DataFrame) -> str:
    """For a store without dates: articles and mean sentiment per topic, side by side."""
    per = _tone(rows, ["topic"]).sort_values("n_articles", ascending=True, kind="stable")
    colors = _colors(list(per.topic[::-1]))
    from matplotlib.figure import Figure

    width, height, left = 10.0, 0.75 + 0.3 * len(per), _text_inches(list(per.topic)) + 0.2
    figure = Figure(figsize=(width, height))
    panel = (width - left - 0.5) / 2
    count_axes = figure.add_axes((left / width, 0.6 / height, panel / width, 1 - 0.75 / height))
    tone_axes = figure.add_axes(((left + panel + 0.3) / width, 0.6 / height, panel / width, 1 - 0.75 / height), sharey=count_axes)
    tone_axes.tick_params(labelleft=False)
    count_axes.barh(per.topic, per.n_articles, color=[colors[t] for t in per.topic])
    count_axes.set_xlabel("articles")
    _whole_numbers(count_axes.xaxis)
    tone_axes.barh(per.topic, per.sentiment_mean.fillna(0.0), color=[colors[t] for t in per.topic])
    tone_axes.axvline(0.0, color="#999999", linewidth=0.8)
    tone_axes.set_xlabel("mean sentiment (compound)")
    for axes in (count_axes, tone_axes):
        axes.grid(axis="x", color="#e5e5e5")
        axes.set_axisbelow(True)
    return _svg(figure, "Articles per topic of the current model, and their mean sentiment (VADER compound, -1 to 1).")


def _terms_chart(terms: pd.DataFrame) -> str:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    top = terms.head(TOP_TERMS).iloc[::-1]
    norm, cmap = Normalize(-0.5, 0.5), colormaps["RdYlGn"]
    names = [_short(t, 40) for t in top.term]
    width, height = 10.0, 0.75 + 0.27 * len(top)
    figure, axes = _axes(width, height, left=_text_inches(names) + 0.2, right=1.4)
    axes.barh(names, top.n_sentences, color=[cmap(norm(v)) if v == v else "#cccccc" for v in top.sentiment_mean])
    axes.set_xlabel("sentences that mention it")
    _whole_numbers(axes.xaxis)
    axes.grid(axis="x", color="#e5e5e5")
    axes.set_axisbelow(True)
    box = axes.get_position()
    scale = figure.add_axes((box.x1 + 0.3 / width, box.y0 + box.height * 0.1, 0.15 / width, box.height * 0.8))
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=scale, label="mean sentiment of those sentences")
    return _svg(figure, f"The {len(top)} most mentioned terms, coloured by the mean sentiment of the sentences that name them (grey: none scored).")


def _publisher_chart(per: pd.DataFrame) -> str:
    per = per.iloc[::-1]
    names = [_short(p, 40) for p in per.publisher]
    figure, axes = _axes(10, 0.75 + 0.3 * len(per), left=_text_inches(names) + 0.2)
    values = per.sentiment_mean.fillna(0.0)
    axes.barh(names, values, color=["#3a8f5c" if v >= 0 else "#c0504d" for v in values])
    axes.axvline(0.0, color="#999999", linewidth=0.8)
    for y, (value, n) in enumerate(zip(values, per.n_articles, strict=True)):
        axes.annotate(f" n={n:,}", (value, y), va="center", ha="left" if value >= 0 else "right", fontsize="x-small")
    axes.set_xlabel("mean sentiment (compound)")
    axes.margins(x=0.2)
    axes.grid(axis="x", color="#e5e5e5")
    axes.set_axisbelow(True)
    return _svg(figure, f"Mean sentiment per publisher (VADER compound, -1 to 1; n = articles); the {TOP_PUBLISHERS} with the most articles, the rest as '{OTHER_PUBLISHERS}'.")


def _rejects_chart(rejects: pd.DataFrame) -> str:
    per = rejects.iloc[::-1]
    figure, axes = _axes(8, 0.75 + 0.3 * len(per), left=_text_inches(list(per.reason)) + 0.2)
    axes.barh(per.reason, per.n, color="#c0504d")
    axes.set_xlabel("rejected files and records")
    _whole_numbers(axes.xaxis)
    axes.grid(axis="x", color="#e5e5e5")
    axes.set_axisbelow(True)
    return _svg(figure, "Rejected inputs by reason code (see docs/reliability.md in textpipe's repository).")


# ---------------------------------------------------------------- the page


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _articles(n: int, one: str = "has", many: str = "have") -> str:
    """'1 article has', '2,000 articles have'."""
    return f"1 article {one}" if n == 1 else f"{n:,} articles {many}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """An HTML table; cells are already escaped HTML."""
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{_e(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{cell}</td>' for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{"".join(parts)}</section>'


def _coverage_section(data: _Store) -> str:
    rows = data.current
    if not len(rows):
        return _section("coverage", "Coverage and tone by topic", _note("No articles yet."))
    earlier = int(data.trends.n_articles.sum() - rows.n_articles.sum())
    parts = []
    if earlier:
        parts.append(_note(f"{_articles(earlier, 'carries', 'carry')} topics of an earlier model, left out here; "
                           "<code>textpipe refit</code> reassigns every article to one model."))
    dated = rows.dropna(subset=["date"])
    undated = int(rows[rows.date.isna()].n_articles.sum())
    if len(dated):
        if undated:
            parts.append(_note(f"{_articles(undated)} no publication date and {'is' if undated == 1 else 'are'} not in the per-day charts."))
        parts += _coverage_charts(dated)
    else:
        parts.append(_note("No article in this store has a publication date (<code>published_at</code>), so there is nothing "
                           "to chart per day: coverage and tone are shown per topic instead."))
        parts.append(_per_topic_charts(rows))
    unscored = int(rows.n_articles.sum() - rows.scored.sum())
    if unscored:
        parts.append(_note(f"{_articles(unscored)} no sentiment score (not in English, or no sentence): "
                           f"{'it counts' if unscored == 1 else 'they count'} in coverage, not in tone."))
    return _section("coverage", "Coverage and tone by topic", *parts)


def _stories_section(data: _Store) -> str:
    if not data.n_articles:
        return _section("stories", "Largest stories", _note("No articles yet."))
    if not len(data.stories):
        only = "The store has one article" if data.n_articles == 1 else f"No two of the {data.n_articles:,} articles are copies of one another"
        return _section("stories", "Largest stories", _note(f"{only}: every story has one article."))
    rows = []
    for rank, story in enumerate(data.stories.itertuples(), start=1):
        shown = ", ".join(_e(p) for p in story.publishers[:5]) + (f" and {len(story.publishers) - 5} more" if len(story.publishers) > 5 else "")
        rows.append([str(rank), f'<span title="{_e(story.title)}">{_e(_short(story.title, TITLE_CHARS))}</span>', shown or "<i>not known</i>",
                     f"{story.n_articles:,}", f"{story.n_publishers:,}", f"{story.first_seen:%Y-%m-%d}&nbsp;{story.first_seen:%H:%M}"])
    intro = _note(f"Stories are articles that are copies of one another (wire copy, a new headline, a dropped paragraph). "
                  f"{data.n_with_copies:,} of {data.n_stories:,} stories have copies, {data.n_across_publishers:,} from several publishers; "
                  f"the {len(rows)} largest (first seen: the earliest publication time, or when textpipe read an article without one):")
    header = ["#", "title (of the earliest article)", "publishers", "articles", "n publishers", "first seen (UTC)"]
    return _section("stories", "Largest stories", intro, _table(header, rows, {0, 3, 4}))


def _terms_section(data: _Store) -> str:
    terms = data.terms
    if not len(terms):
        return _section("terms", "Most mentioned terms", _note("No term (name or capitalized phrase) has been counted yet; terms are counted in English articles."))
    rows = [[_e(t.term), f"{t.n_sentences:,}", f"{t.n_articles:,}", _signed(t.sentiment_mean if t.n_scored else None)] for t in terms.head(TOP_TERMS).itertuples()]
    return _section("terms", "Most mentioned terms", _terms_chart(terms), _table(["term", "sentences", "articles", "mean sentiment"], rows, {1, 2, 3}))


def _publishers_section(data: _Store) -> str:
    trends = data.trends
    if not len(trends):
        return _section("publishers", "Sentiment by publisher", _note("No articles yet."))
    if (trends.publisher == NO_PUBLISHER).all():
        return _section("publishers", "Sentiment by publisher", _note("No article in this store names its publisher (a record's field, a feed's title, a "
                        "<code>publisher=&lt;name&gt;</code> folder or the URL's host), so there is nothing to compare."))
    rows = trends.assign(publisher=_top_n(trends.publisher, trends.n_articles, TOP_PUBLISHERS, OTHER_PUBLISHERS, NO_PUBLISHER))
    per = _tone(rows, ["publisher"])
    per["order"] = per.publisher.isin([OTHER_PUBLISHERS, NO_PUBLISHER])
    per = per.sort_values(["order", "n_articles", "publisher"], ascending=[True, False, True])
    table = [[_e(p.publisher), f"{p.n_articles:,}", f"{p.scored:,}", _signed(p.sentiment_mean)] for p in per.itertuples()]
    return _section("publishers", "Sentiment by publisher", _publisher_chart(per), _table(["publisher", "articles", "with a score", "mean sentiment"], table, {1, 2, 3}))


def _rejects_section(data: _Store) -> str:
    if not len(data.rejects):
        return _section("rejects", "Rejected inputs", _note("Nothing was rejected: every input file and record was read."))
    rows = [[_e(r.reason), f"{r.n:,}", f"<code>{_e(_short(r.example, 80))}</code>"] for r in data.rejects.itertuples()]
    return _section("rejects", "Rejected inputs", _rejects_chart(data.rejects), _table(["reason", "files and records", "for example"], rows, {1}))


def _topics_section(data: _Store) -> str:
    if not len(data.topics):
        return _section("topics", "Topics", _note("No topic model yet."))
    tone = _tone(data.current, ["topic_id"]).set_index("topic_id") if len(data.current) else None
    total = max(int(data.topics.n_articles.sum()), 1)
    rows = []
    for t in data.topics.itertuples():
        mean = tone.sentiment_mean.get(t.topic_id) if tone is not None else None
        rows.append([str(t.topic_id), _e(t.label), _e(", ".join(list(t.top_terms)[:10])), f"{t.n_articles:,}", f"{t.n_articles / total:.0%}",
                     _signed(mean), _signed(t.coherence)])
    return _section("topics", f"Topics (model {data.model_id})", _table(["topic", "label", "top terms", "articles", "share", "mean sentiment", "coherence"], rows, {0, 3, 4, 5, 6}))


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222;line-height:1.4}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#666;margin-top:0}.note{color:#555}.warn{color:#8a4b00}
nav a{margin-right:1rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}th,td{border-bottom:1px solid #e3e3e3;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}.num{text-align:right;font-variant-numeric:tabular-nums}
figure.chart{margin:1rem 0}figure.chart svg{max-width:100%;height:auto;display:block}figcaption{color:#555;font-size:.9rem}
dl.headline{display:grid;grid-template-columns:max-content auto;gap:.25rem 1.2rem}dl.headline dt{color:#555}dl.headline dd{margin:0;font-weight:600}
"""

# No script, font, image or style may come from anywhere: the page works offline, and
# markup that slipped into an article's text could run nothing.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render(output: Path) -> tuple[str, Headline]:
    """The report page of the store at `output`, and its headline numbers."""
    data = _read(output)
    headline = headline_of(data)
    generated = datetime.now(UTC)
    stale = (_note(f'<span class="warn">{_e(", ".join(data.stale))} were counted before the latest run (it was interrupted); '
                   "the next <code>textpipe run</code> recounts them.</span>") if data.stale else "")
    headline_list = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in headline.rows())
    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in (("coverage", "coverage and tone"), ("stories", "stories"), ("terms", "terms"),
                                                                 ("publishers", "publishers"), ("rejects", "rejects"), ("topics", "topics")))
    body = "".join([
        _coverage_section(data), _stories_section(data), _terms_section(data),
        _publishers_section(data), _rejects_section(data), _topics_section(data),
    ])
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="{STATE_META}" content="{store_state(output)}">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>textpipe report: {_e(output.resolve().name)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>textpipe report</h1>
<p class="sub">Store <code>{_e(output.resolve())}</code>, written {generated:%Y-%m-%d %H:%M} UTC.</p>
{stale}<dl class="headline">{headline_list}</dl>
<nav>{nav}</nav>
{body}
</body></html>
"""
    return page, headline


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    headline: Headline


def prepare_rendering() -> None:
    """Import what rendering needs (pandas, matplotlib, its fonts) and draw one tiny chart.

    ~1 s that a run with new articles can spend early, in a thread beside its workers,
    rather than at its end, when one core waits for the page alone.
    """
    from matplotlib.figure import Figure

    import matplotlib.dates  # noqa: F401
    import matplotlib.ticker  # noqa: F401
    import pandas  # noqa: F401

    from textpipe import derived, reader  # noqa: F401

    figure = Figure(figsize=(1, 1))
    figure.add_subplot().bar([0, 1], [1, 2], label="x")
    _svg(figure, "")


def write_report(output: Path, path: Path | None = None) -> WrittenReport:
    """Render the store's report and write it to `path` (default `<output>/report.html`) atomically."""
    path = path or default_path(output)
    page, headline = render(output)
    tmp = store.tmp_path(path)
    try:
        tmp.write_text(page, encoding="utf-8")
        store.fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WrittenReport(path, headline)
