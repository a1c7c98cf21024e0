//! A small control API under `/_sim/` so out-of-process clients (the demo binary, the boto3
//! check, curl) can inject faults and read counters. These requests are never counted or faulted.
//!
//! - `POST /_sim/faults` `{"operation": "ListFlows", "fault": "Throttle", "times": 2}`
//!   (`times` omitted = always; fault syntax as [`Fault`]'s `FromStr`)
//! - `POST /_sim/latency` `{"operation": "*", "latency": "250ms"}`
//! - `DELETE /_sim/faults` clears faults and latencies
//! - `GET /_sim/calls` returns the per-operation call counters; `DELETE /_sim/calls` resets them
//! - `POST /_sim/sts/roles` `{"role_arn": "arn:aws:iam::123456789012:role/r", "external_id": "x"}`
//!   lets AssumeRole succeed on that role (`external_id` omitted or null: any)
//! - `POST /_sim/sts/settings` `{"lifetime_seconds": 5, "require_issued_keys": true}` (each
//!   optional; `lifetime_seconds` null: honour DurationSeconds again)
//! - `GET /_sim/sts/calls` returns the AssumeRole calls; `GET /_sim/access-keys` the access key
//!   ids of the signed requests

use std::sync::Mutex;

use hyper::Method;
use serde::Deserialize;

use crate::faults::{parse_duration, Fault};
use crate::server::lock;
use crate::wire::{self, ErrorCode, HttpResponse, Protocol};
use crate::World;

const BAD_REQUEST: ErrorCode = ErrorCode::new(400, "ValidationException");

#[derive(Deserialize)]
struct FaultRequest {
    operation: String,
    fault: String,
    times: Option<u32>,
}

#[derive(Deserialize)]
struct RoleRequest {
    role_arn: String,
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct StsSettings {
    #[serde(default, deserialize_with = "some")]
    lifetime_seconds: Option<Option<u64>>,
    require_issued_keys: Option<bool>,
}

/// A present member, null included, is `Some` (absent stays `None` through `default`).
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct LatencyRequest {
    operation: String,
    latency: String,
}

/// Answers a control request, or returns `None` if the path is not under `/_sim/`.
pub(crate) fn respond(
    world: &Mutex<World>,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Option<HttpResponse> {
    let endpoint = path.strip_prefix("/_sim/")?;
    let outcome = match (method, endpoint) {
        (&Method::POST, "faults") => wire::parse_json::<FaultRequest>(body).and_then(|r| {
            let fault: Fault = r.fault.parse().map_err(|e| BAD_REQUEST.with(e))?;
            let faults = &mut lock(world).faults;
            match r.times {
                Some(times) => faults.inject(&r.operation, fault, times),
                None => faults.always(&r.operation, fault),
            }
            Ok(serde_json::json!({}))
        }),
        (&Method::POST, "latency") => wire::parse_json::<LatencyRequest>(body).and_then(|r| {
            let latency = parse_duration(&r.latency).map_err(|e| BAD_REQUEST.with(e))?;
            lock(world).faults.set_latency(&r.operation, latency);
            Ok(serde_json::json!({}))
        }),
        (&Method::DELETE, "faults") => {
            lock(world).faults.clear();
            Ok(serde_json::json!({}))
        }
        (&Method::GET, "calls") => Ok(serde_json::json!(lock(world).all_calls())),
        (&Method::DELETE, "calls") => {
            lock(world).reset_calls();
            Ok(serde_json::json!({}))
        }
        (&Method::POST, "sts/roles") => wire::parse_json::<RoleRequest>(body).map(|r| {
            let mut world = lock(world);
            world.sts.allow_role(&r.role_arn, r.external_id.as_deref());
            serde_json::json!({})
        }),
        (&Method::POST, "sts/settings") => wire::parse_json::<StsSettings>(body).map(|r| {
            let sts = &mut lock(world).sts;
            match r.lifetime_seconds {
                Some(Some(seconds)) => sts.set_lifetime_seconds(seconds),
                Some(None) => sts.reset_lifetime(),
                None => {}
            }
            if let Some(on) = r.require_issued_keys {
                sts.require_issued_keys(on);
            }
            serde_json::json!({})
        }),
        (&Method::GET, "sts/calls") => {
            let calls: Vec<_> = lock(world)
                .sts
                .assume_role_calls()
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "role_arn": c.role_arn,
                        "role_session_name": c.role_session_name,
                        "external_id": c.external_id,
                        "duration_seconds": c.duration_seconds,
                        "access_key_id": c.access_key_id,
                        "issued": c.issued,
                    })
                })
                .collect();
            Ok(serde_json::json!(calls))
        }
        (&Method::GET, "access-keys") => Ok(serde_json::json!(lock(world).access_keys_seen())),
        _ => Err(wire::UNKNOWN_OPERATION.with(format!("No control endpoint {method} {path}"))),
    };
    Some(match outcome {
        Ok(value) => wire::json_ok(wire::to_json(&value)),
        Err(error) => Protocol::RestJson1.error(&error),
    })
}
