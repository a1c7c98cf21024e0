//! How a flow takes in what a collection fetched, counts, forgets and is shown.

use super::*;

impl Flow {
    /// Takes in fetched executions: counts those newly terminal (when `count`), and updates
    /// what the gauges show.
    pub(super) fn absorb(
        &mut self,
        instance_id: &str,
        flow_name: &str,
        fetched: Fetched,
        cutoff: f64,
        count: bool,
    ) {
        let mut runs = fetched.runs;
        for (id, found) in fetched.followed {
            match found {
                Some(e) => runs.extend(Run::new(fingerprint(&e.id), e, true)),
                // AWS no longer knows it: forgotten, uncounted.
                None => self.forget(&id),
            }
        }
        let mut prints = HashSet::new();
        runs.retain(|r| prints.insert(r.print));
        // Room for the new ones at once, not by doubling as they are inserted
        // (a first collection's 12 runs would leave room for 16).
        let seen = &self.seen;
        let new = runs
            .iter()
            .filter(|r| r.start >= cutoff && seen.binary_search_by_key(&r.print, |s| s.id).is_err())
            .count();
        self.seen.reserve(new);
        for r in runs {
            if r.start < cutoff {
                continue;
            }
            let was_terminal = self.remember(&r);
            let status = r.status.as_str();
            if !is_terminal(status) {
                continue;
            }
            if count && !was_terminal {
                self.count(instance_id, flow_name, &r);
            }
            match status {
                Some("SUCCEEDED") => {
                    self.last_success = max_opt(self.last_success.get(), r.end).into()
                }
                _ => self.last_failure = max_opt(self.last_failure.get(), r.end).into(),
            }
            // Runs without an id are not the newest finished of their fetch.
            let Some(id) = r.id() else {
                continue;
            };
            let newer = self
                .newest_finished
                .as_ref()
                .is_none_or(|n| (r.start, &ExecId::new(id)) >= (n.start, &n.id));
            if newer {
                self.newest_finished = Some(Finished {
                    start: r.start,
                    id: ExecId::new(id),
                    duration: r.duration.into(),
                });
            }
        }
    }

    /// Whether `e` is known, terminal, with the status it has now.
    pub(super) fn settled(&self, e: &Execution) -> bool {
        let print = fingerprint(&e.id);
        self.seen
            .binary_search_by_key(&print, |s| s.id)
            .is_ok_and(|i| {
                let known = self.seen[i].status.as_str();
                is_terminal(known) && known == e.status.as_deref()
            })
    }

    /// Records an execution as listed: whether it was already known terminal.
    pub(super) fn remember(&mut self, r: &Run) -> bool {
        let seen = Seen {
            id: r.print,
            start: r.start,
            status: r.status,
        };
        let was_terminal = match self.seen.binary_search_by_key(&seen.id, |s| s.id) {
            Ok(i) => {
                let was = is_terminal(self.seen[i].status.as_str());
                self.seen[i] = seen;
                was
            }
            Err(i) => {
                self.seen.insert(i, seen);
                false
            }
        };
        let followed = self
            .running
            .iter()
            .position(|id| fingerprint(id) == r.print);
        match (followed, is_running(r.status.as_str()), r.id()) {
            (None, true, Some(id)) => {
                let i = self.running.partition_point(|x| &**x < id);
                self.running.insert(i, id.into());
            }
            (Some(i), false, _) => {
                self.running.remove(i);
            }
            _ => {}
        }
        // Runs without an id are not the newest of their fetch.
        if let Some(id) = r.id() {
            if self
                .newest
                .as_ref()
                .is_none_or(|(s, n)| (r.start, &ExecId::new(id)) >= (*s, n))
            {
                self.newest = Some((r.start, ExecId::new(id)));
            }
        }
        was_terminal
    }

    /// An execution AWS no longer knows: forgotten, uncounted.
    pub(super) fn forget(&mut self, id: &str) {
        let print = fingerprint(id);
        self.seen.retain(|s| s.id != print);
        self.running.retain(|r| &**r != id);
        if self
            .newest
            .as_ref()
            .is_some_and(|(_, n)| *n == ExecId::new(id))
        {
            // The next newest by start; its id is not kept, so ties with
            // executions listed later go to those (a vanished run is rare).
            self.newest = self
                .seen
                .iter()
                .map(|s| s.start)
                .reduce(f64::max)
                .map(|start| (start, ExecId::new("")));
        }
    }

    pub(super) fn count(&mut self, instance_id: &str, flow_name: &str, r: &Run) {
        let status = r.status.as_str();
        if let Some(i) = TERMINAL.iter().position(|s| Some(*s) == status) {
            self.executions[i] += 1;
        }
        if let Some(d) = r.duration {
            self.histogram().observe(d);
        }
        if status == Some(FAILED) {
            let text = r.text.as_deref();
            tracing::warn!(
                instance_id,
                flow_name,
                execution_id = text.map_or("", |t| &*t.id),
                message = text.and_then(|t| t.message.as_deref()).unwrap_or(""),
                "Supply Chain flow execution failed"
            );
        }
    }

    pub(super) fn histogram(&mut self) -> &mut Histogram {
        self.duration
            .get_or_insert_with(|| Histogram::new(&DURATION_BUCKETS))
    }

    /// Executions that left the lookback are forgotten, so memory stays bounded.
    pub(super) fn forget_before(&mut self, cutoff: f64) {
        self.seen.retain(|s| s.start >= cutoff);
        let seen = &self.seen;
        self.running.retain(|id| {
            let print = fingerprint(id);
            seen.binary_search_by_key(&print, |s| s.id).is_ok()
        });
        if self
            .newest
            .as_ref()
            .is_some_and(|(start, _)| *start < cutoff)
        {
            self.newest = None;
        }
        if self
            .newest_finished
            .as_ref()
            .is_some_and(|n| n.start < cutoff)
        {
            self.newest_finished = None;
        }
    }

    pub(super) fn render(&self, instance_id: &str, name: &str, e: &mut Exposition) {
        let s = &self.summary;
        let sources: BTreeSet<&str> = s.source_types.iter().map(|t| &**t).collect();
        let sources = sources.into_iter().collect::<Vec<_>>().join(",");
        e.sample(
            &INFO,
            &[
                ("instance_id", instance_id),
                ("flow_name", name),
                ("source_type", &sources),
                ("target_type", s.target_type.as_deref().unwrap_or("")),
                (
                    "transformation_type",
                    s.transformation_type.as_deref().unwrap_or(""),
                ),
            ],
            1.0,
        );
        let flow = [("instance_id", instance_id), ("flow_name", name)];
        let newest = self.newest.as_ref().and_then(|(start, id)| match id {
            // After a vanished newest, its successor's id is unknown: the latest start.
            ExecId::Text(text) if text.is_empty() => self.seen.iter().rfind(|s| s.start == *start),
            id => {
                let print = id.with_text(fingerprint);
                let i = self.seen.binary_search_by_key(&print, |s| s.id).ok()?;
                Some(&self.seen[i])
            }
        });
        if let Some(newest) = newest {
            e.state_set(
                &LAST_STATUS,
                &flow,
                EXECUTION_STATUSES,
                newest.status.as_str(),
            );
            e.sample(&LAST_START, &flow, newest.start);
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
            .filter(|s| is_running(s.status.as_str()))
            .count();
        e.sample(&IN_PROGRESS, &flow, running as f64);
        if let Some(d) = self.newest_finished.as_ref().and_then(|n| n.duration.get()) {
            e.sample(&LAST_DURATION, &flow, d);
        }
        for (status, n) in TERMINAL.iter().zip(self.executions) {
            e.sample(
                &EXECUTIONS,
                &[
                    ("instance_id", instance_id),
                    ("flow_name", name),
                    ("status", status),
                ],
                n as f64,
            );
        }
        let empty = Histogram::new(&DURATION_BUCKETS);
        e.histogram(&DURATION, &flow, self.duration.as_ref().unwrap_or(&empty));
    }
}
