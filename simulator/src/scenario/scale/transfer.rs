//! A deterministic Transfer Family account at benchmark scale: `N` managed workflows and the
//! uploads that run them. As in AWS, only executions in progress exist; a finished one vanishes.
//! [`TransferScale::step`] makes an exact number of workflows start an execution, move one on
//! by a step (one in ten fails it and goes HANDLING_EXCEPTION) or finish it, and its [`Step`]
//! says how few AWS calls the next collection can make.
//!
//! [`TransferScale::with_logs`] adds servers that log to CloudWatch Logs (workflow `i` runs on
//! server `i % servers`), and [`TransferScale::step_logged`] makes most executions start and
//! end between two collections, as uploads do: written to the server's log group, never listed.
//!
//! ```
//! use aws_flow_simulator::scenario::scale::transfer::TransferScale;
//! use aws_flow_simulator::World;
//! let mut world = World::default();
//! let mut scale = TransferScale::new(1, 2_000);
//! scale.populate(&mut world);
//! let step = scale.step(&mut world, 0.01);
//! assert_eq!(step.changed.count(), 20);
//! // 2 ListWorkflows pages, 2,000 ListExecutions, 20 DescribeExecution.
//! assert_eq!(step.lower_bound(), 2 + 2_000 + 20);
//! ```

use super::{pages, pick_idle, Changed, Split};
use crate::scenario::Rng;
use crate::transfer::{Execution, RunStep, Server, StepResult, Workflow, WorkflowRun};
use crate::World;

/// Transfer's largest ListWorkflows, ListExecutions and ListServers page, which the exporter
/// asks for.
pub const LIST_PAGE: usize = 1000;
/// How long each step of a logged execution takes, milliseconds.
const STEP_MS: i64 = 200;

/// (nominal steps, exception handler), cycled over the workflows.
const SHAPES: [(&[&str], &[&str]); 3] = [
    (&["COPY", "TAG"], &["TAG"]),
    (&["DECRYPT", "COPY", "DELETE"], &["CUSTOM"]),
    (&["CUSTOM", "COPY", "DELETE"], &["TAG", "CUSTOM"]),
];

/// An execution in progress: which workflow, its id.
struct Running {
    workflow: usize,
    id: String,
}

/// What one [`TransferScale::step`] did, and what the next collection must at least call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// By workflow id.
    pub changed: Changed,
    pub workflows: usize,
    /// Executions in progress after the step: what ListExecutions lists.
    pub listed: usize,
}

impl Step {
    /// The fewest Transfer calls one collection after this step can make, for an exporter that
    /// remembers the previous collection: every ListWorkflows page, one ListExecutions per
    /// workflow, and one DescribeExecution per listed execution.
    ///
    /// Nothing in a listing tells which workflows have executions, so each must be listed, even
    /// the 99% with none. ListExecutions gives an execution's id and status only: its step
    /// results (and so its step errors) are in DescribeExecution alone, and with no timestamp
    /// nor step count in the listing, nothing says whether a listed execution moved on since
    /// the last collection; each listed execution is described. (An exporter trusting that a
    /// step error always changes the status could skip unchanged IN_PROGRESS executions, but
    /// AWS documents no such rule, and HANDLING_EXCEPTION executions can fail a handler step
    /// without a change of status.) A finished execution needs no call: it is no longer listed.
    pub fn lower_bound(&self) -> u64 {
        (pages(self.workflows, LIST_PAGE) + self.workflows + self.listed) as u64
    }
}

/// What one [`TransferScale::step_logged`] did, and what the next collection must at least call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoggedStep {
    /// The executions that went through the listing (started, moved on or finished).
    pub listing: Step,
    /// Executions that started and ended within the step: logged, never listed.
    pub quick: usize,
    /// Executions that ended in the step (the quick ones and the listed ones that finished),
    /// each logged with its ExecutionCompleted or ExecutionErrored event: what an exporter
    /// reading the logs counts.
    pub ended: usize,
    /// Servers, each with a log group.
    pub servers: usize,
}

impl LoggedStep {
    /// The fewest calls one collection after this step can make, for an exporter that reads the
    /// workflow logs and remembers the previous collection: every ListWorkflows page, one
    /// ListExecutions per workflow (the executions gauge), every ListServers page, and one
    /// FilterLogEvents per log group. One page per group holds while the events a read returns
    /// (the overlap of a few minutes of this group's ends and step errors) stay under 10,000
    /// and 1 MB, as they do here. No DescribeExecution: the logs tell the outcomes and step
    /// errors, and nothing else is counted.
    pub fn lower_bound(&self) -> u64 {
        let workflows = self.listing.workflows;
        (pages(workflows, LIST_PAGE) + workflows + pages(self.servers, LIST_PAGE) + self.servers)
            as u64
    }
}

/// See the module docs. [`TransferScale::populate`] once, then [`TransferScale::step`] (or
/// [`TransferScale::step_logged`] with logs).
pub struct TransferScale {
    rng: Rng,
    ids: Vec<String>,
    /// Oldest first: `step` finishes the oldest executions.
    running: Vec<Running>,
    /// With logs: the servers' ids; workflow `i` runs on `servers[i % servers.len()]`.
    servers: Vec<String>,
}

impl TransferScale {
    pub fn new(seed: u64, workflows: usize) -> TransferScale {
        TransferScale {
            rng: Rng::new(seed ^ 0x7472_616e_7366_6572),
            // AWS ids are `w-` and 17 lowercase letters or digits.
            ids: (0..workflows).map(|i| format!("w-{i:017x}")).collect(),
            running: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// `workflows` workflows run by `servers` servers, each with a logging role (and so a log
    /// group, `/aws/transfer/<id>`).
    pub fn with_logs(seed: u64, workflows: usize, servers: usize) -> TransferScale {
        TransferScale {
            // AWS ids are `s-` and 17 lowercase hex digits.
            servers: (0..servers).map(|i| format!("s-{i:017x}")).collect(),
            ..TransferScale::new(seed, workflows)
        }
    }

    pub fn workflow_ids(&self) -> &[String] {
        &self.ids
    }

    pub fn server_ids(&self) -> &[String] {
        &self.servers
    }

    /// Adds the workflows, with no execution in progress (finished ones are not kept by AWS).
    pub fn populate(&mut self, world: &mut World) {
        for id in &self.servers {
            world.add_transfer_server(Server::new(id).with_logging());
        }
        for (i, id) in self.ids.iter().enumerate() {
            let (steps, on_exception) = SHAPES[i % SHAPES.len()];
            let mut workflow = Workflow::new(id);
            workflow.description = Some(format!("Scale workflow {i}"));
            for (k, step_type) in steps.iter().enumerate() {
                workflow = workflow.step(step_type, &format!("step-{k}"));
            }
            for (k, step_type) in on_exception.iter().enumerate() {
                workflow = workflow.on_exception(step_type, &format!("handler-{k}"));
            }
            world.transfer.add_workflow(workflow);
        }
    }

    /// Makes exactly `fraction` of the workflows (rounded, at least one) change: see
    /// [`Split`](super::Split) for how many executions finish (the oldest), move on (the next
    /// oldest) and start (on workflows chosen at random among those with none in progress).
    pub fn step(&mut self, world: &mut World, fraction: f64) -> Step {
        self.step_listing(world, fraction, None).0
    }

    /// With logs ([`TransferScale::with_logs`]): `fraction` of the workflows (rounded, at least
    /// one) run an execution; `quick_share` of these (rounded) start and end within the two
    /// seconds or so before `now_ms`, and are only logged; the others go through the listing as
    /// in [`TransferScale::step`], each logged when it finishes (at `now_ms`). One execution in
    /// ten fails a step, and one exception handler in ten fails too.
    pub fn step_logged(
        &mut self,
        world: &mut World,
        fraction: f64,
        quick_share: f64,
        now_ms: i64,
    ) -> LoggedStep {
        let total = self.ids.len();
        let wanted = ((fraction * total as f64).round() as usize).clamp(1.min(total), total);
        let quick = ((quick_share.clamp(0.0, 1.0) * wanted as f64).round() as usize).min(wanted);
        let listed = wanted - quick;
        let (listing, finished) = if listed > 0 {
            self.step_listing(world, listed as f64 / total as f64, Some(now_ms))
        } else {
            let step = Step {
                changed: Changed {
                    was_running: self.names(&self.running),
                    ..Changed::default()
                },
                workflows: total,
                listed: self.running.len(),
            };
            (step, 0)
        };
        let busy: Vec<usize> = self.running.iter().map(|r| r.workflow).collect();
        let picked = pick_idle(&mut self.rng, total, busy, quick);
        for &workflow in &picked {
            let id = self.rng.uuid();
            let (steps, on_exception) = SHAPES[workflow % SHAPES.len()];
            let failing = self
                .rng
                .percent(10)
                .then(|| self.rng.below(steps.len() as u64) as usize);
            let handler_fails = self.rng.percent(10);
            let mut results: Vec<StepResult> = Vec::new();
            for (k, step_type) in steps.iter().enumerate() {
                results.push(result(step_type, failing == Some(k)));
                if failing == Some(k) {
                    break;
                }
            }
            let mut handler = Vec::new();
            if failing.is_some() {
                for (k, step_type) in on_exception.iter().enumerate() {
                    let fails = handler_fails && k == 0;
                    handler.push(result(step_type, fails));
                    if fails {
                        break;
                    }
                }
            }
            let ms = STEP_MS * (results.len() + handler.len()) as i64;
            let start_ms = now_ms - ms - 1 - self.rng.below(2_000) as i64;
            self.log_run(world, workflow, &id, start_ms, &results, &handler);
        }
        LoggedStep {
            listing,
            quick: picked.len(),
            ended: picked.len() + finished,
            servers: self.servers.len(),
        }
    }

    /// Writes what Transfer logs for an execution of `workflow` whose step results are
    /// `steps` and `on_exception_steps` (named `step-<k>` and `handler-<k>`, as in `populate`).
    fn log_run(
        &self,
        world: &mut World,
        workflow: usize,
        id: &str,
        start_ms: i64,
        steps: &[StepResult],
        on_exception_steps: &[StepResult],
    ) {
        let server = &self.servers[workflow % self.servers.len()];
        let mut run = WorkflowRun::new(server, &self.ids[workflow], id, start_ms);
        let step = |prefix: &str, k: usize, r: &StepResult| {
            let step_type = r.step_type.as_deref().unwrap_or("CUSTOM");
            let name = format!("{prefix}-{k}");
            match &r.error {
                None => RunStep::ok(step_type, &name, STEP_MS),
                Some(e) => RunStep::failed(step_type, &name, STEP_MS, &e.error_type, &e.message),
            }
        };
        for (k, r) in steps.iter().enumerate() {
            run = run.step(step("step", k, r));
        }
        for (k, r) in on_exception_steps.iter().enumerate() {
            run = run.on_exception(step("handler", k, r));
        }
        world.log_workflow_run(&run);
    }

    /// [`TransferScale::step`]; with `log_at`, each execution that finishes is logged as if it
    /// had run its steps just before that time. Also returns how many finished.
    fn step_listing(
        &mut self,
        world: &mut World,
        fraction: f64,
        log_at: Option<i64>,
    ) -> (Step, usize) {
        let busy: Vec<usize> = self.running.iter().map(|r| r.workflow).collect();
        let split = Split::new(fraction, self.ids.len(), self.running.len(), true);
        let mut changed = Changed {
            was_running: self.names(&self.running),
            ..Changed::default()
        };
        for run in self.running.drain(..split.finish).collect::<Vec<_>>() {
            let id = &self.ids[run.workflow];
            let ended = world.transfer.finish_execution(id, &run.id);
            changed.finished.push(id.clone());
            if let (Some(now_ms), Some(e), false) = (log_at, ended, self.servers.is_empty()) {
                let steps = e.steps.len() + e.on_exception_steps.len();
                let start_ms = now_ms - STEP_MS * steps as i64 - 1;
                let (nominal, handler) = (&e.steps, &e.on_exception_steps);
                self.log_run(world, run.workflow, &run.id, start_ms, nominal, handler);
            }
        }
        for k in 0..split.progress {
            let run = &self.running[k];
            let id = &self.ids[run.workflow];
            let fails = self.rng.percent(10);
            if let Some(e) = world.transfer.execution_mut(id, &run.id) {
                next_step(e, run.workflow, fails);
            }
            changed.progressed.push(id.clone());
        }
        for workflow in pick_idle(&mut self.rng, self.ids.len(), busy, split.start) {
            let run = Running {
                workflow,
                id: self.rng.uuid(),
            };
            let id = &self.ids[workflow];
            world
                .transfer
                .upsert_execution(id, Execution::new(&run.id, "IN_PROGRESS"));
            changed.started.push(id.clone());
            self.running.push(run);
        }
        let finished = changed.finished.len();
        let step = Step {
            changed,
            workflows: self.ids.len(),
            listed: self.running.len(),
        };
        (step, finished)
    }

    fn names(&self, runs: &[Running]) -> Vec<String> {
        runs.iter().map(|r| self.ids[r.workflow].clone()).collect()
    }
}

/// Ends the execution's next step: a failed nominal step starts the exception handler.
fn next_step(e: &mut Execution, workflow: usize, fails: bool) {
    let (steps, on_exception) = SHAPES[workflow % SHAPES.len()];
    if e.status == "HANDLING_EXCEPTION" {
        let step_type = on_exception[e.on_exception_steps.len() % on_exception.len()];
        e.on_exception_steps.push(result(step_type, fails));
    } else {
        let step_type = steps[e.steps.len() % steps.len()];
        e.steps.push(result(step_type, fails));
        if fails {
            e.status = "HANDLING_EXCEPTION".to_owned();
        }
    }
}

fn result(step_type: &str, fails: bool) -> StepResult {
    if fails {
        StepResult::failed(
            step_type,
            "PERMISSION_DENIED",
            "Access Denied (Service: Amazon S3; Status Code: 403)",
        )
    } else {
        StepResult::ok(step_type)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn digest(world: &World) -> Vec<String> {
        let workflows = world.transfer.workflows.values();
        workflows
            .flat_map(|w| w.executions.values().map(move |e| (w, e)))
            .map(|(w, e)| {
                let errors = e.steps.iter().chain(&e.on_exception_steps);
                let errors = errors.filter(|s| s.error.is_some()).count();
                let done = (e.steps.len(), e.on_exception_steps.len());
                format!("{} {} {} {done:?} {errors}", w.id, e.id, e.status)
            })
            .collect()
    }

    fn run(seed: u64) -> (Vec<String>, Vec<Step>) {
        let mut world = World::default();
        let mut scale = TransferScale::new(seed, 300);
        scale.populate(&mut world);
        let steps = (0..30).map(|_| scale.step(&mut world, 0.1)).collect();
        (digest(&world), steps)
    }

    #[test]
    fn same_seed_same_world_and_steps() {
        assert_eq!(run(7), run(7));
        assert_ne!(run(7).0, run(8).0);
    }

    #[test]
    fn each_step_changes_exactly_the_fraction_and_lists_what_runs() {
        let mut world = World::default();
        let mut scale = TransferScale::new(3, 1_000);
        scale.populate(&mut world);
        assert_eq!(world.transfer.workflows.len(), 1_000);
        assert!(digest(&world).is_empty());
        let mut handling = false;
        for i in 1..=20 {
            let before = digest(&world);
            let step = scale.step(&mut world, 0.01);
            let c = &step.changed;
            assert_eq!(c.count(), 10, "step {i}");
            let was: BTreeSet<&String> = c.was_running.iter().collect();
            assert!(c
                .finished
                .iter()
                .chain(&c.progressed)
                .all(|w| was.contains(w)));
            assert!(c.started.iter().all(|w| !was.contains(w)));
            // Exactly the changed workflows differ.
            let after = digest(&world);
            let differs = |line: &String, other: &[String]| !other.contains(line);
            let mut touched: BTreeSet<String> = before
                .iter()
                .filter(|l| differs(l, &after))
                .chain(after.iter().filter(|l| differs(l, &before)))
                .map(|l| l.split(' ').next().unwrap().to_owned())
                .collect();
            for w in c.started.iter().chain(&c.progressed).chain(&c.finished) {
                assert!(touched.remove(w), "step {i}: {w} unchanged");
            }
            assert!(touched.is_empty(), "step {i}: {touched:?}");
            assert_eq!(step.listed, after.len());
            assert_eq!(step.lower_bound(), (1 + 1_000 + after.len()) as u64);
            handling |= after.iter().any(|l| l.contains("HANDLING_EXCEPTION"));
        }
        assert!(handling, "some execution failed a step");
    }

    #[test]
    fn logged_steps_log_every_execution_that_ends_and_list_the_others() {
        let mut world = World::default();
        let mut scale = TransferScale::with_logs(5, 1_000, 10);
        scale.populate(&mut world);
        assert_eq!(world.transfer.servers.len(), 10);
        assert_eq!(world.logs.groups.len(), 10);
        let now_ms = (crate::epoch_now() * 1000.0) as i64 - 60_000;
        let mut ended = 0;
        for i in 0..30 {
            let step = scale.step_logged(&mut world, 0.05, 0.9, now_ms + i * 1_000);
            assert_eq!(step.quick, 45);
            assert_eq!(step.listing.changed.count(), 5);
            assert_eq!(step.listing.listed, digest(&world).len());
            assert_eq!(step.lower_bound(), (1 + 1_000 + 1 + 10) as u64);
            ended += step.ended;
        }
        let truth = world.logs.workflow_truth(..);
        let counted: u64 = truth.finished.values().sum();
        assert_eq!(counted, ended as u64);
        assert!(truth
            .finished
            .keys()
            .any(|(_, outcome)| outcome == "exception"));
        let phases: BTreeSet<&str> = truth.step_errors.keys().map(|k| k.1.as_str()).collect();
        assert_eq!(phases, BTreeSet::from(["on_exception_steps", "steps"]));
        // Every event is in the group of the workflow's server.
        for (i, id) in scale.workflow_ids().iter().enumerate().take(30) {
            let group = crate::transfer::log_group(&scale.server_ids()[i % 10]);
            let elsewhere = world.logs.groups.values().filter(|g| g.name != group);
            assert!(elsewhere
                .flat_map(|g| g.events.values())
                .all(|e| !e.message.contains(id.as_str())));
        }
    }

    #[test]
    fn tiny_and_empty_accounts_work() {
        let mut world = World::default();
        let mut scale = TransferScale::new(4, 1);
        scale.populate(&mut world);
        for _ in 0..5 {
            assert_eq!(scale.step(&mut world, 0.01).changed.count(), 1);
        }
        let mut scale = TransferScale::new(4, 0);
        let step = scale.step(&mut World::default(), 0.01);
        assert_eq!((step.changed.count(), step.lower_bound()), (0, 1));
    }
}
