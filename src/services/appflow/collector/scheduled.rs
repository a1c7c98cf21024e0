//! What the collector keeps of a scheduled flow, and its four schedule series
//! (metrics.md, "Schedules (v4)"; docs/schedules.md).

use super::{Flow, Status};
use crate::compact::OptF64;
use crate::exposition::Exposition;
use crate::services::appflow::families::{
    CONSECUTIVE_FAILURES, DEACTIVATION_THRESHOLD, NEXT_RUN, SCHEDULE_INTERVAL,
};
use crate::services::appflow::schedule::{Expression, ScheduleConfig};

/// A scheduled flow's schedule, from its last DescribeFlow. Boxed in [`Flow`]:
/// only scheduled flows have one.
#[derive(Clone, Debug, Default)]
pub(super) struct Scheduled {
    pub config: ScheduleConfig,
    /// The newest start ever seen, kept past the lookback: a weekly flow is due a
    /// week after its last run, even once that run has left a day's lookback.
    pub last_start: OptF64,
    /// The due time and interval, computed when the schedule or the runs change.
    next: OptF64,
    interval: OptF64,
    /// Whether `due` is up to date.
    fresh: bool,
    /// Whether the unreadable expression was logged.
    warned: bool,
}

impl Scheduled {
    pub fn new(config: ScheduleConfig, last_start: OptF64) -> Scheduled {
        Scheduled {
            config,
            last_start,
            ..Scheduled::default()
        }
    }

    /// Takes in the latest start seen; the due time follows at the next refresh.
    pub fn saw_start(&mut self, start: Option<f64>) {
        let newer = crate::collector::max_opt(self.last_start.get(), start);
        if newer != self.last_start.get() {
            self.last_start = newer.into();
            self.fresh = false;
        }
    }

    /// Computes the due time if the schedule or the runs changed. `updated`: the
    /// flow's lastUpdatedAt. An unreadable expression is logged once.
    pub fn refresh(&mut self, flow_name: &str, updated: Option<f64>) {
        if self.fresh {
            return;
        }
        self.fresh = true;
        let Some(text) = self.config.expression.as_deref() else {
            (self.next, self.interval) = (OptF64::NONE, OptF64::NONE);
            return;
        };
        let due = match Expression::parse(text) {
            Ok(expression) => expression.due(&self.config, self.last_start.get(), updated),
            Err(why) => {
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(
                        flow_name,
                        expression = text,
                        reason = %why,
                        "AppFlow schedule expression not understood: the flow has no schedule series"
                    );
                }
                None
            }
        };
        self.next = due.map(|d| d.next).into();
        self.interval = due.and_then(|d| d.interval).into();
    }

    #[cfg(test)]
    pub fn warned(&self) -> bool {
        self.warned
    }

    fn render(&self, flow: &[(&str, &str)], e: &mut Exposition) {
        if let Some(next) = self.next.get() {
            e.sample(&NEXT_RUN, flow, next);
        }
        if let Some(interval) = self.interval.get() {
            e.sample(&SCHEDULE_INTERVAL, flow, interval);
        }
        if let Some(threshold) = self.config.threshold.get() {
            e.sample(&DEACTIVATION_THRESHOLD, flow, threshold as f64);
        }
    }
}

impl Flow {
    /// The schedule series (scheduled flows) and consecutive failures (every flow).
    pub(super) fn render_schedule(&self, flow: &[(&str, &str)], e: &mut Exposition) {
        if let Some(schedule) = &self.schedule {
            schedule.render(flow, e);
        }
        e.sample(
            &CONSECUTIVE_FAILURES,
            flow,
            self.consecutive_failures() as f64,
        );
    }

    /// Error executions started after the newest Successful one (all of them
    /// without one), among those in the lookback.
    fn consecutive_failures(&self) -> usize {
        let successful = Status::new("Successful");
        let error = Status::new("Error");
        let last_success = self
            .seen
            .iter()
            .filter(|s| s.status == successful)
            .map(|s| s.started_at)
            .reduce(f64::max);
        self.seen
            .iter()
            .filter(|s| s.status == error && last_success.is_none_or(|t| s.started_at > t))
            .count()
    }
}
