#!/usr/bin/env python3
"""Independent wire-format check, with boto3, of the simulator's CloudWatch Logs FilterLogEvents
and Transfer Family ListServers (both awsJson1_1), against the demo world.

Usage: start the demo binary, then:
    python3 simulator/tests/boto3_logs.py http://127.0.0.1:4566

It starts nothing itself. It uses the simulator's /_sim/ control API to inject faults.
"""

import json
import sys
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

ENDPOINT = sys.argv[1].rstrip("/")
LOGGED = "s-0a1b2c3d4e5f60718"
QUIET = "s-9f8e7d6c5b4a39281"
QUICK_WORKFLOW = "w-5b3d7f9a1c2e4d6f8"
COUNTED = '{ ($.type = "ExecutionCompleted") || ($.type = "ExecutionErrored") || ($.type = "StepErrored") }'


def client(service, **config):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
    )


logs = client("logs")
transfer = client("transfer")


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ENDPOINT + path, data=data, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def inject(operation, fault, times=1):
    control("POST", "/_sim/faults", {"operation": operation, "fault": fault, "times": times})


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("ok:", message)


def expect_error(call, code, message):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got == code, f"{message} -> {got} (HTTP {status})")
        return e
    raise AssertionError(f"{message}: no error raised")


def conforms(value, shape, path="$"):
    """Strictly checks raw JSON against a model shape (botocore ignores unknown keys)."""
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
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: integer expected"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: boolean expected"
    elif kind == "string":
        assert isinstance(value, str), f"{path}: string expected"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in {shape.enum}"
        limits = shape.metadata
        assert limits.get("min", 0) <= len(value) <= limits.get("max", len(value)), f"{path}: length {len(value)}"
    else:
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def raw(target, body):
    request = urllib.request.Request(
        ENDPOINT + "/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
        return json.loads(response.read())


# ---- Transfer ListServers ----
document = raw("TransferService.ListServers", {})
conforms(document, transfer.meta.service_model.operation_model("ListServers").output_shape)
check(True, "raw ListServers conforms to the model")
pages = list(transfer.get_paginator("list_servers").paginate(PaginationConfig={"PageSize": 1}))
servers = {s["ServerId"]: s for page in pages for s in page["Servers"]}
check(len(pages) == 2 and set(servers) == {LOGGED, QUIET}, f"list_servers paginated over {len(pages)} pages: {sorted(servers)}")
check("LoggingRole" in servers[LOGGED] and "LoggingRole" not in servers[QUIET], "only the logged server has a LoggingRole")
unvalidated = client("transfer", parameter_validation=False)
expect_error(lambda: unvalidated.list_servers(MaxResults=0), "InvalidRequestException", "ListServers MaxResults=0")
expect_error(lambda: transfer.list_servers(NextToken="garbled"), "InvalidNextTokenException", "ListServers garbled NextToken")

# ---- CloudWatch Logs FilterLogEvents ----
group = f"/aws/transfer/{LOGGED}"
now = int(time.time() * 1000)
start = now - 3600 * 1000
document = raw("Logs_20140328.FilterLogEvents", {"logGroupName": group, "limit": 5})
conforms(document, logs.meta.service_model.operation_model("FilterLogEvents").output_shape)
check(len(document["events"]) == 5 and "nextToken" in document, "raw FilterLogEvents conforms to the model and pages")

everything = [e for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start)
              for e in page["events"]]
paginated = list(logs.get_paginator("filter_log_events").paginate(
    logGroupName=group, startTime=start, filterPattern=COUNTED, PaginationConfig={"PageSize": 7}))
counted = [e for page in paginated for e in page["events"]]
check(len(paginated) > 2, f"filter_log_events paginated over {len(paginated)} pages of 7")
check(len({e["eventId"] for e in counted}) == len(counted), "no event twice across pages")
keys = [(e["timestamp"], e["eventId"]) for e in counted]
check(keys == sorted(keys), "events in timestamp order, ties by eventId")
types = {json.loads(e["message"])["type"] for e in counted}
check(types <= {"ExecutionCompleted", "ExecutionErrored", "StepErrored"} and "StepErrored" in types,
      f"the pattern selects only counted types: {sorted(types)}")
check(len(everything) > len(counted), f"session lines and other types filtered out ({len(everything)} > {len(counted)})")
plain = [e for e in everything if not e["message"].startswith("{")]
check(plain, "non-JSON session lines are in the group")
sample = json.loads(counted[0]["message"])
check(sample["workflowId"] == QUICK_WORKFLOW or sample["workflowId"].startswith("w-"), "workflowId in the message")
check(set(sample["transferDetails"]) == {"serverId", "username", "sessionId"}, "transferDetails as Transfer writes them")
errored = [json.loads(e["message"]) for e in counted if json.loads(e["message"])["type"] == "StepErrored"]
check(all({"errorType", "errorMessage", "stepType", "stepName"} <= set(m["details"]) for m in errored),
      f"{len(errored)} StepErrored events carry errorType, errorMessage, stepType, stepName")
check(all(e["logStreamName"].split(".")[1].startswith("w-") for e in counted), "streams are <user>.<workflow-id>.<suffix>")
window = logs.filter_log_events(logGroupName=group, startTime=counted[0]["timestamp"], endTime=counted[0]["timestamp"],
                                filterPattern=COUNTED)["events"]
check(window and all(e["timestamp"] == counted[0]["timestamp"] for e in window), "startTime/endTime select by timestamp, inclusive")
check(all(e["ingestionTime"] >= e["timestamp"] for e in everything), "ingestionTime never before timestamp")

expect_error(lambda: logs.filter_log_events(logGroupName=f"/aws/transfer/{QUIET}"), "ResourceNotFoundException",
             "the server without logging has no log group")
unvalidated_logs = client("logs", parameter_validation=False)
expect_error(lambda: unvalidated_logs.filter_log_events(logGroupName=group, limit=0), "InvalidParameterException", "limit=0")
expect_error(lambda: unvalidated_logs.filter_log_events(logGroupName=group, limit=10001), "InvalidParameterException", "limit=10001")
check(logs.filter_log_events(logGroupName=group, limit=10000)["events"] is not None, "limit=10000 is accepted")
expect_error(lambda: logs.filter_log_events(logGroupName=group, filterPattern="ERROR"), "InvalidParameterException",
             "a pattern the simulator does not support")
expect_error(lambda: logs.filter_log_events(logGroupName=group, nextToken="garbled"), "InvalidParameterException", "garbled nextToken")
try:
    logs.filter_log_events(logGroupName="/aws/transfer/s-00000000000000000")
except logs.exceptions.ResourceNotFoundException:
    check(True, "raises logs.exceptions.ResourceNotFoundException")

inject("logs:FilterLogEvents", "Throttle")
e = expect_error(lambda: logs.filter_log_events(logGroupName=group), "ThrottlingException", "Throttle fault")
check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, "Logs throttles with HTTP 400")
inject("logs:*", "ServerError")
e = expect_error(lambda: logs.filter_log_events(logGroupName=group), "ServiceUnavailableException", "ServerError fault")
check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 500, "ServiceUnavailableException is HTTP 500")
try:
    inject("logs:*", "ServerError")
    logs.filter_log_events(logGroupName=group)
except logs.exceptions.ServiceUnavailableException:
    check(True, "raises logs.exceptions.ServiceUnavailableException")

calls = control("GET", "/_sim/calls")
check(calls.get("logs:FilterLogEvents", 0) >= 10 and calls.get("transfer:ListServers", 0) >= 3, f"call counters counted")
print("boto3 logs check passed")
