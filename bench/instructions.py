#!/usr/bin/env python3
"""Instructions per GET /v1/organization-phone-numbers/{id}, counted by valgrind's callgrind:
a figure that does not move with the machine's load, to compare two builds where wall-clock
throughput on this shared machine varies more than the difference (bench/RESULTS.md).

Runs `switchboard serve` (as shipped: info logging, rate limit on, key cache 1 s) under
`valgrind --tool=callgrind` on the database bench/run.py seeded, sends the same (key, id)
pairs one after another over one keep-alive connection — once FEW requests, once MANY — and
takes (instructions of MANY - instructions of FEW) / (MANY - FEW): start-up, migrations
checks and shutdown cancel out. Counts every thread of the process (the blocking pool and
the log writer included), in user space only (valgrind does not see the kernel).

Usage: python3 bench/instructions.py [--binary PATH ...] [--few 500] [--many 2500]
Needs valgrind (apt-get install valgrind).
"""

import argparse
import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def total_instructions(binary, requests, pairs):
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, SWITCHBOARD_DATABASE_URL=bench.SQLITE_URL, SWITCHBOARD_SECRET_KEY=bench.SECRET_KEY)
        log = open(Path(out) / "server.log", "w")
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out.%p",
             str(binary), "serve", "--listen", "127.0.0.1:18090", "--key-cache-ms", "1000",
             "--rate-limit-per-minute", "100000000"],
            env=env, stdout=log, stderr=log)
        try:
            bench.wait_for("http://127.0.0.1:18090/readyz", timeout=120)
            connection = http.client.HTTPConnection("127.0.0.1", 18090, timeout=60)
            for i in range(requests):
                token, number_id, expected = pairs[i % len(pairs)]
                connection.request("GET", f"/v1/organization-phone-numbers/{number_id}",
                                   headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                response.read()
                if str(response.status) != expected:
                    raise RuntimeError(f"{number_id}: {response.status}, expected {expected}")
            connection.close()
        finally:
            server.terminate()
            server.wait(timeout=120)
        outputs = list(Path(out).glob("callgrind.out.*"))
        summary = outputs[0].read_text(errors="replace")
        return int(re.search(r"^summary:\s+(\d+)", summary, re.M).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", action="append", default=[], metavar="NAME=PATH",
                        help="a build to count (default: this tree's release build)")
    parser.add_argument("--few", type=int, default=500)
    parser.add_argument("--many", type=int, default=2500)
    args = parser.parse_args()
    pairs_path = bench.pairs_file(bench.SQLITE_URL)
    if not pairs_path.exists():
        sys.exit("not seeded: run python3 bench/run.py --backends sqlite first")
    pairs = [line.split() for line in pairs_path.read_text().splitlines()]
    binaries = [b.partition("=")[::2] for b in args.binary] or [("this tree", str(bench.BIN))]
    if not args.binary:
        bench.run(["cargo", "build", "--release", "--locked", "-p", "switchboard"], cwd=bench.ROOT)
    print("| build | instructions per request (user space, all threads) |")
    print("|---|---|")
    for name, path in binaries:
        few = total_instructions(path, args.few, pairs)
        many = total_instructions(path, args.many, pairs)
        print(f"| {name} | {(many - few) / (args.many - args.few):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
