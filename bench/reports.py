#!/usr/bin/env python3
"""Reports on a big workspace, against the database's own floor, in one run.

Seeds (once) a database with 1,000 workspaces x 100 numbers and one workspace of 100,000
numbers (through the switchboard binary: `workspace create`, `numbers import`), serves it with
the release build, and times, for the big workspace:

- the summary grouped by country and label (`/summary?group_by=country_code,label`) against
  the same aggregate run by the database itself (the `sqlite3` shell with `.timer on`, output
  to /dev/null; `psql` with `\\timing` on PostgreSQL);
- the compliance review (`/compliance`) and a full CSV export (`/export?format=csv`) against
  reading every row of the workspace in the database itself, with the server's anonymous RSS
  sampled every 20 ms while each runs.

Each timing is the median of --repeat runs. Results: printed, and bench/out/reports.md.

Usage: python3 bench/reports.py [--backends sqlite,postgres] [--repeat 5] [--reseed]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from run import BIN, OUT, SECRET_KEY, run, start_switchboard, stop

SQLITE_DB = OUT / "reports.db"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/switchboard_reports_bench"
WORKSPACES = 1000
PER_WORKSPACE = 100
BIG = 100_000
LABELS = ["sales", "support", "billing", "onboarding", "marketing", "ops", "eu", "us", "trial", "vip"]
PROVIDERS = ["twilio", "telnyx", "sandbox"]
PORT = 18095


def url_of(backend):
    return f"sqlite://{SQLITE_DB}" if backend == "sqlite" else POSTGRES_URL


def cli(url, *args):
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=SECRET_KEY)
    return json.loads(run([str(BIN), *args], env=env).stdout)


def token_file(backend):
    return OUT / f"reports-{backend}-token.json"


def seed(backend, reseed):
    url = url_of(backend)
    marker = token_file(backend)
    if marker.exists() and not reseed:
        cli(url, "migrate")
        return json.loads(marker.read_text())
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_DB}{suffix}").unlink(missing_ok=True)
    else:
        base, name = url.rsplit("/", 1)
        run(["psql", f"{base}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}"'])
        run(["psql", f"{base}/postgres", "-qc", f'CREATE DATABASE "{name}"'])
    cli(url, "migrate")
    started = time.time()
    csv_dir = OUT / "reports-csv"
    csv_dir.mkdir(parents=True, exist_ok=True)
    for index in range(WORKSPACES):
        created = cli(url, "workspace", "create", "--name", f"Small {index:04d}", "--countries", "US")
        path = csv_dir / f"{index:04d}.csv"
        with open(path, "w") as f:
            f.write("phone_number,provider,monthly_cost_usd,label\n")
            for j in range(PER_WORKSPACE):
                f.write(f"+1{2122000000 + index * PER_WORKSPACE + j},twilio,1.15,small\n")
        cli(url, "numbers", "import", "--workspace", created["workspace_id"], str(path))
    big = cli(url, "workspace", "create", "--name", "Big portfolio", "--countries", "US")
    path = csv_dir / "big.csv"
    with open(path, "w") as f:
        f.write("phone_number,provider,monthly_cost_usd,capabilities,nickname,label\n")
        for i in range(BIG):
            cost = "1.15" if i % 3 else "2.00"
            f.write(f"+1{2132000000 + i},{PROVIDERS[i % 3]},{cost},voice|sms,Line {i},{LABELS[i % 10]}\n")
    cli(url, "numbers", "import", "--workspace", big["workspace_id"], str(path))
    print(f"seeded {backend}: {WORKSPACES} x {PER_WORKSPACE} + {BIG} numbers in {time.time() - started:.0f}s", flush=True)
    marker.write_text(json.dumps(big))
    return big


def timed_get(path, token, sink=None):
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        size = 0
        while True:
            chunk = response.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if sink is not None:
                sink.append(chunk)
    return time.perf_counter() - started, size


SUMMARY_SQL = (
    "SELECT p.country_code, p.label, count(*), CAST(coalesce(sum(p.monthly_cost_cents), 0) AS BIGINT) "
    "FROM (SELECT * FROM phone_numbers WHERE workspace_id = '{ws}') p "
    "GROUP BY p.country_code, p.label ORDER BY p.country_code IS NULL, p.country_code, p.label IS NULL, p.label"
)
ROWS_SQL = (
    "SELECT id, workspace_id, phone_number, country_code, type, monthly_cost_cents, voice, sms, label, nickname, "
    "inbound_agent_id, outbound_agent_id, status, provider, sip_trunk_enabled, is_default, created_at, updated_at, "
    "revision FROM phone_numbers WHERE workspace_id = '{ws}' ORDER BY created_at, id"
)


def floor(backend, sql, repeat):
    """The median time the database itself takes for `sql`, all rows fetched."""
    if backend == "sqlite":
        # The shell prints every row (to /dev/null), as Switchboard must produce every one;
        # `.timer` times each statement inside the shell, without its start-up.
        script = ".timer on\n" + "".join(f".once /dev/null\n{sql};\n" for _ in range(repeat))
        output = subprocess.run(["sqlite3", "-readonly", str(SQLITE_DB)], input=script, text=True,
                                capture_output=True, check=True).stdout
        times = [float(s) for s in re.findall(r"Run Time: real ([\d.]+)", output)]
    else:
        script = "\\timing on\n" + "\n".join(f"{sql};" for _ in range(repeat)) + "\n"
        output = subprocess.run(["psql", POSTGRES_URL, "-qAt", "-o", "/dev/null"], input=script, text=True,
                                capture_output=True, check=True).stdout
        times = [float(ms) / 1000 for ms in re.findall(r"Time: ([\d.]+) ms", output)]
    return statistics.median(times)


def rss_kib(pid):
    """The process's anonymous resident memory (heap and stacks), in KiB. Pages of the
    memory-mapped SQLite file count in its total RSS too, but belong to the page cache."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))


def sampled(server, repeat, path, token):
    """The median time of `repeat` GETs of `path`, and the server's memory before and at its
    peak while they ran (sampled every 20 ms)."""
    samples, stop_sampling = [], threading.Event()

    def sample():
        while not stop_sampling.is_set():
            samples.append(rss_kib(server.pid))
            time.sleep(0.02)

    before = rss_kib(server.pid)
    sampler = threading.Thread(target=sample)
    sampler.start()
    times = []
    for _ in range(repeat):
        seconds, size = timed_get(path, token)
        times.append(seconds)
    stop_sampling.set()
    sampler.join()
    return statistics.median(times), (before, max(samples)), size


def measure(backend, repeat, reseed):
    big = seed(backend, reseed)
    token, workspace = big["api_key"], big["workspace_id"]
    server = start_switchboard(PORT, 1000, url_of(backend))
    rows = []
    try:
        timed_get("/v1/organization-phone-numbers/summary", token)  # warm-up
        summary = [timed_get("/v1/organization-phone-numbers/summary?group_by=country_code,label", token)[0]
                   for _ in range(repeat)]
        summary_floor = floor(backend, SUMMARY_SQL.format(ws=workspace), repeat)
        rows.append(("summary by country and label", statistics.median(summary), summary_floor, None))

        rows_floor = floor(backend, ROWS_SQL.format(ws=workspace), repeat)
        # The export, then the review, each with the server's memory sampled while it runs.
        seconds, memory, size = sampled(server, repeat, "/v1/organization-phone-numbers/export?format=csv", token)
        body = []
        timed_get("/v1/organization-phone-numbers/export?format=csv", token, body)
        lines = b"".join(body).count(b"\n")
        assert lines == BIG + 1, f"the export has {lines} lines"
        export_row = ("CSV export", seconds, rows_floor, memory)
        seconds, memory, _ = sampled(server, repeat, "/v1/organization-phone-numbers/compliance", token)
        rows.append(("compliance review", seconds, rows_floor, memory))
        rows.append(export_row)
    finally:
        stop(server)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    run(["cargo", "build", "--release", "--locked", "-p", "switchboard"], cwd=OUT.parent.parent)
    lines = [
        f"Big workspace: {BIG:,} numbers, beside {WORKSPACES:,} x {PER_WORKSPACE}; median of {args.repeat} runs; "
        f"{os.cpu_count()} cores.",
        "",
        "| backend | report | Switchboard ms | database alone ms | ratio | numbers/s | server anonymous RSS (idle → peak) |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        for name, seconds, floor_seconds, memory in measure(backend, args.repeat, args.reseed):
            rate = f"{BIG / seconds:,.0f}" if memory else ""
            rss = f"{memory[0] / 1024:.0f} → {memory[1] / 1024:.0f} MiB" if memory else ""
            line = (f"| {backend} | {name} | {seconds * 1000:.1f} | {floor_seconds * 1000:.1f} | "
                    f"{seconds / floor_seconds:.1f} | {rate} | {rss} |")
            print(line, flush=True)
            lines.append(line)
    table = "\n".join(lines)
    (OUT / "reports.md").write_text(table + "\n")
    print()
    print(table)


if __name__ == "__main__":
    main()
