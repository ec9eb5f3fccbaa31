"""Benchmark textpipe against the hand-written baseline on an N-article corpus.

Builds (or reuses) bench/corpora/N/, then runs in turn, under /usr/bin/time -v:
the baseline; `textpipe run` in Prefect's local mode (its own temporary server);
`textpipe run` against a Prefect server started once for this invocation; and
bench/no_prefect.py (the same stages without Prefect), so Prefect's overhead is
a measured difference. Reruns textpipe over its own output (incremental), checks
sentence scores and topic quality, prints a table and writes bench/results/N-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import make_corpus
from baseline import sentences_path

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
    "prefect_overhead_max": 0.10,      # (textpipe - no_prefect wall) / textpipe wall, at 20,000 articles
    "added_cost_max": 1.30,            # this build's server run / --before's (the ensemble's budget, issue 18), at 20,000 articles
}
MEMORY_BASE_N = 20_000                 # peak memory at N is compared with the latest result at this N
# How textpipe is run: Prefect's local mode, an already-running server, or no Prefect at all.
MODES = {"local": "textpipe", "server": "textpipe-server", "no-prefect": "no-prefect"}
# With --before: an earlier build of textpipe, run against the same server in each round.
BEFORE = "textpipe-before"


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
    tree_cpu_s: float | None = None  # CPU seconds (user + system) of the whole process tree, sampled

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


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU clock ticks used so far: utime + stime) for every process."""
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def _tree(root: int, table: dict[int, tuple[int, int]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_pss_kb(root: int) -> int:
    return sum(_pss_kb(pid) for pid in _tree(root, _proc_table()))


def _tree_cpu_s(root: int) -> float:
    table = _proc_table()
    return sum(table[pid][1] for pid in _tree(root, table) if pid in table) / os.sysconf("SC_CLK_TCK")


class TreeMemorySampler(threading.Thread):
    """Samples the summed PSS and the CPU time of a process and its descendants until stopped.

    GNU time reports only the largest single process; textpipe's worker
    processes and Prefect's server add up, so their sum is sampled as well.
    CPU time is each process's last sampled utime + stime, summed: on a machine
    shared with other work it varies far less than wall time (a process that
    ends between two samples loses at most one interval).

    PSS is read less often than CPU time: the kernel walks a process's page
    tables for it, ~10 ms per ~800 MB process. Read every 0.2 s, it cost
    ~1.7 CPU-s of a 20-s, 20,000-article textpipe run and made it ~1.2 s
    (6 %) slower, since textpipe keeps both cores busy, while the
    single-process baseline leaves the sampler a free core.
    """

    def __init__(self, pid: int, interval_s: float = 0.2, pss_interval_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval_s, self.pss_interval_s, self.peak_kb = pid, interval_s, pss_interval_s, 0
        self.cpu_ticks: dict[int, int] = {}
        self._stop_event = threading.Event()
        self.available = Path(f"/proc/{os.getpid()}/smaps_rollup").exists()

    def run(self) -> None:
        pss_due = 0.0
        while self.available and not self._stop_event.is_set():
            table = _proc_table()
            tree = _tree(self.pid, table)
            for pid in tree:
                self.cpu_ticks[pid] = max(self.cpu_ticks.get(pid, 0), table[pid][1] if pid in table else 0)
            if time.monotonic() >= pss_due:
                pss_due = time.monotonic() + self.pss_interval_s
                self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in tree))
            self._stop_event.wait(self.interval_s)

    def stop(self) -> tuple[float | None, float | None]:
        """(peak tree PSS MB, tree CPU seconds)."""
        self._stop_event.set()
        self.join()
        if not self.available:
            return None, None
        return (self.peak_kb / 1024 if self.peak_kb else None,
                sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK"))


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


def measure(tool: str, run: int, cmd: list[str], articles_in: int, output: Path, log_dir: Path,
            env: dict[str, str] | None = None) -> Measurement:
    """Run `cmd` to completion and measure it; raises BenchError when it fails."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{tool}-{run}"
    time_report = log_dir / f"{stem}.time"
    wrapped = [str(GNU_TIME), "-v", "-o", str(time_report), *cmd] if GNU_TIME.exists() else cmd
    with open(log_dir / f"{stem}.out", "wb") as out, open(log_dir / f"{stem}.err", "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        sampler = TreeMemorySampler(proc.pid)
        sampler.start()
        # wait4 gives this child's own rusage, unlike RUSAGE_CHILDREN which
        # accumulates over every command run so far.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        tree_pss, tree_cpu = sampler.stop()
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
                       stdout_tail=stdout.strip()[-2000:], tree_cpu_s=round(tree_cpu, 2) if tree_cpu else None)


# ---------------------------------------------------------------- commands


def textpipe_executable(override: Path | None) -> Path:
    """The `textpipe` console script of this interpreter's environment, checked to work."""
    exe = override or Path(sys.executable).parent / "textpipe"
    if not exe.exists():
        raise BenchError(
            f"textpipe CLI not found at {exe}; install the project into this environment "
            f"(`{sys.executable} -m pip install -e .`) or pass --skip-textpipe"
        )
    check = subprocess.run([str(exe), "run", "--help"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"`{exe} run --help` failed ({last}); the CLI is not usable yet. Use --skip-textpipe "
                         "to measure the baseline alone")
    return exe


def textpipe_cmd(exe: Path, corpus_txt: Path, out: Path, workers: int, extra: list[str]) -> list[str]:
    return [str(exe), "run", "--input", str(corpus_txt), "--output", str(out),
            "--topics", str(N_TOPICS), "--workers", str(workers), *extra]


def baseline_cmd(corpus_txt: Path, out: Path) -> list[str]:
    return [sys.executable, str(BENCH / "baseline.py"), "--input", str(corpus_txt), "--output", str(out)]


def no_prefect_cmd(corpus_txt: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, str(BENCH / "no_prefect.py"), "--input", str(corpus_txt), "--output", str(out),
            "--topics", str(N_TOPICS), "--workers", str(workers)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def prefect_server(exe: Path, work: Path, timeout_s: float = 180.0) -> Iterator[dict[str, object]]:
    """`textpipe server` on a free port with its own PREFECT_HOME, for the whole bench invocation.

    Yields the environment for `textpipe run` to use it and what starting it cost;
    stops it (its own process group, which this function created) on the way out.
    """
    home, port = work / "prefect-server-home", _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    (work / "logs").mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PREFECT_HOME": str(home)}
    started = time.perf_counter()
    with open(work / "logs" / "prefect-server.log", "wb") as log:
        proc = subprocess.Popen([str(exe), "server", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    info: dict[str, object] = {"api_url": api_url, "prefect_home": str(home), "pid": proc.pid}
    try:
        while not _healthy(api_url):
            if proc.poll() is not None:
                raise BenchError(f"`textpipe server --port {port}` exited with {proc.returncode}; see {work / 'logs' / 'prefect-server.log'}")
            if time.perf_counter() - started > timeout_s:
                raise BenchError(f"`textpipe server --port {port}` not healthy after {timeout_s:.0f} s")
            time.sleep(0.25)
        info["startup_s"] = round(time.perf_counter() - started, 2)
        info["env"] = env | {"PREFECT_API_URL": api_url}
        yield info
    finally:
        info["tree_pss_mb_at_end"] = round(_tree_pss_kb(proc.pid) / 1024) if proc.poll() is None else None
        info.pop("env", None)
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    # The server runs uvicorn as a grandchild: signal the whole group this script started.
    for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def local_mode_env(exe: Path, corpus_txt: Path, work: Path) -> dict[str, str]:
    """Environment for local (ephemeral-server) runs: a PREFECT_HOME of their own, its database already made.

    A user's ~/.prefect has its database; a fresh one costs its migrations on the
    first run, so one unmeasured run over 40 files makes it first. Other
    processes using ~/.prefect cannot then contend for its SQLite file either.
    """
    env = os.environ | {"PREFECT_HOME": str(work / "prefect-local-home")}
    env.pop("PREFECT_API_URL", None)
    warm_in = work / "warm-up-input"
    for source in sorted(corpus_txt.rglob("*.txt"))[:40]:
        target = warm_in / source.relative_to(corpus_txt)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    done = subprocess.run([str(exe), "run", "--input", str(warm_in), "--output", str(work / "warm-up-output"), "--topics", "2"],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"warm-up `textpipe run` failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    shutil.rmtree(work / "warm-up-output", ignore_errors=True)
    return env


def in_flow_seconds(out: Path, which: int = 0) -> dict[str, object]:
    """From the `runs` dataset: a committed run's finished_at - started_at and its stage seconds."""
    runs = pd.read_parquet(out / "runs", columns=["started_at", "finished_at", "stage_seconds"]).sort_values("started_at")
    row = runs.iloc[which]
    return {"in_flow_s": round((row.finished_at - row.started_at).total_seconds(), 3),
            "stage_seconds": json.loads(row.stage_seconds)}


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


def summarise(measurements: list[Measurement], reruns: dict[str, list[Measurement]]) -> dict[str, object]:
    by_tool: dict[str, dict[str, float | None]] = {}
    for tool in ("baseline", *MODES.values(), BEFORE):
        runs = [m for m in measurements if m.tool == tool]
        if not runs:
            continue
        memory = [m.peak_memory_mb for m in runs if m.peak_memory_mb is not None]
        in_flow = [m.extra["in_flow_s"] for m in runs if "in_flow_s" in m.extra]
        cpu = [m.tree_cpu_s + m.extra.get("server_cpu_s", 0.0) for m in runs if m.tree_cpu_s is not None]
        by_tool[tool] = {
            "articles_per_s": _median([m.articles_per_s for m in runs]),
            "wall_s": _median([m.wall_s for m in runs]),
            "in_flow_s": _median(in_flow),
            "cpu_s": _median(cpu),
            "max_rss_mb": max((m.max_rss_mb for m in runs if m.max_rss_mb is not None), default=None),
            "peak_memory_mb": max(memory, default=None),
        }
    base = by_tool.get("baseline", {})
    reference = by_tool.get("no-prefect", {})
    ratios: dict[str, float | None] = {}
    for tool in ("textpipe", "textpipe-server", "no-prefect"):
        mine = by_tool.get(tool)
        if mine is None:
            continue
        ratios[f"throughput_{tool}_over_baseline"] = _ratio(mine["articles_per_s"], base.get("articles_per_s"))
        ratios[f"peak_memory_{tool}_over_baseline"] = _ratio(mine["peak_memory_mb"], base.get("peak_memory_mb"))
        if tool != "no-prefect":
            # Median rerun over median first run: one rerun of ~1.5 s moved the ratio by ~0.05 between invocations.
            ratios[f"rerun_{tool}_over_first_run_wall"] = _ratio(_median([m.wall_s for m in reruns.get(tool, [])]), mine["wall_s"])
            # Prefect's share of the command: what the same work costs without it, taken away.
            ratios[f"prefect_overhead_{tool}"] = (
                (mine["wall_s"] - reference["wall_s"]) / mine["wall_s"] if reference.get("wall_s") and mine["wall_s"] else None)
            # The same in CPU seconds (the server's included in server mode): less sensitive to other load.
            ratios[f"prefect_cpu_share_{tool}"] = (
                (mine["cpu_s"] - reference["cpu_s"]) / mine["cpu_s"] if reference.get("cpu_s") and mine["cpu_s"] else None)
    before, server = by_tool.get(BEFORE), by_tool.get("textpipe-server")
    if before and server:
        # What the work added since that build costs: this build's run over that build's, same server, same rounds.
        ratios["wall_textpipe-server_over_before"] = _ratio(server["wall_s"], before["wall_s"])
        ratios["cpu_textpipe-server_over_before"] = _ratio(server["cpu_s"], before["cpu_s"])
    return {"by_tool": by_tool, "ratios": ratios}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def memory_growth(n: int, peak_mb: float | None) -> dict[str, object] | None:
    """Peak memory at N against the latest result at MEMORY_BASE_N articles.

    The exponent e in memory ~ N^e: 1 is linear growth, 0 flat; below 1 is sub-linear.
    """
    if n <= MEMORY_BASE_N or peak_mb is None:
        return None
    earlier = sorted(RESULTS.glob(f"{MEMORY_BASE_N}-*.json"))
    for path in reversed(earlier):
        base = json.loads(path.read_text())["summary"]["by_tool"].get("textpipe", {}).get("peak_memory_mb")
        if base:
            growth = peak_mb / base
            return {"base_file": str(path), "base_peak_mb": base, "peak_mb": peak_mb, "growth": round(growth, 3),
                    "exponent": round(math.log(growth) / math.log(n / MEMORY_BASE_N), 3)}
    return None


def targets(summary: dict[str, object], n: int, growth: dict[str, object] | None) -> dict[str, object]:
    ratios, by_tool = summary["ratios"], summary["by_tool"]
    checks = {
        "throughput_ratio (local mode)": (ratios.get("throughput_textpipe_over_baseline"), TARGETS["throughput_ratio_min"], ">=", 20_000),
        "throughput_ratio (running server)": (ratios.get("throughput_textpipe-server_over_baseline"), TARGETS["throughput_ratio_min"], ">=", 20_000),
        "peak_memory_mb (local mode)": (by_tool.get("textpipe", {}).get("peak_memory_mb"), TARGETS["peak_memory_mb_max"], "<=", 100_000),
        "memory_growth_exponent (sub-linear)": (growth["exponent"] if growth else None, 1.0, "<", 100_000),
        "rerun_wall_ratio (local mode)": (ratios.get("rerun_textpipe_over_first_run_wall"), TARGETS["rerun_wall_ratio_max"], "<=", 20_000),
        "rerun_wall_ratio (running server)": (ratios.get("rerun_textpipe-server_over_first_run_wall"), TARGETS["rerun_wall_ratio_max"], "<=", 20_000),
        "prefect_overhead (local mode)": (ratios.get("prefect_overhead_textpipe"), TARGETS["prefect_overhead_max"], "<", 20_000),
        "prefect_overhead (running server)": (ratios.get("prefect_overhead_textpipe-server"), TARGETS["prefect_overhead_max"], "<", 20_000),
        "added_cost (running server, wall over --before)": (ratios.get("wall_textpipe-server_over_before"), TARGETS["added_cost_max"], "<=", 20_000),
    }
    compare = {">=": lambda v, b: v >= b, "<=": lambda v, b: v <= b, "<": lambda v, b: v < b}
    result = {}
    for name, (value, bound, op, at_n) in checks.items():
        met = None if value is None else compare[op](value, bound)
        result[name] = {"value": value, "target": f"{op} {bound}", "judged_at_n": at_n,
                        "applies": n == at_n, "met": met}
    return result


def print_report(results: dict[str, object], measurements: list[Measurement], reruns: dict[str, list[Measurement]]) -> None:
    mach, corpus = results["machine"], results["corpus"]
    lines = [
        (f"textpipe benchmark: {corpus['n']} articles ({corpus['path']}), "
         f"{mach['nproc']} CPUs ({mach['cpu_model']}), {mach['memory_gb']} GB, "
         f"load average at start {mach['load_average_at_start']}, at end {mach['load_average_at_end']}"),
        "",
        f"{'run':<24}{'wall s':>9}{'in-flow s':>11}{'CPU s':>9}{'articles/s':>12}{'max RSS MB':>12}{'tree PSS MB':>13}{'load 1m':>9}",
    ]
    for m in [*measurements, *(m for ms in reruns.values() for m in ms)]:
        label = f"{m.tool} #{m.run}" if m.run > 0 else f"{m.tool} rerun #{m.extra['rerun']}"
        cpu = m.tree_cpu_s + m.extra.get("server_cpu_s", 0.0) if m.tree_cpu_s is not None else None
        lines.append(f"{label:<24}{m.wall_s:>9.1f}{_fmt(m.extra.get('in_flow_s'), '.1f'):>11}{_fmt(cpu, '.1f'):>9}"
                     f"{m.articles_per_s:>12.1f}{_fmt(m.max_rss_mb, '.0f'):>12}{_fmt(m.tree_pss_mb, '.0f'):>13}"
                     f"{_fmt(m.extra.get('load_1m'), '.2f'):>9}")
    lines.append("CPU s: the command's process tree (and, for textpipe-server, the server's CPU during the run)")
    lines.append(f"Corpus files read once before the first run (page cache warm for every tool): {mach.get('file_cache_warm_up_s', '-')} s")
    server = results.get("prefect_server")
    if server:
        lines.append(f"Prefect server for the 'textpipe-server' runs: healthy after {server.get('startup_s')} s (not in their wall time)")
    lines.append("")
    for name, value in results["summary"]["ratios"].items():
        lines.append(f"{name + ':':<52}{_fmt(value, '.3f')}")
    growth = results.get("memory_growth")
    if growth:
        lines.append(f"peak memory {growth['base_peak_mb']:.0f} MB at {MEMORY_BASE_N:,} -> {growth['peak_mb']:.0f} MB at {corpus['n']:,}: "
                     f"x{growth['growth']:.2f} (exponent {growth['exponent']:.2f}; 1 = linear)")
    eq = results["checks"].get("sentence_equality")
    if eq:
        lines.append(
            f"sentence compounds: {eq['compared']} compared of {eq['matched']} identical sentences "
            f"in {eq['sample_articles']} sampled articles; {eq['mismatched']} mismatched "
            f"(max |diff| {_fmt(eq['max_abs_diff'], '.2g')}) -> {'OK' if eq['ok'] else 'FAIL'}")
    nmi = results["checks"].get("nmi", {})
    lines.append("NMI(dominant topic, category): " + ", ".join(f"{k} {v['nmi']:.3f}" for k, v in nmi.items()))
    for name, t in results["targets"].items():
        if not t["applies"]:
            verdict = f"(judged at N={t['judged_at_n']:,}, not here)"
        else:
            verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        lines.append(f"target {name} {t['target']}: {_fmt(t['value'], '.3f')} {verdict}")
    lines.append(f"results: {results['results_file']}")
    sys.stdout.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- main


def ensure_corpus(n: int, seed: int, bbc: Path, corpora: Path) -> Path:
    out = corpora / str(n)
    if make_corpus.is_built(out, n, seed, ("txt",), bbc):
        return out
    sys.stderr.write(f"building the {n}-article corpus in {out} ...\n")
    return make_corpus.build_corpus(n, out, formats=("txt",), seed=seed, bbc_dir=bbc)


def _modes(value: str) -> list[str]:
    modes = [m.strip() for m in value.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return modes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="corpus size in articles (e.g. 2225, 20000, 100000)")
    parser.add_argument("--runs", type=int, default=1, help="rounds of (baseline, textpipe in each mode); figures are medians")
    parser.add_argument("--baseline-runs", type=int, help="run the baseline only in the first N rounds (default: every round)")
    parser.add_argument("--reruns", type=int, default=3, help="reruns with nothing new after the last round, per mode; the rerun ratio is "
                        "their median over the median first run (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="textpipe --workers")
    parser.add_argument("--modes", type=_modes, default=list(MODES),
                        help="comma-separated textpipe modes: local (Prefect's temporary server, the default "
                             "`textpipe run`), server (a running `textpipe server`), no-prefect (bench/no_prefect.py); "
                             "default: all three")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-textpipe", action="store_true", help="measure the baseline alone")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--bbc", type=Path, default=make_corpus.DEFAULT_BBC)
    parser.add_argument("--corpora", type=Path, default=make_corpus.DEFAULT_CORPORA)
    parser.add_argument("--textpipe", type=Path, help="textpipe executable (default: next to this Python)")
    parser.add_argument("--textpipe-arg", action="append", default=[], help="extra argument for `textpipe run`")
    parser.add_argument("--before", type=Path, help="the textpipe executable of an earlier build (e.g. a worktree's .venv/bin/textpipe): "
                        "run against the same server after this build's server run in every round, for what the work since costs")
    parser.add_argument("--work-dir", type=Path, help="where run outputs go (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep run outputs and logs")
    args = parser.parse_args(argv)
    if args.skip_textpipe:
        args.modes = []
    if args.skip_baseline and not args.modes:
        parser.error("nothing to run: both --skip-baseline and --skip-textpipe")
    if args.before is not None and "server" not in args.modes:
        parser.error("--before runs against the server mode's server: keep 'server' in --modes")
    if args.before is not None and not os.access(args.before, os.X_OK):
        parser.error(f"--before {args.before}: not an executable file")

    work = None
    try:
        exe = textpipe_executable(args.textpipe) if args.modes else None
        corpus = ensure_corpus(args.n, args.seed, args.bbc, args.corpora)
        work = Path(tempfile.mkdtemp(prefix=f"textpipe-bench-{args.n}-", dir=args.work_dir))
        _, failed = run_benchmark(args, exe, corpus, work)
    except BenchError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    finally:
        if work is not None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def warm_file_cache(corpus_txt: Path) -> float:
    """Read every corpus file once, unmeasured, and return the seconds it took.

    Otherwise the first command measured reads a large corpus from disk and the
    later ones from the page cache: at 100,000 articles that made the first
    tool's ingest ~1.7x slower than the same code in the next.
    """
    started = time.perf_counter()
    for path in sorted(corpus_txt.rglob("*")):
        if path.is_file():
            path.read_bytes()
    return round(time.perf_counter() - started, 2)


def run_benchmark(args: argparse.Namespace, exe: Path | None, corpus: Path, work: Path) -> tuple[dict, bool]:
    corpus_txt = corpus / "txt"
    mach = machine() | {"file_cache_warm_up_s": warm_file_cache(corpus_txt)}
    measurements: list[Measurement] = []
    reruns: dict[str, list[Measurement]] = {}
    last: dict[str, Path] = {}
    logs = work / "logs"
    envs: dict[str, dict[str, str] | None] = {"no-prefect": None}
    server_info: dict[str, object] = {}
    with contextlib.ExitStack() as stack:
        if "local" in args.modes:
            envs["local"] = local_mode_env(exe, corpus_txt, work)
        if "server" in args.modes:
            server_info = stack.enter_context(prefect_server(exe, work))
            envs["server"] = server_info["env"]

        def run_textpipe(mode: str, run: int, out: Path) -> Measurement:
            tool = BEFORE if mode == "before" else MODES[mode]
            cmd = (no_prefect_cmd(corpus_txt, out, args.workers) if mode == "no-prefect"
                   else textpipe_cmd(args.before if mode == "before" else exe, corpus_txt, out, args.workers, args.textpipe_arg))
            load = os.getloadavg()[0]
            server_cpu = _tree_cpu_s(server_info["pid"]) if mode in ("server", "before") else 0.0
            measured = measure(tool, run, cmd, args.n, out, logs, env=envs["server" if mode == "before" else mode])
            measured.extra["load_1m"] = round(load, 2)
            if mode in ("server", "before"):
                measured.extra["server_cpu_s"] = round(_tree_cpu_s(server_info["pid"]) - server_cpu, 2)
            if mode == "no-prefect":
                measured.extra["phases"] = json.loads(measured.stdout_tail.splitlines()[-1])["seconds"]
            else:
                measured.extra.update(in_flow_seconds(out, which=-1))
            return measured

        for run in range(1, args.runs + 1):
            if not args.skip_baseline and run <= (args.baseline_runs or args.runs):
                out = work / f"baseline-{run}" / "articles.parquet"
                load = os.getloadavg()[0]
                measured = measure("baseline", run, baseline_cmd(corpus_txt, out), args.n, out, logs)
                measured.extra["load_1m"] = round(load, 2)
                measured.extra["summary"] = json.loads(measured.stdout_tail.splitlines()[-1])
                measurements.append(measured)
                _drop_previous(last.get("baseline"), keep=out.parent)
                last["baseline"] = out.parent
            for mode in [*args.modes, *(["before"] if args.before else [])]:
                out = work / f"{BEFORE if mode == 'before' else MODES[mode]}-{run}"
                measurements.append(run_textpipe(mode, run, out))
                _drop_previous(last.get(mode), keep=out)
                last[mode] = out

        for mode in ("local", "server"):
            if mode in last:
                out = last[mode]
                for index in range(1, args.reruns + 1):
                    before = len(read_textpipe_articles(out))
                    rerun = run_textpipe(mode, 0, out)
                    rerun.extra["rerun"] = index
                    rerun.extra["articles_before"], rerun.extra["articles_after"] = before, len(read_textpipe_articles(out))
                    reruns.setdefault(MODES[mode], []).append(rerun)

    checks: dict[str, object] = {"nmi": {}}
    if "baseline" in last:
        checks["nmi"]["baseline"] = baseline_nmi(last["baseline"] / "articles.parquet")
    for mode in args.modes:
        checks["nmi"][MODES[mode]] = textpipe_nmi(last[mode])
    textpipe_out = last.get("local") or last.get("server")
    if "baseline" in last and textpipe_out is not None:
        checks["sentence_equality"] = sentence_equality(last["baseline"] / "articles.parquet", textpipe_out)
    counts = {MODES[mode]: len(read_textpipe_articles(last[mode])) for mode in args.modes}
    checks["same_article_count_in_every_mode"] = {"counts": counts, "ok": len(set(counts.values())) <= 1}

    summary = summarise(measurements, reruns)
    growth = memory_growth(args.n, summary["by_tool"].get("textpipe", {}).get("peak_memory_mb"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results_file = RESULTS / f"{args.n}-{stamp}.json"
    results = {
        "created_at": stamp,
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *sys.argv[1:]]),
        "machine": mach | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "corpus": {"n": args.n, "seed": args.seed, "path": str(corpus_txt)},
        "settings": {"runs": args.runs, "reruns": args.reruns, "workers": args.workers, "topics": N_TOPICS, "modes": args.modes,
                     "textpipe": str(exe) if exe else None, "textpipe_args": args.textpipe_arg},
        "prefect_server": {k: v for k, v in server_info.items() if k != "env"} or None,
        "measurements": [asdict(m) | {"articles_per_s": m.articles_per_s} for m in measurements],
        "reruns": {tool: [asdict(m) for m in ms] for tool, ms in reruns.items()},
        "summary": summary,
        "memory_growth": growth,
        "checks": checks,
        "targets": targets(summary, args.n, growth),
        "results_file": str(results_file),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print_report(results, measurements, reruns)
    eq = checks.get("sentence_equality")
    changed = {tool: m.extra for tool, ms in reruns.items() for m in ms if m.extra["articles_before"] != m.extra["articles_after"]}
    if changed:
        sys.stderr.write(f"error: a rerun changed the article count: {changed}\n")
    if not checks["same_article_count_in_every_mode"]["ok"]:
        sys.stderr.write(f"error: the modes stored different article counts: {counts}\n")
    return results, bool((eq and not eq["ok"]) or changed or not checks["same_article_count_in_every_mode"]["ok"])


def _drop_previous(previous: Path | None, keep: Path) -> None:
    # Only the last output of each tool is checked; earlier ones would just fill the disk.
    if previous is not None and previous != keep:
        shutil.rmtree(previous, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
