"""Benchmark textpipe against the hand-written baseline on an N-article corpus.

Builds (or reuses) bench/corpora/N/, runs baseline and `textpipe run` alternately
under /usr/bin/time -v, reruns textpipe over its own output (incremental), checks
sentence scores and topic quality, prints a table and writes bench/results/N-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import make_corpus  # noqa: E402  (a sibling script, not an installed package)
from baseline import sentences_path  # noqa: E402

GNU_TIME = Path("/usr/bin/time")
RESULTS = BENCH / "results"
N_TOPICS = 20
SAMPLE_ARTICLES = 400
SAMPLE_SENTENCES = 2_000
# VADER compounds are rounded to 4 decimals; this only forgives float32 storage.
COMPOUND_TOLERANCE = 1e-6
TARGETS = {
    "throughput_ratio_min": 10.0,      # textpipe / baseline articles per second, at 20,000 articles
    "peak_memory_mb_max": 1536.0,      # textpipe, at 100,000 articles
    "rerun_wall_ratio_max": 0.10,      # incremental rerun / first run, at 20,000 articles
}


class BenchError(RuntimeError):
    """A benchmarked command failed or could not start; the message says which and why."""


@dataclass(frozen=True)
class Measurement:
    """One timed command: wall time and memory, seen from outside the process."""

    tool: str
    run: int
    wall_s: float
    articles_in: int
    max_rss_mb: float | None      # the largest single process (GNU time / wait4)
    tree_pss_mb: float | None     # peak of the summed PSS of the whole process tree, sampled
    output: str
    stdout_tail: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def articles_per_s(self) -> float:
        return self.articles_in / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def peak_memory_mb(self) -> float | None:
        """The figure compared with the target: the larger of whole-tree PSS and max RSS.

        Sampling can miss a short peak, so the largest process's exact max RSS
        stands in when it is higher.
        """
        known = [v for v in (self.tree_pss_mb, self.max_rss_mb) if v is not None]
        return max(known) if known else None


# ---------------------------------------------------------------- measuring


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ')'.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    return children


def _tree_pss_kb(root: int) -> int:
    children, total, stack = _children_map(), 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


class TreeMemorySampler(threading.Thread):
    """Samples the summed PSS of a process and its descendants until stopped.

    GNU time reports only the largest single process; textpipe's worker
    processes and Prefect's server add up, so their sum is sampled as well.
    """

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval_s, self.peak_kb = pid, interval_s, 0
        self._stop_event = threading.Event()
        self.available = Path(f"/proc/{os.getpid()}/smaps_rollup").exists()

    def run(self) -> None:
        while self.available and not self._stop_event.is_set():
            self.peak_kb = max(self.peak_kb, _tree_pss_kb(self.pid))
            self._stop_event.wait(self.interval_s)

    def stop(self) -> float | None:
        self._stop_event.set()
        self.join()
        return self.peak_kb / 1024 if self.available and self.peak_kb else None


def _parse_gnu_time(report: str) -> tuple[float | None, float | None]:
    wall, rss_kb = None, None
    for line in report.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key.startswith("Elapsed (wall clock) time"):
            parts = [float(p) for p in value.split(":")]
            wall = sum(p * 60**i for i, p in enumerate(reversed(parts)))
        elif key == "Maximum resident set size (kbytes)":
            rss_kb = float(value)
    return wall, (rss_kb / 1024 if rss_kb is not None else None)


def measure(tool: str, run: int, cmd: list[str], articles_in: int, output: Path, log_dir: Path) -> Measurement:
    """Run `cmd` to completion and measure it; raises BenchError when it fails."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{tool}-{run}"
    time_report = log_dir / f"{stem}.time"
    wrapped = [str(GNU_TIME), "-v", "-o", str(time_report), *cmd] if GNU_TIME.exists() else cmd
    with open(log_dir / f"{stem}.out", "wb") as out, open(log_dir / f"{stem}.err", "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = TreeMemorySampler(proc.pid)
        sampler.start()
        # wait4 gives this child's own rusage, unlike RUSAGE_CHILDREN which
        # accumulates over every command run so far.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        tree_pss = sampler.stop()
    stdout = (log_dir / f"{stem}.out").read_text(errors="replace")
    if proc.returncode != 0:
        stderr = (log_dir / f"{stem}.err").read_text(errors="replace").strip().splitlines()
        raise BenchError(
            f"{tool} run {run} exited with {proc.returncode}: {' '.join(cmd)}\n"
            + "\n".join(f"    {line}" for line in stderr[-15:])
        )
    max_rss = usage.ru_maxrss / 1024
    if time_report.exists():
        _, max_rss = _parse_gnu_time(time_report.read_text())
    return Measurement(tool, run, round(wall, 3), articles_in, max_rss, tree_pss, str(output),
                       stdout_tail=stdout.strip()[-2000:])


# ---------------------------------------------------------------- commands


def textpipe_executable(override: Path | None) -> Path:
    """The `textpipe` console script of this interpreter's environment, checked to work."""
    exe = override or Path(sys.executable).parent / "textpipe"
    if not exe.exists():
        raise BenchError(
            f"textpipe CLI not found at {exe}; install the project into this environment "
            f"(`{sys.executable} -m pip install -e .`) or pass --skip-textpipe"
        )
    check = subprocess.run([str(exe), "run", "--help"], capture_output=True, text=True)
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"`{exe} run --help` failed ({last}); the CLI is not usable yet. Use --skip-textpipe "
                         "to measure the baseline alone")
    return exe


def textpipe_cmd(exe: Path, corpus_txt: Path, out: Path, workers: int, extra: list[str]) -> list[str]:
    return [str(exe), "run", "--input", str(corpus_txt), "--output", str(out),
            "--task-runner", "processes", "--topics", str(N_TOPICS), "--workers", str(workers), *extra]


def baseline_cmd(corpus_txt: Path, out: Path) -> list[str]:
    return [sys.executable, str(BENCH / "baseline.py"), "--input", str(corpus_txt), "--output", str(out)]


# ---------------------------------------------------------------- checks


def _short_source(paths: pd.Series) -> pd.Series:
    # category/NNNNNN.txt is unique in a bench corpus, whatever prefix a tool keeps.
    return paths.astype(str).str.replace("\\", "/", regex=False).str.split("/").str[-2:].str.join("/")


def read_textpipe_articles(out: Path) -> pd.DataFrame:
    articles = pd.read_parquet(out / "articles", columns=["article_id", "source", "topic_id"])
    articles["source"] = _short_source(articles["source"])
    return articles


def sentence_equality(baseline_articles: Path, textpipe_out: Path, seed: int = 0) -> dict[str, object]:
    """Compare VADER compounds of sentences both tools cut identically, on a sample of articles.

    textpipe splits per paragraph with a trained Punkt model, the baseline per body
    with an untrained one, so only (article, exact sentence text) pairs present in
    both outputs are compared.
    """
    base_articles = pd.read_parquet(baseline_articles, columns=["path"])
    sample = sorted(random.Random(seed).sample(sorted(base_articles["path"]), min(SAMPLE_ARTICLES, len(base_articles))))
    base = pd.read_parquet(sentences_path(baseline_articles), filters=[("path", "in", sample)])
    base = base.rename(columns={"path": "source", "sentence": "text", "compound": "baseline"})

    tp_articles = read_textpipe_articles(textpipe_out)
    tp_articles = tp_articles[tp_articles["source"].isin(sample)]
    tp = pd.read_parquet(textpipe_out / "sentences", columns=["article_id", "text", "compound"],
                         filters=[("article_id", "in", list(tp_articles["article_id"]))])
    tp = tp.merge(tp_articles[["article_id", "source"]], on="article_id").rename(columns={"compound": "textpipe"})

    key = ["source", "text"]
    matched = base.drop_duplicates(key).merge(tp[[*key, "textpipe"]].drop_duplicates(key), on=key)
    compared = matched.sample(n=min(SAMPLE_SENTENCES, len(matched)), random_state=seed)
    diff = (compared["baseline"].astype("float64") - compared["textpipe"].astype("float64")).abs()
    bad = compared[diff > COMPOUND_TOLERANCE]
    return {
        "sample_articles": len(sample),
        "baseline_sentences": len(base),
        "textpipe_sentences": len(tp),
        "matched": len(matched),
        "compared": len(compared),
        "exactly_equal": int((diff == 0).sum()),
        "mismatched": len(bad),
        "max_abs_diff": float(diff.max()) if len(diff) else None,
        "mismatch_examples": [
            {"source": r.source, "text": r.text[:120], "baseline": float(r.baseline), "textpipe": float(r.textpipe)}
            for r in bad.head(5).itertuples()
        ],
        "ok": len(compared) > 0 and len(bad) == 0,
    }


def topic_nmi(categories: pd.Series, topics: pd.Series) -> float:
    return round(float(normalized_mutual_info_score(categories, topics)), 4)


def baseline_nmi(articles_parquet: Path) -> dict[str, object]:
    frame = pd.read_parquet(articles_parquet, columns=["path", "dominant_topic"])
    return {"articles": len(frame), "nmi": topic_nmi(frame["path"].str.split("/").str[0], frame["dominant_topic"])}


def textpipe_nmi(out: Path) -> dict[str, object]:
    frame = read_textpipe_articles(out)
    topics = frame["topic_id"].astype("Int64").fillna(-1)
    return {
        "articles": len(frame),
        "without_topic": int(frame["topic_id"].isna().sum()),
        "nmi": topic_nmi(frame["source"].str.split("/").str[0], topics),
    }


# ---------------------------------------------------------------- reporting


def machine() -> dict[str, object]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summarise(measurements: list[Measurement], rerun: Measurement | None) -> dict[str, object]:
    by_tool: dict[str, dict[str, float | None]] = {}
    for tool in ("baseline", "textpipe"):
        runs = [m for m in measurements if m.tool == tool]
        memory = [m.peak_memory_mb for m in runs if m.peak_memory_mb is not None]
        by_tool[tool] = {
            "articles_per_s": _median([m.articles_per_s for m in runs]),
            "wall_s": _median([m.wall_s for m in runs]),
            "max_rss_mb": max((m.max_rss_mb for m in runs if m.max_rss_mb is not None), default=None),
            "peak_memory_mb": max(memory, default=None),
        }
    base, tp = by_tool["baseline"], by_tool["textpipe"]
    ratios: dict[str, float | None] = {
        "throughput_textpipe_over_baseline": (
            tp["articles_per_s"] / base["articles_per_s"] if tp["articles_per_s"] and base["articles_per_s"] else None),
        "peak_memory_textpipe_over_baseline": (
            tp["peak_memory_mb"] / base["peak_memory_mb"] if tp["peak_memory_mb"] and base["peak_memory_mb"] else None),
        "rerun_over_first_run_wall": None,
    }
    if rerun is not None:
        first = next(m for m in measurements if m.tool == "textpipe" and m.output == rerun.output)
        ratios["rerun_over_first_run_wall"] = rerun.wall_s / first.wall_s
    return {"by_tool": by_tool, "ratios": ratios}


def targets(summary: dict[str, object], n: int) -> dict[str, object]:
    ratios, tp = summary["ratios"], summary["by_tool"]["textpipe"]
    checks = {
        "throughput_ratio": (ratios["throughput_textpipe_over_baseline"], TARGETS["throughput_ratio_min"], ">=", 20_000),
        "textpipe_peak_memory_mb": (tp["peak_memory_mb"], TARGETS["peak_memory_mb_max"], "<=", 100_000),
        "rerun_wall_ratio": (ratios["rerun_over_first_run_wall"], TARGETS["rerun_wall_ratio_max"], "<=", 20_000),
    }
    result = {}
    for name, (value, bound, op, at_n) in checks.items():
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        result[name] = {"value": value, "target": f"{op} {bound}", "judged_at_n": at_n,
                        "applies": n >= at_n, "met": met}
    return result


def print_report(results: dict[str, object], measurements: list[Measurement], rerun: Measurement | None) -> None:
    mach, corpus = results["machine"], results["corpus"]
    lines = [
        f"textpipe benchmark: {corpus['n']} articles ({corpus['path']}), "
        f"{mach['nproc']} CPUs ({mach['cpu_model']}), {mach['memory_gb']} GB, "
        f"load average at start {mach['load_average_at_start'][0]}",
        "",
        f"{'run':<18}{'wall s':>10}{'articles/s':>12}{'max RSS MB':>12}{'tree PSS MB':>13}",
    ]
    for m in [*measurements, *([rerun] if rerun else [])]:
        label = f"{m.tool} #{m.run}" if m.run > 0 else f"{m.tool} rerun"
        lines.append(f"{label:<18}{m.wall_s:>10.1f}{m.articles_per_s:>12.1f}"
                     f"{_fmt(m.max_rss_mb, '.0f'):>12}{_fmt(m.tree_pss_mb, '.0f'):>13}")
    ratios = results["summary"]["ratios"]
    lines += [
        "",
        f"throughput textpipe/baseline (median): {_fmt(ratios['throughput_textpipe_over_baseline'], '.2f')}",
        f"peak memory textpipe/baseline:         {_fmt(ratios['peak_memory_textpipe_over_baseline'], '.2f')}",
        f"incremental rerun / first run (wall):  {_fmt(ratios['rerun_over_first_run_wall'], '.3f')}",
    ]
    eq = results["checks"].get("sentence_equality")
    if eq:
        lines.append(
            f"sentence compounds: {eq['compared']} compared of {eq['matched']} identical sentences "
            f"in {eq['sample_articles']} sampled articles; {eq['mismatched']} mismatched "
            f"(max |diff| {_fmt(eq['max_abs_diff'], '.2g')}) -> {'OK' if eq['ok'] else 'FAIL'}")
    nmi = results["checks"].get("nmi", {})
    lines.append("NMI(dominant topic, category): " + ", ".join(f"{k} {v['nmi']:.3f}" for k, v in nmi.items()))
    for name, t in results["targets"].items():
        verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        scope = "" if t["applies"] else f" (judged at N>={t['judged_at_n']:,})"
        lines.append(f"target {name} {t['target']}: {_fmt(t['value'], '.3f')} {verdict}{scope}")
    lines.append(f"results: {results['results_file']}")
    sys.stdout.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- main


def ensure_corpus(n: int, seed: int, bbc: Path, corpora: Path) -> Path:
    out = corpora / str(n)
    if make_corpus.is_built(out, n, seed, ("txt",), bbc):
        return out
    sys.stderr.write(f"building the {n}-article corpus in {out} ...\n")
    return make_corpus.build_corpus(n, out, formats=("txt",), seed=seed, bbc_dir=bbc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="corpus size in articles (e.g. 2225, 20000, 100000)")
    parser.add_argument("--runs", type=int, default=1, help="alternating baseline/textpipe pairs")
    parser.add_argument("--workers", type=int, default=2, help="textpipe --workers")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-textpipe", action="store_true", help="measure the baseline alone")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--bbc", type=Path, default=make_corpus.DEFAULT_BBC)
    parser.add_argument("--corpora", type=Path, default=make_corpus.DEFAULT_CORPORA)
    parser.add_argument("--textpipe", type=Path, help="textpipe executable (default: next to this Python)")
    parser.add_argument("--textpipe-arg", action="append", default=[], help="extra argument for `textpipe run`")
    parser.add_argument("--work-dir", type=Path, help="where run outputs go (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep run outputs and logs")
    args = parser.parse_args(argv)
    if args.skip_baseline and args.skip_textpipe:
        parser.error("nothing to run: both --skip-baseline and --skip-textpipe")

    try:
        exe = None if args.skip_textpipe else textpipe_executable(args.textpipe)
        corpus = ensure_corpus(args.n, args.seed, args.bbc, args.corpora)
        work = Path(tempfile.mkdtemp(prefix=f"textpipe-bench-{args.n}-", dir=args.work_dir))
        results, failed = run_benchmark(args, exe, corpus, work)
    except BenchError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def run_benchmark(args: argparse.Namespace, exe: Path | None, corpus: Path, work: Path) -> tuple[dict, bool]:
    corpus_txt = corpus / "txt"
    mach = machine()
    measurements: list[Measurement] = []
    last: dict[str, Path] = {}
    for run in range(1, args.runs + 1):
        if not args.skip_baseline:
            out = work / f"baseline-{run}" / "articles.parquet"
            measured = measure("baseline", run, baseline_cmd(corpus_txt, out), args.n, out, work / "logs")
            measured.extra["summary"] = json.loads(measured.stdout_tail.splitlines()[-1])
            measurements.append(measured)
            _drop_previous(last.get("baseline"), keep=out.parent)
            last["baseline"] = out.parent
        if exe is not None:
            out = work / f"textpipe-{run}"
            cmd = textpipe_cmd(exe, corpus_txt, out, args.workers, args.textpipe_arg)
            measurements.append(measure("textpipe", run, cmd, args.n, out, work / "logs"))
            _drop_previous(last.get("textpipe"), keep=out)
            last["textpipe"] = out

    rerun = None
    if exe is not None:
        out = last["textpipe"]
        before = len(read_textpipe_articles(out))
        cmd = textpipe_cmd(exe, corpus_txt, out, args.workers, args.textpipe_arg)
        rerun = measure("textpipe", 0, cmd, args.n, out, work / "logs")
        rerun.extra["articles_before"], rerun.extra["articles_after"] = before, len(read_textpipe_articles(out))

    checks: dict[str, object] = {"nmi": {}}
    if "baseline" in last:
        checks["nmi"]["baseline"] = baseline_nmi(last["baseline"] / "articles.parquet")
    if "textpipe" in last:
        checks["nmi"]["textpipe"] = textpipe_nmi(last["textpipe"])
    if len(last) == 2:
        checks["sentence_equality"] = sentence_equality(last["baseline"] / "articles.parquet", last["textpipe"])

    summary = summarise(measurements, rerun)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results_file = RESULTS / f"{args.n}-{stamp}.json"
    results = {
        "created_at": stamp,
        "machine": mach | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "corpus": {"n": args.n, "seed": args.seed, "path": str(corpus_txt)},
        "settings": {"runs": args.runs, "workers": args.workers, "topics": N_TOPICS,
                     "textpipe": str(exe) if exe else None, "textpipe_args": args.textpipe_arg},
        "measurements": [asdict(m) | {"articles_per_s": m.articles_per_s} for m in measurements],
        "rerun": asdict(rerun) if rerun else None,
        "summary": summary,
        "checks": checks,
        "targets": None,
        "results_file": str(results_file),
    }
    results["targets"] = targets(summary, args.n)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print_report(results, measurements, rerun)
    eq = checks.get("sentence_equality")
    rerun_changed = rerun is not None and rerun.extra["articles_before"] != rerun.extra["articles_after"]
    if rerun_changed:
        sys.stderr.write(f"error: the rerun changed the article count: {rerun.extra}\n")
    return results, bool((eq and not eq["ok"]) or rerun_changed)


def _drop_previous(previous: Path | None, keep: Path) -> None:
    # Only the last output of each tool is checked; earlier ones would just fill the disk.
    if previous is not None and previous != keep:
        shutil.rmtree(previous, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
