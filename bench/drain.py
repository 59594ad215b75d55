#!/usr/bin/env python3
"""How fast one replica drains a webhook backlog on SQLite, and whether another process can
write to the same file meanwhile — two builds in one invocation.

For each build: a fresh SQLite file, one endpoint posting to a local receiver (the bare hyper
server of bench/baseline, answering 200 to everything), then `switchboard numbers import` of
N numbers from another process, which queues N deliveries at once. While the server drains
them, the command line runs `workspace create` ten times in a row (another process taking
the write lock); each run's time and outcome is recorded. Reported: deliveries per second
from the import's end to an empty queue, and the command line's slowest write and failures.

Usage: cargo build --release -p switchboard -p bench-baseline
       python3 bench/drain.py --before PATH/TO/OLD/switchboard [--numbers 20000]
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BASELINE_BIN, BIN, SECRET_KEY, stop, wait_for  # noqa: E402

PORT, RECEIVER_PORT = 18190, 18191
WRITES = 10


def cli(binary, url, *args):
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=SECRET_KEY)
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True)


def pending(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'").fetchone()[0]


def drain(name, binary, numbers, work):
    path = work / f"{name}.db"
    url = f"sqlite://{path}"
    created = json.loads(cli(binary, url, "workspace", "create", "--name", "Drain", "--countries", "US").stdout)
    csv = work / f"{name}.csv"
    csv.write_text("phone_number\n" + "\n".join(f"+1{2122000000 + i}" for i in range(numbers)) + "\n")
    receiver = subprocess.Popen([str(BASELINE_BIN), f"127.0.0.1:{RECEIVER_PORT}", "-", "/dev/null"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=SECRET_KEY, RUST_LOG="warn")
    server = subprocess.Popen([str(binary), "serve", "--listen", f"127.0.0.1:{PORT}", "--rate-limit-per-minute", "0",
                               "--webhooks-allow-loopback"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{PORT}"
        wait_for(f"{base}/readyz")
        request = urllib.request.Request(f"{base}/v1/webhook-endpoints", method="POST",
                                         data=json.dumps({"url": f"http://127.0.0.1:{RECEIVER_PORT}/all"}).encode())
        request.add_header("Authorization", f"Bearer {created['api_key']}")
        request.add_header("Content-Type", "application/json")
        urllib.request.urlopen(request).read()
        imported = cli(binary, url, "numbers", "import", "--workspace", created["workspace_id"], str(csv))
        if imported.returncode != 0:
            sys.exit(f"{name}: import failed: {imported.stderr}")
        started = time.time()
        writes, failures = [], 0
        for n in range(WRITES):
            began = time.time()
            result = cli(binary, url, "workspace", "create", "--name", f"during {n}")
            writes.append(time.time() - began)
            failures += result.returncode != 0
        left_after_writes = pending(path)
        while pending(path) > 0:
            time.sleep(0.05)
        took = time.time() - started
        return {"build": name, "deliveries": numbers, "drain_s": round(took, 2),
                "per_s": round(numbers / took), "left_after_writes": left_after_writes,
                "cli_writes": WRITES, "cli_failures": failures,
                "cli_slowest_s": round(max(writes), 3), "cli_median_s": round(sorted(writes)[WRITES // 2], 3)}
    finally:
        stop(server)
        stop(receiver)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the switchboard binary to compare against")
    parser.add_argument("--numbers", type=int, default=20000, help="deliveries queued at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        rows = [drain("before", Path(args.before), args.numbers, work),
                drain("after", BIN, args.numbers, work)]
    print("| build | deliveries | drained in | per second | CLI writes failed | slowest CLI write | median |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['build']} | {r['deliveries']} | {r['drain_s']} s | {r['per_s']} | "
              f"{r['cli_failures']} of {r['cli_writes']} | {r['cli_slowest_s']} s | {r['cli_median_s']} s |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
