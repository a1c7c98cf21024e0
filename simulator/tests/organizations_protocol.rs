//! Talks raw HTTP/1.1 to a running simulator to pin down Organizations ListAccounts
//! (awsJson1_1, pages of at most 20), Account Management ListRegions (restJson1, filtered and
//! paged), and the per-account worlds: a request signed with credentials issued for a role in
//! an account is served that account's data, and GetCallerIdentity names it.

use aws_flow_simulator::appflow::Flow;
use aws_flow_simulator::organizations::Account;
use aws_flow_simulator::{Fault, Simulator};
use serde_json::{json, Value};

use common::{start, Reply};

mod common;

const AMZ_JSON: &str = "application/x-amz-json-1.1";

fn auth(key: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0123"
    )
}

async fn list_accounts(sim: &Simulator, key: &str, input: Value) -> Reply {
    let auth = auth(key, "organizations");
    let headers = [
        ("Content-Type", AMZ_JSON),
        ("X-Amz-Target", "AWSOrganizationsV20161128.ListAccounts"),
        ("Authorization", auth.as_str()),
    ];
    common::request(sim.addr(), "POST", "/", &headers, &input.to_string()).await
}

async fn list_regions(sim: &Simulator, key: &str, input: Value) -> Reply {
    let auth = auth(key, "account");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    common::request(
        sim.addr(),
        "POST",
        "/listRegions",
        &headers,
        &input.to_string(),
    )
    .await
}

/// An organization of the management account and `members` more.
fn organization(sim: &Simulator, members: usize) {
    sim.with(|w| {
        w.organization
            .add_account(Account::new("123456789012", "management"));
        for i in 0..members {
            let id = format!("{:012}", 200_000_000_000_u64 + i as u64);
            w.organization
                .add_account(Account::new(&id, &format!("member-{i}")));
        }
    });
}

#[tokio::test]
async fn list_accounts_pages_twenty_at_most() {
    let sim = start().await;
    organization(&sim, 44);
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let input = match &token {
            Some(t) => json!({ "NextToken": t }),
            None => json!({}),
        };
        let reply = list_accounts(&sim, "AKIDBASE", input).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some(AMZ_JSON));
        let body = reply.json();
        let accounts = body["Accounts"].as_array().unwrap();
        assert!(accounts.len() <= 20);
        pages += 1;
        for a in accounts {
            ids.push(a["Id"].as_str().unwrap().to_owned());
            assert_eq!(a["State"], "ACTIVE");
            assert_eq!(a["Status"], "ACTIVE");
            assert!(a["Arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:organizations::123456789012:account/o-"));
            assert!(a["JoinedTimestamp"].is_number());
        }
        token = body["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 45);
    assert_eq!(ids[0], "123456789012");

    let small = list_accounts(&sim, "AKIDBASE", json!({ "MaxResults": 5 })).await;
    assert_eq!(small.json()["Accounts"].as_array().unwrap().len(), 5);
    let too_big = list_accounts(&sim, "AKIDBASE", json!({ "MaxResults": 21 })).await;
    assert_eq!(too_big.status, 400);
    assert_eq!(too_big.json()["__type"], "InvalidInputException");
    let bad_token = list_accounts(&sim, "AKIDBASE", json!({ "NextToken": "garbage" })).await;
    assert_eq!(bad_token.json()["__type"], "InvalidInputException");
    assert_eq!(bad_token.json()["Reason"], "INVALID_PAGINATION_TOKEN");
}

#[tokio::test]
async fn states_are_sent_as_aws_does() {
    let sim = start().await;
    sim.with(|w| {
        w.organization
            .add_account(Account::new("123456789012", "management"));
        w.organization
            .add_account(Account::new("210987654321", "gone").in_state("CLOSED"));
        w.organization
            .add_account(Account::new("310987654321", "paused").in_state("SUSPENDED"));
    });
    let body = list_accounts(&sim, "AKIDBASE", json!({})).await.json();
    let accounts = body["Accounts"].as_array().unwrap();
    assert_eq!(accounts[1]["State"], "CLOSED");
    assert!(accounts[1].get("Status").is_none(), "Status has no CLOSED");
    assert_eq!(accounts[2]["State"], "SUSPENDED");
    assert_eq!(accounts[2]["Status"], "SUSPENDED");
}

#[tokio::test]
async fn only_the_management_account_and_delegated_administrators_list() {
    let sim = start().await;
    let none = list_accounts(&sim, "AKIDBASE", json!({})).await;
    assert_eq!(none.status, 400);
    assert_eq!(none.json()["__type"], "AWSOrganizationsNotInUseException");
    organization(&sim, 2);
    sim.with(|w| {
        w.sts.set_key_account("AKIDMEMBER", "200000000000");
        w.sts.set_key_account("AKIDADMIN", "200000000001");
        w.organization
            .delegated_administrators
            .insert("200000000001".into());
    });
    let denied = list_accounts(&sim, "AKIDMEMBER", json!({})).await;
    assert_eq!(denied.status, 400);
    assert_eq!(denied.json()["__type"], "AccessDeniedException");
    let admin = list_accounts(&sim, "AKIDADMIN", json!({})).await;
    assert_eq!(admin.status, 200);
    sim.with(|w| {
        w.faults
            .inject("organizations:ListAccounts", Fault::Throttle, 1)
    });
    let throttled = list_accounts(&sim, "AKIDBASE", json!({})).await;
    assert_eq!(throttled.json()["__type"], "TooManyRequestsException");
    sim.with(|w| {
        assert_eq!(w.calls("organizations:ListAccounts"), 4);
        assert_eq!(w.calls_in_account("200000000001", "ListAccounts"), 1);
    });
}

#[tokio::test]
async fn list_regions_filters_pages_and_checks_the_caller() {
    let sim = start().await;
    sim.with(|w| {
        w.organization
            .add_account(Account::new("123456789012", "management"));
        w.organization.add_account(
            Account::new("210987654321", "eu")
                .region("eu-south-1", "ENABLED")
                .region("ap-east-1", "DISABLING"),
        );
        w.sts.set_key_account("AKIDMEMBER", "210987654321");
    });
    let wanted = json!(["ENABLED", "ENABLED_BY_DEFAULT"]);
    // The member's own regions, without AccountId.
    let own = list_regions(
        &sim,
        "AKIDMEMBER",
        json!({ "RegionOptStatusContains": wanted }),
    )
    .await;
    assert_eq!(own.status, 200);
    let regions: Vec<String> = own.json()["Regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["RegionName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(regions.len(), 9, "{regions:?}");
    assert!(regions.contains(&"eu-south-1".to_owned()));
    assert!(!regions.contains(&"ap-east-1".to_owned()));

    // Paged: two at a time.
    let mut all = Vec::new();
    let mut token = None::<String>;
    loop {
        let mut input = json!({ "AccountId": "210987654321", "MaxResults": 2,
            "RegionOptStatusContains": wanted });
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let reply = list_regions(&sim, "AKIDBASE", input).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        for r in body["Regions"].as_array().unwrap() {
            all.push(r["RegionName"].as_str().unwrap().to_owned());
        }
        token = body["NextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(all, regions);

    let cases = [
        (
            "AKIDMEMBER",
            json!({ "AccountId": "123456789012" }),
            403,
            "AccessDeniedException",
        ),
        (
            "AKIDBASE",
            json!({ "AccountId": "123456789012" }),
            400,
            "ValidationException",
        ),
        (
            "AKIDBASE",
            json!({ "MaxResults": 51 }),
            400,
            "ValidationException",
        ),
        (
            "AKIDBASE",
            json!({ "RegionOptStatusContains": ["ON"] }),
            400,
            "ValidationException",
        ),
    ];
    for (key, input, status, code) in cases {
        let reply = list_regions(&sim, key, input.clone()).await;
        assert_eq!(
            (reply.status, reply.error_type()),
            (status, Some(code)),
            "{input}"
        );
    }
}

async fn assume(sim: &Simulator, role: &str) -> String {
    let arn = role.replace(':', "%3A").replace('/', "%2F");
    let auth = auth("AKIDBASE", "sts");
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", auth.as_str()),
    ];
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={arn}&RoleSessionName=aws-flow-exporter"
    );
    let reply = common::request(sim.addr(), "POST", "/", &headers, &body).await;
    assert_eq!(reply.status, 200);
    let xml = String::from_utf8(reply.body).unwrap();
    let start = xml.find("<AccessKeyId>").unwrap() + "<AccessKeyId>".len();
    let end = xml.find("</AccessKeyId>").unwrap();
    xml[start..end].to_owned()
}

async fn flows(sim: &Simulator, key: &str) -> Vec<String> {
    let auth = auth(key, "appflow");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let reply = common::request(sim.addr(), "POST", "/list-flows", &headers, "{}").await;
    assert_eq!(reply.status, 200);
    reply.json()["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flowName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_account_is_served_its_own_world() {
    let sim = start().await;
    let role = "arn:aws:iam::210987654321:role/flow-exporter";
    sim.with(|w| {
        w.appflow
            .add_flow(Flow::new("management-flow", 1_700_000_000.0));
        w.member("210987654321")
            .appflow
            .add_flow(Flow::new("member-flow", 1_700_000_000.0));
        w.sts.allow_role(role, None);
    });
    assert_eq!(flows(&sim, "AKIDBASE").await, ["management-flow"]);
    let key = assume(&sim, role).await;
    assert_eq!(flows(&sim, &key).await, ["member-flow"]);
    // A member with no world of its own yet is empty.
    sim.with(|w| {
        w.sts
            .allow_role("arn:aws:iam::310987654321:role/flow-exporter", None)
    });
    let empty = assume(&sim, "arn:aws:iam::310987654321:role/flow-exporter").await;
    assert!(flows(&sim, &empty).await.is_empty());

    // GetCallerIdentity names the account of the credentials.
    let auth = auth(&key, "sts");
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", auth.as_str()),
    ];
    let reply = common::request(
        sim.addr(),
        "POST",
        "/",
        &headers,
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await;
    let xml = String::from_utf8(reply.body).unwrap();
    assert!(xml.contains("<Account>210987654321</Account>"), "{xml}");
    sim.with(|w| {
        assert_eq!(w.calls_in_account("210987654321", "appflow:ListFlows"), 1);
        assert_eq!(w.calls_in_account("123456789012", "appflow:ListFlows"), 1);
        assert_eq!(w.calls("appflow:ListFlows"), 3);
    });
}

#[tokio::test]
async fn the_demo_organization_has_members_with_and_without_data() {
    let sim = start().await;
    sim.with(|w| {
        aws_flow_simulator::organizations::populate_demo(w, aws_flow_simulator::epoch_now())
    });
    let body = list_accounts(&sim, "AKIDBASE", json!({})).await.json();
    assert_eq!(body["Accounts"].as_array().unwrap().len(), 5);
    let key = assume(&sim, "arn:aws:iam::210987654321:role/aws-flow-exporter").await;
    assert!(!flows(&sim, &key).await.is_empty());
}
