//! Acceptance tests: the exporter binary against the simulated AWS, through
//! the real AWS SDK over HTTP, read back from `/metrics`.

mod appflow;
mod assume_role;
mod cli;
mod customerprofiles;
mod discovery;
mod faults;
mod harness;
mod http;
mod prometheus;
mod reload;
mod soak;
mod state;
mod supplychain;
mod transfer;
mod transfer_logs;
mod web_config;
