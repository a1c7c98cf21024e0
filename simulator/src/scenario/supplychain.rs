//! The Supply Chain part of the demo: one Active instance whose data integration flows run on
//! schedules and sometimes fail, and one instance whose creation failed.

use crate::supplychain::{Execution, Flow, Instance, Source};
use crate::World;

use super::{ms, Rng};

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
const HISTORY: f64 = 2.0 * DAY;
/// Older runs are forgotten beyond this many per flow.
const MAX_RUNS: usize = 300;

pub const ACTIVE_INSTANCE: &str = "5c0f8a3e-1b2d-4e6f-8a9b-0c1d2e3f4a5b";
pub const FAILED_INSTANCE: &str = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b";

/// One demo flow: sources, target, transformation, how often it runs and how often it fails.
struct Profile {
    name: &'static str,
    sources: &'static [(&'static str, &'static str)],
    target: &'static str,
    transformation: &'static str,
    every: f64,
    fail_percent: u64,
    /// Make sure a run is in progress right after `populate`.
    in_flight: bool,
}

const PROFILES: [Profile; 4] = [
    Profile {
        name: "orders-s3-to-dataset",
        sources: &[("S3", "orders")],
        target: "DATASET",
        transformation: "NONE",
        every: 15.0 * MINUTE,
        fail_percent: 5,
        in_flight: false,
    },
    Profile {
        name: "inventory-sql-join",
        sources: &[("S3", "inventory"), ("DATASET", "product")],
        target: "DATASET",
        transformation: "SQL",
        every: 30.0 * MINUTE,
        fail_percent: 15,
        in_flight: true,
    },
    Profile {
        name: "shipments-export",
        sources: &[("DATASET", "shipment")],
        target: "S3",
        transformation: "SQL",
        every: HOUR,
        fail_percent: 10,
        in_flight: false,
    },
    Profile {
        name: "supplier-master",
        sources: &[("S3", "suppliers")],
        target: "DATASET",
        transformation: "NONE",
        every: 4.0 * HOUR,
        fail_percent: 30,
        in_flight: false,
    },
];

const FAILURES: [&str; 3] = [
    "Failed to ingest: column order_date has invalid date format in 12 rows",
    "Primary key violation: duplicate order_id values after transformation",
    "Access denied reading s3://scn-landing: check the bucket policy",
];

/// A run in progress and when it will end.
struct Run {
    id: String,
    started: f64,
    ends: f64,
}

struct Plan {
    flow: &'static str,
    every: f64,
    fail_percent: u64,
    next_run: f64,
    running: Option<Run>,
}

/// Drives the Supply Chain demo; owned by [`super::Scenario`].
pub struct Demo {
    rng: Rng,
    plans: Vec<Plan>,
}

impl Demo {
    pub fn new(seed: u64) -> Demo {
        Demo {
            rng: Rng::new(seed ^ 0x5c),
            plans: Vec::new(),
        }
    }

    /// Adds the two instances and about two days of runs up to `now`.
    pub fn populate(&mut self, world: &mut World, now: f64) {
        let created = ms(now - self.rng.between(60.0 * DAY, 120.0 * DAY));
        let mut active = Instance::new(ACTIVE_INSTANCE, created);
        active.name = Some("acme-supply-chain".to_owned());
        world.supplychain.add_instance(active);
        let mut failed =
            Instance::new(FAILED_INSTANCE, ms(now - 3.0 * DAY)).with_state("CreateFailed");
        failed.name = Some("acme-sandbox".to_owned());
        failed.error_message = Some("KMS key is not accessible to AWS Supply Chain".to_owned());
        world.supplychain.add_instance(failed);
        for p in &PROFILES {
            let mut flow = Flow::new(p.name, ms(created + self.rng.between(DAY, 20.0 * DAY)));
            flow.sources = p
                .sources
                .iter()
                .map(|(source_type, name)| Source {
                    source_type: (*source_type).to_owned(),
                    source_name: (*name).to_owned(),
                })
                .collect();
            flow.target_type = p.target.to_owned();
            flow.transformation_type = p.transformation.to_owned();
            world.supplychain.add_flow(ACTIVE_INSTANCE, flow);
            let mut plan = Plan {
                flow: p.name,
                every: p.every,
                fail_percent: p.fail_percent,
                next_run: now,
                running: None,
            };
            self.backfill(world, &mut plan, p.in_flight, now);
            self.plans.push(plan);
        }
    }

    fn backfill(&mut self, world: &mut World, plan: &mut Plan, in_flight: bool, now: f64) {
        let mut slot = ((now - HISTORY) / plan.every).ceil() * plan.every;
        while slot < now {
            let started = ms(slot + self.rng.between(0.0, 30.0));
            let last = slot + plan.every >= now;
            let ends = if last && in_flight {
                now + self.rng.between(MINUTE, 10.0 * MINUTE)
            } else {
                started + run_length(&mut self.rng, plan.every)
            };
            let run = Run {
                id: self.rng.uuid(),
                started,
                ends: ms(ends),
            };
            if run.ends <= now {
                let execution = finish(&mut self.rng, plan, &run, run.ends);
                world
                    .supplychain
                    .upsert_execution(ACTIVE_INSTANCE, plan.flow, execution);
            } else {
                begin(world, plan, run);
            }
            slot += plan.every;
        }
        plan.next_run = slot;
    }

    /// Finishes due runs and starts scheduled ones. Flows or instances a test removed are left
    /// alone.
    pub fn step(&mut self, world: &mut World, now: f64) {
        let rng = &mut self.rng;
        let sc = &mut world.supplychain;
        self.plans
            .retain(|p| sc.flow_mut(ACTIVE_INSTANCE, p.flow).is_some());
        for plan in &mut self.plans {
            if plan.running.as_ref().is_some_and(|r| now >= r.ends) {
                let run = plan.running.take().expect("checked above");
                let ended = run.ends.min(now);
                let execution = finish(rng, plan, &run, ended);
                world
                    .supplychain
                    .upsert_execution(ACTIVE_INSTANCE, plan.flow, execution);
            }
            if plan.running.is_none() && now >= plan.next_run {
                let started = ms(now);
                let run = Run {
                    id: rng.uuid(),
                    started,
                    ends: ms(started + run_length(rng, plan.every)),
                };
                begin(world, plan, run);
                plan.next_run = (now / plan.every).floor() * plan.every + plan.every;
            }
            if let Some(flow) = world.supplychain.flow_mut(ACTIVE_INSTANCE, plan.flow) {
                if flow.executions.len() > MAX_RUNS {
                    flow.executions.sort_by(|a, b| {
                        b.start_time
                            .unwrap_or(0.0)
                            .total_cmp(&a.start_time.unwrap_or(0.0))
                    });
                    flow.executions.truncate(MAX_RUNS);
                }
            }
        }
    }
}

/// Data integration runs take from half a minute to a quarter of their period (at most 20 min).
fn run_length(rng: &mut Rng, every: f64) -> f64 {
    rng.between(30.0, (every / 4.0).clamp(60.0, 20.0 * MINUTE))
}

fn begin(world: &mut World, plan: &mut Plan, run: Run) {
    let execution = Execution::running(&run.id, run.started);
    world
        .supplychain
        .upsert_execution(ACTIVE_INSTANCE, plan.flow, execution);
    plan.running = Some(run);
}

fn finish(rng: &mut Rng, plan: &Plan, run: &Run, ended: f64) -> Execution {
    if rng.below(100) < plan.fail_percent {
        let mut e = Execution::finished(&run.id, "FAILED", run.started, ended);
        e.message = Some(rng.pick(&FAILURES).to_owned());
        e
    } else {
        Execution::finished(&run.id, "SUCCEEDED", run.started, ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_750_000_000.0;

    #[test]
    fn populate_then_step_runs_flows_and_keeps_a_failed_instance() {
        let mut world = World::default();
        let mut demo = Demo::new(1);
        demo.populate(&mut world, NOW);
        let sc = &world.supplychain;
        assert_eq!(sc.instances.len(), 2);
        assert_eq!(sc.instances[FAILED_INSTANCE].state, "CreateFailed");
        let active = &sc.instances[ACTIVE_INSTANCE];
        assert_eq!(active.flows.len(), 4);
        let all: Vec<&Execution> = active.flows.values().flat_map(|f| &f.executions).collect();
        for status in ["SUCCEEDED", "FAILED", "IN_PROGRESS"] {
            assert!(all.iter().any(|e| e.status == status), "{status}");
        }
        let running = |w: &World| -> Vec<String> {
            w.supplychain.instances[ACTIVE_INSTANCE]
                .flows
                .values()
                .flat_map(|f| &f.executions)
                .filter(|e| e.status == "IN_PROGRESS")
                .map(|e| e.id.clone())
                .collect()
        };
        let before = running(&world);
        let count = all.len();
        for i in 1..=200 {
            demo.step(&mut world, NOW + f64::from(i) * 30.0);
        }
        let after = running(&world);
        assert!(before.iter().all(|id| !after.contains(id)));
        let total: usize = world.supplychain.instances[ACTIVE_INSTANCE]
            .flows
            .values()
            .map(|f| f.executions.len())
            .sum();
        assert!(total > count);
        // A test removing a flow does not make the demo panic.
        world
            .supplychain
            .remove_flow(ACTIVE_INSTANCE, "supplier-master");
        demo.step(&mut world, NOW + 10.0 * HOUR);
    }
}
