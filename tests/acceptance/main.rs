//! Acceptance tests: the exporter binary against the simulated AWS, through
//! the real AWS SDK over HTTP, read back from `/metrics`.

mod appflow;
mod cli;
mod customerprofiles;
mod faults;
mod harness;
mod http;
mod prometheus;
mod soak;
mod state;
mod supplychain;
mod transfer;
mod web_config;
