"""Calls signed as the carriers' own libraries sign them, against the real binary.

Starts `switchboard serve` on a fresh SQLite file with a Twilio auth token and a Telnyx public
key, sets up a number routed to an agent with a fallback, then plays calls:
- as Twilio: every request signed by `twilio.request_validator.RequestValidator` (Twilio's
  own code), over the URL it is sent to;
- as Telnyx: every request signed with Ed25519 over `{timestamp}|{body}` (PyNaCl) and first
  checked by `telnyx.lib.webhook_verification.verify_webhook_signature`, Telnyx's own
  verifier, so what is sent is what Telnyx's library accepts.
- as Plivo: every request signed with `X-Plivo-Signature-V3` as Plivo's own `plivo` package
  computes it (`construct_post_url`, `get_signature_v3`) and checked by its
  `validate_v3_signature`.
Switchboard must answer the signed requests with TwiML/TeXML/Plivo XML and refuse tampered,
replayed or stale ones with a 403, recording nothing for them.

Usage: python carriers/check.py path/to/switchboard
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import base64
import time

from nacl.signing import SigningKey
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3, validate_v3_signature
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature
from twilio.request_validator import RequestValidator

TOKEN = "0123456789abcdef0123456789abcdef"
PLIVO_ID = "MAZDQ1ZJIYMDZKMTAYYY"
PLIVO_TOKEN = "plivo-auth-token-0123456789abcdef"
TELNYX_KEY = SigningKey.generate()
TELNYX_PUBLIC = base64.b64encode(bytes(TELNYX_KEY.verify_key)).decode()


def run(binary, env, *args):
    out = subprocess.run([binary, *args], env=env, check=True, capture_output=True, text=True)
    return out.stdout


def request(url, body=None, headers=None, method=None):
    data = None if body is None else (body if isinstance(body, bytes) else body.encode())
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def api(base, key, method, path, body=None):
    status, text = request(f"{base}{path}", None if body is None else json.dumps(body),
                           {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, method)
    assert 200 <= status < 300, (method, path, status, text)
    return json.loads(text) if text else None


def signed_post(url, params, token=TOKEN, send=None):
    """POSTs `send` (default: `params`) form-encoded, signed by Twilio's library over `params`."""
    signature = RequestValidator(token).compute_signature(url, params)
    assert RequestValidator(token).validate(url, params, signature)
    body = urllib.parse.urlencode(send if send is not None else params)
    return request(url, body, {"Content-Type": "application/x-www-form-urlencoded",
                               "X-Twilio-Signature": signature}, "POST")


def check(condition, message):
    if not condition:
        print(f"carriers: FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"carriers: ok: {message}")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SWITCHBOARD_DATABASE_URL=f"sqlite://{tmp}/carriers.db", RUST_LOG="info")
        created = json.loads(run(binary, env, "workspace", "create", "--name", "Carriers", "--countries", "US"))
        key = created["api_key"]
        server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--twilio-auth-token", TOKEN,
                                   "--telnyx-public-key", TELNYX_PUBLIC, "--plivo-auth-id", PLIVO_ID,
                                   "--plivo-auth-token", PLIVO_TOKEN, "--plivo-base-url", "http://127.0.0.1:9"],
                                  env=env, stderr=subprocess.PIPE, text=True)
        try:
            base = None
            while base is None:
                line = server.stderr.readline()
                if not line:
                    raise RuntimeError("the server did not start")
                match = re.search(r"listening on (http://\S+)", line)
                if match:
                    base = match.group(1)
            play(base, key)
            play_telnyx(base, key)
            play_plivo(base, key)
        finally:
            server.terminate()
            server.wait(10)


def play(base, key):
    bot = api(base, key, "POST", "/v1/agents", {"name": "Bot", "destination": "sip:bot@agents.example.com"})
    person = api(base, key, "POST", "/v1/agents", {"name": "Person", "destination": "tel:+14155550177"})
    bought = api(base, key, "POST", "/v1/organization-phone-numbers/purchase",
                 {"phoneNumber": "+14155550100", "telephonyProviderId": "sandbox", "countryISO": "US"})
    number = bought["organizationPhoneNumber"]["id"]
    api(base, key, "PATCH", f"/v1/organization-phone-numbers/{number}", {"routing": {
        "time_zone": "UTC", "rules": [{"targets": [{"agent_id": bot["id"]}], "fallback": [{"agent_id": person["id"]}]}]}})

    voice = f"{base}/carriers/twilio/voice"
    call = {"CallSid": "CA0000000000000000000000000000signed", "AccountSid": "AC00000000000000000000000000000000",
            "From": "+14155550123", "To": "+14155550100", "CallStatus": "ringing", "Direction": "inbound",
            "ApiVersion": "2010-04-01", "Caller": "+14155550123", "Called": "+14155550100"}

    status, twiml = signed_post(voice, dict(call, CallSid="CA-tampered"), send=dict(call, CallSid="CA-tampered", To="+14155550199"))
    check(status == 403, f"a tampered voice request is refused ({status})")
    status, _ = signed_post(voice, call, token="not-the-auth-token")
    check(status == 403, f"a request signed with another token is refused ({status})")
    status, _ = request(voice, urllib.parse.urlencode(call), {"Content-Type": "application/x-www-form-urlencoded"}, "POST")
    check(status == 403, f"an unsigned request is refused ({status})")

    status, twiml = signed_post(voice, call)
    check(status == 200 and "<Sip>sip:bot@agents.example.com</Sip>" in twiml, f"the signed voice request is connected to the bot: {twiml}")
    action = re.search(r'action="([^"]+)"', twiml).group(1).replace("&amp;", "&")
    check(action.startswith(f"{base}/carriers/twilio/dial-result?"), f"the dial result comes back here: {action}")

    # The signature covers the URL: the bot's dial result, signed for another attempt's URL,
    # is a replay and refused.
    result = {"CallSid": call["CallSid"], "AccountSid": call["AccountSid"], "DialCallStatus": "no-answer",
              "DialCallDuration": "0"}
    other = action.replace("attempt=0", "attempt=1")
    signature = RequestValidator(TOKEN).compute_signature(other, result)
    status, _ = request(action, urllib.parse.urlencode(result),
                        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}, "POST")
    check(status == 403, f"a dial result signed for another URL is refused ({status})")

    status, twiml = signed_post(action, result)
    check(status == 200 and "<Number>+14155550177</Number>" in twiml, f"no answer moves the call to the person: {twiml}")
    action = re.search(r'action="([^"]+)"', twiml).group(1).replace("&amp;", "&")
    status, twiml = signed_post(action, dict(result, DialCallStatus="completed", DialCallDuration="31"))
    check(status == 200 and "<Hangup/>" in twiml, f"the person took the call: {twiml}")
    status, _ = signed_post(f"{base}/carriers/twilio/status",
                            {"CallSid": call["CallSid"], "AccountSid": call["AccountSid"], "CallStatus": "completed",
                             "CallDuration": "35"})
    check(status == 204, f"the status callback is recorded ({status})")

    log = api(base, key, "GET", "/v1/calls")
    check(log["total"] == 1, f"one call in the log, none for the refused requests: {log['total']}")
    recorded = log["items"][0]
    outcomes = [a["outcome"] for a in recorded["attempts"]]
    check(recorded["outcome"] == "completed" and outcomes == ["no_answer", "completed"] and recorded["duration_secs"] == 35,
          f"the log has the call's steps: {recorded['outcome']} {outcomes} {recorded['duration_secs']}")



def telnyx_post(url, params, at=None, send=None):
    """POSTs `send` (default: the form of `params`), signed over the form of `params` at `at`,
    after Telnyx's own verifier has judged the signature; returns (its verdict, status, body)."""
    body = urllib.parse.urlencode(params)
    at = str(int(time.time()) if at is None else at)
    signature = base64.b64encode(TELNYX_KEY.sign(f"{at}|{body}".encode()).signature).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "telnyx-timestamp": at,
               "telnyx-signature-ed25519": signature}
    sent = body if send is None else urllib.parse.urlencode(send)
    try:
        verify_webhook_signature(sent, headers, TELNYX_PUBLIC)
        accepted = True
    except WebhookVerificationError:
        accepted = False
    status, text = request(url, sent, headers, "POST")
    return accepted, status, text


def play_telnyx(base, key):
    voice = f"{base}/carriers/telnyx/voice"
    call = {"CallSid": "v3:telnyx-signed-call", "AccountSid": "telnyx-account", "From": "+14155550123",
            "To": "+14155550100", "CallStatus": "ringing", "Direction": "inbound"}
    accepted, status, _ = telnyx_post(voice, call, send=dict(call, To="+14155550199"))
    check(not accepted and status == 403, f"a tampered Telnyx request: Telnyx's library refuses it, and so does Switchboard ({status})")
    accepted, status, _ = telnyx_post(voice, call, at=int(time.time()) - 400)
    check(not accepted and status == 403, f"a stale (replayed) Telnyx request: refused by both ({status})")
    accepted, status, twiml = telnyx_post(voice, call)
    check(accepted and status == 200 and "<Sip>sip:bot@agents.example.com</Sip>" in twiml,
          f"a Telnyx request its library accepts is connected to the bot: {twiml}")
    action = re.search(r'action="([^"]+)"', twiml).group(1).replace("&amp;", "&")
    accepted, status, twiml = telnyx_post(action, {"CallSid": call["CallSid"], "DialCallStatus": "completed"})
    check(accepted and status == 200 and "<Hangup/>" in twiml, f"the bot took the Telnyx call: {twiml}")
    log = api(base, key, "GET", "/v1/calls?outcome=completed")
    carriers = sorted(c["carrier"] for c in log["items"])
    check(carriers == ["telnyx", "twilio"], f"both calls are in the log: {carriers}")



def plivo_post(url, params, send=None, nonce="71840526378452891"):
    """POSTs `send` (default: `params`), signed over `params` as Plivo's library signs it, after
    its `validate_v3_signature` has judged it; returns (its verdict, status, body)."""
    signature = get_signature_v3(PLIVO_TOKEN.encode(), construct_post_url(url, dict(params)).decode(),
                                 nonce.encode()).decode()
    sent = params if send is None else send
    accepted = validate_v3_signature("POST", url, nonce, PLIVO_TOKEN, signature, dict(sent))
    status, text = request(url, urllib.parse.urlencode(sent),
                           {"Content-Type": "application/x-www-form-urlencoded", "X-Plivo-Signature-V3": signature,
                            "X-Plivo-Signature-V3-Nonce": nonce}, "POST")
    return accepted, status, text


def play_plivo(base, key):
    voice = f"{base}/carriers/plivo/voice"
    call = {"CallUUID": "0b5d3c1e-plivo-signed", "From": "14155550123", "To": "14155550100",
            "CallStatus": "ringing", "Direction": "inbound"}
    accepted, status, _ = plivo_post(voice, call, send=dict(call, To="14155550199"))
    check(not accepted and status == 403, f"a tampered Plivo request: Plivo's library refuses it, and so does Switchboard ({status})")
    accepted, status, xml = plivo_post(voice, call)
    check(accepted and status == 200 and "<User>sip:bot@agents.example.com</User>" in xml,
          f"a Plivo request its library accepts is connected to the bot: {xml}")
    action = re.search(r'action="([^"]+)"', xml).group(1).replace("&amp;", "&")
    accepted, status, xml = plivo_post(action, {"CallUUID": call["CallUUID"], "DialStatus": "no-answer"})
    check(accepted and status == 200 and "<Number>14155550177</Number>" in xml, f"no answer moves the Plivo call on: {xml}")
    accepted, status, _ = plivo_post(f"{base}/carriers/plivo/status",
                                     {"CallUUID": call["CallUUID"], "CallStatus": "completed", "Duration": "12"})
    check(accepted and status == 204, f"Plivo's hangup is recorded ({status})")
    log = api(base, key, "GET", "/v1/calls")
    plivo = [c for c in log["items"] if c["carrier"] == "plivo"]
    check(len(plivo) == 1 and plivo[0]["duration_secs"] == 12, f"the Plivo call is in the log: {plivo}")


if __name__ == "__main__":
    main()
