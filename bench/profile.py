#!/usr/bin/env python3
"""Where the time of one GET /v1/organization-phone-numbers/{id} goes: a per-stage table and a
flame graph, from a sampling profile of the release binary under the GET benchmark's load.

Uses the database and (key, id) pairs bench/run.py seeded (run it once first). Starts
`switchboard serve` as shipped (info logging to a file, rate limit on at a limit nobody
reaches, key cache 1 s), drives it with wrk at 64 connections, and while the load runs records
`perf record --call-graph dwarf` of the server process only. The server's CPU time over the
whole run (from /proc) divided by the requests wrk completed is its CPU cost per request;
each stage's share of the samples splits that cost.

A sample belongs to the stage of the innermost frame on its stack that one of Switchboard's
own stages claims (a sample in malloc under serde_json is JSON, a socket write under
tokio-postgres is the database), so nested middleware does not count its inner layers twice;
failing that, to the HTTP, TCP or runtime stage that claims it (a kernel send under hyper's
flush is "write"). Samples nothing claims are "other"; the table shows their share so the
split can be judged. On PostgreSQL the database server's own processes are measured apart
(their CPU per request, from /proc), as they are not Switchboard's.

Needs: perf (apt-get install linux-perf), wrk, and inferno (cargo install inferno) for the
stack folding and the flame graph.

Usage: python3 bench/profile.py [--backend sqlite|postgres] [--duration 12] [--name LABEL]
                                [--binary PATH --name LABEL]
Writes bench/out/profile-BACKEND.md (the table) and bench/flamegraph-BACKEND.svg (with
--binary: bench/out/profile-LABEL.md and bench/out/flamegraph-LABEL.svg). Before the
profile, the bare-hyper baseline runs under the same load, unprofiled, for its CPU per request.
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: seeding, server start, wrk)

# (stage, frame pattern), checked in this order against each frame, innermost frame first.
# What Switchboard's own code does comes first: a sample anywhere under one of these is that
# stage's, even in a system call (PostgreSQL's socket writes are the database's).
OWN_STAGES = [
    ("request log (tracing line to file)", r"request_log::|log_writer::|tracing_subscriber|tracing_core|tracing::"),
    ("rate limit", r"rate_limit::|governor::"),
    ("metrics", r"switchboard_server::metrics|metrics_exporter_prometheus|metrics::|metrics_util::"),
    ("auth (key lookup, digest, cache)", r"switchboard_api::auth|switchboard_server::keys|moka::|sha2::|subtle::|KeyVerifier"),
    ("database", r"sqlite3|rusqlite|switchboard_store_sqlite|switchboard_store_postgres|tokio_postgres|"
                 r"postgres_protocol|deadpool|r2d2|switchboard_store::"),
    ("JSON (serialize the body)", r"serde_json|serde::|switchboard_server::json|PhoneNumberObject"),
    ("handler and errors", r"switchboard_api::routes|switchboard_server::error|switchboard_api::extract"),
    ("routing and middleware (axum, tower)", r"axum::|tower::|tower_http|matchit::|switchboard_server::limits|switchboard_api::router"),
]
# Then HTTP, TCP and the runtime: what the bare-hyper baseline does too.
SERVER_STAGES = [
    ("write the response (hyper encode, send)", r"hyper::proto::h1::role::.*encode|poll_flush|poll_write|"
                                                r"write_buf|__libc_write|writev|__send|sendto|sendmsg"),
    ("read and parse the request", r"httparse|hyper::proto::h1::role::.*parse|poll_read|__libc_read|recvfrom|"
                                   r"hyper::proto::h1::io::Buffered.*parse|hyper::proto::h1::conn::Conn.*poll_read"),
    ("connection handling (hyper, accept loop)", r"hyper::|switchboard_server::serve|switchboard_server::connection|accept4"),
    ("scheduler, wake-ups, blocking pool", r"tokio::runtime|tokio::sync|mio::|epoll_wait|futex|parking_lot|"
                                           r"std::thread|__schedule|schedule\b|pthread_cond"),
]
# Only for samples nothing above claims: allocation is its caller's cost.
FALLBACK = ("memory allocation (no other stage on the stack)", re.compile(r"mi_|mimalloc|malloc|free\b|realloc"))
TIERS = [[(name, re.compile(pattern)) for name, pattern in tier] for tier in (OWN_STAGES, SERVER_STAGES)]


GENERIC_ARGS = re.compile(r"(?<=[\w>}])<[^<>]*>")


def function_path(frame):
    """The frame's function without generic arguments: hyper's frames carry the whole service
    type (`TowerToHyperService<axum::routing::Router<()>>`) in theirs, which is not axum
    running."""
    previous = None
    while previous != frame:
        previous, frame = frame, GENERIC_ARGS.sub("", frame)
    # perf cuts very long names short, leaving generic arguments that never close: drop them.
    opened = []
    for index, char in enumerate(frame):
        if char == "<":
            opened.append(index)
        elif char == ">" and opened:
            opened.pop()
    return frame[:opened[0]] if opened else frame


def stage_of(frames):
    frames = [function_path(frame) for frame in frames]
    for tier in TIERS:
        for frame in reversed(frames):
            for name, pattern in tier:
                if pattern.search(frame):
                    return name
    if any(FALLBACK[1].search(frame) for frame in frames):
        return FALLBACK[0]
    return "other"


def flame_graph(folded, title):
    """The SVG, with generic arguments dropped from the names (readable, and a tenth of the
    size) and frames under 2 pixels left out."""
    lines = []
    for line in folded.decode().splitlines():
        stack, _, count = line.rpartition(" ")
        lines.append(";".join(function_path(f) for f in stack.split(";")) + " " + count)
    return subprocess.run(["inferno-flamegraph", "--title", title, "--width", "1600", "--minwidth", "2"],
                          input="\n".join(lines).encode(), check=True, capture_output=True).stdout


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds():
    """CPU of every running `postgres` process (the server and its backends), children that
    ended included."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" not in text:
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def baseline_cpu_per_request(pairs, duration):
    """CPU µs per request of bench/baseline under the same load (not profiled): the part of a
    request that is HTTP, TCP and the runtime alone."""
    token = pairs.read_text().split(maxsplit=1)[0]
    body_file = bench.OUT / "body.json"
    if not body_file.exists():
        sys.exit("bench/out/body.json is missing: run python3 bench/run.py once first")
    bench.run(["cargo", "build", "--release", "--locked", "-p", "bench-baseline"], cwd=bench.ROOT)
    server = bench.start_baseline(18081, token, body_file)
    try:
        before = cpu_seconds(server.pid)
        result = bench.wrk(18081, 64, duration, pairs, {"BASELINE_TOKEN": token})
        cpu = cpu_seconds(server.pid) - before
    finally:
        bench.stop(server)
    return cpu / (result["rps"] * duration) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--postgres-url", default=bench.DEFAULT_POSTGRES_URL)
    parser.add_argument("--duration", type=int, default=12, help="seconds of load (perf records all but the first 2)")
    parser.add_argument("--name", default=None, help="label for the table's heading")
    parser.add_argument("--binary", default=None,
                        help="profile this switchboard binary (say, a build of an earlier commit) instead of "
                             "building this tree; the output files get --name's slug")
    args = parser.parse_args()
    for tool in ("perf", "wrk", "inferno-collapse-perf", "inferno-flamegraph"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (see this script's help)")
    url = bench.SQLITE_URL if args.backend == "sqlite" else args.postgres_url
    pairs = bench.pairs_file(url)
    if not pairs.exists():
        sys.exit(f"{url} is not seeded: run python3 bench/run.py --backends {args.backend} first")
    if args.binary:
        binary, slug = Path(args.binary), re.sub(r"[^a-z0-9]+", "-", (args.name or "other").lower()).strip("-")
    else:
        bench.run(["cargo", "build", "--release", "--locked", "-p", "switchboard"], cwd=bench.ROOT)
        binary, slug = bench.BIN, args.backend
        bench.switchboard(url, "migrate")

    baseline_micros = baseline_cpu_per_request(pairs, args.duration)
    server = bench.start_switchboard(18080, 1000, url, binary)
    perf_data = bench.OUT / f"perf-{slug}.data"
    try:
        bench.wrk(18080, 64, 3, pairs)  # warm-up
        cpu_before = cpu_seconds(server.pid)
        postgres_before = postgres_cpu_seconds()
        load = subprocess.Popen(
            ["wrk", "-t2", "-c64", f"-d{args.duration}s", "--latency", "-s", str(bench.LUA), "http://127.0.0.1:18080"],
            env=dict(os.environ, PAIRS_FILE=str(pairs)), stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        bench.run(["perf", "record", "-F", "499", "--call-graph", "dwarf,32768", "-p", str(server.pid),
                   "-o", str(perf_data), "--", "sleep", str(args.duration - 4)])
        output = load.communicate()[0]
        cpu = cpu_seconds(server.pid) - cpu_before
        postgres_cpu = postgres_cpu_seconds() - postgres_before
    finally:
        bench.stop(server)
    rate = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^RATE .*$", output, re.M).group(0)))
    requests = int(rate["requests"])
    check = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^CHECK .*$", output, re.M).group(0)))
    if int(check["mismatched"]) or int(check["responses_other"]):
        sys.exit(f"wrong answers under load: {output}")

    script = subprocess.run(["perf", "script", "-i", str(perf_data)], check=True, capture_output=True).stdout
    folded = subprocess.run(["inferno-collapse-perf", "--all"], input=script, check=True, capture_output=True).stdout
    (bench.OUT / f"folded-{slug}.txt").write_bytes(folded)
    svg = (bench.ROOT / "bench" / f"flamegraph-{slug}.svg") if not args.binary else (bench.OUT / f"flamegraph-{slug}.svg")
    title = f"switchboard {args.backend}: GET a number by id, wrk -c64"
    svg.write_bytes(flame_graph(folded, title))

    samples = collections.Counter()
    for line in folded.decode().splitlines():
        stack, _, count = line.rpartition(" ")
        samples[stage_of(stack.split(";"))] += int(count)
    total = sum(samples.values())
    micros = cpu / requests * 1e6
    lines = [
        f"### {args.name or args.backend}",
        "",
        f"{requests} requests in {args.duration} s ({requests / args.duration:.0f} req/s while profiled); "
        f"server CPU {cpu:.1f} s = {micros:.1f} µs per request. The bare-hyper baseline, same load and "
        f"body, in the same invocation: {baseline_micros:.1f} µs per request."
        + (f" PostgreSQL's own processes: {postgres_cpu / requests * 1e6:.1f} µs per request."
           if args.backend == "postgres" else ""),
        "",
        "| stage | share of CPU samples | CPU µs per request |",
        "|---|---|---|",
    ]
    for name, count in samples.most_common():
        lines.append(f"| {name} | {count / total:.1%} | {micros * count / total:.1f} |")
    table = "\n".join(lines)
    (bench.OUT / f"profile-{slug}.md").write_text(table + "\n")
    print(table)
    print(f"\nflame graph: {svg}")


if __name__ == "__main__":
    main()
