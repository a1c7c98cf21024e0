//! Metric rendering: [`exposition`] for the series computed from AWS data,
//! [`exporter`] for the exporter's own.

pub mod exporter;
pub mod exposition;
