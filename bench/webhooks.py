#!/usr/bin/env python3
"""What webhooks cost the write path, and how fast one replica delivers them.

Every change writes its event and, in the same transaction, one delivery per enabled
endpoint whose filter takes it (the outbox). This drives PATCHes that each change a number
(wrk, bench/patch_number.lua) against the release binary, three times in one invocation:

  none      no webhook endpoint: the baseline, what a write cost before webhooks
  filtered  one endpoint whose filter takes none of these events: the outbox query alone
  all       one endpoint that takes every event, posting to a local receiver (the bare hyper
            server of bench/baseline, answering 200 to everything) while the writes go on

For `all` it also counts the deliveries made and how long the queue takes to drain after
the writes stop, which gives the deliveries per second one replica sustains.

Usage: cargo build --release -p switchboard -p bench-baseline
       python3 bench/webhooks.py [--duration 10] [--postgres-url URL]
"""

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BASELINE_BIN, BIN, SECRET_KEY, reset_postgres, run, stop, switchboard, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "patch_number.lua"
NUMBERS = 500


def seed(url, work):
    created = switchboard(url, "workspace", "create", "--name", "Bench", "--countries", "US")
    csv = work / "numbers.csv"
    # +1 212 200-0000 and on: valid, distinct US numbers (as bench/run.py seeds them).
    csv.write_text("phone_number\n" + "\n".join(f"+1{2122000000 + i}" for i in range(NUMBERS)) + "\n")
    imported = switchboard(url, "numbers", "import", "--workspace", created["workspace_id"], str(csv))
    ids = work / "ids.txt"
    ids.write_text("\n".join(imported["ids"]) + "\n")
    return created["api_key"], ids


def call(base, token, method, path, body=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def wrk(base, token, ids, connections, duration):
    env = dict(os.environ, IDS_FILE=str(ids), TOKEN=token)
    output = run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(LUA), base],
                 env=env).stdout
    check = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^CHECK .*$", output, re.M).group(0)))
    latency = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^LATENCY .*$", output, re.M).group(0)))
    if int(check["other"]):
        sys.exit(f"{check['other']} answers were not 200:\n{output}")
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50": int(latency["p50"]) / 1000, "p99": int(latency["p99"]) / 1000}


def counter(url):
    """A function that answers (pending, delivered) deliveries."""
    query = ("SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'delivered') "
             "FROM webhook_deliveries")
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        return lambda: sqlite3.connect(path).execute(query).fetchone()
    return lambda: tuple(int(v) for v in run(["psql", url, "-tAc", query]).stdout.strip().split("|"))


def bench(name, url, duration, work):
    token, ids = seed(url, work)
    receiver = subprocess.Popen([str(BASELINE_BIN), "127.0.0.1:18091", "-", "/dev/null"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=SECRET_KEY)
    log = open(work / f"server-{name}.log", "w")
    server = subprocess.Popen(
        [str(BIN), "serve", "--listen", "127.0.0.1:18090", "--rate-limit-per-minute", "0",
         "--webhooks-allow-loopback"], env=env, stdout=log, stderr=log)
    base = "http://127.0.0.1:18090"
    rows = []
    try:
        wait_for(f"{base}/readyz")
        wrk(base, token, ids, 16, 3)  # warm-up
        rows.append(("none", wrk(base, token, ids, 16, duration), None))
        filtered = call(base, token, "POST", "/v1/webhook-endpoints",
                        {"url": "http://127.0.0.1:18091/filtered", "event_types": ["agent.deleted"]})
        rows.append(("filtered", wrk(base, token, ids, 16, duration), None))
        call(base, token, "DELETE", f"/v1/webhook-endpoints/{filtered['id']}")
        call(base, token, "POST", "/v1/webhook-endpoints", {"url": "http://127.0.0.1:18091/all"})
        count = counter(url)
        started = time.time()
        result = wrk(base, token, ids, 16, duration)
        stopped = time.time()
        pending_at_stop, _ = count()
        while count()[0] > 0:
            time.sleep(0.1)
        drained = time.time()
        delivered = count()[1]
        rows.append(("all", result, {"delivered": delivered, "pending_at_stop": pending_at_stop,
                                     "drain_s": drained - stopped,
                                     "per_s": delivered / (drained - started)}))
    finally:
        stop(server)
        stop(receiver)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/switchboard_bench_webhooks")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["sqlite"] = bench("sqlite", f"sqlite://{work}/bench.db", args.duration, work)
        if not args.no_postgres:
            reset_postgres(args.postgres_url)
            switchboard(args.postgres_url, "migrate")
            results["postgres"] = bench("postgres", args.postgres_url, args.duration, work)
    print(f"PATCH with a new nickname, wrk -t2 -c16, {args.duration} s per run; {os.cpu_count()} cores\n")
    print("| backend | endpoints | requests/s | p50 ms | p99 ms | ratio to none | deliveries |")
    print("|---|---|---|---|---|---|---|")
    for backend, rows in results.items():
        none = rows[0][1]["rps"]
        for name, r, d in rows:
            deliveries = (f"{d['delivered']} delivered, {d['pending_at_stop']} pending when the writes stopped, "
                          f"drained {d['drain_s']:.1f} s later: {d['per_s']:.0f}/s") if d else ""
            print(f"| {backend} | {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{r['rps'] / none:.2f} | {deliveries} |")


if __name__ == "__main__":
    main()
