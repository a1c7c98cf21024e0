#!/usr/bin/env python3
"""Independent wire-format check of the simulated Customer Profiles: drive a running simulator
with boto3 (botocore's own model of the service).

Usage: start the demo binary, then
    python3 simulator/tests/boto3_customerprofiles.py http://127.0.0.1:4566

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
STATUSES = {"NOT_STARTED", "IN_PROGRESS", "COMPLETE", "FAILED", "SPLIT", "RETRY", "CANCELLED"}


def client(**config):
    return boto3.client(
        "customer-profiles",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
    )


profiles = client()
model = profiles.meta.service_model


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


def is_datetime(value):
    return isinstance(value, datetime.datetime) and value.tzinfo is not None


def expect_error(call, code, message):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, f"{message} -> {got} (HTTP {e.response['ResponseMetadata']['HTTPStatusCode']})")
        return e
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
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected map"
    elif kind == "timestamp":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: epoch number expected"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: integer expected"
    elif kind == "string":
        assert isinstance(value, str), f"{path}: string expected"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in the enum"
    else:
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def raw(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ENDPOINT + path, data=data, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def strictly(operation, method, path, body=None):
    document = raw(method, path, body)
    conforms(document, model.operation_model(operation).output_shape)
    return document


# Raw responses conform strictly to the model.
domains = strictly("ListDomains", "GET", "/domains?max-results=100")["Items"]
count = 0
for domain in domains:
    name = domain["DomainName"]
    items = strictly("ListWorkflows", "POST", f"/domains/{name}/workflows?max-results=100", {})["Items"]
    for item in items:
        strictly("GetWorkflow", "GET", f"/domains/{name}/workflows/{item['WorkflowId']}")
        count += 1
check(count > 10, f"raw JSON of the three operations conforms to the model ({len(domains)} domains, {count} workflows)")

# ListDomains through boto3, one per page.
names, token, pages = [], None, 0
while True:
    page = profiles.list_domains(MaxResults=1, **({"NextToken": token} if token else {}))
    pages += 1
    names += [d["DomainName"] for d in page["Items"]]
    token = page.get("NextToken")
    if not token:
        break
check(names == ["retail-customers", "support-contacts"] and pages == 2, f"list_domains pages by name: {names}")
check(all(is_datetime(d["CreatedAt"]) for d in profiles.list_domains()["Items"]), "domain CreatedAt is a datetime")

# ListWorkflows, paged and filtered through the body.
workflows, token = [], None
while True:
    kwargs = {"DomainName": "retail-customers", "MaxResults": 7}
    if token:
        kwargs["NextToken"] = token
    page = profiles.list_workflows(**kwargs)
    workflows += page["Items"]
    token = page.get("NextToken")
    if not token:
        break
check(len(workflows) > 7, f"{len(workflows)} workflows over several pages")
check(len({w["WorkflowId"] for w in workflows}) == len(workflows), "no duplicates across pages")
created = [w["CreatedAt"] for w in workflows]
check(all(is_datetime(c) for c in created) and created == sorted(created, reverse=True), "newest first, datetimes")
check({w["Status"] for w in workflows} <= STATUSES, "statuses from the enum")
check({"COMPLETE", "FAILED"} <= {w["Status"] for w in workflows}, "varied statuses")
failed = profiles.list_workflows(DomainName="retail-customers", Status="FAILED", WorkflowType="APPFLOW_INTEGRATION")["Items"]
check(failed and all(w["Status"] == "FAILED" for w in failed), f"Status filter: {len(failed)} FAILED")
recent_start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=6)
recent = profiles.list_workflows(DomainName="retail-customers", QueryStartDate=recent_start, MaxResults=100)["Items"]
check(0 < len(recent) < len(workflows) and all(w["CreatedAt"] >= recent_start for w in recent), f"QueryStartDate filter: {len(recent)}")

# GetWorkflow.
detail = profiles.get_workflow(DomainName="retail-customers", WorkflowId=workflows[-1]["WorkflowId"])
flow = detail["Attributes"]["AppflowIntegration"]
metrics = detail["Metrics"]["AppflowIntegration"]
check(flow["SourceConnectorType"] in model.shape_for("SourceConnectorType").enum, f"source connector {flow['SourceConnectorType']}")
check(flow["ConnectorProfileName"], "connector profile name present")
check(all(isinstance(metrics[k], int) for k in ("RecordsProcessed", "StepsCompleted", "TotalSteps")), f"metrics {metrics}")
check(is_datetime(detail["StartDate"]) and is_datetime(detail["LastUpdatedAt"]), "StartDate/LastUpdatedAt are datetimes")
check(detail["ResponseMetadata"]["RequestId"], "x-amzn-RequestId is surfaced as RequestId")
failed_detail = profiles.get_workflow(DomainName="retail-customers", WorkflowId=failed[0]["WorkflowId"])
check(failed_detail.get("ErrorDescription"), "a FAILED workflow carries ErrorDescription")

# Modelled errors.
expect_error(lambda: profiles.list_workflows(DomainName="no-such-domain"), "ResourceNotFoundException", "unknown domain")
try:
    profiles.get_workflow(DomainName="retail-customers", WorkflowId="0" * 32)
except profiles.exceptions.ResourceNotFoundException:
    check(True, "raises profiles.exceptions.ResourceNotFoundException for an unknown workflow")
unvalidated = client(parameter_validation=False)
expect_error(lambda: unvalidated.list_domains(MaxResults=0), "BadRequestException", "MaxResults=0")
expect_error(lambda: unvalidated.list_workflows(DomainName="retail-customers", MaxResults=101), "BadRequestException", "MaxResults=101")
expect_error(lambda: profiles.list_domains(NextToken="garbled"), "BadRequestException", "garbled NextToken")
expect_error(lambda: profiles.get_workflow(DomainName="retail-customers", WorkflowId="not-a-uuid"), "BadRequestException", "bad WorkflowId")

# Injected faults, scoped to this service.
inject("customerprofiles:ListWorkflows", "Throttle")
try:
    profiles.list_workflows(DomainName="retail-customers")
    raise AssertionError("throttle fault: no error raised")
except profiles.exceptions.ThrottlingException as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 429, "Throttle fault raises ThrottlingException (429)")
inject("customerprofiles:*", "ServerError")
expect_error(lambda: profiles.list_domains(), "InternalServerException", "ServerError fault")
inject("customerprofiles:GetWorkflow", "AccessDenied")
expect_error(lambda: profiles.get_workflow(DomainName="retail-customers", WorkflowId=workflows[0]["WorkflowId"]), "AccessDeniedException", "AccessDenied fault")
inject("transfer:ListWorkflows", "Throttle")
check(profiles.list_workflows(DomainName="retail-customers")["Items"], "a Transfer-scoped fault leaves Customer Profiles alone")
control("DELETE", "/_sim/faults")

calls = control("GET", "/_sim/calls")
check(calls.get("customerprofiles:ListWorkflows", 0) >= 5 and calls.get("customerprofiles:GetWorkflow", 0) >= 3, "call counters")
print("boto3 Customer Profiles check passed")
