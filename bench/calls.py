#!/usr/bin/env python3
"""The answer path under load: Twilio's voice webhook against a GET of a number, same run.

Uses the seed of bench/run.py (1,000 workspaces x 100 numbers; seeded if missing), gives 200
numbers an agent with a SIP destination, and writes 400,000 voice requests, each a new call
(`CallSid`) to one of them, signed as Twilio signs (`X-Twilio-Signature`, HMAC-SHA1 over the
URL and the sorted parameters, the scheme `twilio.request_validator` implements). Then, per
backend and repetition, on one server: wrk drives GET /v1/organization-phone-numbers/{id}
(bench/get_number.lua), then POST /carriers/twilio/voice (bench/voice.lua; every answer must
be a 200 with a <Dial>), at the same connections and duration. Each voice request checks the
signature, reads the number and its agents' destinations, decides, and records the call and
its first attempt (committed with the calls that arrive with it) before it answers: a write,
where the GET is a read. Each repetition starts with an empty call log, so every request is
a new call, as in production (a repeated CallSid takes another path: it reads the call).

Usage: python3 bench/calls.py [--duration 15] [--connections 64] [--backends sqlite,postgres] [--reps 2]
Results: printed; copy them into bench/RESULTS.md.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import sys
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the seed, the server, the GET load)

TOKEN = "bench-twilio-auth-token"
PORT = 18090
ROUTED = 200
CALLS = 400_000


def api(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def signature(url, params):
    payload = url + "".join(f"{k}{v}" for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def start(url):
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=bench.SECRET_KEY)
    log = open(bench.OUT / f"server-{PORT}.log", "w")
    process = bench.subprocess.Popen(
        [str(bench.BIN), "serve", "--listen", f"127.0.0.1:{PORT}", "--rate-limit-per-minute", "100000000",
         "--twilio-auth-token", TOKEN, "--public-url", f"http://127.0.0.1:{PORT}"],
        env=env, stdout=log, stderr=log)
    bench.wait_for(f"http://127.0.0.1:{PORT}/readyz")
    return process


def prepare(url):
    """Routes ROUTED numbers to agents and writes the calls file; returns its path."""
    calls_file = bench.OUT / ("calls-postgres.txt" if url.startswith("postgres") else "calls.txt")
    if calls_file.exists():
        return calls_file
    base = f"http://127.0.0.1:{PORT}"
    process = start(url)
    try:
        numbers, seen = [], set()
        for line in bench.pairs_file(url).read_text().splitlines():
            token, number_id, status = line.split()
            if status != "200" or number_id in seen:
                continue
            seen.add(number_id)
            agent = api(base, token, "POST", "/v1/agents",
                        {"name": f"Bench agent {len(numbers)}", "destination": f"sip:agent{len(numbers)}@agents.example.com"})
            number = api(base, token, "PATCH", f"/v1/organization-phone-numbers/{number_id}",
                         {"inbound_agent_id": agent["id"]})
            numbers.append(number["phone_number"])
            if len(numbers) == ROUTED:
                break
    finally:
        bench.stop(process)
    voice_url = f"{base}/carriers/twilio/voice"
    with open(calls_file, "w") as f:
        for i in range(CALLS):
            params = {"CallSid": f"CA{i:032x}", "AccountSid": "AC" + "0" * 32, "From": "+14155550123",
                      "To": numbers[i % len(numbers)], "CallStatus": "ringing", "Direction": "inbound"}
            f.write(f"{signature(voice_url, params)}\t{urllib.parse.urlencode(params)}\n")
    return calls_file


def clear_call_log(url):
    """Empties the bench database's call log, so the calls file's CallSids are new again."""
    sql = "DELETE FROM call_attempts; DELETE FROM calls;"
    if url.startswith("postgres"):
        bench.run(["psql", url, "-qc", sql])
    else:
        import sqlite3
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            db.executescript(sql)


def voice(connections, duration, calls_file):
    env = dict(os.environ, CALLS_FILE=str(calls_file))
    output = bench.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                        str(bench.ROOT / "bench" / "voice.lua"), f"http://127.0.0.1:{PORT}"], env=env).stdout
    field = lambda name: dict(re_fields(output, name))
    check, latency, rate = field("CHECK"), field("LATENCY"), field("RATE")
    if int(check["other"]):
        raise RuntimeError(f"answers without a <Dial>: {check}\n{output}")
    return {"rps": int(rate["requests"]) / (int(rate["duration_us"]) / 1e6),
            "p50_ms": int(latency["p50_us"]) / 1000, "p99_ms": int(latency["p99_us"]) / 1000}


def re_fields(output, name):
    line = bench.re.search(rf"^{name} .*$", output, bench.re.M).group(0)
    return bench.re.findall(r"(\w+)=(\d+)", line)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=bench.DEFAULT_POSTGRES_URL)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    bench.run(["cargo", "build", "--release", "--locked", "-p", "switchboard"], cwd=bench.ROOT)
    urls = {"sqlite": bench.SQLITE_URL, "postgres": args.postgres_url}
    rows = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        url = urls[backend]
        bench.seed(url)
        calls_file = prepare(url)
        pairs = bench.pairs_file(url)
        results = {"GET": [], "voice": []}
        for _ in range(args.reps):
            # A fresh server and an empty call log per repetition: the calls file holds each
            # CallSid once.
            clear_call_log(url)
            process = start(url)
            try:
                bench.run(["wrk", "-t2", "-c64", "-d3s", "-s", str(bench.LUA), f"http://127.0.0.1:{PORT}"],
                          env=dict(os.environ, PAIRS_FILE=str(pairs)))  # warm-up
                results["GET"].append(bench.wrk(PORT, args.connections, args.duration, pairs))
                results["voice"].append(voice(args.connections, args.duration, calls_file))
            finally:
                bench.stop(process)
            print(f"{backend}: GET {results['GET'][-1]['rps']:.0f} req/s p99 {results['GET'][-1]['p99_ms']:.2f} ms; "
                  f"voice {results['voice'][-1]['rps']:.0f} req/s p99 {results['voice'][-1]['p99_ms']:.2f} ms", flush=True)
        med = lambda name, key: statistics.median(r[key] for r in results[name])
        rows.append((backend, med("GET", "rps"), med("GET", "p99_ms"), med("voice", "rps"), med("voice", "p99_ms")))
    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s, {args.reps} reps (medians), {os.cpu_count()} cores\n")
    print("| backend | GET req/s | GET p99 | voice req/s | voice p99 | voice / GET |")
    print("|---|---|---|---|---|---|")
    for backend, get_rps, get_p99, voice_rps, voice_p99 in rows:
        print(f"| {backend} | {get_rps:.0f} | {get_p99:.2f} ms | {voice_rps:.0f} | {voice_p99:.2f} ms | {voice_rps / get_rps:.2f} |")


if __name__ == "__main__":
    main()
