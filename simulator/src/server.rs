//! The HTTP side: accepts connections, routes each request to the service that claims it, counts
//! the call, applies faults, and renders the outcome in the service's protocol.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::faults::Fault;
use crate::wire::{self, ApiError, ErrorCode, HttpResponse, Protocol};
use crate::{control, World};

/// One simulated AWS service. To add one, write a module exposing a `static SERVICE: Service`
/// and list it in [`SERVICES`].
pub(crate) struct Service {
    /// As the exporter's `aws_service` label spells it ("appflow", "transfer", ...): the scope
    /// of service-qualified fault patterns and call counters ("transfer:ListWorkflows").
    pub name: &'static str,
    pub protocol: Protocol,
    /// The codes used for injected error faults.
    pub errors: FaultErrors,
    /// Names the operation a request is for, or `None` if this service does not serve it.
    pub route: fn(&Method, &str, &HeaderMap) -> Option<&'static str>,
    /// Answers a routed call with a JSON body (sent as 200) or a modelled error. Runs with the
    /// world locked, so it must not block.
    pub handle: fn(&mut World, &Call) -> Result<Bytes, ApiError>,
}

/// The service-specific codes behind [`Fault`]'s error variants (e.g. throttling is 429 in
/// restJson1 AppFlow but 400 in awsJson1_1 Transfer Family).
pub(crate) struct FaultErrors {
    pub throttling: ErrorCode,
    pub internal: ErrorCode,
    pub access_denied: ErrorCode,
    pub not_found: ErrorCode,
}

/// A routed request, with its body already read.
pub(crate) struct Call {
    pub operation: &'static str,
    #[allow(dead_code)] // For services with path and query parameters.
    pub path: String,
    #[allow(dead_code)]
    pub query: Option<String>,
    pub body: Bytes,
    /// The access key id the request is signed with (SigV4 `Credential=`), if any.
    #[allow(dead_code)] // Read by STS only.
    pub access_key_id: Option<String>,
    /// The account the credentials belong to ([`crate::sts::Sts::account_of`]).
    pub account: String,
}

static SERVICES: &[&Service] = &[
    &crate::appflow::SERVICE,
    &crate::transfer::SERVICE,
    &crate::supplychain::SERVICE,
    &crate::customerprofiles::SERVICE,
    &crate::logs::SERVICE,
    &crate::sts::SERVICE,
    &crate::organizations::SERVICE,
    &crate::account::SERVICE,
];

fn route(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<(&'static Service, &'static str)> {
    SERVICES
        .iter()
        .find_map(|s| (s.route)(method, path, headers).map(|op| (*s, op)))
}

/// Locks the world, shrugging off poison: a panicking test closure must not wedge the server.
pub(crate) fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Returned by the request handler to make hyper close the connection without answering.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// Serves connections until `shutdown` flips (or its sender goes away); open connections are
/// cut at that point too.
pub(crate) async fn serve(
    listener: TcpListener,
    world: Arc<Mutex<World>>,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(shutdown.clone()) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let world = world.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(world.clone(), request));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                },
                () = stopped(shutdown) => {}
            }
        });
    }
}

/// Resolves when the simulator stops: the flag flips or the sender is gone.
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn respond(
    world: Arc<Mutex<World>>,
    request: Request<Incoming>,
) -> Result<HttpResponse, DropConnection> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| DropConnection)?.to_bytes();
    let path = parts.uri.path();
    if let Some(response) = control::respond(&world, &parts.method, path, &body) {
        return Ok(response);
    }
    let Some((service, operation)) = route(&parts.method, path, &parts.headers) else {
        let error =
            wire::UNKNOWN_OPERATION.with(format!("No operation at {} {path}", parts.method));
        return Ok(Protocol::RestJson1.error(&error));
    };
    // awsQuery (STS, the only such service) names the operation in the body's `Action`.
    let operation = if operation == crate::sts::QUERY {
        match crate::sts::action(&body) {
            Ok(action) => action,
            Err(error) => return Ok(service.protocol.error(&error)),
        }
    } else {
        operation
    };
    tracing::debug!(service = service.name, operation, "call");
    let access_key_id = wire::access_key_id(&parts.headers);

    let (fault, latency, account) = {
        let mut world = lock(&world);
        world.count_call(service.name, operation);
        world.count_access_key(access_key_id.as_deref(), service.name, operation);
        let account = world.sts.account_of(access_key_id.as_deref());
        world.count_account_call(&account, service.name, operation);
        if service.name != crate::sts::SERVICE.name {
            let checked = world
                .sts
                .check_access_key(access_key_id.as_deref(), wire::epoch_now());
            if let Err(error) = checked {
                return Ok(service.protocol.error(&error));
            }
        }
        (
            world.faults.take(service.name, operation),
            world.faults.latency(service.name, operation),
            account,
        )
    };
    let delay = latency
        + match fault {
            Some(Fault::Hang(d)) => d,
            _ => Duration::ZERO,
        };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let errors = &service.errors;
    let injected = match fault {
        Some(Fault::Throttle) => Some(errors.throttling.with("Rate exceeded")),
        Some(Fault::ThrottleRetryAfter(seconds)) => Some(ApiError {
            retry_after: Some(seconds),
            ..errors.throttling.with("Rate exceeded")
        }),
        Some(Fault::ServerError) => Some(errors.internal.with("An internal error occurred")),
        Some(Fault::AccessDenied) => Some(errors.access_denied.with("Access denied")),
        Some(Fault::NotFound) => Some(errors.not_found.with("The resource does not exist")),
        Some(Fault::Malformed) => return Ok(wire::malformed()),
        Some(Fault::Drop) => return Err(DropConnection),
        Some(Fault::Truncated | Fault::Hang(_) | Fault::Oversize) | None => None,
    };
    if let Some(error) = injected {
        return Ok(service.protocol.error(&error));
    }

    let call = Call {
        operation,
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        body,
        access_key_id,
        account,
    };
    let oversize = matches!(fault, Some(Fault::Oversize));
    let outcome = wire::with_oversize(oversize, || {
        let mut world = lock(&world);
        (service.handle)(world.account_world(service.name, &call.account), &call)
    });
    Ok(match (outcome, fault) {
        (Ok(body), Some(Fault::Truncated)) => wire::truncated(body),
        (Ok(body), _) => service.protocol.ok(body),
        (Err(error), _) => service.protocol.error(&error),
    })
}
