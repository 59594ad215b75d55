#!/usr/bin/env python3
"""Regenerates the examples in docs/api.md from a real run.

Starts the switchboard binary on a fresh SQLite file with --demo, sends one request per
route (and the documented error cases), and writes each request as a curl line with the
response it got between the `<!-- examples:start -->` / `<!-- examples:end -->` markers.

Usage: cargo build && python3 scripts/api_examples.py [path/to/switchboard]
"""

import http.server
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
BINARY = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "debug" / "switchboard"


def start(db):
    process = subprocess.Popen(
        [str(BINARY), "--database-url", f"sqlite://{db}", "serve", "--listen", "127.0.0.1:0", "--demo",
         "--webhooks-allow-loopback"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    address = None
    while address is None:
        line = process.stderr.readline()
        if not line:
            raise RuntimeError("server exited")
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            address = match.group(1)
    key = None
    while key is None:
        line = process.stdout.readline()
        match = re.match(r"API key \(shown only now\): (\S+)", line)
        if match:
            key = match.group(1)
    return process, address, key


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that accepts everything (the examples show the sender's side)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def start_receiver():
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


class Session:
    def __init__(self, base, key):
        self.base, self.key, self.sections = base, key, []

    def call(self, title, method, path, body=None, key=None, show_key=True, key_var="KEY"):
        key = self.key if key is None else key
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            payload = json.loads(text) if text else None
        except json.JSONDecodeError:
            payload = text  # CSV or NDJSON: shown as it came

        curl = f'curl -s -X {method} "$BASE{path}"'
        if key:
            curl += f" \\\n  -H \"Authorization: Bearer ${key_var}\""
        if data is not None:
            curl += f" \\\n  -H 'Content-Type: application/json' \\\n  -d '{json.dumps(body)}'"
        self.sections.append((title, curl, status, payload))
        return payload

    def markdown(self):
        out = []
        for title, curl, status, payload in self.sections:
            if payload is None:
                out.append(f"#### {title}\n\n```sh\n{curl}\n```\n\n{status}, no body.\n")
                continue
            if isinstance(payload, str):
                out.append(f"#### {title}\n\n```sh\n{curl}\n```\n\n{status}:\n\n```\n{payload.rstrip()}\n```\n")
                continue
            shown = json.dumps(payload, indent=2)
            if isinstance(payload, list) and len(payload) > 3:
                shown = json.dumps(payload[:2], indent=2)[:-2] + f",\n  … {len(payload) - 2} more\n]"
            out.append(f"#### {title}\n\n```sh\n{curl}\n```\n\n{status}:\n\n```json\n{shown}\n```\n")
        return "\n".join(out)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        process, base, key = start(Path(tmp) / "examples.db")
        try:
            s = Session(base, key)
            numbers = s.call("List numbers", "GET", "/v1/organization-phone-numbers?limit=2")
            first = numbers["items"][0]["id"]
            s.call("Get one number", "GET", f"/v1/organization-phone-numbers/{first}")
            s.call("Filter the list", "GET", "/v1/organization-phone-numbers?country_code=US&type=toll-free")
            s.call("Bad paging", "GET", "/v1/organization-phone-numbers?limit=101")
            s.call("Unknown, malformed or another workspace's id", "GET", "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa")
            s.call("No key", "GET", f"/v1/organization-phone-numbers/{first}", key="")
            offers = s.call("Search numbers to buy", "GET", "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&type=local")
            s.call("Search by area code and digits, a page of two (ext)", "GET",
                   "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&area_code=415&contains=011&limit=2&offset=2")
            s.call("Search with bad filters", "GET",
                   "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&area_code=41x&capability=fax")
            s.call("Search without country_iso", "GET", "/v1/organization-phone-numbers/plivo-numbers")
            s.call("Search for a type the sandbox has none of", "GET",
                   "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&type=mobile")
            number = offers["objects"][0]["number"]
            bought = s.call("Buy a number", "POST", "/v1/organization-phone-numbers/purchase",
                            {"phoneNumber": number, "telephonyProviderId": "sandbox", "countryISO": "US"})
            s.call("Buy it again", "POST", "/v1/organization-phone-numbers/purchase",
                   {"phoneNumber": number, "telephonyProviderId": "sandbox", "countryISO": "US"})
            s.call("Buy in a country that is not enabled", "POST", "/v1/organization-phone-numbers/purchase",
                   {"phoneNumber": "+61298765401", "telephonyProviderId": "sandbox", "countryISO": "AU"})
            agent = s.call("Create an agent", "POST", "/v1/agents",
                           {"name": "Night shift", "destination": "sip:night@agents.example.com"})
            s.call("An agent destination that is not one", "POST", "/v1/agents",
                   {"name": "Stream bot", "destination": "ws://bot.example.com/stream"})
            new_id = bought["organizationPhoneNumber"]["id"]
            s.call("Route the number to the agent", "PATCH", f"/v1/organization-phone-numbers/{new_id}",
                   {"inbound_agent_id": agent["id"], "nickname": "After-hours line", "is_default": True})
            s.call("Invalid update", "PATCH", f"/v1/organization-phone-numbers/{new_id}",
                   {"nickname": "x" * 256, "colour": "blue"})
            s.call("Give the number a routing policy", "PATCH", f"/v1/organization-phone-numbers/{new_id}",
                   {"routing": {"time_zone": "America/New_York", "rules": [
                       {"name": "business hours",
                        "when": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:30"},
                        "targets": [{"agent_id": agent["id"], "weight": 80},
                                    {"destination": "sip:overflow@pbx.example.com", "weight": 20}],
                        "fallback": [{"destination": "tel:+14155550100"}]}],
                       "max_concurrent_calls": 10}})
            s.call("Preview the route during business hours", "GET",
                   f"/v1/organization-phone-numbers/{new_id}/route?at=2026-11-30T09:30:00-05:00")
            s.call("Preview the route after hours", "GET",
                   f"/v1/organization-phone-numbers/{new_id}/route?at=2026-11-28T12:00:00Z")
            s.call("Re-route several numbers at once, as a dry run first", "POST",
                   "/v1/organization-phone-numbers/bulk-update",
                   {"ids": [new_id, first], "changes": {"inbound_agent_id": agent["id"]}, "dry_run": True})
            s.call("An invalid routing policy", "PATCH", f"/v1/organization-phone-numbers/{new_id}",
                   {"routing": {"time_zone": "America/Gotham",
                                "rules": [{"when": {"from": "9:00", "to": "17:30"},
                                           "targets": [{"agent_id": agent["id"], "weight": 0}]}]}})
            s.call("Release the default number", "DELETE", f"/v1/organization-phone-numbers/{new_id}")
            s.call("History of the number", "GET", f"/v1/organization-phone-numbers/{new_id}/history?limit=2")
            s.call("Unset default", "PATCH", f"/v1/organization-phone-numbers/{new_id}", {"is_default": False})
            s.call("Release a number", "DELETE", f"/v1/organization-phone-numbers/{new_id}")
            s.call("Cost by country", "GET", "/v1/organization-phone-numbers/summary?group_by=country_code")
            s.call("Cost by agent, US numbers only", "GET",
                   "/v1/organization-phone-numbers/summary?country_code=US&group_by=inbound_agent_id")
            s.call("Look a number up by the number", "GET",
                   "/v1/organization-phone-numbers/lookup?phone_number=+1%20(415)%20555-2671")
            s.call("Compliance review", "GET", "/v1/organization-phone-numbers/compliance")
            s.call("Export as CSV", "GET", "/v1/organization-phone-numbers/export?format=csv")
            s.call("Export as NDJSON, one country", "GET",
                   "/v1/organization-phone-numbers/export?format=ndjson&country_code=GB")
            s.call("What changed lately", "GET", "/v1/events?limit=3")
            first_events = s.call("Follow the feed from the start", "GET", "/v1/events?after=start&limit=2")
            s.call("… and on from its next_cursor", "GET",
                   f"/v1/events?after={first_events['next_cursor']}&limit=2")
            s.call("Link a SIP trunk", "POST", "/v1/organization-phone-numbers/sip-trunks",
                   {"phoneNumber": "+14155552672", "terminationUri": "31974861099010243.zt.plivo.com:5060",
                    "authMode": "userpass", "sipTrunkUserName": "sip-user", "sipTrunkPassword": "YOUR_SIP_PASSWORD",
                    "nickname": "US BYOC Line"})
            s.call("SIP trunk without credentials", "POST", "/v1/organization-phone-numbers/sip-trunks",
                   {"phoneNumber": "+14155552673", "terminationUri": "sip:example.com"})
            s.call("Pricing", "GET", "/v1/phone-number-pricing")
            s.call("Country rules", "GET", "/v1/phone-country-rules/countries")
            s.call("Enabled network groups", "GET", "/v1/phone-country-rules/enabled-network-groups")
            s.call("List agents", "GET", "/v1/agents")
            s.call("Get an agent", "GET", f"/v1/agents/{agent['id']}")
            s.call("Rename an agent", "PATCH", f"/v1/agents/{agent['id']}", {"name": "Night shift (EU)"})
            s.call("Move an agent to a media stream", "PATCH", f"/v1/agents/{agent['id']}",
                   {"destination": "wss://bot.example.com/stream"})
            s.call("Delete an agent", "DELETE", f"/v1/agents/{agent['id']}")
            created = s.call("Create an API key", "POST", "/v1/api-keys",
                             {"name": "reporting", "scopes": ["phone_numbers:read"]})
            s.call("List API keys", "GET", "/v1/api-keys")
            s.call("Who the key is (the console signs in with it)", "GET", "/v1/me")
            s.call("Revoke an API key", "DELETE", f"/v1/api-keys/{created['id']}")
            s.call("A revoked key", "GET", "/v1/organization-phone-numbers", key=created["api_key"],
                   key_var="REVOKED_KEY")
            invited = s.call("Invite a person (ext)", "POST", "/v1/users",
                             {"email": "bea@example.com", "role": "operator"})
            s.call("Invite an address someone has", "POST", "/v1/users",
                   {"email": "bea@example.com", "role": "viewer"})
            token = invited["password_setup_link"].split("#set-password=")[1]
            s.call("Set the password with the link (the console does this)", "POST", "/auth/password",
                   {"token": token, "password": "correct horse battery staple"}, key="")
            s.call("A password too short", "POST", "/auth/password",
                   {"token": token, "password": "short"}, key="")
            s.call("Sign in (the console does this; 204 sets the session cookies)", "POST", "/auth/login",
                   {"email": "bea@example.com", "password": "correct horse battery staple"}, key="")
            s.call("A wrong password", "POST", "/auth/login",
                   {"email": "bea@example.com", "password": "not the password"}, key="")
            s.call("Make them a viewer", "PATCH", f"/v1/users/{invited['id']}", {"role": "viewer"})
            s.call("Their sessions", "GET", f"/v1/users/{invited['id']}/sessions")
            s.call("Sign them out everywhere", "POST", f"/v1/users/{invited['id']}/sign-out")
            s.call("List people", "GET", "/v1/users")
            s.call("Remove them (every session ends)", "DELETE", f"/v1/users/{invited['id']}")
            receiver = start_receiver()
            endpoint = s.call("Create a webhook endpoint (a local receiver: the server runs with --webhooks-allow-loopback)",
                              "POST", "/v1/webhook-endpoints",
                              {"url": f"{receiver}/switchboard-events", "description": "Call router sync",
                               "event_types": ["phone_number.updated", "phone_number.released"]})
            s.call("An endpoint on a private address", "POST", "/v1/webhook-endpoints",
                   {"url": "https://10.0.0.7/hooks"})
            hooks = f"/v1/webhook-endpoints/{endpoint['id']}"
            s.call("Send a test ping", "POST", f"{hooks}/test")
            s.call("A change the endpoint hears about", "PATCH", f"/v1/organization-phone-numbers/{first}",
                   {"nickname": "Main line"})
            time.sleep(1.5)
            s.call("Its deliveries, newest first", "GET", f"{hooks}/deliveries")
            s.call("Rotate the signing secret", "POST", f"{hooks}/rotate-secret")
            s.call("Disable it", "PATCH", hooks, {"enabled": False})
            s.call("A change while it is disabled", "PATCH", f"/v1/organization-phone-numbers/{first}",
                   {"nickname": "Main line (after hours)"})
            s.call("Enable it again and replay what it missed", "PATCH", hooks, {"enabled": True})
            s.call("… the replay", "POST", f"{hooks}/replay")
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = DOC.read_text()
    start_marker, end_marker = "<!-- examples:start -->", "<!-- examples:end -->"
    head, rest = text.split(start_marker, 1)
    _, tail = rest.split(end_marker, 1)
    generated = (f"{start_marker}\n\n_Generated by `scripts/api_examples.py` from a run of the real binary "
                 f"(`serve --demo`); `$BASE` is the server, `$KEY` the demo key, `$REVOKED_KEY` the key made and revoked just before its example._\n\n"
                 f"{s.markdown()}\n{end_marker}")
    DOC.write_text(head + generated + tail)
    print(f"wrote {len(s.sections)} examples to {DOC}")


if __name__ == "__main__":
    main()
