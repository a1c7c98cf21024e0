//! How a workflow follows its listed executions and its log events, and counts
//! each finished execution and step error once.

use super::*;

impl Tracked {
    pub(super) fn new(first_seen: f64) -> Tracked {
        Tracked {
            first_seen,
            status: Interned::default(),
            exception: false,
            errors_seen: HashSet::default(),
        }
    }

    pub(super) fn see_status(&mut self, status: Option<&str>) {
        if let Some(status) = status {
            self.exception |= EXCEPTION_STATUSES.contains(&status);
            self.status = Interned::new(status);
        }
    }
}

impl Logged {
    pub(super) fn seen_at(last_ms: i64) -> Logged {
        Logged {
            last_ms,
            ..Logged::default()
        }
    }
}

impl Workflow {
    /// Takes in this collection's listing: counts executions no longer listed,
    /// follows the listed ones, and counts new step errors (when `count`),
    /// unless the logs count this workflow.
    pub(super) fn absorb(
        &mut self,
        workflow_id: &str,
        listed: Vec<Fetched>,
        now: f64,
        count: bool,
        source: Source,
    ) {
        let ids: HashSet<&str> = listed.iter().map(|(e, _)| e.id.as_str()).collect();
        let ended: Vec<String> = self
            .executions
            .keys()
            .filter(|id| !ids.contains(id.as_str()))
            .cloned()
            .collect();
        for execution_id in ended {
            let Some(t) = self.executions.remove(&execution_id) else {
                continue;
            };
            let outcome = usize::from(t.exception);
            match source {
                Source::Logs => continue,
                Source::ListingBesideLogs(now_ms) => {
                    let logged = self
                        .logged
                        .entry(execution_id.clone())
                        .or_insert_with(|| Logged::seen_at(now_ms));
                    // Its end event was read (while its logs were readable): counted then.
                    if std::mem::replace(&mut logged.ended, true) {
                        continue;
                    }
                    logged.last_ms = logged.last_ms.max(now_ms);
                }
                Source::Listing => {}
            }
            self.finished[outcome] += 1;
            tracing::debug!(
                workflow_id,
                execution_id,
                outcome = OUTCOMES[outcome],
                "Transfer execution finished"
            );
        }
        for (execution, detail) in listed {
            let tracked = self
                .executions
                .entry(execution.id.clone())
                .or_insert_with(|| Tracked::new(now));
            tracked.see_status(execution.status.as_deref());
            // DescribeExecution came later: its status is the fresher one. When it no longer
            // knows the execution (or was not asked: the logs count it), that has finished,
            // and is counted once it stops being listed.
            let Some(detail) = detail else { continue };
            tracked.see_status(detail.status.as_deref());
            for error in detail.step_errors {
                if !tracked.errors_seen.insert((error.phase, error.index)) {
                    continue;
                }
                tracked.exception = true;
                if let Source::ListingBesideLogs(now_ms) = source {
                    let logged = self
                        .logged
                        .entry(execution.id.clone())
                        .or_insert_with(|| Logged::seen_at(now_ms));
                    logged.last_ms = logged.last_ms.max(now_ms);
                    let phase = error.phase.index();
                    // Read from the logs already (while they were readable): counted then.
                    if logged.log_errors[phase] {
                        continue;
                    }
                    logged.listed_errors[phase] = true;
                }
                if count {
                    log_step_error(workflow_id, &execution.id, &error);
                    let key = (error.phase, error.step_type, error.error_type);
                    *self.step_errors.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// Takes in one event of the logs, read at `at` (timestamp ms, event id);
    /// counts it when `count` and it is new.
    pub(super) fn see_event(
        &mut self,
        workflow_id: &str,
        execution_id: &str,
        kind: EventKind,
        at: (i64, String),
        count: bool,
    ) {
        let logged = self
            .logged
            .entry(execution_id.to_owned())
            .or_insert_with(|| Logged::seen_at(at.0));
        logged.last_ms = logged.last_ms.max(at.0);
        match kind {
            EventKind::Ended { exception } => {
                if std::mem::replace(&mut logged.ended, true) {
                    return;
                }
                let outcome = usize::from(exception);
                let last = &mut self.last_end_ms[outcome];
                *last = last.get().max(Some(at.0)).into();
                if count {
                    self.finished[outcome] += 1;
                    tracing::debug!(
                        workflow_id,
                        execution_id,
                        outcome = OUTCOMES[outcome],
                        "Transfer execution finished (workflow logs)"
                    );
                }
            }
            EventKind::StepErrored {
                step_name,
                step_type,
                error_type,
                message,
            } => {
                if !logged.errored_steps.insert(step_name.clone()) {
                    return;
                }
                let phase = match &logged.first_error {
                    Some(first) if *first < at => Phase::OnExceptionSteps,
                    _ => Phase::Steps,
                };
                if phase == Phase::Steps {
                    logged.first_error = Some(at);
                }
                logged.log_errors[phase.index()] = true;
                // Counted by the listing before this workflow's logs could be read.
                if std::mem::take(&mut logged.listed_errors[phase.index()]) {
                    return;
                }
                if count {
                    tracing::warn!(
                        workflow_id,
                        execution_id,
                        phase = phase.label(),
                        step = %step_name,
                        step_type = %step_type,
                        error_type = %error_type,
                        %message,
                        "Transfer workflow step failed"
                    );
                    let key = (phase, step_type, error_type);
                    *self.step_errors.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// Forgets the executions the next read cannot return again: an ended
    /// one once its events are older than `read_start` (the overlap), one
    /// that has not ended once older than `lookback_start`.
    pub(super) fn forget(&mut self, read_start: i64, lookback_start: i64) {
        self.logged.retain(|_, l| {
            let horizon = if l.ended { read_start } else { lookback_start };
            l.last_ms >= horizon
        });
    }

    pub(super) fn render(&self, id: &str, now: f64, e: &mut Exposition) {
        let workflow = [("workflow_id", id)];
        e.sample(&INFO, &workflow, 1.0);
        let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
        for t in self.executions.values() {
            *by_status.entry(t.status.as_str()).or_default() += 1;
        }
        for status in ALWAYS_SHOWN {
            let n = by_status.remove(status).unwrap_or(0);
            e.sample(
                &EXECUTIONS,
                &[("workflow_id", id), ("status", status)],
                n as f64,
            );
        }
        for (status, n) in by_status {
            e.sample(
                &EXECUTIONS,
                &[("workflow_id", id), ("status", status)],
                n as f64,
            );
        }
        let oldest = self
            .executions
            .values()
            .map(|t| t.first_seen)
            .reduce(f64::min);
        let age = oldest.map_or(0.0, |first| (now - first).max(0.0));
        e.sample(&OLDEST_AGE, &workflow, age);
        for (outcome, n) in OUTCOMES.iter().zip(self.finished) {
            e.sample(
                &FINISHED,
                &[("workflow_id", id), ("outcome", outcome)],
                n as f64,
            );
        }
        for ((phase, step_type, error_type), n) in &self.step_errors {
            e.sample(
                &STEP_ERRORS,
                &[
                    ("workflow_id", id),
                    ("phase", phase.label()),
                    ("step_type", step_type),
                    ("error_type", error_type),
                ],
                *n as f64,
            );
        }
        for (outcome, last) in OUTCOMES.iter().zip(self.last_end_ms) {
            if let Some(ms) = last.get() {
                e.sample(
                    &LAST_END,
                    &[("workflow_id", id), ("outcome", outcome)],
                    ms as f64 / 1000.0,
                );
            }
        }
    }
}

fn log_step_error(workflow_id: &str, execution_id: &str, error: &StepError) {
    tracing::warn!(
        workflow_id,
        execution_id,
        phase = error.phase.label(),
        step = error.index,
        step_type = %error.step_type,
        error_type = %error.error_type,
        message = %error.message,
        "Transfer workflow step failed"
    );
}
