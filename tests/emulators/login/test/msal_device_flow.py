"""An independent client for login-emulator: MSAL for Python (Debian python3-msal).

usage: msal_device_flow.py AUTHORITY CLIENT_ID SCOPE [deny]

Prints "USER_CODE <code>" once the device flow is initiated, then waits for the test to
approve (or deny) that code through the emulator's admin API, and prints what MSAL got.
"""
import json
import sys

import msal


def main():
    authority, client_id, scope = sys.argv[1:4]
    deny = len(sys.argv) > 4 and sys.argv[4] == "deny"
    app = msal.PublicClientApplication(client_id, authority=authority, instance_discovery=False)
    flow = app.initiate_device_flow(scopes=[scope])
    if "user_code" not in flow:
        print("FLOW-ERROR", json.dumps(flow), flush=True)
        return 1
    print("USER_CODE", flow["user_code"], flush=True)
    result = app.acquire_token_by_device_flow(flow)
    if deny:
        print("DENIED", result.get("error"), flush=True)
        return 0 if "access_token" not in result else 1
    if "access_token" not in result:
        print("TOKEN-ERROR", json.dumps(result), flush=True)
        return 1
    claims = result.get("id_token_claims", {})
    print("ID_TOKEN", claims.get("preferred_username"), claims.get("oid"), flush=True)
    accounts = app.get_accounts()
    if not accounts:
        print("NO-ACCOUNT", flush=True)
        return 1
    print("ACCOUNT", accounts[0]["username"], flush=True)
    # The cached refresh token, through MSAL's own refresh path.
    silent = app.acquire_token_silent([scope], account=accounts[0], force_refresh=True)
    if not silent or "access_token" not in silent:
        print("REFRESH-ERROR", json.dumps(silent), flush=True)
        return 1
    print("REFRESHED", silent["access_token"] != result["access_token"], flush=True)
    print("ACCESS_TOKEN", silent["access_token"], flush=True)
    print("msal device flow OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
