"""Schemathesis hooks for fuzzing Switchboard (loaded through SCHEMATHESIS_HOOKS by fuzz/run.sh).

The fuzzer is free to create keys with `expire_now: true` and to revoke any key it lists,
its own included: both are what the API promises. So its key is not fixed: it is minted
with the `switchboard key create` command, and minted again after the server answers it
with a 401.
"""

import json
import os
import subprocess

import schemathesis

BINARY = os.environ["SWITCHBOARD_BIN"]
WORKSPACE = os.environ["SWITCHBOARD_FUZZ_WORKSPACE"]


def mint_key() -> str:
    result = create_key()
    if result.returncode != 0 and "live API keys" in result.stderr:
        # The run created the most keys a workspace may hold (through the API, which it may);
        # revoke them to make room, as an operator would.
        listed = subprocess.run(
            [BINARY, "key", "list", "--workspace", WORKSPACE],
            check=True, capture_output=True, text=True,
        )
        for key in json.loads(listed.stdout)["keys"]:
            subprocess.run([BINARY, "key", "revoke", key["id"]], check=True, capture_output=True)
        result = create_key()
    if result.returncode != 0:
        raise RuntimeError(f"cannot mint a key: {result.stderr}")
    return json.loads(result.stdout)["api_key"]


def create_key() -> subprocess.CompletedProcess:
    return subprocess.run(
        [BINARY, "key", "create", "--workspace", WORKSPACE, "--name", "fuzzer"],
        capture_output=True,
        text=True,
    )


@schemathesis.auth(refresh_interval=None)
class FreshKey:
    token = None

    def get(self, case, context):
        if FreshKey.token is None:
            FreshKey.token = mint_key()
        return FreshKey.token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def after_call(context, case, response):
    sent = (case.headers or {}).get("Authorization")
    if response.status_code == 401 and FreshKey.token and sent == f"Bearer {FreshKey.token}":
        # The run revoked or expired the key itself; the next request gets a new one.
        FreshKey.token = None
