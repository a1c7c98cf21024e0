#!/usr/bin/env python3
"""Independent wire-format check of the Supply Chain simulator with boto3.

Usage: start the demo binary, then
    python3 simulator/tests/boto3_supplychain.py http://127.0.0.1:4566

It starts nothing itself. It uses the simulator's /_sim/ control API to inject faults.
"""

import datetime
import json
import sys
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = sys.argv[1].rstrip("/")


def client(**config):
    return boto3.client(
        "supplychain",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
    )


scn = client()


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
        got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        check(got == (code, status), f"{message} -> {got}")
        return
    raise AssertionError(f"{message}: no error raised")


def conforms(value, shape, path="$"):
    """Strictly checks raw JSON against a model shape (botocore itself ignores unknown keys)."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {value!r}"
        for key, member in value.items():
            assert key in shape.members, f"{path}: unknown member {key!r}"
            conforms(member, shape.members[key], f"{path}.{key}")
        for key in shape.required_members:
            assert key in value, f"{path}: missing required {key!r}"
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected list"
        for i, item in enumerate(value):
            conforms(item, shape.member, f"{path}[{i}]")
    elif kind == "timestamp":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: epoch number expected"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: integer expected"
    elif kind == "double":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: number expected"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: boolean expected"
    elif kind == "string":
        assert isinstance(value, str), f"{path}: string expected"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in {shape.enum}"
    else:
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def strictly(operation, path):
    with urllib.request.urlopen(ENDPOINT + path) as response:
        document = json.loads(response.read())
    conforms(document, scn.meta.service_model.operation_model(operation).output_shape)
    return document


def is_datetime(value):
    return isinstance(value, datetime.datetime) and value.tzinfo is not None


# ListInstances through botocore's own paginator, 1 per page.
pages = list(scn.get_paginator("list_instances").paginate(PaginationConfig={"PageSize": 1}))
instances = [i for page in pages for i in page["instances"]]
check(len(pages) == 2 and len(instances) == 2, "list_instances paginated, one instance per page")
states = {i["state"] for i in instances}
check(states == {"Active", "CreateFailed"}, f"instance states {sorted(states)}")
check(all(is_datetime(i["createdTime"]) for i in instances), "createdTime is a datetime")
active = next(i["instanceId"] for i in instances if i["state"] == "Active")
failed = scn.list_instances(instanceStateFilter=["CreateFailed"])["instances"]
check(len(failed) == 1 and failed[0]["errorMessage"], "instanceStateFilter selects the failed instance")

# Flows and executions: raw JSON conforms strictly; boto3 parses them.
strictly("ListInstances", "/api/instance?maxResults=20")
flows_path = f"/api/data-integration/instance/{active}/data-integration-flows"
raw_flows = strictly("ListDataIntegrationFlows", flows_path + "?maxResults=20")["flows"]
for flow in raw_flows:
    base = f"/api-data/data-integration/instance/{active}/data-integration-flows/{flow['name']}/executions"
    runs = strictly("ListDataIntegrationFlowExecutions", base + "?maxResults=20")["flowExecutions"]
    strictly("GetDataIntegrationFlowExecution", f"{base}/{runs[0]['executionId']}")
check(True, f"raw JSON of the four operations conforms to the model for {len(raw_flows)} flows")

flows = [f for p in scn.get_paginator("list_data_integration_flows").paginate(instanceId=active, PaginationConfig={"PageSize": 3}) for f in p["flows"]]
check(len(flows) == 4, "4 flows over 2 pages")
joined = next(f for f in flows if f["name"] == "inventory-sql-join")
check(sorted(s["sourceType"] for s in joined["sources"]) == ["DATASET", "S3"], "two source types")
check(joined["transformation"]["transformationType"] == "SQL", "SQL transformation")
check(is_datetime(joined["createdTime"]), "flow createdTime is a datetime")

runs = [
    r
    for p in scn.get_paginator("list_data_integration_flow_executions").paginate(
        instanceId=active, flowName="orders-s3-to-dataset", PaginationConfig={"PageSize": 20}
    )
    for r in p["flowExecutions"]
]
starts = [r["startTime"] for r in runs]
check(len(runs) > 40, f"{len(runs)} executions over several pages")
check(starts == sorted(starts, reverse=True), "executions newest first")
check(len({r["executionId"] for r in runs}) == len(runs), "no duplicates across pages")
check({r["status"] for r in runs} <= {"SUCCEEDED", "FAILED", "IN_PROGRESS"}, "known statuses")
done = next(r for r in runs if r["status"] != "IN_PROGRESS")
check(is_datetime(done["endTime"]), "endTime is a datetime")
got = scn.get_data_integration_flow_execution(instanceId=active, flowName="orders-s3-to-dataset", executionId=done["executionId"])
check(got["flowExecution"] == done, "get returns what the list returned")

# Modelled errors.
unvalidated = client(parameter_validation=False)
expect_error(lambda: unvalidated.list_data_integration_flow_executions(instanceId=active, flowName="orders-s3-to-dataset", maxResults=21), "ValidationException", 400, "maxResults=21")
expect_error(lambda: unvalidated.list_data_integration_flow_executions(instanceId=active, flowName="orders-s3-to-dataset", maxResults=0), "ValidationException", 400, "maxResults=0 on executions")
expect_error(lambda: scn.list_instances(nextToken="garbled"), "ValidationException", 400, "garbled nextToken")
expect_error(lambda: scn.list_data_integration_flows(instanceId="00000000-0000-4000-8000-000000000000"), "ResourceNotFoundException", 404, "unknown instance")
expect_error(lambda: scn.get_data_integration_flow_execution(instanceId=active, flowName="orders-s3-to-dataset", executionId="00000000-0000-4000-8000-000000000000"), "ResourceNotFoundException", 404, "unknown execution")
try:
    scn.list_data_integration_flow_executions(instanceId=active, flowName="nope")
except scn.exceptions.ResourceNotFoundException:
    check(True, "raises supplychain.exceptions.ResourceNotFoundException")

# Injected faults, scoped to Supply Chain.
control("POST", "/_sim/faults", {"operation": "supplychain:*", "fault": "Throttle", "times": 1})
expect_error(lambda: scn.list_instances(), "ThrottlingException", 429, "injected throttling")
control("POST", "/_sim/faults", {"operation": "supplychain:ListInstances", "fault": "AccessDenied", "times": 1})
expect_error(lambda: scn.list_instances(), "AccessDeniedException", 403, "injected access denied")
control("POST", "/_sim/faults", {"operation": "supplychain:ListInstances", "fault": "ServerError", "times": 1})
expect_error(lambda: scn.list_instances(), "InternalServerException", 500, "injected server error")
control("DELETE", "/_sim/faults")
calls = control("GET", "/_sim/calls")
check(calls.get("supplychain:ListInstances", 0) >= 3, "service-qualified call counters")
print("all Supply Chain checks passed")
