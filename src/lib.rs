//! aws-flow-exporter: a Prometheus exporter for the runs of AWS data
//! pipelines (Amazon AppFlow, AWS Transfer Family managed workflows, AWS
//! Supply Chain data integration flows, Amazon Connect Customer Profiles
//! workflows).
//!
//! # Layout
//!
//! - [`cli`]: flags, logging, wiring, exit codes (`main.rs` only calls it).
//! - [`config`]: the YAML file schema, validated into the runtime model.
//! - [`services`]: the registry, one entry per AWS service; each service is
//!   a folder with its narrow API trait and SDK adapter, its collector (state,
//!   metric families, counting) and its registry entry.
//! - `collector`: the trait every service's collector implements.
//! - `app`: from a configuration to collectors, by walking the registry.
//! - `aws`: SDK configuration and `aws::Caller` (rate limit, concurrency,
//!   timeout, retries); attempts are reported to an `aws::AttemptObserver`.
//! - `scheduler`: one supervised loop per (target, service);
//!   `runner`: the running loops and the reload that changes them.
//! - `store`: the published snapshots and readiness; [`exposition`]: the
//!   text exposition, compressed in pieces, and the bodies scrapes get.
//! - `self_metrics`: the exporter's own series, plain numbers per (target, service) written as text.
//! - `http`: the routes; `web_config`: TLS and basic auth.
//! - `shard`, `filter`, `sync`: which names a replica collects, the
//!   name filter, poison-tolerant locks; `interned`: one shared copy of
//!   text many flows repeat (statuses, connector and workflow types).
//! - `compact`: optional numbers and execution ids in less room, for the
//!   state flows keep; `malloc`: glibc's allocator set up at start.
//!
//! No module imports in a cycle: `config` reads `services`, which reads
//! neither `config` nor the HTTP side; `aws` knows nothing of Prometheus.
//!
//! The AWS simulator used by tests and `--demo` is the separate
//! `aws-flow-simulator` crate.

// The public surface is what the binary and the tests outside `src/` use:
// the command line, the configuration (property tests) and the registry with
// its families (the monitoring tests), and the generated docs. Everything else is the crate's own.
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod docs;
pub mod exposition;
pub mod services;

mod app;
mod aws;
mod collector;
mod compact;
mod discovery;
mod fault;
mod filter;
mod hash;
mod http;
mod interned;
mod malloc;
mod runner;
mod scheduler;
mod self_metrics;
mod shard;
mod state;
mod store;
mod sync;
mod web_config;
