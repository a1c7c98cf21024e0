//! A remembered flow as `aws_appflow_*` series.

use super::{fingerprint, Flow, EXECUTION_STATUSES, FLOW_STATUSES, RUNNING, TERMINAL};
use crate::exposition::Exposition;
use crate::services::appflow::families::*;

impl Flow {
    pub(super) fn render(&self, name: &str, e: &mut Exposition) {
        let s = &self.summary;
        let flow = [("flow_name", name)];
        e.sample(
            &INFO,
            &[
                ("flow_name", name),
                (
                    "source_connector",
                    s.source_connector.as_deref().unwrap_or(""),
                ),
                (
                    "source_connector_label",
                    s.source_connector_label.as_deref().unwrap_or(""),
                ),
                (
                    "destination_connector",
                    s.destination_connector.as_deref().unwrap_or(""),
                ),
                (
                    "destination_connector_label",
                    s.destination_connector_label.as_deref().unwrap_or(""),
                ),
                ("trigger_type", s.trigger_type.as_deref().unwrap_or("")),
            ],
            1.0,
        );
        e.state_set(&STATUS, &flow, FLOW_STATUSES, s.status.as_deref());
        let newest = self.newest.as_ref().and_then(|(_, id)| {
            let id = id.with_text(fingerprint);
            self.seen.iter().find(|s| s.id == id)
        });
        if let Some(newest) = newest {
            e.state_set(
                &LAST_STATUS,
                &flow,
                EXECUTION_STATUSES,
                Some(newest.status.as_str()),
            );
            e.sample(&LAST_START, &flow, newest.started_at);
        }
        if let Some(t) = self.last_success.get() {
            e.sample(&LAST_SUCCESS, &flow, t);
        }
        if let Some(t) = self.last_failure.get() {
            e.sample(&LAST_FAILURE, &flow, t);
        }
        let running = self
            .seen
            .iter()
            .filter(|s| RUNNING.contains(&s.status.as_str()))
            .count();
        e.sample(&IN_PROGRESS, &flow, running as f64);
        if let Some(r) = &self.newest_finished {
            let gauges = [
                (&LAST_BYTES, r.bytes_processed.get()),
                (&LAST_WRITTEN, r.bytes_written.get()),
                (&LAST_RECORDS, r.records_processed.get()),
                (&LAST_PUT_FAILURES, Some(r.put_failures.get().unwrap_or(0))),
                (&LAST_PARALLEL, r.parallel_processes.get()),
                (&LAST_PAGE_SIZE, r.max_page_size.get()),
            ];
            for (family, value) in gauges {
                if let Some(v) = value {
                    e.sample(family, &flow, v as f64);
                }
            }
            if let Some(d) = r.duration.get() {
                e.sample(&LAST_DURATION, &flow, d);
            }
        }
        let c = &self.counters;
        for (status, n) in TERMINAL.iter().zip(c.executions) {
            e.sample(
                &EXECUTIONS,
                &[("flow_name", name), ("status", status)],
                n as f64,
            );
        }
        e.sample(&BYTES, &flow, c.bytes_processed as f64);
        e.sample(&WRITTEN, &flow, c.bytes_written as f64);
        e.sample(&RECORDS, &flow, c.records as f64);
        e.sample(&PUT_FAILURES, &flow, c.put_failures as f64);
        e.histogram(&DURATION, &flow, &c.duration);
        if let Some(sap) = &self.sap {
            if let Some(v) = sap.max_parallelism {
                e.sample(&MAX_PARALLELISM, &flow, v as f64);
            }
            if let Some(v) = sap.max_page_size {
                e.sample(&MAX_PAGE_SIZE, &flow, v as f64);
            }
        }
        self.render_schedule(&flow, e);
        for ((kind, status), n) in &c.registrations {
            e.sample(
                &REGISTRATIONS,
                &[("flow_name", name), ("kind", kind), ("status", status)],
                *n as f64,
            );
        }
    }
}
