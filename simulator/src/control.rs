//! A small control API under `/_sim/` so out-of-process clients (the demo binary, the boto3
//! check, curl) can inject faults and read counters. These requests are never counted or faulted.
//!
//! - `POST /_sim/faults` `{"operation": "ListFlows", "fault": "Throttle", "times": 2}`
//!   (`times` omitted = always; fault syntax as [`Fault`]'s `FromStr`)
//! - `POST /_sim/latency` `{"operation": "*", "latency": "250ms"}`
//! - `DELETE /_sim/faults` clears faults and latencies
//! - `GET /_sim/calls` returns the per-operation call counters; `DELETE /_sim/calls` resets them

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
        _ => Err(wire::UNKNOWN_OPERATION.with(format!("No control endpoint {method} {path}"))),
    };
    Some(match outcome {
        Ok(value) => wire::json_ok(wire::to_json(&value)),
        Err(error) => Protocol::RestJson1.error(&error),
    })
}
