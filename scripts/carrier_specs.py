#!/usr/bin/env python3
"""Vendors the parts of a carrier's published OpenAPI document that the adapter tests check against.

    python3 scripts/carrier_specs.py twilio PATH/TO/twilio_api_v2010.json

keeps, of that document, the operations the `twilio` adapter sends (searching, buying, listing,
configuring and releasing numbers) and every component they reach through `$ref`, and writes them
to carriers/openapi/twilio-api-v2010-numbers.json. The document describes only the successful
answers; each kept operation also gets a `default` answer with the error body Twilio documents
(https://www.twilio.com/docs/usage/twilios-response: `code`, `message`, `more_info`, `status`),
so the validating proxy can check the fake's failures too. Run it again when the carrier
publishes a new version of its document.
"""

import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent.parent / "carriers/openapi"
METHODS = ("get", "post", "put", "patch", "delete")

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
CARRIERS = {
    "twilio": {
        "file": "twilio-api-v2010-numbers.json",
        "source": "Twilio's published OpenAPI document for API v2010 (repository twilio/twilio-oai, spec/json/twilio_api_v2010.json)",
        "keep": {
            f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/Local.json": ["get"],
            f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/Mobile.json": ["get"],
            f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/TollFree.json": ["get"],
            f"{ACCOUNT}/IncomingPhoneNumbers.json": ["get", "post"],
            f"{ACCOUNT}/IncomingPhoneNumbers/{{Sid}}.json": ["get", "post", "delete"],
            f"{ACCOUNT}/IncomingPhoneNumbers/Local.json": ["get"],
            f"{ACCOUNT}/IncomingPhoneNumbers/Mobile.json": ["get"],
            f"{ACCOUNT}/IncomingPhoneNumbers/TollFree.json": ["get"],
        },
        "error": {
            "description": "Twilio's error body (added by scripts/carrier_specs.py: the document lists successes only).",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["code", "message", "status"],
                        "properties": {
                            "code": {"type": "integer"},
                            "message": {"type": "string"},
                            "more_info": {"type": "string", "format": "uri"},
                            "status": {"type": "integer"},
                        },
                    }
                }
            },
        },
    },
}


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
    if len(sys.argv) != 3 or sys.argv[1] not in CARRIERS:
        sys.exit(__doc__)
    carrier = CARRIERS[sys.argv[1]]
    document = json.loads(pathlib.Path(sys.argv[2]).read_text())
    paths = {}
    for path, methods in carrier["keep"].items():
        item = document["paths"][path]
        kept = {key: value for key, value in item.items() if key not in METHODS}
        for method in methods:
            operation = dict(item[method])
            operation["responses"] = dict(operation["responses"], default=carrier["error"])
            kept[method] = operation
        paths[path] = kept
    schemas = document.get("components", {}).get("schemas", {})
    wanted, seen = set(), set()
    refs(paths, wanted)
    while wanted - seen:
        name = (wanted - seen).pop()
        seen.add(name)
        refs(schemas.get(name, {}), wanted)
    components = dict(document.get("components", {}))
    components["schemas"] = {name: schemas[name] for name in sorted(seen) if name in schemas}
    out = {
        key: value for key, value in document.items() if key not in ("paths", "components")
    }
    out["info"] = dict(out["info"], **{"x-switchboard-source": carrier["source"] + "; cut down by scripts/carrier_specs.py"})
    out["paths"] = paths
    out["components"] = components
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / carrier["file"]
    target.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"wrote {target} ({len(paths)} paths, {len(components['schemas'])} schemas)")


if __name__ == "__main__":
    main()
