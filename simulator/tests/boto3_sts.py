#!/usr/bin/env python3
"""Independent wire-format check of the STS simulator with boto3 (awsQuery).

Usage: start the simulator binary (`cargo run -p aws-flow-simulator`), then
    python3 simulator/tests/boto3_sts.py http://127.0.0.1:4566

It starts nothing itself. It uses the simulator's /_sim/ control API to allow a role, force
short-lived credentials and require issued keys; it leaves them set (restart the simulator
afterwards for a clean demo).
"""

import datetime
import json
import sys
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = sys.argv[1].rstrip("/")
ROLE = "arn:aws:iam::210987654321:role/flow-exporter"
CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(service, key="AKIDBOTO3BASEKEY", secret="y", token=None, **config):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=CONFIG.merge(Config(**config)) if config else CONFIG,
    )


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ENDPOINT + path, data=data, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("ok:", message)


def expect_error(call, code, status, message):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check((got, got_status) == (code, status), f"{message} -> {got} (HTTP {got_status})")
        return e
    raise AssertionError(f"{message}: no error raised")


sts = client("sts")
before = len(control("GET", "/_sim/sts/calls"))
control("POST", "/_sim/sts/roles", {"role_arn": ROLE, "external_id": "ext-123"})
control("POST", "/_sim/sts/settings", {"lifetime_seconds": None, "require_issued_keys": False})

# The caller's identity (GetCallerIdentity, no parameters).
identity = sts.get_caller_identity()
check(identity["Account"] == "123456789012", f"GetCallerIdentity: {identity['Arn']}")

# AssumeRole, parsed by botocore's awsQuery XML parser.
out = sts.assume_role(RoleArn=ROLE, RoleSessionName="boto3-check", ExternalId="ext-123", DurationSeconds=1800)
creds = out["Credentials"]
check(creds["AccessKeyId"].startswith("ASIA"), f"AccessKeyId {creds['AccessKeyId']}")
check(creds["SecretAccessKey"] and creds["SessionToken"], "secret and session token")
left = (creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
check(1790 <= left <= 1800, f"Expiration parsed as a datetime, {left:.0f}s away (DurationSeconds=1800)")
check(
    out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::210987654321:assumed-role/flow-exporter/boto3-check",
    f"AssumedRoleUser {out['AssumedRoleUser']}",
)
check(out["ResponseMetadata"]["RequestId"], f"RequestId {out['ResponseMetadata']['RequestId']}")

# Errors as <ErrorResponse>.
e = expect_error(
    lambda: sts.assume_role(RoleArn=ROLE, RoleSessionName="boto3-check", ExternalId="wrong-id"),
    "AccessDenied", 403, "wrong external id",
)
check("not authorized to perform: sts:AssumeRole" in e.response["Error"]["Message"], "AccessDenied message")
check(e.response["Error"].get("Type") == "Sender", "error Type Sender")
expect_error(
    lambda: sts.assume_role(RoleArn="arn:aws:iam::210987654321:role/other", RoleSessionName="boto3-check"),
    "AccessDenied", 403, "role not allowed",
)
# botocore checks the minimum itself; the maximum is the server's.
expect_error(
    lambda: sts.assume_role(RoleArn=ROLE, RoleSessionName="boto3-check", ExternalId="ext-123", DurationSeconds=43201),
    "ValidationError", 400, "DurationSeconds above 43200",
)
control("POST", "/_sim/faults", {"operation": "sts:AssumeRole", "fault": "Throttle", "times": 1})
expect_error(
    lambda: sts.assume_role(RoleArn=ROLE, RoleSessionName="boto3-check", ExternalId="ext-123"),
    "Throttling", 400, "Throttle fault",
)

calls = control("GET", "/_sim/sts/calls")[before:]
mine = [c for c in calls if c["role_session_name"] == "boto3-check"]
check(len(mine) == 3 and mine[0]["external_id"] == "ext-123" and mine[0]["duration_seconds"] == 1800,
      f"recorded calls (allowed and denied; not the invalid or faulted ones): {len(mine)}")
check(mine[0]["access_key_id"] == "AKIDBOTO3BASEKEY", "the caller's access key is recorded")

# Other services called with the issued credentials; required keys.
control("POST", "/_sim/sts/settings", {"lifetime_seconds": 2, "require_issued_keys": True})
short = sts.assume_role(RoleArn=ROLE, RoleSessionName="boto3-short", ExternalId="ext-123")["Credentials"]
left = (short["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
check(left <= 2, f"forced lifetime: {left:.1f}s")
appflow = client("appflow", short["AccessKeyId"], short["SecretAccessKey"], short["SessionToken"])
flows = appflow.list_flows()["flows"]
check(True, f"AppFlow ListFlows with the issued key ({len(flows)} flows)")
check(short["AccessKeyId"] in control("GET", "/_sim/access-keys"), "the issued key is recorded")
expect_error(lambda: client("appflow").list_flows(), "UnrecognizedClientException", 403, "a key STS did not issue")
time.sleep(2.5)
expect_error(lambda: appflow.list_flows(), "ExpiredTokenException", 403, "an expired key")

control("POST", "/_sim/sts/settings", {"lifetime_seconds": None, "require_issued_keys": False})
control("DELETE", "/_sim/faults")
print("boto3 STS check passed")
