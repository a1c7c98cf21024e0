//! aws-flow-exporter: a Prometheus exporter for the runs of AWS data
//! pipelines (Amazon AppFlow, AWS Transfer Family managed workflows, AWS
//! Supply Chain data integration flows, Amazon Connect Customer Profiles
//! workflows).
//!
//! # Layout
//!
//! - `main.rs`: flags, logging, exit codes; nothing else.
//! - [`config`]: the YAML file schema, validated into the runtime configuration.
//! - [`app`]: from a configuration to running collectors.
//! - [`aws`]: SDK configuration, [`aws::Caller`] (rate limit, concurrency,
//!   timeout, retries, per-attempt metrics), and one narrow client trait per
//!   service with its SDK adapter.
//! - [`collectors`]: one module per service behind [`collectors::Collector`];
//!   each computes its `aws_<service>_*` series from what it fetched.
//! - [`scheduler`]: one background loop per (target, service); snapshots
//!   swapped into the [`scheduler::Hub`] that scrapes read.
//! - [`metrics`]: the text exposition of AWS series, and the exporter's own
//!   metrics in a `prometheus::Registry`.
//! - [`scrape`]: the body scrapes get, compressed once per collection.
//! - [`state`]: `--storage.path`, the collectors' state saved to disk and restored at start.
//! - [`http`]: `/metrics`, `/`, `/healthz`, `/readyz`; [`web_config`]: TLS and basic auth.
//!
//! The AWS simulator used by tests and `--demo` is the separate
//! `aws-flow-simulator` crate.

pub mod app;
pub mod aws;
pub mod collector;
pub mod config;
pub mod exposition;
pub mod filter;
pub mod http;
pub mod scheduler;
pub mod self_metrics;
pub mod services;
pub mod shard;
pub mod state;
pub mod store;
pub mod sync;
pub mod web_config;
