//! The Transfer Family part of the demo: four managed workflows; uploads start executions that
//! run their steps one by one; some step fails, the execution goes HANDLING_EXCEPTION and runs
//! its exception handler (which can fail too); finished executions disappear, as in AWS.
//!
//! Two servers: [`SERVER_ID`] with a logging role (log group `/aws/transfer/<id>`), and
//! [`QUIET_SERVER_ID`] without one. A fifth workflow ([`QUICK_WORKFLOW`]) runs on the logged
//! server: small uploads whose executions last a second or two, so they start and end between
//! two collections and are never listed; only the logs show them (some fail, some in the
//! exception handler too, a few arrive late or are throttled first). The logs clock is pinned
//! to the `now` the demo is stepped with.

use super::{ms, Rng, MINUTE};
use crate::transfer::{Execution, RunStep, Server, StepResult, Workflow, WorkflowRun, SERVER_ID};
use crate::World;

/// The demo's server without a logging role: its log group does not exist.
pub const QUIET_SERVER_ID: &str = "s-9f8e7d6c5b4a39281";
/// The workflow of the short, logged-only executions.
pub const QUICK_WORKFLOW: &str = "w-5b3d7f9a1c2e4d6f8";
const QUICK_STEPS: [(&str, &str); 2] = [("TAG", "tag-received"), ("COPY", "copy-to-processing")];
const QUICK_ON_EXCEPTION: [(&str, &str); 2] =
    [("TAG", "tag-rejected"), ("DELETE", "delete-rejected")];
const QUICK_USERS: [&str; 3] = ["acme-sftp", "globex-sftp", "initech-sftp"];
/// Mean seconds between quick uploads, and how much history `populate` writes.
const QUICK_EVERY: f64 = 30.0;
const QUICK_HISTORY: f64 = 30.0 * MINUTE;

/// The static description of one demo workflow.
struct Profile {
    id: &'static str,
    description: &'static str,
    steps: &'static [(&'static str, &'static str)],
    on_exception: &'static [(&'static str, &'static str)],
    /// Mean seconds between uploads; `None`: no longer triggered.
    every: Option<f64>,
    fail_percent: u64,
}

const PROFILES: [Profile; 4] = [
    Profile {
        id: "w-4f7b2c9d1e3a5b6c7",
        description: "Archive partner uploads and tag them",
        steps: &[("COPY", "copy-to-archive"), ("TAG", "tag-archived")],
        on_exception: &[("TAG", "tag-failed")],
        every: Some(2.0 * MINUTE),
        fail_percent: 10,
    },
    Profile {
        id: "w-8a1d3f5e7c9b2a4d6",
        description: "Decrypt PGP statements from the bank",
        steps: &[
            ("DECRYPT", "decrypt-statement"),
            ("COPY", "copy-to-ledger"),
            ("DELETE", "delete-encrypted"),
        ],
        on_exception: &[("CUSTOM", "notify-treasury")],
        every: Some(6.0 * MINUTE),
        fail_percent: 20,
    },
    Profile {
        id: "w-2c4e6a8b0d1f3e5a7",
        description: "Virus scan then move to the clean bucket",
        steps: &[
            ("CUSTOM", "virus-scan"),
            ("COPY", "copy-to-clean"),
            ("DELETE", "delete-original"),
        ],
        on_exception: &[("TAG", "tag-quarantined"), ("CUSTOM", "notify-security")],
        every: Some(4.0 * MINUTE),
        fail_percent: 25,
    },
    Profile {
        id: "w-9e8d7c6b5a4f3e2d1",
        description: "Legacy intake no longer triggered",
        steps: &[("COPY", "copy-legacy")],
        on_exception: &[],
        every: None,
        fail_percent: 0,
    },
];

/// Plausible errors per step type: (ExecutionErrorType, message).
fn errors_for(step_type: &str) -> &'static [(&'static str, &'static str)] {
    match step_type {
        "CUSTOM" => &[
            (
                "CUSTOM_STEP_FAILED",
                "Lambda function returned status FAILURE",
            ),
            (
                "TIMEOUT",
                "Custom step did not report a status within 60 seconds",
            ),
        ],
        "DECRYPT" => &[
            ("BAD_REQUEST", "The file is not a valid PGP message"),
            ("NOT_FOUND", "No PGP private key found for this server"),
        ],
        "COPY" => &[
            (
                "PERMISSION_DENIED",
                "Access Denied (Service: Amazon S3; Status Code: 403)",
            ),
            (
                "ALREADY_EXISTS",
                "Destination object exists and OverwriteExisting is FALSE",
            ),
            (
                "THROTTLED",
                "Slow Down (Service: Amazon S3; Status Code: 503)",
            ),
        ],
        _ => &[
            (
                "PERMISSION_DENIED",
                "Access Denied (Service: Amazon S3; Status Code: 403)",
            ),
            (
                "INTERNAL_SERVER_ERROR",
                "We encountered an internal error. Please try again.",
            ),
        ],
    }
}

/// Where an execution is in its workflow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Steps,
    OnException,
}

/// One execution the demo drives until it ends.
struct Run {
    workflow: usize,
    id: String,
    phase: Phase,
    /// The step running now, in the current phase.
    step: usize,
    step_ends: f64,
    /// The nominal step that fails, if any; exception steps fail on their own (rarely).
    failing_step: Option<usize>,
}

/// What the scenario keeps for the Transfer part of the demo.
pub(super) struct Demo {
    rng: Rng,
    next_upload: Vec<f64>,
    runs: Vec<Run>,
    /// Its own stream, so the listed executions stay the same as before the quick ones existed.
    quick_rng: Rng,
    next_quick: f64,
    /// Quick runs started but not yet over: logged once `now` passes their end.
    quick_pending: Vec<WorkflowRun>,
}

impl Demo {
    pub(super) fn new(seed: u64) -> Demo {
        Demo {
            // Its own stream, so the AppFlow demo stays the same whatever happens here.
            rng: Rng::new(seed ^ 0x7472_616e_7366_6572),
            next_upload: Vec::new(),
            runs: Vec::new(),
            quick_rng: Rng::new(seed ^ 0x7175_6963_6b5f_7466),
            next_quick: f64::INFINITY,
            quick_pending: Vec::new(),
        }
    }

    /// The servers and the quick workflow, with half an hour of quick runs in the logs.
    fn populate_quick(&mut self, world: &mut World, now: f64) {
        world.add_transfer_server(Server::new(SERVER_ID).with_logging());
        let mut quiet = Server::new(QUIET_SERVER_ID);
        quiet.user_count = Some(1);
        world.add_transfer_server(quiet);
        let mut workflow = Workflow::new(QUICK_WORKFLOW);
        workflow.description = Some("Tag and route small partner files (seconds per run)".into());
        for (step_type, name) in QUICK_STEPS {
            workflow = workflow.step(step_type, name);
        }
        for (step_type, name) in QUICK_ON_EXCEPTION {
            workflow = workflow.on_exception(step_type, name);
        }
        world.transfer.add_workflow(workflow);
        self.next_quick = ms(now - QUICK_HISTORY);
    }

    /// Starts the quick uploads due by `now` and logs every quick run that has ended by then.
    fn step_quick(&mut self, world: &mut World, now: f64) {
        world.logs.set_clock(Some((now * 1000.0).round() as i64));
        if !world.transfer.workflows.contains_key(QUICK_WORKFLOW) {
            self.quick_pending.clear();
            return;
        }
        while self.next_quick <= now {
            let run = self.quick_run(self.next_quick);
            self.quick_pending.push(run);
            self.next_quick =
                ms(self.next_quick + self.quick_rng.between(0.2 * QUICK_EVERY, 1.8 * QUICK_EVERY));
        }
        let now_ms = (now * 1000.0).round() as i64;
        let (done, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.quick_pending)
            .into_iter()
            .partition(|run| run.end_ms() <= now_ms);
        self.quick_pending = pending;
        for run in &done {
            world.log_workflow_run(run);
        }
    }

    /// One quick execution starting at `started`: a quarter fail a step, a fifth of those fail
    /// in the exception handler too; some are delivered late, a few throttled first.
    fn quick_run(&mut self, started: f64) -> WorkflowRun {
        let rng = &mut self.quick_rng;
        let id = rng.uuid();
        let user = QUICK_USERS[rng.below(QUICK_USERS.len() as u64) as usize];
        let mut run = WorkflowRun::new(
            SERVER_ID,
            QUICK_WORKFLOW,
            &id,
            (started * 1000.0).round() as i64,
        )
        .user(user);
        let failing = rng
            .percent(25)
            .then(|| rng.below(QUICK_STEPS.len() as u64) as usize);
        for (i, (step_type, name)) in QUICK_STEPS.iter().enumerate() {
            let duration = 100 + rng.below(900) as i64;
            run = run.step(if failing == Some(i) {
                let errors = errors_for(step_type);
                let (error_type, message) = errors[rng.below(errors.len() as u64) as usize];
                RunStep::failed(step_type, name, duration, error_type, message)
            } else {
                RunStep::ok(step_type, name, duration)
            });
        }
        let handler_fails = rng.percent(20);
        for (i, (step_type, name)) in QUICK_ON_EXCEPTION.iter().enumerate() {
            let duration = 50 + rng.below(400) as i64;
            run = run.on_exception(if handler_fails && i == 0 {
                RunStep::failed(
                    step_type,
                    name,
                    duration,
                    "PERMISSION_DENIED",
                    "Access Denied (Service: Amazon S3; Status Code: 403)",
                )
            } else {
                RunStep::ok(step_type, name, duration)
            });
        }
        if rng.percent(15) {
            run = run.delayed(20_000 + rng.below(70_000) as i64);
        }
        if rng.percent(5) {
            run = run.throttled();
        }
        run
    }

    /// Creates the workflows, with executions already under way (one handling an exception).
    pub(super) fn populate(&mut self, world: &mut World, now: f64) {
        for (i, p) in PROFILES.iter().enumerate() {
            let mut workflow = Workflow::new(p.id);
            workflow.description = Some(p.description.to_owned());
            for (step_type, name) in p.steps {
                workflow = workflow.step(step_type, name);
            }
            for (step_type, name) in p.on_exception {
                workflow = workflow.on_exception(step_type, name);
            }
            world.transfer.add_workflow(workflow);
            let next = match p.every {
                Some(every) => {
                    // Two uploads started a little while ago, the second of the virus-scan
                    // workflow already failing its scan.
                    for k in 0..2 {
                        let started = now - self.rng.between(5.0, 90.0);
                        let fail = (i == 2 && k == 1).then_some(0);
                        self.start(world, i, started, fail);
                        if let (Some(_), Some(run)) = (fail, self.runs.last_mut()) {
                            run.step_ends = ms(now - 1.0);
                        }
                    }
                    now + self.rng.between(0.0, every)
                }
                None => f64::INFINITY,
            };
            self.next_upload.push(next);
        }
        self.populate_quick(world, now);
        self.step(world, now);
    }

    /// Advances to `now`: steps end, executions fail or finish (and vanish), uploads arrive.
    pub(super) fn step(&mut self, world: &mut World, now: f64) {
        let transfer = &world.transfer;
        // Workflows a test removed, and executions it finished, are no longer ours to drive.
        self.runs.retain(|r| {
            transfer
                .workflows
                .get(PROFILES[r.workflow].id)
                .is_some_and(|w| w.executions.contains_key(&r.id))
        });
        for (i, p) in PROFILES.iter().enumerate() {
            let Some(every) = p.every else { continue };
            if !world.transfer.workflows.contains_key(p.id) {
                continue;
            }
            while self.next_upload[i] <= now {
                let started = self.next_upload[i];
                let fail = self
                    .rng
                    .percent(p.fail_percent)
                    .then(|| self.rng.below(p.steps.len() as u64) as usize);
                self.start(world, i, started, fail);
                self.next_upload[i] = ms(started + self.rng.between(0.3 * every, 1.7 * every));
            }
        }
        let mut runs = std::mem::take(&mut self.runs);
        runs.retain_mut(|run| self.advance(world, run, now));
        self.runs = runs;
        self.step_quick(world, now);
    }

    fn start(&mut self, world: &mut World, workflow: usize, started: f64, fail: Option<usize>) {
        let id = self.rng.uuid();
        let p = &PROFILES[workflow];
        world
            .transfer
            .upsert_execution(p.id, Execution::new(&id, "IN_PROGRESS"));
        let step_ends = ms(started + self.step_length(p.steps[0].0));
        self.runs.push(Run {
            workflow,
            id,
            phase: Phase::Steps,
            step: 0,
            step_ends,
            failing_step: fail,
        });
    }

    fn step_length(&mut self, step_type: &str) -> f64 {
        match step_type {
            "CUSTOM" => self.rng.between(20.0, 4.0 * MINUTE),
            "DECRYPT" => self.rng.between(10.0, 90.0),
            _ => self.rng.between(2.0, 30.0),
        }
    }

    /// Ends every step of `run` due by `now`; false once the execution has ended (and vanished).
    fn advance(&mut self, world: &mut World, run: &mut Run, now: f64) -> bool {
        let p = &PROFILES[run.workflow];
        while run.step_ends <= now {
            let steps = match run.phase {
                Phase::Steps => p.steps,
                Phase::OnException => p.on_exception,
            };
            let step_type = steps[run.step].0;
            let fails = match run.phase {
                Phase::Steps => run.failing_step == Some(run.step),
                Phase::OnException => self.rng.percent(10),
            };
            let result = if fails {
                let (error_type, message) = *self.rng_pick(errors_for(step_type));
                StepResult::failed(step_type, error_type, message)
            } else {
                StepResult::ok(step_type)
            };
            let Some(execution) = world.transfer.execution_mut(p.id, &run.id) else {
                return false;
            };
            let next = match run.phase {
                Phase::Steps => {
                    execution.steps.push(result);
                    if fails {
                        execution.status = "HANDLING_EXCEPTION".to_owned();
                        run.phase = Phase::OnException;
                        run.step = 0;
                        p.on_exception.first()
                    } else {
                        run.step += 1;
                        p.steps.get(run.step)
                    }
                }
                Phase::OnException => {
                    execution.on_exception_steps.push(result);
                    run.step += 1;
                    // A failed exception step ends the handler.
                    (!fails).then(|| p.on_exception.get(run.step)).flatten()
                }
            };
            match next {
                Some((step_type, _)) => {
                    run.step_ends = ms(run.step_ends + self.step_length(step_type))
                }
                None => {
                    world.transfer.finish_execution(p.id, &run.id);
                    return false;
                }
            }
        }
        true
    }

    fn rng_pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const NOW: f64 = 1_750_000_000.0;

    fn statuses(world: &World) -> Vec<(String, String, usize, usize)> {
        let workflows = world.transfer.workflows.values();
        workflows
            .flat_map(|w| w.executions.values())
            .map(|e| {
                (
                    e.id.clone(),
                    e.status.clone(),
                    e.steps.len(),
                    e.on_exception_steps.len(),
                )
            })
            .collect()
    }

    #[test]
    fn executions_appear_fail_and_vanish_deterministically() {
        let run = |seed| {
            let mut world = World::default();
            let mut demo = Demo::new(seed);
            demo.populate(&mut world, NOW);
            let first = statuses(&world);
            let mut seen_exception = false;
            let mut seen_step_error = false;
            for i in 1..=240 {
                demo.step(&mut world, NOW + f64::from(i) * 15.0);
                let workflows = world.transfer.workflows.values();
                for e in workflows.flat_map(|w| w.executions.values()) {
                    seen_exception |= e.status == "HANDLING_EXCEPTION";
                    seen_step_error |= e.steps.iter().any(|s| s.error.is_some());
                }
            }
            (first, statuses(&world), seen_exception, seen_step_error)
        };
        let (first, last, seen_exception, seen_step_error) = run(4);
        assert!(first.len() >= 3, "uploads under way: {}", first.len());
        assert!(first.iter().any(|(_, s, _, _)| s == "HANDLING_EXCEPTION"));
        assert!(seen_exception && seen_step_error);
        assert!(!last.is_empty(), "uploads keep arriving");
        assert!(
            world_ids(&first)
                .iter()
                .all(|id| !world_ids(&last).contains(id)),
            "the first executions ended and vanished"
        );
        assert_eq!(run(4).1, last);
    }

    #[test]
    fn quick_runs_are_only_in_the_logs_of_the_logged_server() {
        let run = |seed| {
            let mut world = World::default();
            let mut demo = Demo::new(seed);
            demo.populate(&mut world, NOW);
            let history = world.logs.workflow_truth(..);
            for i in 1..=120 {
                demo.step(&mut world, NOW + f64::from(i) * 5.0);
            }
            (world, history)
        };
        let (world, history) = run(4);
        assert!(world.transfer.workflows[QUICK_WORKFLOW]
            .executions
            .is_empty());
        assert!(world.logs.has_group(&crate::transfer::log_group(SERVER_ID)));
        assert!(!world
            .logs
            .has_group(&crate::transfer::log_group(QUIET_SERVER_ID)));
        assert_eq!(world.transfer.servers.len(), 2);
        assert!(
            history.finished(QUICK_WORKFLOW, "completed") > 20,
            "{history:?}"
        );
        let truth = world.logs.workflow_truth(..);
        let completed = truth.finished(QUICK_WORKFLOW, "completed");
        let exception = truth.finished(QUICK_WORKFLOW, "exception");
        assert!(completed > history.finished(QUICK_WORKFLOW, "completed"));
        assert!(exception > 0, "{truth:?}");
        let phases: BTreeSet<&str> = truth.step_errors.keys().map(|k| k.1.as_str()).collect();
        assert!(phases.contains("steps"), "{truth:?}");
        // Late events: some were written but are not yet visible.
        let now = world.logs.now_ms();
        let group = crate::transfer::log_group(SERVER_ID);
        assert!(world
            .logs
            .events(&group)
            .all(|e| e.timestamp <= now + 2_000));
        // Same seed, same logs.
        let (again, _) = run(4);
        assert_eq!(again.logs.workflow_truth(..), truth);
        let messages = |w: &World| {
            w.logs
                .events(&group)
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(messages(&again), messages(&world));
    }

    fn world_ids(s: &[(String, String, usize, usize)]) -> Vec<String> {
        s.iter().map(|(id, ..)| id.clone()).collect()
    }

    #[test]
    fn tolerates_workflows_and_executions_removed_by_tests() {
        let mut world = World::default();
        let mut demo = Demo::new(1);
        demo.populate(&mut world, NOW);
        world.transfer.remove_workflow(PROFILES[0].id);
        let (id, first) = {
            let w = &world.transfer.workflows[PROFILES[1].id];
            (w.id.clone(), w.executions.keys().next().unwrap().clone())
        };
        world.transfer.finish_execution(&id, &first);
        for i in 1..=100 {
            demo.step(&mut world, NOW + f64::from(i) * 30.0);
        }
        assert!(!world.transfer.workflows.contains_key(PROFILES[0].id));
        assert!(!world.transfer.workflows[PROFILES[1].id]
            .executions
            .contains_key(&first));
    }
}
