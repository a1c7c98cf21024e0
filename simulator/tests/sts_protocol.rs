//! Talks raw HTTP/1.1 to a running simulator to pin down the STS awsQuery wire format (form
//! bodies routed on `Action`, XML answers and `<ErrorResponse>` errors), the AssumeRole rules
//! (allowed roles, external ids, durations, short lifetimes) and the optional check that other
//! services are called with keys STS issued.

use aws_flow_simulator::{Fault, Simulator};

use common::{start, Reply};

mod common;

const ROLE: &str = "arn:aws:iam::210987654321:role/flow-exporter";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn auth(key: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0123"
    )
}

async fn sts(sim: &Simulator, body: &str) -> Reply {
    let auth = auth("AKIDBASE", "sts");
    let headers = [("Content-Type", FORM), ("Authorization", auth.as_str())];
    common::request(sim.addr(), "POST", "/", &headers, body).await
}

async fn assume(sim: &Simulator, extra: &str) -> Reply {
    let arn = ROLE.replace(':', "%3A").replace('/', "%2F");
    sts(
        sim,
        &format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn={arn}&RoleSessionName=aws-flow-exporter{extra}"
        ),
    )
    .await
}

fn text(reply: &Reply) -> String {
    String::from_utf8(reply.body.clone()).unwrap()
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn element(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// The awsQuery error: status, `Type`, `Code`, `Message`.
fn error(reply: &Reply) -> (u16, String, String, String) {
    let xml = text(reply);
    assert!(
        xml.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{xml}"
    );
    assert_eq!(reply.header("content-type"), Some("text/xml"));
    assert_eq!(
        element(&xml, "RequestId").as_deref(),
        reply.header("x-amzn-RequestId")
    );
    (
        reply.status,
        element(&xml, "Type").unwrap(),
        element(&xml, "Code").unwrap(),
        element(&xml, "Message").unwrap(),
    )
}

/// Seconds from now until an ISO 8601 `2024-01-01T00:00:00Z`.
fn seconds_until(iso: &str) -> f64 {
    let num = |r: std::ops::Range<usize>| iso[r].parse::<i64>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    assert_eq!(&iso[19..], "Z", "{iso}");
    // days_from_civil
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss) as f64 - aws_flow_simulator::epoch_now()
}

#[tokio::test]
async fn assume_role_answers_credentials_in_xml() {
    let sim = start().await;
    sim.with(|w| w.sts.allow_role(ROLE, None));
    let reply = assume(&sim, "").await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    assert_eq!(reply.header("content-type"), Some("text/xml"));
    let xml = text(&reply);
    assert!(xml.starts_with(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>\n    <Credentials>"
    ));
    let key = element(&xml, "AccessKeyId").unwrap();
    assert!(key.starts_with("ASIA") && key.len() >= 16, "{key}");
    assert!(element(&xml, "SecretAccessKey").is_some_and(|s| s.len() >= 40));
    assert!(element(&xml, "SessionToken").is_some_and(|s| !s.is_empty()));
    // The default duration: one hour.
    let left = seconds_until(&element(&xml, "Expiration").unwrap());
    assert!((3590.0..=3600.0).contains(&left), "{left}");
    assert_eq!(
        element(&xml, "Arn").as_deref(),
        Some("arn:aws:sts::210987654321:assumed-role/flow-exporter/aws-flow-exporter")
    );
    assert!(element(&xml, "AssumedRoleId").is_some_and(|id| id.ends_with(":aws-flow-exporter")));
    let request_id = element(&xml, "RequestId").unwrap();
    assert!(!request_id.is_empty());
    assert_eq!(reply.header("x-amzn-RequestId"), Some(request_id.as_str()));

    sim.with(|w| {
        assert_eq!(w.calls("AssumeRole"), 1);
        assert_eq!(w.calls("sts:AssumeRole"), 1);
        let calls = w.sts.assume_role_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].role_arn, ROLE);
        assert_eq!(calls[0].role_session_name, "aws-flow-exporter");
        assert_eq!(calls[0].external_id, None);
        assert_eq!(calls[0].access_key_id.as_deref(), Some("AKIDBASE"));
        assert_eq!(calls[0].issued.as_deref(), Some(key.as_str()));
        assert!(w.sts.issued().contains_key(&key));
        assert_eq!(w.calls_with_key("AKIDBASE", "sts:AssumeRole"), 1);
    });
}

#[tokio::test]
async fn other_roles_and_wrong_external_ids_are_access_denied() {
    let sim = start().await;
    let reply = assume(&sim, "").await;
    let (status, kind, code, message) = error(&reply);
    assert_eq!(
        (status, kind.as_str(), code.as_str()),
        (403, "Sender", "AccessDenied")
    );
    assert!(
        message.contains("sts:AssumeRole") && message.contains(ROLE),
        "{message}"
    );

    sim.with(|w| w.sts.allow_role(ROLE, Some("secret-id")));
    assert_eq!(error(&assume(&sim, "").await).2, "AccessDenied");
    assert_eq!(
        error(&assume(&sim, "&ExternalId=other-id").await).2,
        "AccessDenied"
    );
    let ok = assume(&sim, "&ExternalId=secret-id").await;
    assert_eq!(ok.status, 200, "{}", text(&ok));

    sim.with(|w| {
        let calls = w.sts.assume_role_calls();
        let external: Vec<_> = calls.iter().map(|c| c.external_id.as_deref()).collect();
        assert_eq!(external, [None, None, Some("other-id"), Some("secret-id")]);
        let issued: Vec<_> = calls.iter().map(|c| c.issued.is_some()).collect();
        assert_eq!(issued, [false, false, false, true]);
        assert_eq!(w.calls("AssumeRole"), 4);
    });

    sim.with(|w| w.sts.deny_role(ROLE));
    assert_eq!(
        error(&assume(&sim, "&ExternalId=secret-id").await).2,
        "AccessDenied"
    );
}

#[tokio::test]
async fn duration_seconds_is_honoured_within_the_model_bounds() {
    let sim = start().await;
    sim.with(|w| w.sts.allow_role(ROLE, None));
    let reply = assume(&sim, "&DurationSeconds=900").await;
    let left = seconds_until(&element(&text(&reply), "Expiration").unwrap());
    assert!((890.0..=900.0).contains(&left), "{left}");
    let reply = assume(&sim, "&DurationSeconds=43200").await;
    let left = seconds_until(&element(&text(&reply), "Expiration").unwrap());
    assert!((43_190.0..=43_200.0).contains(&left), "{left}");
    for bad in ["899", "43201"] {
        let (status, _, code, message) =
            error(&assume(&sim, &format!("&DurationSeconds={bad}")).await);
        assert_eq!((status, code.as_str()), (400, "ValidationError"));
        assert!(message.contains("durationSeconds"), "{message}");
    }
    // A test can force short-lived credentials whatever was asked.
    sim.with(|w| w.sts.set_lifetime_seconds(5));
    let reply = assume(&sim, "&DurationSeconds=3600").await;
    let left = seconds_until(&element(&text(&reply), "Expiration").unwrap());
    assert!((0.0..=5.0).contains(&left), "{left}");
    sim.with(|w| assert_eq!(w.sts.assume_role_calls()[2].duration_seconds, Some(3600)));
}

#[tokio::test]
async fn malformed_requests_get_awsquery_errors() {
    let sim = start().await;
    let cases = [
        ("Action=AssumeRole&Version=2011-06-15&RoleSessionName=ab", 400, "ValidationError"),
        (
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr",
            400,
            "ValidationError",
        ),
        ("Version=2011-06-15", 400, "MissingAction"),
        ("Action=GetSessionToken&Version=2011-06-15", 400, "InvalidAction"),
        ("Action=AssumeRole&Version=2011-06-15&RoleArn=%zz", 400, "MalformedQueryString"),
    ];
    for (body, status, code) in cases {
        let reply = sts(&sim, body).await;
        let (got_status, kind, got_code, _) = error(&reply);
        assert_eq!(
            (got_status, kind.as_str(), got_code.as_str()),
            (status, "Sender", code),
            "{body}"
        );
    }
    let session = format!("Action=AssumeRole&RoleArn={}&RoleSessionName=a%20b", ROLE);
    assert_eq!(error(&sts(&sim, &session).await).2, "ValidationError");
    // Only the two served actions are counted.
    sim.with(|w| {
        assert_eq!(w.calls("AssumeRole"), 3);
        assert!(w.sts.assume_role_calls().is_empty());
    });
}

#[tokio::test]
async fn get_caller_identity_names_the_caller() {
    let sim = start().await;
    let reply = sts(&sim, "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(reply.status, 200);
    let xml = text(&reply);
    assert!(xml.starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert_eq!(element(&xml, "Account").as_deref(), Some("123456789012"));
    assert!(element(&xml, "Arn").is_some_and(|a| a.starts_with("arn:aws:iam::123456789012:")));
}

#[tokio::test]
async fn faults_apply_to_assume_role_in_the_awsquery_format() {
    let sim = start().await;
    sim.with(|w| {
        w.sts.allow_role(ROLE, None);
        w.faults.inject("sts:AssumeRole", Fault::Throttle, 1);
        w.faults.inject("sts:AssumeRole", Fault::ServerError, 1);
    });
    let (status, kind, code, _) = error(&assume(&sim, "").await);
    assert_eq!(
        (status, kind.as_str(), code.as_str()),
        (400, "Sender", "Throttling")
    );
    let (status, kind, code, _) = error(&assume(&sim, "").await);
    assert_eq!(
        (status, kind.as_str(), code.as_str()),
        (500, "Receiver", "InternalFailure")
    );
    assert_eq!(assume(&sim, "").await.status, 200);
}

async fn list_flows(sim: &Simulator, key: Option<&str>) -> Reply {
    let auth = key.map(|k| auth(k, "appflow"));
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(auth.as_deref().map(|a| ("Authorization", a)));
    common::request(sim.addr(), "POST", "/list-flows", &headers, "{}").await
}

#[tokio::test]
async fn keys_are_recorded_and_unchecked_by_default() {
    let sim = start().await;
    assert_eq!(list_flows(&sim, Some("AKIDANY")).await.status, 200);
    assert_eq!(list_flows(&sim, None).await.status, 200);
    sim.with(|w| {
        assert_eq!(
            w.access_keys_seen().into_iter().collect::<Vec<_>>(),
            ["AKIDANY"]
        );
        assert_eq!(w.calls_with_key("AKIDANY", "ListFlows"), 1);
        assert_eq!(w.calls_with_key("AKIDANY", "appflow:ListFlows"), 1);
        assert_eq!(w.calls("ListFlows"), 2);
    });
}

#[tokio::test]
async fn required_keys_must_be_issued_and_unexpired() {
    let sim = start().await;
    sim.with(|w| {
        w.sts.allow_role(ROLE, None);
        w.sts.require_issued_keys(true);
    });
    // AssumeRole itself is reachable with the base key; AppFlow is not.
    let reply = assume(&sim, "").await;
    assert_eq!(reply.status, 200);
    let key = element(&text(&reply), "AccessKeyId").unwrap();
    let denied = list_flows(&sim, Some("AKIDBASE")).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.error_type(), Some("UnrecognizedClientException"));
    assert_eq!(list_flows(&sim, None).await.status, 403);

    assert_eq!(list_flows(&sim, Some(&key)).await.status, 200);
    sim.with(|w| assert_eq!(w.calls_with_key(&key, "appflow:ListFlows"), 1));

    sim.with(|w| w.sts.expire_all());
    let expired = list_flows(&sim, Some(&key)).await;
    assert_eq!(expired.status, 403);
    assert_eq!(expired.error_type(), Some("ExpiredTokenException"));

    // A long-term key can be let through.
    sim.with(|w| w.sts.allow_access_key("AKIDBASE"));
    assert_eq!(list_flows(&sim, Some("AKIDBASE")).await.status, 200);
}

#[tokio::test]
async fn short_lived_credentials_expire_on_their_own() {
    let sim = start().await;
    sim.with(|w| {
        w.sts.allow_role(ROLE, None);
        w.sts.require_issued_keys(true);
        w.sts.set_lifetime_seconds(1);
    });
    let key = element(&text(&assume(&sim, "").await), "AccessKeyId").unwrap();
    assert_eq!(list_flows(&sim, Some(&key)).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(list_flows(&sim, Some(&key)).await.status, 403);
}

#[tokio::test]
async fn the_control_api_configures_sts() {
    let sim = start().await;
    let json = [("Content-Type", "application/json")];
    let body = format!(r#"{{"role_arn": "{ROLE}", "external_id": "ext-1"}}"#);
    let reply = common::request(sim.addr(), "POST", "/_sim/sts/roles", &json, &body).await;
    assert_eq!(reply.status, 200);
    let reply = common::request(
        sim.addr(),
        "POST",
        "/_sim/sts/settings",
        &json,
        r#"{"lifetime_seconds": 5, "require_issued_keys": false}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    let reply = assume(&sim, "&ExternalId=ext-1").await;
    assert_eq!(reply.status, 200);
    let left = seconds_until(&element(&text(&reply), "Expiration").unwrap());
    assert!((0.0..=5.0).contains(&left), "{left}");
    let calls = common::request(sim.addr(), "GET", "/_sim/sts/calls", &[], "").await;
    let calls = calls.json();
    assert_eq!(calls[0]["role_arn"], ROLE);
    assert_eq!(calls[0]["external_id"], "ext-1");
    assert_eq!(calls[0]["role_session_name"], "aws-flow-exporter");
    let keys = common::request(sim.addr(), "GET", "/_sim/access-keys", &[], "").await;
    assert_eq!(keys.json(), serde_json::json!(["AKIDBASE"]));
}
