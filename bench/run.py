#!/usr/bin/env python3
"""Load benchmark of GET /v1/organization-phone-numbers/{id} against a bare-hyper baseline.

Builds release, seeds 1,000 workspaces x 100 numbers through the switchboard binary itself
(`workspace create`, `numbers import`), then drives random valid (key, id) pairs -- plus 10 %
ids of another workspace, which must come back 404 -- with wrk at 8, 64 and 256 connections.
In the same run, the same load hits the baseline (bench/baseline): a hyper server that
compares the bearer header with a constant and returns a fixed body of the same size.

Every response is checked against the status its own request expected (the expectation
rides in x-request-id, which both servers echo); a run with any mismatch fails.

With --postgres-url (default postgres://postgres@127.0.0.1:5432/switchboard_bench; the
database is created if missing), the same seed and load also run against Switchboard on
PostgreSQL, in the same invocation; --backends picks which run.

With --reps N every configuration runs N times, interleaved (each rep runs every server once,
in turn), and the table gives the median with the range; the machine's speed drifts by more
than 10 % between minutes, and interleaving spreads that drift over every server alike.

On PostgreSQL the same invocation also measures the database's own floor for this read:
pgbench (prepared statements, as many clients as the connections given, 2 threads) running
the same primary-key read of a number with the same columns, through an integer lookup table
(`bench_ids`, made once) because pgbench cannot draw random text ids.

Each Switchboard row also reports its memory right after its load: resident set (what `top`
shows), and of it anonymous memory and file-backed pages (the binary, and the SQLite file
where it is memory-mapped).

Usage: python3 bench/run.py [--duration 15] [--connections 8,64,256] [--backends sqlite,postgres] [--reseed]
                            [--reps 1] [--redis-url redis://127.0.0.1:6379/] [--also NAME=PATH ...]
Results: printed, and written to bench/out/results.md (copy them into bench/RESULTS.md).
"""

import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DB = OUT / "bench.db"
SQLITE_URL = f"sqlite://{DB}"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/switchboard_bench"
SECRET_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
BIN = ROOT / "target" / "release" / "switchboard"
BASELINE_BIN = ROOT / "target" / "release" / "bench-baseline"
LUA = ROOT / "bench" / "get_number.lua"
WORKSPACES = 1000
NUMBERS_PER_WORKSPACE = 100
PAIR_COUNT = 20000
FOREIGN_SHARE = 0.10


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def pairs_file(url):
    return OUT / ("pairs-postgres.txt" if url.startswith("postgres") else "pairs.txt")


def switchboard(url, *args):
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=SECRET_KEY)
    return json.loads(run([str(BIN), *args], env=env).stdout)


def seed_workspace(url, index):
    created = switchboard(url, "workspace", "create", "--name", f"Bench {index:04d}", "--countries", "US")
    csv_path = OUT / "csv" / f"{index:04d}.csv"
    with open(csv_path, "w") as f:
        f.write("phone_number,provider,monthly_cost_usd,capabilities,nickname,label\n")
        for j in range(NUMBERS_PER_WORKSPACE):
            # +1 212 200-0000 .. +1 212 209-9999: 100,000 valid, distinct US numbers.
            number = 2122000000 + index * NUMBERS_PER_WORKSPACE + j
            f.write(f"+1{number},twilio,1.15,voice|sms,Line {j:03d},Bench\n")
    imported = switchboard(url, "numbers", "import", "--workspace", created["workspace_id"], str(csv_path))
    return created["api_key"], imported["ids"]


def reset_postgres(url):
    """Drops and recreates the benchmark database (never the one it connects through)."""
    base, name = url.rsplit("/", 1)
    if name in ("postgres", "test", "root"):
        sys.exit(f"refusing to drop database {name!r}: give --postgres-url a database of its own")
    admin = f"{base}/postgres"
    run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'])
    run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'])


def seed(url):
    pairs = pairs_file(url)
    if pairs.exists():
        print(f"reusing the seeded {url} (pass --reseed to rebuild it); migrating it to this build's schema")
        switchboard(url, "migrate")
        return
    if url.startswith("postgres"):
        reset_postgres(url)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DB}{suffix}").unlink(missing_ok=True)
    (OUT / "csv").mkdir(parents=True, exist_ok=True)
    switchboard(url, "migrate")
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        workspaces = list(pool.map(lambda i: seed_workspace(url, i), range(WORKSPACES)))
    print(f"seeded {url}: {WORKSPACES} workspaces x {NUMBERS_PER_WORKSPACE} numbers in {time.time() - started:.0f}s")
    rng = random.Random(42)
    with open(pairs, "w") as f:
        for _ in range(PAIR_COUNT):
            owner = rng.randrange(WORKSPACES)
            token, ids = workspaces[owner]
            if rng.random() < FOREIGN_SHARE:
                other = (owner + 1 + rng.randrange(WORKSPACES - 1)) % WORKSPACES
                f.write(f"{token} {rng.choice(workspaces[other][1])} 404\n")
            else:
                f.write(f"{token} {rng.choice(ids)} 200\n")


def wait_for(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_switchboard(port, key_cache_ms, url=SQLITE_URL, binary=BIN, redis_url=None):
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=SECRET_KEY)
    if redis_url:
        env["SWITCHBOARD_REDIS_URL"] = redis_url
    log = open(OUT / f"server-{port}.log", "w")
    process = subprocess.Popen(
        # A limit no client here reaches: the limiter's cost is measured, its 429s are not.
        [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--key-cache-ms", str(key_cache_ms),
         "--rate-limit-per-minute", "100000000"],
        env=env, stdout=log, stderr=log)
    wait_for(f"http://127.0.0.1:{port}/readyz")
    return process


def start_baseline(port, token, body_file):
    process = subprocess.Popen([str(BASELINE_BIN), f"127.0.0.1:{port}", token, str(body_file)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return process


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def memory(process):
    """Resident memory of a running server, in MiB: total, anonymous, file-backed."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    kib = dict(re.findall(r"^(VmRSS|RssAnon|RssFile):\s+(\d+) kB", status, re.M))
    return tuple(int(kib[k]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile"))


PGBENCH_SCRIPT = """\\set n random(1, {rows})
SELECT p.id, p.workspace_id, p.phone_number, p.country_code, p.type, p.monthly_cost_cents, p.voice,
       p.sms, p.label, p.nickname, p.inbound_agent_id, p.outbound_agent_id, p.status, p.provider,
       p.sip_trunk_enabled, p.is_default, p.created_at, p.updated_at, p.revision
  FROM bench_ids b JOIN phone_numbers p ON p.id = b.id AND p.workspace_id = b.workspace_id
 WHERE b.n = :n;
"""


def pgbench(url, clients, duration):
    """Transactions per second pgbench reaches with the same read (see the module's help)."""
    exists = run(["psql", url, "-tAc", "SELECT to_regclass('bench_ids') IS NOT NULL"]).stdout.strip()
    if exists != "t":
        run(["psql", url, "-qc",
             "CREATE TABLE bench_ids AS SELECT row_number() OVER (ORDER BY id) AS n, id, workspace_id "
             "FROM phone_numbers; ALTER TABLE bench_ids ADD PRIMARY KEY (n); ANALYZE bench_ids"])
    rows = int(run(["psql", url, "-tAc", "SELECT count(*) FROM bench_ids"]).stdout.strip())
    script = OUT / "pgbench.sql"
    script.write_text(PGBENCH_SCRIPT.format(rows=rows))
    output = run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(duration),
                  "-f", str(script), url]).stdout
    return float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", output).group(1))


def wrk(port, connections, duration, pairs, extra_env=None):
    env = dict(os.environ, PAIRS_FILE=str(pairs), **(extra_env or {}))
    output = run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(LUA),
                  f"http://127.0.0.1:{port}"], env=env).stdout
    check = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^CHECK .*$", output, re.M).group(0)))
    latency = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^LATENCY .*$", output, re.M).group(0)))
    rate = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^RATE .*$", output, re.M).group(0)))
    errors = re.search(r"Socket errors: .*", output)
    result = {
        "rps": int(rate["requests"]) / (int(rate["duration_us"]) / 1e6),
        "p50_ms": int(latency["p50_us"]) / 1000,
        "p99_ms": int(latency["p99_us"]) / 1000,
        "ok": int(check["responses_200"]),
        "not_found": int(check["responses_404"]),
        "other": int(check["responses_other"]),
        "mismatched": int(check["mismatched"]),
        "socket_errors": errors.group(0) if errors else "",
    }
    if result["mismatched"] or result["other"]:
        raise RuntimeError(f"wrong answers under load: {result}\n{output}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", default="8,64,256")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--reps", type=int, default=1, help="interleaved repetitions; the table gives medians")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--redis-url", default=None,
                        help="also run with the rate limit shared through this Redis, key cache on, "
                             "on each backend (the keys' budgets there are reset first)")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=PATH",
                        help="another switchboard binary (say, a build of an earlier commit) to run "
                             "with the key cache on, on the first backend, in the same invocation")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    OUT.mkdir(parents=True, exist_ok=True)
    urls = {"sqlite": SQLITE_URL, "postgres": args.postgres_url}
    chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.reseed:
        for backend in chosen:
            pairs_file(urls[backend]).unlink(missing_ok=True)
    run(["cargo", "build", "--release", "--locked", "-p", "switchboard", "-p", "bench-baseline"], cwd=ROOT)
    for backend in chosen:
        seed(urls[backend])

    first = pairs_file(urls[chosen[0]]).read_text().splitlines()[0].split()
    token, number_id = first[0], first[1]
    server = start_switchboard(18080, 1000, urls[chosen[0]])
    request = urllib.request.Request(f"http://127.0.0.1:18080/v1/organization-phone-numbers/{number_id}",
                                     headers={"Authorization": f"Bearer {token}"})
    body = urllib.request.urlopen(request).read()
    stop(server)
    body_file = OUT / "body.json"
    body_file.write_bytes(body)

    connections = [int(c) for c in args.connections.split(",")]
    configurations = []
    for backend in chosen:
        url = urls[backend]
        pairs = pairs_file(url)
        configurations.append((f"switchboard {backend} (key cache 1 s)", lambda url=url: start_switchboard(18080, 1000, url), {}, pairs))
        configurations.append((f"switchboard {backend} (no key cache)", lambda url=url: start_switchboard(18080, 0, url), {}, pairs))
        if args.redis_url:
            configurations.append((f"switchboard {backend} (key cache 1 s, limit in Redis)",
                                   lambda url=url: start_switchboard(18080, 1000, url, redis_url=args.redis_url),
                                   {}, pairs))
    for extra in args.also:
        name, _, path = extra.partition("=")
        url = urls[chosen[0]]
        configurations.append((f"{name} {chosen[0]} (key cache 1 s)",
                               lambda url=url, path=path: start_switchboard(18080, 1000, url, Path(path)),
                               {}, pairs_file(url)))
    configurations.append(("baseline (bare hyper)", lambda: start_baseline(18080, token, body_file),
                           {"BASELINE_TOKEN": token}, pairs_file(urls[chosen[0]])))
    results = {}
    memories = {}
    floors = {}
    for rep in range(args.reps):
        for name, start, env, pairs in configurations:
            process = start()
            try:
                wrk(18080, 64, 3, pairs, env)  # warm-up: caches, page cache, connection pools
                for c in connections:
                    r = wrk(18080, c, args.duration, pairs, env)
                    results.setdefault((name, c), []).append(r)
                    if name.startswith("baseline"):
                        mem = ""
                    else:
                        memories.setdefault(name, []).append(memory(process))
                        mem = "  RSS %.0f MiB (anon %.0f, file %.0f)" % memories[name][-1]
                    print(f"{name:38} c={c:<4} {r['rps']:>9.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                          f"  200/404: {r['ok']}/{r['not_found']}{mem} {r['socket_errors']}", flush=True)
            finally:
                stop(process)
        if "postgres" in chosen:
            for c in connections:
                tps = pgbench(urls["postgres"], c, args.duration)
                floors.setdefault(c, []).append(tps)
                print(f"{'pgbench floor (same read, prepared)':38} c={c:<4} {tps:>9.0f} tx/s", flush=True)

    def median(values):
        return sorted(values)[len(values) // 2]

    def spread(values, fmt):
        return fmt.format(median(values)) + ("" if len(values) == 1 else
                                             " (" + fmt.format(min(values)) + "–" + fmt.format(max(values)) + ")")

    lines = [
        f"Body size {len(body)} bytes; wrk -t2, {args.duration} s per run; {os.cpu_count()} cores; "
        f"{args.reps} interleaved rep(s), median (range).",
        "",
        "| server | connections | requests/s | p50 ms | p99 ms | ratio to baseline | 404 share |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, _, _, _ in configurations:
        for c in connections:
            runs = results[(name, c)]
            bases = results[("baseline (bare hyper)", c)]
            # Each rep's ratio is against the baseline of the same rep: the drift cancels.
            ratios = [r["rps"] / b["rps"] for r, b in zip(runs, bases)]
            share = sum(r["not_found"] for r in runs) / max(1, sum(r["ok"] + r["not_found"] for r in runs))
            lines.append(f"| {name} | {c} | {spread([r['rps'] for r in runs], '{:.0f}')} | "
                         f"{spread([r['p50_ms'] for r in runs], '{:.2f}')} | {spread([r['p99_ms'] for r in runs], '{:.2f}')} | "
                         f"{spread(ratios, '{:.2f}')} | {share:.1%} |")
    if memories:
        lines += ["", "| server | RSS MiB after its load | anonymous | file-backed |", "|---|---|---|---|"]
        for name, samples in memories.items():
            lines.append(f"| {name} | {spread([s[0] for s in samples], '{:.0f}')} | "
                         f"{spread([s[1] for s in samples], '{:.0f}')} | {spread([s[2] for s in samples], '{:.0f}')} |")
    if floors:
        lines += ["", "| PostgreSQL | connections | pgbench tx/s (same read) | Switchboard req/s / pgbench tx/s |",
                  "|---|---|---|---|"]
        for name, _, _, _ in configurations:
            if "postgres" not in name:
                continue
            for c in connections:
                ratios = [r["rps"] / f for r, f in zip(results[(name, c)], floors[c])]
                lines.append(f"| {name} | {c} | {spread(floors[c], '{:.0f}')} | {spread(ratios, '{:.2f}')} |")
    table = "\n".join(lines)
    (OUT / "results.md").write_text(table + "\n")
    print()
    print(table)


if __name__ == "__main__":
    main()
