//! A deterministic AWS Supply Chain account at benchmark scale: `N` data integration flows
//! spread over Active instances of [`FLOWS_PER_INSTANCE`] flows each (plus one instance whose
//! creation failed, which has none), each flow with 24 hours of runs (one every two hours).
//! [`SupplyChainScale::step`] makes an exact number of flows start or finish a run, and its
//! [`Step`] says how few AWS calls the next collection can make.
//!
//! ```
//! use aws_flow_simulator::scenario::scale::supplychain::SupplyChainScale;
//! use aws_flow_simulator::World;
//! let mut world = World::default();
//! let mut scale = SupplyChainScale::new(1, 2_000);
//! scale.populate(&mut world, 1_750_000_000.0);
//! let step = scale.step(&mut world, 1_750_000_060.0, 0.01);
//! assert_eq!(step.changed.count(), 20);
//! // 1 ListInstances page, 2 instances x 50 ListDataIntegrationFlows pages, 2,000 flows.
//! assert_eq!(step.lower_bound(), 1 + 100 + 2_000);
//! ```

use super::{pages, pick_idle, Changed, Split, EVERY, HISTORY};
use crate::scenario::{ms, Rng};
use crate::supplychain::{Execution, Flow, Instance, Source};
use crate::World;

/// Supply Chain's largest page on all three list operations, which the exporter asks for.
pub const LIST_PAGE: usize = 20;
/// Flows per Active instance (the last may have fewer).
pub const FLOWS_PER_INSTANCE: usize = 1_000;

/// A run in progress: which flow, its id and start.
struct Running {
    flow: usize,
    id: String,
    started: f64,
}

/// What one [`SupplyChainScale::step`] did, and what the next collection must at least call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// By flow name.
    pub changed: Changed,
    /// Instances listed (Active or not).
    pub instances: usize,
    /// Flows per Active instance.
    pub active: Vec<usize>,
    /// Executions in progress that are not on their flow's first execution page.
    pub buried: usize,
}

impl Step {
    /// The fewest Supply Chain calls one collection after this step can make, for an exporter
    /// that remembers the previous collection: every ListInstances page, every
    /// ListDataIntegrationFlows page of each Active instance, the first
    /// ListDataIntegrationFlowExecutions page of every flow, and one
    /// GetDataIntegrationFlowExecution per buried execution in progress.
    ///
    /// Flows carry no summary of their last run (unlike AppFlow's `lastRunExecutionDetails`),
    /// so the first executions page of every flow, changed or not, is the only way to see a new
    /// or finished run: the bound does not depend on how many flows changed. Here every run in
    /// progress is its flow's newest, so none is buried (`buried` counts them anyway).
    pub fn lower_bound(&self) -> u64 {
        let flows: usize = self.active.iter().sum();
        let flow_pages: usize = self.active.iter().map(|n| pages(*n, LIST_PAGE)).sum();
        (pages(self.instances, LIST_PAGE) + flow_pages + flows + self.buried) as u64
    }
}

/// See the module docs. [`SupplyChainScale::populate`] once, then [`SupplyChainScale::step`].
pub struct SupplyChainScale {
    rng: Rng,
    /// Active instance ids; flow `i` belongs to `instances[i / FLOWS_PER_INSTANCE]`.
    instances: Vec<String>,
    names: Vec<String>,
    /// Oldest first: `step` finishes the oldest runs.
    running: Vec<Running>,
}

impl SupplyChainScale {
    pub fn new(seed: u64, flows: usize) -> SupplyChainScale {
        let mut rng = Rng::new(seed ^ 0x5c5c);
        let instances = (0..flows.div_ceil(FLOWS_PER_INSTANCE))
            .map(|_| rng.uuid())
            .collect();
        let names = (0..flows)
            .map(|i| format!("scale-{i:05}-{}", source(i).0.to_lowercase()))
            .collect();
        SupplyChainScale {
            rng,
            instances,
            names,
            running: Vec::new(),
        }
    }

    pub fn flow_names(&self) -> &[String] {
        &self.names
    }

    /// Instances ListInstances lists: the Active ones and the one whose creation failed.
    pub fn instances(&self) -> usize {
        self.instances.len() + 1
    }

    /// Adds the instances and flows, each flow with the finished runs of the last 24 hours.
    pub fn populate(&mut self, world: &mut World, now: f64) {
        let failed = Instance::new(&self.rng.uuid(), ms(now - 3.0 * 86_400.0));
        world
            .supplychain
            .add_instance(failed.with_state("CreateFailed"));
        for id in &self.instances {
            let created = ms(now - self.rng.between(60.0 * 86_400.0, 400.0 * 86_400.0));
            world.supplychain.add_instance(Instance::new(id, created));
        }
        for i in 0..self.names.len() {
            let instance = self.instances[i / FLOWS_PER_INSTANCE].clone();
            let mut flow = Flow::new(&self.names[i], ms(now - 30.0 * 86_400.0));
            let (source_type, target) = source(i);
            flow.sources = vec![Source {
                source_type: source_type.to_owned(),
                source_name: format!("dataset_{i}"),
            }];
            flow.target_type = target.to_owned();
            flow.transformation_type = if i % 3 == 0 { "SQL" } else { "NONE" }.to_owned();
            // Each flow has its own slot within the two-hour schedule.
            let mut start = now - HISTORY + self.rng.between(0.0, EVERY);
            while start < now {
                let started = ms(start + self.rng.between(0.0, 20.0));
                let ended = ms(started + self.rng.between(30.0, 600.0));
                if ended < now {
                    let id = self.rng.uuid();
                    flow.executions.push(self.finished(&id, started, ended));
                }
                start += EVERY;
            }
            world.supplychain.add_flow(&instance, flow);
        }
    }

    /// Makes exactly `fraction` of the flows (rounded, at least one) start or finish a run at
    /// `now`: about half finish the oldest runs in progress, the others start a run on flows
    /// chosen at random among those not running. Runs older than 24 hours are dropped from the
    /// flows that start one, so histories stay shorter than a page.
    pub fn step(&mut self, world: &mut World, now: f64, fraction: f64) -> Step {
        let busy: Vec<usize> = self.running.iter().map(|r| r.flow).collect();
        let split = Split::new(fraction, self.names.len(), self.running.len(), false);
        let mut changed = Changed {
            was_running: self
                .running
                .iter()
                .map(|r| self.names[r.flow].clone())
                .collect(),
            ..Changed::default()
        };
        for run in self.running.drain(..split.finish).collect::<Vec<_>>() {
            let execution = self.finished(&run.id, run.started, ms(now));
            let (instance, name) = self.flow(run.flow);
            world
                .supplychain
                .upsert_execution(instance, name, execution);
            changed.finished.push(name.to_owned());
        }
        for flow in pick_idle(&mut self.rng, self.names.len(), busy, split.start) {
            let id = self.rng.uuid();
            let (instance, name) = self.flow(flow);
            if let Some(f) = world.supplychain.flow_mut(instance, name) {
                f.executions
                    .retain(|e| e.start_time.is_some_and(|s| s >= now - HISTORY));
            }
            let execution = Execution::running(&id, ms(now));
            world
                .supplychain
                .upsert_execution(instance, name, execution);
            changed.started.push(name.to_owned());
            self.running.push(Running {
                flow,
                id,
                started: ms(now),
            });
        }
        let active = (0..self.instances.len())
            .map(|k| (self.names.len() - k * FLOWS_PER_INSTANCE).min(FLOWS_PER_INSTANCE))
            .collect();
        Step {
            changed,
            instances: self.instances(),
            active,
            buried: 0,
        }
    }

    fn flow(&self, flow: usize) -> (&str, &str) {
        (
            &self.instances[flow / FLOWS_PER_INSTANCE],
            &self.names[flow],
        )
    }

    /// A finished run: mostly SUCCEEDED, one in ten FAILED.
    fn finished(&mut self, id: &str, started: f64, ended: f64) -> Execution {
        let status = if self.rng.percent(10) {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        Execution::finished(id, status, started, ended)
    }
}

/// (source type, target type) of flow `i`.
fn source(i: usize) -> (&'static str, &'static str) {
    match i % 4 {
        0 | 1 => ("S3", "DATASET"),
        2 => ("DATASET", "DATASET"),
        _ => ("DATASET", "S3"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const NOW: f64 = 1_750_000_000.0;

    fn digest(world: &World) -> BTreeSet<String> {
        let instances = world.supplychain.instances.values();
        let flows = instances.flat_map(|i| i.flows.values());
        flows
            .flat_map(|f| f.executions.iter().map(move |e| (f, e)))
            .map(|(f, e)| format!("{} {} {} {:?}", f.name, e.id, e.status, e.end_time))
            .collect()
    }

    #[test]
    fn same_seed_same_world_and_steps() {
        let run = |seed| {
            let mut world = World::default();
            let mut scale = SupplyChainScale::new(seed, 300);
            scale.populate(&mut world, NOW);
            let steps: Vec<Step> = (1..=10)
                .map(|i| scale.step(&mut world, NOW + f64::from(i) * 60.0, 0.05))
                .collect();
            (digest(&world), steps)
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7).0, run(8).0);
    }

    #[test]
    fn each_step_changes_exactly_the_fraction_and_runs_stay_on_the_first_page() {
        let mut world = World::default();
        let mut scale = SupplyChainScale::new(3, 2_500);
        scale.populate(&mut world, NOW);
        let sc = &world.supplychain;
        // Three Active instances (1,000 + 1,000 + 500 flows) and the failed one.
        assert_eq!(sc.instances.len(), 4);
        assert_eq!(
            sc.instances
                .values()
                .filter(|i| i.state == "Active")
                .count(),
            3
        );
        for i in 1..=20 {
            let now = NOW + f64::from(i) * 60.0;
            let before = digest(&world);
            let step = scale.step(&mut world, now, 0.01);
            assert_eq!(step.changed.count(), 25, "step {i}");
            let after = digest(&world);
            // Only the changed flows' lines differ (started flows also drop day-old runs).
            let changed: Vec<&String> = step
                .changed
                .started
                .iter()
                .chain(&step.changed.finished)
                .collect();
            let flow_of = |l: &String| l.split(' ').next().unwrap().to_owned();
            for line in before.symmetric_difference(&after) {
                assert!(changed.contains(&&flow_of(line)), "step {i}: {line}");
            }
            // 1 ListInstances page, 50 + 50 + 25 flow pages, one executions page per flow.
            assert_eq!(step.lower_bound(), 1 + 125 + 2_500);
            // Every flow's history fits the first page, so no run in progress is buried.
            let flows = world
                .supplychain
                .instances
                .values()
                .flat_map(|i| i.flows.values());
            for flow in flows {
                assert!(flow.executions.len() <= LIST_PAGE, "{}", flow.name);
            }
        }
    }

    #[test]
    fn tiny_and_empty_accounts_work() {
        let mut world = World::default();
        let mut scale = SupplyChainScale::new(4, 1);
        scale.populate(&mut world, NOW);
        for i in 1..=5 {
            let step = scale.step(&mut world, NOW + f64::from(i), 0.01);
            assert_eq!((step.changed.count(), step.lower_bound()), (1, 3));
        }
        let mut scale = SupplyChainScale::new(4, 0);
        let step = scale.step(&mut World::default(), NOW, 0.01);
        assert_eq!((step.changed.count(), step.lower_bound()), (0, 1));
    }
}
