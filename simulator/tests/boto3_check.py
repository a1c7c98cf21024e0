#!/usr/bin/env python3
"""Independent wire-format check: drive a running simulator with boto3.

Usage: start the demo binary, then
    python3 simulator/tests/boto3_check.py http://127.0.0.1:4566

It starts nothing itself. It uses the simulator's /_sim/ control API to inject faults.
"""

import datetime
import json
import sys
import urllib.request

import boto3
import botocore.exceptions
import botocore.paginate
from botocore.config import Config

ENDPOINT = sys.argv[1].rstrip("/")


def client(**config):
    return boto3.client(
        "appflow",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        # botocore's `max_attempts` counts retries (total = max_attempts + 1); no retries at all:
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
    )


appflow = client()


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ENDPOINT + path, data=data, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def inject(operation, fault, times=1):
    control("POST", "/_sim/faults", {"operation": operation, "fault": fault, "times": times})


def paginator(operation, result_key):
    # botocore ships no AppFlow paginators (paginators-1.json is empty), so configure one the
    # way the model would: nextToken in and out, maxResults as the page size.
    config = {
        "input_token": "nextToken",
        "output_token": "nextToken",
        "limit_key": "maxResults",
        "result_key": result_key,
    }
    model = appflow.meta.service_model.operation_model(operation)
    python_name = {api: py for py, api in appflow.meta.method_to_api_mapping.items()}[operation]
    method = getattr(appflow, python_name)
    return botocore.paginate.Paginator(method, config, model)


def is_datetime(value):
    return isinstance(value, datetime.datetime) and value.tzinfo is not None


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("ok:", message)


def expect_error(call, code, message):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, f"{message} -> {got} (HTTP {e.response['ResponseMetadata']['HTTPStatusCode']})")
        return e
    raise AssertionError(f"{message}: no error raised")


def conforms(value, shape, path="$"):
    """Strictly checks raw JSON against a model shape: botocore itself ignores unknown keys, so
    this is what catches a misspelt member, a missing required one or a wrong type."""
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
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected map"
        for key, item in value.items():
            conforms(item, shape.value, f"{path}.{key}")
    elif kind == "timestamp":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: epoch number expected"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: integer expected"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: boolean expected"
    elif kind == "string":
        assert isinstance(value, str), f"{path}: string expected"
    else:
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def raw(path, body):
    request = urllib.request.Request(ENDPOINT + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def strictly(operation, path, body):
    output = appflow.meta.service_model.operation_model(operation).output_shape
    document = raw(path, body)
    conforms(document, output)
    return document


# Raw responses conform strictly to the model, for every flow.
listed = strictly("ListFlows", "/list-flows", {"maxResults": 100})
for flow in listed["flows"]:
    strictly("DescribeFlow", "/describe-flow", {"flowName": flow["flowName"]})
    strictly("DescribeFlowExecutionRecords", "/describe-flow-execution-records", {"flowName": flow["flowName"], "maxResults": 100})
check(True, f"raw JSON of all three operations conforms to the model for {len(listed['flows'])} flows")

# ListFlows through a paginator, 5 per page.
pages = list(paginator("ListFlows", "flows").paginate(PaginationConfig={"PageSize": 5}))
flows = [f for page in pages for f in page["flows"]]
names = [f["flowName"] for f in flows]
check(len(pages) >= 3, f"list_flows paginated over {len(pages)} pages")
check(names == sorted(names) and len(set(names)) == len(names), f"{len(names)} unique flows, sorted by name")
check(all(is_datetime(f["createdAt"]) and is_datetime(f["lastUpdatedAt"]) for f in flows), "createdAt/lastUpdatedAt are datetimes")
runs = [f for f in flows if "lastRunExecutionDetails" in f]
check(runs and all(is_datetime(f["lastRunExecutionDetails"]["mostRecentExecutionTime"]) for f in runs), "mostRecentExecutionTime is a datetime")
check(any(f.get("sourceConnectorLabel") for f in flows), "a custom connector label is present")
check({"Active", "Suspended", "Errored"} <= {f["flowStatus"] for f in flows}, "varied flow statuses")
check(all(v is not None for f in flows for v in f.values()), "no null fields")

# DescribeFlow on an SAPOData flow.
sap = appflow.describe_flow(flowName="sap-sales-orders-to-s3")
props = sap["sourceFlowConfig"]["sourceConnectorProperties"]["SAPOData"]
check(sap["sourceFlowConfig"]["connectorType"] == "SAPOData", "SAPOData source connector")
check(props["parallelismConfig"]["maxParallelism"] == 10, "maxParallelism = 10")
check(props["paginationConfig"]["maxPageSize"] == 3000, "maxPageSize = 3000")
check(sap["triggerConfig"]["triggerType"] == "Scheduled", "scheduled trigger")
check(is_datetime(sap["createdAt"]), "describe_flow createdAt is a datetime")
check(sap["ResponseMetadata"]["RequestId"], "x-amzn-RequestId is surfaced as RequestId")

# DescribeFlow's schedule (triggerConfig.triggerProperties.Scheduled), as botocore's model reads it.
scheduled = sap["triggerConfig"]["triggerProperties"]["Scheduled"]
check(scheduled["scheduleExpression"] == "rate(30minutes)", "rate expression as AppFlow writes it")
check(is_datetime(scheduled["scheduleStartTime"]), "scheduleStartTime is a datetime")
material = appflow.describe_flow(flowName="sap-material-master-to-s3")["triggerConfig"]["triggerProperties"]["Scheduled"]
check(material["scheduleExpression"] == "cron(0 0/2 ? * * *)", "cron expression")
check(material["scheduleOffset"] == 300 and isinstance(material["scheduleOffset"], int), "scheduleOffset is a long")
stalled = appflow.describe_flow(flowName="pardot-prospects-to-redshift")
stalled_props = stalled["triggerConfig"]["triggerProperties"]["Scheduled"]
check(stalled_props["flowErrorDeactivationThreshold"] == 10, "flowErrorDeactivationThreshold is an integer")
check(stalled_props["timezone"] == "UTC", "timezone is a label")
check(stalled["flowStatus"] == "Active", "the stalled flow is Active")
listed = {f["flowName"]: f for f in flows}
check(listed["pardot-prospects-to-redshift"]["triggerType"] == "Scheduled", "ListFlows says Scheduled")
landing = appflow.describe_flow(flowName="s3-landing-to-s3-curated")["triggerConfig"]
check(landing == {"triggerType": "Event"}, "an event flow has no trigger properties")

# DescribeFlowExecutionRecords, paged by hand and through a paginator.
records, token, page_count = [], None, 0
while True:
    kwargs = {"flowName": "sap-sales-orders-to-s3", "maxResults": 7}
    if token:
        kwargs["nextToken"] = token
    page = appflow.describe_flow_execution_records(**kwargs)
    page_count += 1
    records += page["flowExecutions"]
    token = page.get("nextToken")
    if not token:
        break
starts = [r["startedAt"] for r in records]
check(page_count > 2, f"{len(records)} records over {page_count} pages")
check(all(is_datetime(s) for s in starts), "startedAt values are datetimes")
check(starts == sorted(starts, reverse=True), "records newest first")
check(len({r["executionId"] for r in records}) == len(records), "no duplicate records across pages")
finished = [r for r in records if r["executionStatus"] in ("Successful", "Error")]
check(all(r["executionResult"]["numParallelProcesses"] == 10 for r in finished), "SAP runs report numParallelProcesses")
check(any("metadataCatalogDetails" in r for r in finished), "Glue catalog details present")
failed = [r for r in finished if r["executionStatus"] == "Error"]
check(all("executionMessage" in r["executionResult"]["errorInfo"] for r in failed), "failed runs carry errorInfo.executionMessage")
via_paginator = [
    r
    for page in paginator("DescribeFlowExecutionRecords", "flowExecutions").paginate(
        flowName="sap-sales-orders-to-s3", PaginationConfig={"PageSize": 50}
    )
    for r in page["flowExecutions"]
]
check(len(via_paginator) >= len(records) - 1, "paginator walks all records")

# Modelled errors.
expect_error(lambda: appflow.describe_flow(flowName="does-not-exist"), "ResourceNotFoundException", "unknown flow")
try:
    appflow.describe_flow(flowName="does-not-exist")
except appflow.exceptions.ResourceNotFoundException:
    check(True, "raises appflow.exceptions.ResourceNotFoundException")
unvalidated = client(parameter_validation=False)
expect_error(lambda: unvalidated.list_flows(maxResults=0), "ValidationException", "maxResults=0")
expect_error(lambda: unvalidated.list_flows(maxResults=101), "ValidationException", "maxResults=101")
expect_error(lambda: appflow.list_flows(nextToken="garbled"), "ValidationException", "garbled nextToken")

# Injected faults.
inject("ListFlows", "Throttle")
try:
    appflow.list_flows()
    raise AssertionError("throttle fault: no error raised")
except appflow.exceptions.ThrottlingException as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 429, "Throttle fault raises ThrottlingException (429)")
check(appflow.list_flows()["flows"], "next call succeeds again")
inject("DescribeFlow", "ServerError")
expect_error(lambda: appflow.describe_flow(flowName="sap-sales-orders-to-s3"), "InternalServerException", "ServerError fault")
inject("ListFlows", "AccessDenied")
expect_error(lambda: appflow.list_flows(), "AccessDeniedException", "AccessDenied fault")
for fault, errors in [
    ("Drop", (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError)),
    ("Truncated", (botocore.exceptions.IncompleteReadError, botocore.exceptions.ConnectionClosedError)),
]:
    inject("ListFlows", fault)
    try:
        appflow.list_flows()
        raise AssertionError(f"{fault}: no error raised")
    except errors as e:
        check(True, f"{fault} fault raises {type(e).__name__}")

# botocore is lenient with unparsable JSON (it becomes {"message": body}), so a Malformed
# response shows up as a result without flows; stricter SDKs (Rust) fail to deserialise it.
inject("ListFlows", "Malformed")
check("flows" not in appflow.list_flows(), "Malformed fault yields no flows in boto3")

calls = control("GET", "/_sim/calls")
check(calls.get("ListFlows", 0) >= 8 and calls.get("DescribeFlow", 0) >= 3, f"call counters: {calls}")
print("boto3 check passed")
