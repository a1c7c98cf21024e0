//! A fake AWS endpoint for tests and demos.
//!
//! [`Simulator`] is a small HTTP/1 server that speaks the real AWS wire protocols, so real SDK
//! clients can be pointed at it (`endpoint_url`) and run against state the test controls: the
//! [`World`], which holds each service's data, the [`faults`] to inject and per-operation call
//! counters. Signatures are not checked; the access key ids they name are recorded, and
//! can be required to be ones the simulated STS issued ([`sts::Sts::require_issued_keys`]).
//!
//! Services: AppFlow (restJson1: ListFlows, DescribeFlow, DescribeFlowExecutionRecords). Others
//! plug into the dispatcher in `server.rs`.
//! Transfer Family (awsJson1_1: ListServers, ListWorkflows, DescribeWorkflow, ListExecutions,
//! DescribeExecution): [`transfer`].
//! Supply Chain (restJson1, GET: ListInstances, ListDataIntegrationFlows,
//! ListDataIntegrationFlowExecutions, GetDataIntegrationFlowExecution): [`supplychain`].
//! - [`customerprofiles`]: Customer Profiles (restJson1: ListDomains, ListWorkflows, GetWorkflow).
//! - [`logs`]: CloudWatch Logs (awsJson1_1, `Logs_20140328`: FilterLogEvents), with the subset of
//!   JSON filter patterns documented there, and late delivery (events become visible at their
//!   ingestion time on the logs clock). Service name `logs` for faults and call counters.
//!
//! Transfer's workflow logs: a server added with a logging role gets its log group
//! `/aws/transfer/<server-id>`; [`World::log_workflow_run`] writes the events Transfer writes
//! for one execution, and [`logs::Logs::workflow_truth`] counts them back the way the exporter
//! must:
//!
//! ```
//! use aws_flow_simulator::transfer::{RunStep, Server, WorkflowRun};
//! use aws_flow_simulator::World;
//! let mut w = World::default();
//! w.add_transfer_server(Server::new("s-0123456789abcdef0").with_logging());
//! let run = WorkflowRun::new("s-0123456789abcdef0", "w-0123456789abcdef0", "e-1", 1_750_000_000_000)
//!     .step(RunStep::failed("TAG", "tag-it", 300, "BAD_REQUEST", "Cannot tag"))
//!     .on_exception(RunStep::ok("DELETE", "cleanup", 100))
//!     .delayed(30_000); // delivered 30 s late
//! assert!(w.log_workflow_run(&run));
//! let truth = w.logs.workflow_truth(..);
//! assert_eq!(truth.finished("w-0123456789abcdef0", "exception"), 1);
//! assert_eq!(truth.step_errors("w-0123456789abcdef0", "steps", "TAG", "BAD_REQUEST"), 1);
//! ```
//!
//! - [`sts`]: STS (awsQuery: AssumeRole, GetCallerIdentity), roles the test allows, issued
//!   credentials, and optionally refusing requests not signed with an issued key.
//! - [`organizations`]: Organizations (awsJson1_1: ListAccounts) and the organization's
//!   accounts, each with a world of its own ([`World::member`]), served to requests signed
//!   with that account's credentials; [`account`]: Account Management (restJson1: ListRegions).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use aws_flow_simulator::{appflow::Execution, appflow::Flow, faults::Fault, Simulator};
//! let sim = Simulator::start("127.0.0.1:0".parse().unwrap()).await?;
//! sim.with(|w| {
//!     w.appflow.add_flow(Flow::new("orders", 1_700_000_000.0));
//!     w.appflow.upsert_execution("orders", Execution::new("run-1", "InProgress", 1_700_000_100.0));
//!     w.faults.inject("ListFlows", Fault::Throttle, 1); // the next ListFlows gets a 429
//! });
//! // ... point a client at sim.url(), then:
//! assert_eq!(sim.with(|w| w.calls("ListFlows")), 1);
//! # Ok(()) }
//! ```
//!
//! The state lives behind an `Arc<Mutex<World>>`; [`Simulator::handle`] hands out a cloneable
//! [`SimHandle`] with the same `with` for background tasks (see [`scenario::spawn_stepping`]),
//! while the `Simulator` itself stays the single owner that stops the server when dropped.
//!
//! Out of process (the `aws-flow-simulator` binary), faults and counters are reachable through
//! a small control API under `/_sim/`, described in `control.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;

pub mod account;
pub mod appflow;
mod control;
pub mod customerprofiles;
pub mod faults;
pub mod logs;
pub mod organizations;
pub mod scenario;
mod server;
pub mod sts;
pub mod supplychain;
pub mod transfer;
pub mod truth;
mod wire;

pub use faults::{Fault, Faults};
pub use wire::epoch_now;

/// Everything the simulated account contains, plus the test's levers on it.
#[derive(Default)]
pub struct World {
    pub appflow: appflow::AppFlow,
    pub transfer: transfer::Transfer,
    pub supplychain: supplychain::SupplyChain,
    pub customerprofiles: customerprofiles::CustomerProfiles,
    pub logs: logs::Logs,
    pub sts: sts::Sts,
    /// The organization (management account's view); empty: none.
    pub organization: organizations::Organization,
    pub faults: faults::Faults,
    /// The worlds of the other accounts, by account id: what a request signed with a role of
    /// that account sees ([`World::account_world`]). Faults, counters, STS and the
    /// organization are the root world's.
    pub members: BTreeMap<String, World>,
    calls: BTreeMap<String, u64>,
    /// Account id to the calls made by that account, counted like `calls`.
    account_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Access key id to the calls signed with it, counted like `calls`.
    access_keys: BTreeMap<String, BTreeMap<String, u64>>,
}

impl World {
    /// How many requests reached `operation`, faulted ones included: "ListFlows" counts that
    /// operation in every service, "transfer:ListWorkflows" in one.
    pub fn calls(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }

    /// All non-zero call counters, by operation name.
    pub fn all_calls(&self) -> BTreeMap<String, u64> {
        self.calls.clone()
    }

    pub fn reset_calls(&mut self) {
        self.calls.clear();
        self.access_keys.clear();
        self.account_calls.clear();
    }

    /// The world of member account `account` (made empty at the first use).
    pub fn member(&mut self, account: &str) -> &mut World {
        self.members.entry(account.to_owned()).or_default()
    }

    /// What a call of `service` made by `account` is served from: the organization-wide
    /// services (STS, Organizations, Account Management) and the management account's own
    /// calls from this world, the others from the account's own (see [`World::member`]).
    pub(crate) fn account_world(&mut self, service: &str, account: &str) -> &mut World {
        let global = matches!(service, "sts" | "organizations" | "account");
        if global || account == self.sts.caller_account() {
            self
        } else {
            self.member(account)
        }
    }

    /// How many requests made by `account` (whose credentials belong to it) reached
    /// `operation` ("ListFlows" or "appflow:ListFlows", as [`World::calls`]).
    pub fn calls_in_account(&self, account: &str, operation: &str) -> u64 {
        self.account_calls
            .get(account)
            .and_then(|calls| calls.get(operation))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn count_account_call(&mut self, account: &str, service: &str, operation: &str) {
        let calls = self.account_calls.entry(account.to_owned()).or_default();
        *calls.entry(operation.to_owned()).or_default() += 1;
        *calls.entry(format!("{service}:{operation}")).or_default() += 1;
    }

    /// The access key ids (SigV4 `Credential=`) of every signed request so far, STS included.
    pub fn access_keys_seen(&self) -> std::collections::BTreeSet<String> {
        self.access_keys.keys().cloned().collect()
    }

    /// How many requests signed with `access_key_id` reached `operation` ("ListFlows" or
    /// "appflow:ListFlows", as [`World::calls`]).
    pub fn calls_with_key(&self, access_key_id: &str, operation: &str) -> u64 {
        self.access_keys
            .get(access_key_id)
            .and_then(|calls| calls.get(operation))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn count_access_key(
        &mut self,
        access_key_id: Option<&str>,
        service: &str,
        operation: &str,
    ) {
        let Some(key) = access_key_id else { return };
        let calls = self.access_keys.entry(key.to_owned()).or_default();
        *calls.entry(operation.to_owned()).or_default() += 1;
        *calls.entry(format!("{service}:{operation}")).or_default() += 1;
    }

    pub(crate) fn count_call(&mut self, service: &str, operation: &str) {
        *self.calls.entry(operation.to_owned()).or_default() += 1;
        *self
            .calls
            .entry(format!("{service}:{operation}"))
            .or_default() += 1;
    }
}

/// A cheap, cloneable reference to a running simulator, for background tasks such as
/// [`scenario::spawn_stepping`]. It does not keep the server alive.
#[derive(Clone)]
pub struct SimHandle {
    world: Arc<Mutex<World>>,
    addr: SocketAddr,
    stopped: watch::Receiver<bool>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Locks the world for `f`. Do not call it from inside another `with` (it would deadlock).
    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut server::lock(&self.world))
    }

    /// Whether the simulator has been shut down (or dropped).
    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow() || self.stopped.has_changed().is_err()
    }

    /// Resolves once the simulator is shut down (or dropped).
    pub async fn stopped(&self) {
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|stop| *stop).await;
    }
}

/// A running simulator. Serving stops on [`Simulator::shutdown`] or when it is dropped.
pub struct Simulator {
    handle: SimHandle,
    stop: watch::Sender<bool>,
}

impl Simulator {
    /// Binds (e.g. "127.0.0.1:0".parse()) and serves in a background tokio task.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Simulator> {
        Simulator::start_with(addr, World::default()).await
    }

    /// Like [`Simulator::start`], with a prepared world.
    pub async fn start_with(addr: SocketAddr, world: World) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let world = Arc::new(Mutex::new(world));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(server::serve(listener, world.clone(), stopped.clone()));
        Ok(Simulator {
            handle: SimHandle {
                world,
                addr,
                stopped,
            },
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// The endpoint URL, e.g. "http://127.0.0.1:PORT".
    pub fn url(&self) -> String {
        self.handle.url()
    }

    /// Locks the world for `f` to read or change it. Never held across an await by the server.
    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        self.handle.with(f)
    }

    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting and closes open connections (dropping the simulator does the same).
    pub fn shutdown(self) {}
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
