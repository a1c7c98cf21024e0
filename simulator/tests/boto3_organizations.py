#!/usr/bin/env python3
"""Independent wire-format check of Organizations ListAccounts (awsJson1_1), Account Management
ListRegions (restJson1) and the per-account worlds, with boto3.

Usage: start the simulator binary (`cargo run -p aws-flow-simulator`; it serves the demo
organization), then
    python3 simulator/tests/boto3_organizations.py http://127.0.0.1:4566

It starts nothing itself and changes nothing in the simulator.
"""

import sys

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = sys.argv[1].rstrip("/")
CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})
MEMBER_ROLE = "arn:aws:iam::210987654321:role/aws-flow-exporter"


def client(service, key="AKIDBOTO3BASEKEY", secret="y", token=None):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=CONFIG,
    )


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("ok:", message)


def expect_error(call, code, message):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, f"{message} -> {got}")
        return
    raise AssertionError(f"{message}: no error raised")


orgs = client("organizations")
# botocore's paginator follows NextToken; a page holds at most 20 (MaxResults 1..=20).
pages = list(orgs.get_paginator("list_accounts").paginate())
accounts = [a for page in pages for a in page["Accounts"]]
check(len(accounts) == 5, f"ListAccounts: {len(accounts)} accounts in {len(pages)} page(s)")
by_id = {a["Id"]: a for a in accounts}
check(by_id["123456789012"]["State"] == "ACTIVE", "the management account is ACTIVE")
check(by_id["567890123456"]["State"] == "SUSPENDED", "a suspended member has State SUSPENDED")
check(hasattr(by_id["123456789012"]["JoinedTimestamp"], "year"), "JoinedTimestamp parsed as a datetime")
small = list(orgs.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 2}))
check(len(small) == 3 and sum(len(p["Accounts"]) for p in small) == 5, "pages of 2 with MaxResults=2")
expect_error(lambda: orgs.list_accounts(NextToken="garbage"), "InvalidInputException", "a foreign NextToken")

# A member's role: GetCallerIdentity and its own world.
sts = client("sts")
creds = sts.assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="aws-flow-exporter")["Credentials"]
member = dict(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
identity = client("sts", **member).get_caller_identity()
check(identity["Account"] == "210987654321", f"GetCallerIdentity with the member role: {identity['Arn']}")
flows = client("appflow", **member).list_flows()["flows"]
check(len(flows) > 0, f"the member's own AppFlow world: {len(flows)} flows")

account = client("account", **member)
regions = [
    r["RegionName"]
    for page in account.get_paginator("list_regions").paginate(
        RegionOptStatusContains=["ENABLED", "ENABLED_BY_DEFAULT"]
    )
    for r in page["Regions"]
]
check("us-east-1" in regions and "af-south-1" not in regions, f"ListRegions of the member: {regions}")
mgmt = client("account")
eu = [r["RegionName"] for r in mgmt.list_regions(AccountId="456789012345",
      RegionOptStatusContains=["ENABLED"])["Regions"]]
check(eu == ["eu-south-1"], f"ListRegions AccountId=456789012345 ENABLED: {eu}")
expect_error(lambda: account.list_regions(AccountId="123456789012"), "AccessDeniedException",
             "a member asking for another account")
print("all checks passed")
