"""The `textpipe` command: a thin layer over the flows and the store.

Arguments are checked before Prefect is imported, so a mistake costs a
fraction of a second and prints one line (exit code 2). Prefect is configured
here for a quiet, offline local mode unless the environment says otherwise.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from textpipe import __version__
from textpipe.errors import ConfigError, TextpipeError
from textpipe.startup import collector_paused

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Offline, quiet defaults for Prefect's local (ephemeral) mode; a value the user
# has set in the environment wins.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_SERVER_LEVEL": "ERROR",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "textpipe",
    # Library code also runs outside flows (repair, tests): no API, no warning.
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    # The terminal gets textpipe's own warnings and a one-line outcome; Prefect's
    # console output (tracebacks included) stays off unless --verbose. The UI
    # still receives every log line.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_UI_ENABLED": "false",
}


def _topics(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--topics must be a whole number >= 1 or 'auto', got {value!r}") from None
    if not 1 <= number <= 200:
        raise argparse.ArgumentTypeError(f"--topics must be between 1 and 200 or 'auto', got {number}")
    return number


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, as for every usage error
        print(f"textpipe: error: {message} (see `textpipe {self.prog.split()[-1]} --help`)" if " " in self.prog else f"textpipe: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="textpipe", description="Batch text analysis of news articles into Parquet, run by Prefect.")
    parser.add_argument("--version", action="version", version=f"textpipe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="process new articles from an input folder into the Parquet store",
                              description="Run the textpipe-run flow once: ingest every new article under --input (recursively), "
                              "clean, tokenize, score sentiment, assign topics, and add the results to the Parquet datasets under --output.")
    _add_run_options(run)
    run.add_argument("--refit", action="store_true", help="fit a new topic model on this run's articles instead of reusing the current one")
    run.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                     help="if another run is writing the same output, wait up to SECONDS for it (default: exit at once with a message)")
    run.add_argument("--verbose", "-v", action="store_true", help="show Prefect's INFO logs in the terminal")

    refit = commands.add_parser("refit", help="refit the topic model on the whole store and reassign every article's topics")
    refit.add_argument("--output", type=Path, default=Path("data/processed"), help="output folder holding the datasets (default: data/processed)")
    refit.add_argument("--topics", type=_topics, default=None, help="number of topics K, or 'auto' to choose K by topic quality (coherence x diversity) (default: the current model's K)")
    refit.add_argument("--verbose", "-v", action="store_true", help="show Prefect's INFO logs in the terminal")

    report = commands.add_parser("report", help="write the store's HTML report (charts of coverage and tone, stories, terms, publishers)",
                                 description="Write one self-contained HTML page about the store under --output: articles and mean "
                                 "sentiment per day by topic, the largest stories, the most mentioned terms, sentiment by publisher, "
                                 "rejects by reason and the topic table. It loads nothing from the network. `textpipe run` and "
                                 "`textpipe refit` rewrite OUTPUT/report.html by themselves when the store changes.")
    report.add_argument("--output", type=Path, default=Path("data/processed"), help="output folder holding the datasets (default: data/processed)")
    report.add_argument("--to", type=Path, default=None, metavar="FILE", help="where to write the page (default: OUTPUT/report.html)")

    repair = commands.add_parser("repair", help="check every Parquet file in the output; move corrupt ones aside")
    repair.add_argument("--output", type=Path, default=Path("data/processed"), help="output folder (default: data/processed)")

    compact = commands.add_parser("compact", help="merge the small files of earlier runs into one per dataset",
                                  description="Merge the files of every run whose files are small (under 64 MB together) into one file per "
                                  "dataset, so reading the store stays fast. `textpipe run` does this by itself every "
                                  "TEXTPIPE_COMPACT_AFTER_RUNS runs (default 48).")
    compact.add_argument("--output", type=Path, default=Path("data/processed"), help="output folder (default: data/processed)")
    compact.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                         help="if a run is writing the same output, wait up to SECONDS for it (default: exit at once with a message)")

    fetch = commands.add_parser("fetch", help="fetch new pages from the feeds, sitemaps and sites of a sources file into the raw folder",
                                description="Run the textpipe-fetch flow once: read every source of the sources file (feeds, sitemaps, "
                                "sites, single URLs), download each page not fetched before, politely (robots.txt, per-host delay and "
                                "concurrency) and safely (public addresses only, size and time caps), into --raw/<source>/ for "
                                "`textpipe run` to read. See docs/fetching.md.")
    fetch.add_argument("--sources", type=Path, default=Path("sources.toml"), help="the sources file (default: sources.toml)")
    fetch.add_argument("--raw", type=Path, default=Path("data/raw"), help="raw folder the pages are written to (default: data/raw)")
    fetch.add_argument("--verbose", "-v", action="store_true", help="show Prefect's INFO logs in the terminal")

    server = commands.add_parser("server", help="start a local Prefect server with its UI (127.0.0.1 by default)")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    server.add_argument("--port", type=int, default=4200, help="port for the UI and API (default: 4200)")

    serve = commands.add_parser("serve", help="register the scheduled deployments and run them until stopped (Ctrl-C)")
    _add_run_options(serve)
    serve.add_argument("--cron", default="0 * * * *", help="schedule of textpipe-run (default: hourly, '0 * * * *')")
    serve.add_argument("--refit-cron", default="0 3 * * 0", help="schedule of refit-topics (default: Sundays 03:00)")
    serve.add_argument("--sources", type=Path, default=None,
                       help="sources file whose feeds, sitemaps and sites textpipe-fetch fetches into --input "
                       "(default: sources.toml in the working folder if there is one; without a sources file nothing is fetched)")
    serve.add_argument("--fetch-cron", default="*/15 * * * *", help="schedule of textpipe-fetch (default: every 15 minutes, '*/15 * * * *')")
    serve.add_argument("--process-after-fetch", action=argparse.BooleanOptionalAction, default=True,
                       help="start a textpipe-run as soon as a fetch brought new files, besides its own --cron schedule (default: on)")
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, default=Path("data/raw"), help="folder of input articles, searched recursively (default: data/raw)")
    parser.add_argument("--output", type=Path, default=Path("data/processed"), help="folder for the Parquet datasets (default: data/processed)")
    parser.add_argument("--topics", type=_topics, default=None,
                        help="number of topics K, or 'auto' to choose K by topic quality (coherence x diversity); a K other than the current model's fits a new model "
                        "(default: keep the current model; 10 topics for the first one)")
    parser.add_argument("--language", default="en", help="language that gets sentiment scores, ISO 639-1 (default: en; only en ships)")
    parser.add_argument("--task-runner", choices=("threads", "processes", "dask"), default="processes",
                        help="processes (default: tasks in threads, CPU-bound stages in --workers worker processes), "
                        "threads (everything in this process), or dask")
    parser.add_argument("--workers", type=int, default=2, help="parallel workers for the task runner (default: 2)")
    parser.add_argument("--dask-address", default=None, help="address of an existing Dask scheduler (with --task-runner dask); default: a local cluster")
    parser.add_argument("--batch-size", type=int, default=1000, help="articles per batch task (default: 1000)")


def check_run_paths(input_dir: Path, output_dir: Path) -> None:
    """Fail fast, in one line, on paths that cannot work."""
    if input_dir.is_file():
        raise ConfigError(f"--input {input_dir} is a file; textpipe reads every file under a folder (and, on later runs, only "
                          f"the new or changed ones): pass its folder, {input_dir.parent}, or put the file in a folder of its own")
    if not input_dir.is_dir():
        raise ConfigError(f"input folder {input_dir} does not exist or is not a folder")
    if not os.access(input_dir, os.R_OK | os.X_OK):
        raise ConfigError(f"input folder {input_dir} is not readable")
    resolved_in, resolved_out = input_dir.resolve(), output_dir.resolve()
    if resolved_out == resolved_in or resolved_in in resolved_out.parents:
        raise ConfigError(f"output folder {output_dir} is inside the input folder {input_dir}; choose a folder outside it")
    check_output_writable(output_dir)


def check_output_writable(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"output folder {output_dir} is not writable: {exc.strerror or exc}") from None


def _configure_prefect(verbose: bool) -> None:
    use_running_server()
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if verbose:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO"


def use_running_server() -> None:
    """Point this command at the `textpipe server` of its PREFECT_HOME, when one answers
    and neither the environment nor a Prefect profile names an API; say so in one line.

    Without it, a user who started `textpipe server` and forgot to export
    PREFECT_API_URL would run in local mode and never see the run in the UI.
    """
    from textpipe.server import prefect_home, running_server

    if os.environ.get("PREFECT_API_URL") or _profile_names_an_api():
        return
    api_url = running_server(os.environ)
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
        print(f"textpipe: reporting to the Prefect server at {api_url} (started by `textpipe server` with PREFECT_HOME "
              f"{prefect_home(os.environ)}); set PREFECT_API_URL to choose another", file=sys.stderr)


def _profile_names_an_api() -> bool:
    """Whether Prefect's profiles file sets PREFECT_API_URL (read as text: importing Prefect takes ~1.5 s)."""
    from textpipe.server import prefect_home

    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home(os.environ) / "profiles.toml")
    try:
        return "PREFECT_API_URL" in profiles.read_text(encoding="utf-8")
    except OSError:
        return False


def _validate_language(language: str) -> None:
    if language != "en":
        raise ConfigError(f"--language {language!r}: only 'en' resources (VADER, Punkt, stop words) ship with textpipe")


def cmd_run(args: argparse.Namespace) -> int:
    _validate_language(args.language)
    if args.workers < 1 or args.batch_size < 1:
        raise ConfigError("--workers and --batch-size must be at least 1")
    check_run_paths(args.input, args.output)
    _configure_prefect(args.verbose)
    from textpipe_flows.local_api import prefect_api, starts_temporary_server

    # With a running server the flow starts once Prefect and the flow's modules
    # are imported, so the workers boot meanwhile. In local mode the temporary
    # server needs ~3 s to boot, and the flow waits for it: the workers start
    # after the imports, so until then the server's boot has a core of its own.
    local_mode = starts_temporary_server()
    with contextlib.ExitStack() as stack:
        with collector_paused():
            if not local_mode:
                stack.enter_context(_early_workers(args))
            wait_for_api = stack.enter_context(prefect_api())
            from textpipe_flows.pipeline import RUN_TAG, textpipe_run

            if local_mode:
                stack.enter_context(_early_workers(args))
            from prefect import tags
        wait_for_api()

        # The deployments' tag: the UI filters on it, and the automation that marks
        # a vanished run crashed (`textpipe serve`) covers these runs too.
        stack.enter_context(tags(RUN_TAG))
        state = textpipe_run(
            input_dir=str(args.input), output_dir=str(args.output), topics=args.topics, language=args.language,
            task_runner=args.task_runner, workers=args.workers, dask_address=args.dask_address, batch_size=args.batch_size,
            refit=args.refit, wait_lock_seconds=args.wait_lock, return_state=True,
        )
    return _report(state)


def _early_workers(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """Worker processes started before the flow, for a first run on the output.

    A first run reads everything, so its workers boot while Prefect is imported.
    A later run usually has little or nothing new: the flow starts workers only
    if it finds enough to read, as idle ones booting beside it cost a rerun ~0.2 s.
    """
    from textpipe import store
    from textpipe.config import Settings
    from textpipe_flows import cpu_pool

    if store.has_committed_runs(args.output):
        return contextlib.nullcontext()
    return cpu_pool.for_settings(Settings(task_runner=args.task_runner, workers=args.workers))


def check_raw_writable(raw: Path) -> None:
    if raw.exists() and not raw.is_dir():
        raise ConfigError(f"--raw {raw} is a file; pass the folder fetched pages should go to")
    check_output_writable(raw)


def cmd_fetch(args: argparse.Namespace) -> int:
    from textpipe.fetch import load_sources

    load_sources(args.sources)  # a bad file is a usage error before Prefect starts
    check_raw_writable(args.raw)
    state = _call_flow("fetch", "textpipe_fetch", args.verbose, sources_file=str(args.sources), raw_dir=str(args.raw))
    return _report(state, "fetch")


def cmd_refit(args: argparse.Namespace) -> int:
    if not (args.output / "articles").is_dir():
        raise ConfigError(f"no articles dataset under {args.output}: run `textpipe run` first")
    check_output_writable(args.output)
    return _report(_call_flow("refit", "refit_topics", args.verbose, output_dir=str(args.output), topics=args.topics))


def _call_flow(module: str, name: str, verbose: bool, **parameters: Any) -> Any:
    """Run the flow `textpipe_flows.<module>.<name>` once, against PREFECT_API_URL or a
    temporary server started first thing, tagged as every textpipe run; its final state."""
    _configure_prefect(verbose)
    from textpipe_flows.local_api import prefect_api

    with contextlib.ExitStack() as stack:
        with collector_paused():
            wait_for_api = stack.enter_context(prefect_api())
            from prefect import tags

            from textpipe_flows.pipeline import RUN_TAG

            flow = getattr(importlib.import_module(f"textpipe_flows.{module}"), name)
        wait_for_api()
        with tags(RUN_TAG):
            return flow(**parameters, return_state=True)


def _report(state, what: str = "run") -> int:  # type: ignore[no-untyped-def]
    summary = state.result(raise_on_failure=False)
    if state.is_completed() and not getattr(summary, "skipped", None):
        print(summary.one_line())
        return EXIT_OK
    if state.is_completed():  # it did nothing: another one holds the lock
        print(summary.one_line(), file=sys.stderr)
    elif hasattr(summary, "one_line"):
        print(summary.one_line())
        print(f"textpipe: {what} incomplete: {state.message}", file=sys.stderr)
    else:
        print(f"textpipe: {what} failed: {_first_line(summary) or state.message}", file=sys.stderr)
    return EXIT_FAILED


def _first_line(error: object) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ""


def cmd_report(args: argparse.Namespace) -> int:
    from textpipe import store

    if not store.has_committed_runs(args.output):
        raise ConfigError(f"no textpipe store under {args.output}: run `textpipe run --output {args.output}` first")
    target = args.to or args.output / "report.html"
    if target.is_dir():
        raise ConfigError(f"--to {target} is a folder; name the file to write, e.g. {target / 'report.html'}")
    try:
        check_output_writable(target.parent)
    except ConfigError:
        raise ConfigError(f"cannot write the report to {target}: its folder {target.parent} is not writable") from None
    from textpipe.report import write_report

    written = write_report(args.output, target)
    print(f"textpipe report: {written.path} ({written.headline.one_line()})")
    return EXIT_OK


def cmd_repair(args: argparse.Namespace) -> int:
    from textpipe import derived, store

    if not args.output.is_dir():
        raise ConfigError(f"output folder {args.output} does not exist")
    with store.OutputLock(args.output):
        removed = store.recover(args.output)
        moved = store.repair(args.output)
        redone = derived.repair(args.output)
    for path in moved:
        print(f"moved corrupt file to {path}")
    for line in redone:
        print(line)
    print(f"textpipe repair: {len(moved)} corrupt file(s) moved aside, {len(removed)} leftover(s) of interrupted runs removed; "
          "the next `textpipe run` re-adds the affected articles")
    return EXIT_OK


def cmd_compact(args: argparse.Namespace) -> int:
    import secrets
    from datetime import UTC, datetime

    from textpipe import compact, store

    if not (args.output / "runs").is_dir():
        raise ConfigError(f"no runs dataset under {args.output}: run `textpipe run` first")
    with store.OutputLock(args.output, args.wait_lock):
        store.recover(args.output)
        done = compact.compact(args.output, f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}-compact")
    print(f"textpipe compact: {done.one_line()}" if done else "textpipe compact: nothing to merge (fewer than 2 runs with small files)")
    return EXIT_OK


def cmd_server(args: argparse.Namespace) -> int:
    from textpipe.server import run_server

    return run_server(args.host, args.port)


def cmd_serve(args: argparse.Namespace) -> int:
    _validate_language(args.language)
    check_run_paths(args.input, args.output)
    if args.sources is None and Path("sources.toml").is_file():
        args.sources = Path("sources.toml")
    if args.sources is not None:
        from textpipe.fetch import load_sources

        load_sources(args.sources)
    use_running_server()
    for key, value in PREFECT_DEFAULTS.items():
        if key not in ("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "PREFECT_UI_ENABLED"):
            os.environ.setdefault(key, value)
    from textpipe_flows.serve import serve_deployments

    serve_deployments(args)
    return EXIT_OK


def _configure_terminal_logging(verbose: bool) -> None:
    # Prefect's loggers propagate to the root logger too: unless --verbose, the
    # terminal shows only textpipe's own warnings.
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("textpipe: %(levelname)s: %(message)s"))
    if not verbose:
        handler.addFilter(lambda record: record.name.split(".")[0] == "textpipe")
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


COMMANDS = {"run": cmd_run, "fetch": cmd_fetch, "refit": cmd_refit, "report": cmd_report, "repair": cmd_repair, "compact": cmd_compact, "server": cmd_server, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_terminal_logging(getattr(args, "verbose", False))
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"textpipe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TextpipeError as exc:
        print(f"textpipe: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("textpipe: interrupted; the next run finishes the work safely", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - e.g. a full disk under Prefect's database: one line, not a traceback
        if getattr(args, "verbose", False):
            traceback.print_exc()
        hint = "" if getattr(args, "verbose", False) else " (--verbose shows the traceback)"
        api_url = _unreachable_api(exc)
        message = (f"no Prefect API answers at {api_url} (PREFECT_API_URL): start it with `textpipe server`, "
                   "or unset PREFECT_API_URL to run in local mode") if api_url else _first_line(exc)
        print(f"textpipe: error: {message}{hint}", file=sys.stderr)
        return EXIT_FAILED


def _unreachable_api(exc: BaseException) -> str | None:
    """The configured API's URL when `exc` says it did not answer (the commonest
    mistake: the server was not started, or stopped); else None."""
    api_url = os.environ.get("PREFECT_API_URL")
    cause: BaseException | None = exc
    while api_url and cause is not None:
        if type(cause).__name__ in ("ConnectError", "ConnectTimeout") or str(cause).startswith("Failed to reach API at"):
            return api_url
        cause = cause.__cause__ or cause.__context__
    return None


def console_script() -> None:
    """The `textpipe` command: `main`, then a quick exit.

    Once the exit handlers have run (Prefect's log and event flushes, the
    temporary server's stop, logging's shutdown), everything is written and
    closed; the interpreter's own teardown of Prefect's large heap would only
    add ~0.4 s to every command, so the process ends without it.
    """
    exit_code: list[int] = []

    def exit_without_teardown() -> None:
        if exit_code:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
                    stream.flush()
            os._exit(exit_code[0])

    # Registered first, so it runs last: after the other threads were joined and every other handler ran.
    atexit.register(exit_without_teardown)
    exit_code.append(main())
    sys.exit(exit_code[0])


if __name__ == "__main__":
    console_script()
