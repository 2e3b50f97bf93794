"""Command line: `python -m benchmarks run [--quick] ...`, `list`, `report RESULTS.json`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from benchmarks import results, servers
from benchmarks.runner import DEFAULT_POSTGRES_URL, Lab, Options
from benchmarks.scenarios import SCENARIOS, Setup, plan

QUICK_DURATION = 1.0


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the lab and write results.json, report.md/.html")
    run.add_argument("--quick", action="store_true",
                     help="reduced matrix and scenarios (a few minutes on 2 cores)")
    run.add_argument("--scenario", type=_csv, default=[], metavar="NAME[,NAME]",
                     help="only these scenarios (see `list`)")
    run.add_argument("--servers", type=_csv, default=[], metavar="NAME[,NAME]",
                     help="configurations to run (see `list`)")
    run.add_argument("--repeat", type=int, default=None,
                     help="repetitions, interleaved across configurations (default 3; quick 1)")
    run.add_argument("--duration", type=float, default=None,
                     help="seconds per load point (default 5; quick 1)")
    run.add_argument("--database", type=_csv, default=["sqlite"], metavar="sqlite|postgres",
                     help="sqlite, postgres, or both as sqlite,postgres (database workloads "
                          "are repeated on the second)")
    run.add_argument("--postgres-url", default=os.environ.get("TWINPORT_BENCH_POSTGRES_URL",
                                                              DEFAULT_POSTGRES_URL))
    run.add_argument("--generator", choices=("auto", "builtin"), default="auto",
                     help="auto: wrk for timed closed-loop points when installed")
    run.add_argument("--no-pin", action="store_true", help="do not pin server/generator CPUs")
    run.add_argument("--out", type=Path, default=None,
                     help="results folder (default benchmarks/results/<timestamp>)")
    sub.add_parser("list", help="list configurations and scenarios")
    ovh = sub.add_parser("overhead", help="measure the in-process cost per request and add it "
                         "to an existing results.json (then re-render)")
    ovh.add_argument("results", type=Path)
    rep = sub.add_parser("report", help="re-render report.md and report.html from results.json")
    rep.add_argument("results", type=Path, nargs="+",
                     help="results.json; several are merged (e.g. a PostgreSQL pass run "
                          "separately), the first one's environment and ceiling kept")
    rep.add_argument("--out", type=Path, default=None, help="folder (default: next to the first)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        _list()
    elif args.command == "overhead":
        from benchmarks import procs, report

        procs.install_cleanup()
        data = results.load(args.results)
        lab = Lab(Options(out_dir=args.results.parent))
        data["overhead"] = {**lab.measure_overhead(), "added_after_run": True}
        results.dump(data, args.results)
        for path in report.write(data, args.results.parent):
            print(path)
    elif args.command == "report":
        from benchmarks import report

        parts = [results.load(p) for p in args.results]
        data = results.merge(parts) if len(parts) > 1 else parts[0]
        out = args.out or args.results[0].parent
        out.mkdir(parents=True, exist_ok=True)
        if len(parts) > 1:
            results.dump(data, out / "results.json")
        for path in report.write(data, out):
            print(path)
    else:
        _run(args)


def _list() -> None:
    print("configurations (server[+app]):")
    for name in servers.FULL_MATRIX:
        cfg = servers.config(name)
        quick = "quick" if name in servers.QUICK_MATRIX else ""
        print(f"  {name:28} {quick:6} {cfg.typed}  [{cfg.server.shape}]")
    print("  (any server can run any app: +hello, +bare)")
    print("scenarios:")
    for name, scenario in plan(Setup(quick=False, duration=5, database="postgres")).items():
        print(f"  {name:10} {scenario.title}")


def _run(args: argparse.Namespace) -> None:
    from benchmarks import procs, report

    procs.install_cleanup()
    dbs = args.database
    for db in dbs:
        if db not in ("sqlite", "postgres"):
            raise SystemExit(f"--database: unknown {db!r} (sqlite or postgres)")
    for name in args.scenario:
        if name not in SCENARIOS:
            raise SystemExit(f"--scenario: unknown {name!r}; one of {', '.join(SCENARIOS)}")
    for name in args.servers:
        try:
            servers.config(name)
        except KeyError:
            raise SystemExit(f"--servers: unknown {name!r}; see `python -m benchmarks list`") \
                from None
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or servers.ROOT / "benchmarks" / "results" / (
        f"{stamp}-quick" if args.quick else stamp)
    opts = Options(
        quick=args.quick, scenarios=args.scenario, servers=args.servers,
        repeat=args.repeat if args.repeat is not None else (1 if args.quick else 3),
        duration=args.duration if args.duration is not None else (
            QUICK_DURATION if args.quick else 5.0),
        databases=dbs, out_dir=out.resolve(), generator=args.generator, pin=not args.no_pin,
        postgres_url=args.postgres_url, argv=["python", "-m", "benchmarks", *sys.argv[1:]],
    )
    lab = Lab(opts)
    try:
        data = lab.run()
    except KeyboardInterrupt:
        print("\ninterrupted: every started process was stopped; partial results in "
              f"{out / 'results.json'}", file=sys.stderr)
        raise SystemExit(130) from None
    for path in report.write(data, out):
        print(path)
