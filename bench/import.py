#!/usr/bin/env python3
"""Times `switchboard numbers import` of 20,000 US numbers into one workspace, on a fresh
SQLite file and a fresh PostgreSQL schema, in one run (SQLite is the baseline).

Usage: python3 bench/import.py [--postgres-url URL] [--also NAME=PATH ...]
  --also runs another switchboard binary (say, a build of an earlier commit) the same way.
"""

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "switchboard"
SECRET_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
COUNT = 20000


def numbers_csv(path):
    rng = random.Random(1)
    numbers = set()
    while len(numbers) < COUNT:
        area = rng.choice([201, 202, 212, 213, 305, 312, 415, 617, 646, 702, 713, 718, 805, 917])
        numbers.add(f"+1{area}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}")
    path.write_text("phone_number\n" + "\n".join(sorted(numbers)) + "\n")


def switchboard(binary, url, *args):
    env = dict(os.environ, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_SECRET_KEY=SECRET_KEY)
    return subprocess.run([str(binary), *args], env=env, check=True, capture_output=True, text=True).stdout


def timed_import(binary, url, csv):
    switchboard(binary, url, "migrate")
    workspace = json.loads(switchboard(binary, url, "workspace", "create", "--name", "Import"))["workspace_id"]
    start = time.monotonic()
    imported = json.loads(switchboard(binary, url, "numbers", "import", "--workspace", workspace, str(csv)))["imported"]
    assert imported == COUNT, imported
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=PATH")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "switchboard"], cwd=ROOT, check=True)
    binaries = [("switchboard", BIN)] + [(n, Path(p)) for n, _, p in (a.partition("=") for a in args.also)]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "numbers.csv"
        numbers_csv(csv)
        print(f"| binary | backend | {COUNT:,} numbers imported in |")
        print("|---|---|---|")
        for index, (name, binary) in enumerate(binaries):
            sqlite = f"sqlite://{tmp}/import-{index}.db"
            schema = f"import_bench_{index}_{int(time.time())}"
            subprocess.run(["psql", args.postgres_url, "-qc", f"CREATE SCHEMA {schema}"], check=True)
            try:
                separator = "&" if "?" in args.postgres_url else "?"
                postgres = f"{args.postgres_url}{separator}options=-c%20search_path%3D{schema}"
                for backend, url in [("sqlite", sqlite), ("postgres", postgres)]:
                    print(f"| {name} | {backend} | {timed_import(binary, url, csv):.1f} s |", flush=True)
            finally:
                subprocess.run(["psql", args.postgres_url, "-qc", f"SET client_min_messages = warning; DROP SCHEMA {schema} CASCADE"], check=True)


if __name__ == "__main__":
    main()
