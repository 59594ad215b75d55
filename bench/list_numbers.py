#!/usr/bin/env python3
"""Load benchmark of the number list on a workspace with 100,000 numbers.

Seeds one workspace with 100,000 numbers through `switchboard numbers import` (one CSV),
then drives GET /v1/organization-phone-numbers?limit=100 at page 1 and page 1,000 (the last
page) with wrk at 8 and 64 connections. Every answer must be a 200 whose `total` is 100,000
(checked once per page before the load).

Usage: python3 bench/list_numbers.py [--duration 10] [--reseed]
"""

import argparse
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

from run import BIN, OUT, SECRET_KEY, run, start_switchboard, stop

DB = OUT / "list.db"
TOKEN_FILE = OUT / "list-token.txt"
NUMBERS = 100_000
LUA = Path(__file__).resolve().parent / "list_numbers.lua"


def switchboard(*args):
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=f"sqlite://{DB}", SWITCHBOARD_SECRET_KEY=SECRET_KEY)
    return json.loads(run([str(BIN), *args], env=env).stdout)


def seed():
    if DB.exists() and TOKEN_FILE.exists():
        print(f"reusing {DB} (migrated to this build's schema)")
        switchboard("migrate")
        return TOKEN_FILE.read_text().strip()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    created = switchboard("workspace", "create", "--name", "Big portfolio")
    csv = OUT / "list.csv"
    with open(csv, "w") as f:
        f.write("phone_number,provider,monthly_cost_usd,nickname\n")
        for i in range(NUMBERS):
            f.write(f"+1{2123000000 + i},twilio,1.15,Line {i}\n")
    started = time.time()
    imported = switchboard("numbers", "import", "--workspace", created["workspace_id"], str(csv))
    print(f"imported {imported['imported']} numbers in {time.time() - started:.1f}s")
    TOKEN_FILE.write_text(created["api_key"])
    return created["api_key"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.reseed:
        TOKEN_FILE.unlink(missing_ok=True)
    run(["cargo", "build", "--release", "--locked", "-p", "switchboard"], cwd=OUT.parent.parent)
    token = seed()
    server = start_switchboard(18090, 1000, url=f"sqlite://{DB}")
    rows = []
    try:
        for page in (1, 1000):
            request = urllib.request.Request(
                f"http://127.0.0.1:18090/v1/organization-phone-numbers?limit=100&page={page}",
                headers={"Authorization": f"Bearer {token}"})
            body = json.loads(urllib.request.urlopen(request).read())
            assert body["total"] == NUMBERS and len(body["items"]) == 100, body["total"]
            for connections in (8, 64):
                env = dict(os.environ, TOKEN=token, PAGE=str(page))
                output = run(["wrk", "-t2", f"-c{connections}", f"-d{args.duration}s", "--latency", "-s", str(LUA),
                              "http://127.0.0.1:18090"], env=env).stdout
                check = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^CHECK .*$", output, re.M).group(0)))
                latency = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^LATENCY .*$", output, re.M).group(0)))
                rate = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^RATE .*$", output, re.M).group(0)))
                if int(check["responses_other"]):
                    raise RuntimeError(f"non-200 answers under load: {check}")
                rps = int(rate["requests"]) / (int(rate["duration_us"]) / 1e6)
                row = f"| {page} | {connections} | {rps:.0f} | {int(latency['p50_us']) / 1000:.2f} | {int(latency['p99_us']) / 1000:.2f} |"
                print(row, flush=True)
                rows.append(row)
    finally:
        stop(server)
    table = "| page (limit 100) | connections | requests/s | p50 ms | p99 ms |\n|---|---|---|---|---|\n" + "\n".join(rows)
    (OUT / "list-results.md").write_text(table + "\n")
    print()
    print(table)


if __name__ == "__main__":
    main()
