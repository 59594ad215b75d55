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

from dialnexa_fixture import refs  # the names every `$ref` inside a value points at

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
    "telnyx": {
        "file": "telnyx-v2-numbers.json",
        "source": "Telnyx's published OpenAPI document for API v2 (repository team-telnyx/openapi, openapi/spec3.yml)",
        "keep": {
            "/available_phone_numbers": ["get"],
            "/number_orders": ["get", "post"],
            "/number_orders/{number_order_id}": ["get"],
            "/phone_numbers": ["get"],
            "/phone_numbers/{id}": ["get", "patch", "delete"],
            "/texml_applications": ["get", "post"],
            "/texml_applications/{id}": ["get", "patch"],
        },
        # Telnyx's document describes its error answers itself.
        "error": None,
        # Its repository states no licence: keep only what validation needs (no prose, no
        # examples), the smallest excerpt that still checks every exchange.
        "strip": True,
    },
}


PROSE = {"description", "summary", "example", "examples", "externalDocs", "x-latency-category", "x-group-parameters", "x-endpoint-cost"}


def strip(value, names=False):
    """The value without prose and examples (what validating does not read). `names`: the
    keys of `value` are names (of properties, paths, components), never prose."""
    if isinstance(value, dict):
        return {
            key: strip(inner, names=key in ("properties", "patternProperties"))
            for key, inner in value.items()
            if names or key not in PROSE
        }
    if isinstance(value, list):
        return [strip(item) for item in value]
    return value


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
            if carrier["error"] is not None:
                operation["responses"] = dict(operation["responses"], default=carrier["error"])
            kept[method] = operation
        paths[path] = kept
    # Every component the kept operations reach, of every kind (schemas, parameters,
    # responses), through `$ref`s followed to the end.
    all_components = document.get("components", {})
    wanted, seen = set(), set()
    refs(paths, wanted)
    while wanted - seen:
        name = (wanted - seen).pop()
        seen.add(name)
        for kind in all_components.values():
            if isinstance(kind, dict) and name in kind:
                refs(kind[name], wanted)
    components = {}
    for kind, members in all_components.items():
        if kind == "securitySchemes":
            components[kind] = members
        elif isinstance(members, dict):
            kept = {name: members[name] for name in sorted(seen) if name in members}
            if kept:
                components[kind] = kept
    out = {
        key: value for key, value in document.items() if key not in ("paths", "components", "webhooks")
    }
    out["info"] = dict(out["info"], **{"x-switchboard-source": carrier["source"] + "; cut down by scripts/carrier_specs.py"})
    out["paths"] = paths
    out["components"] = components
    if carrier.get("strip"):
        out["paths"] = {path: strip(item) for path, item in paths.items()}
        out["components"] = {
            kind: {name: strip(member) for name, member in members.items()}
            for kind, members in components.items()
        }
        # A response object needs its description.
        for item in out["paths"].values():
            for operation in item.values():
                if isinstance(operation, dict):
                    for response in operation.get("responses", {}).values():
                        if isinstance(response, dict) and "$ref" not in response:
                            response.setdefault("description", "")
        for response in out["components"].get("responses", {}).values():
            response.setdefault("description", "")
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / carrier["file"]
    target.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"wrote {target} ({len(paths)} paths, {len(components.get('schemas', {}))} schemas)")


if __name__ == "__main__":
    main()
