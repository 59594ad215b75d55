#!/usr/bin/env python3
"""Writes the DialNexa facts the compatibility test checks, from DialNexa's published OpenAPI file.

    python3 scripts/dialnexa_fixture.py PATH/TO/dialnexa-openapi.json

keeps, of that document, the operations tagged "Phone Numbers" and every component schema they
reach through `$ref`, and writes them to crates/api/tests/fixtures/dialnexa-phone-numbers.json
with a note naming the source. The test reads only that fixture, so it runs in any clone; run
this again when DialNexa publishes a new version of its document.
"""

import json
import pathlib
import sys

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "crates/api/tests/fixtures/dialnexa-phone-numbers.json"
TAG = "Phone Numbers"
METHODS = ("get", "post", "put", "patch", "delete")


def refs(value, found):
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "$ref" and isinstance(inner, str):
                found.add(inner.rsplit("/", 1)[-1])
            else:
                refs(inner, found)
    elif isinstance(value, list):
        for item in value:
            refs(item, found)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    source = pathlib.Path(sys.argv[1])
    document = json.loads(source.read_text())
    paths = {}
    for path, item in document["paths"].items():
        kept = {m: op for m, op in item.items() if m in METHODS and TAG in op.get("tags", [])}
        if kept:
            paths[path] = kept
    all_schemas = document.get("components", {}).get("schemas", {})
    wanted, pending = set(), set()
    refs(paths, pending)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        refs(all_schemas[name], pending)
    fixture = {
        "openapi": document["openapi"],
        "info": {
            **document["info"],
            "x-fixture": (
                f"The operations tagged {TAG!r} of DialNexa's published OpenAPI document "
                f"({document['info']['title']} {document['info']['version']}, OpenAPI "
                f"{document['openapi']}), with the component schemas they reference; written by "
                "scripts/dialnexa_fixture.py."
            ),
        },
        "paths": paths,
        "components": {"schemas": {name: all_schemas[name] for name in sorted(wanted)}},
    }
    FIXTURE.write_text(json.dumps(fixture, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {FIXTURE}: {sum(len(i) for i in paths.values())} operations, {len(wanted)} schemas")


if __name__ == "__main__":
    main()
