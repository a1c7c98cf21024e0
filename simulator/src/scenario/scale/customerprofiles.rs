//! A deterministic Customer Profiles account at benchmark scale: `N` AppFlow integration
//! workflows spread over domains of [`WORKFLOWS_PER_DOMAIN`], all started within the last day
//! (well inside the exporter's lookback), nearly all finished. A workflow is one ingestion run,
//! so each of the `N` slots holds one: [`CustomerProfilesScale::step`] makes an exact number of
//! slots start a new workflow (replacing their finished one, as if it had aged out of the
//! lookback, so `N` stays the same), move a running one on by a step, or finish it; its [`Step`]
//! says how few AWS calls the next collection can make.
//!
//! ```
//! use aws_flow_simulator::scenario::scale::customerprofiles::CustomerProfilesScale;
//! use aws_flow_simulator::World;
//! let mut world = World::default();
//! let mut scale = CustomerProfilesScale::new(1, 2_000);
//! scale.populate(&mut world, 1_750_000_000.0);
//! let step = scale.step(&mut world, 1_750_000_060.0, 0.01);
//! assert_eq!(step.changed.count(), 20);
//! // 1 ListDomains page, 2 domains x 10 ListWorkflows pages, GetWorkflow for the 20 new ones.
//! assert_eq!(step.lower_bound(), 1 + 20 + 20);
//! ```

use super::{pages, pick_idle, Changed, Split};
use crate::customerprofiles::{workflow_id, Domain, Workflow};
use crate::scenario::{ms, Rng};
use crate::World;

/// Customer Profiles' largest ListDomains and ListWorkflows page, which the exporter asks for.
pub const LIST_PAGE: usize = 100;
/// Workflows per domain (the last may have fewer).
pub const WORKFLOWS_PER_DOMAIN: usize = 1_000;
const STEPS: i64 = 5;
const CONNECTORS: [&str; 5] = ["Salesforce", "S3", "Zendesk", "Servicenow", "Marketo"];

/// A workflow in progress: which slot, its id.
struct Running {
    slot: usize,
    id: String,
}

/// What one [`CustomerProfilesScale::step`] did, and what the next collection must at least
/// call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// By workflow id.
    pub changed: Changed,
    /// Workflows per domain.
    pub domains: Vec<usize>,
}

impl Step {
    /// The fewest Customer Profiles calls one collection after this step can make, for an
    /// exporter that remembers the previous collection: every ListDomains page, every
    /// ListWorkflows page of each domain, and one GetWorkflow for each workflow the step
    /// changed: started (new), moved on by a step or finished (its LastUpdatedAt, and for a
    /// finished one its status, changed).
    ///
    /// The listing carries a workflow's status and LastUpdatedAt but not its progress
    /// (`Metrics`: records processed, steps completed) nor its error: those are in GetWorkflow
    /// alone. A workflow changes its LastUpdatedAt whenever it changes, so a workflow whose
    /// listing is as it was when last read, running or not, has nothing new to read and needs
    /// no call.
    pub fn lower_bound(&self) -> u64 {
        let workflow_pages: usize = self.domains.iter().map(|n| pages(*n, LIST_PAGE)).sum();
        let reads = self.changed.count();
        (pages(self.domains.len(), LIST_PAGE) + workflow_pages + reads) as u64
    }
}

/// See the module docs. [`CustomerProfilesScale::populate`] once, then
/// [`CustomerProfilesScale::step`].
pub struct CustomerProfilesScale {
    rng: Rng,
    domains: Vec<String>,
    /// The workflow id each slot holds now; slot `i` is in `domains[i / WORKFLOWS_PER_DOMAIN]`.
    ids: Vec<String>,
    /// Workflows started per slot, for fresh ids.
    generation: Vec<u32>,
    /// Oldest first: `step` finishes the oldest workflows.
    running: Vec<Running>,
}

impl CustomerProfilesScale {
    pub fn new(seed: u64, workflows: usize) -> CustomerProfilesScale {
        let domains = (0..workflows.div_ceil(WORKFLOWS_PER_DOMAIN))
            .map(|d| format!("scale-domain-{d:02}"))
            .collect();
        CustomerProfilesScale {
            rng: Rng::new(seed ^ 0x0c57_0e12),
            domains,
            ids: (0..workflows).map(|i| id(i, 0)).collect(),
            generation: vec![0; workflows],
            running: Vec::new(),
        }
    }

    pub fn domain_names(&self) -> &[String] {
        &self.domains
    }

    /// Adds the domains and one finished workflow per slot, started within the last day.
    pub fn populate(&mut self, world: &mut World, now: f64) {
        for name in &self.domains {
            let created = ms(now - self.rng.between(60.0 * 86_400.0, 400.0 * 86_400.0));
            world
                .customerprofiles
                .add_domain(Domain::new(name, created));
        }
        for slot in 0..self.ids.len() {
            let started = ms(now - self.rng.between(3_600.0, 86_400.0));
            let ended = ms(started + self.rng.between(60.0, 1_800.0));
            let mut workflow = self.workflow(slot, "IN_PROGRESS", started);
            self.finish(&mut workflow, ended);
            world
                .customerprofiles
                .upsert_workflow(self.domain(slot), workflow);
        }
    }

    /// Makes exactly `fraction` of the slots (rounded, at least one) change at `now`: see
    /// [`Split`](super::Split) for how many workflows finish (the oldest), move on by a step
    /// (the next oldest) and start (in slots chosen at random among those not running).
    pub fn step(&mut self, world: &mut World, now: f64, fraction: f64) -> Step {
        let now = ms(now);
        let busy: Vec<usize> = self.running.iter().map(|r| r.slot).collect();
        let split = Split::new(fraction, self.ids.len(), self.running.len(), true);
        let mut changed = Changed {
            was_running: self.running.iter().map(|r| r.id.clone()).collect(),
            ..Changed::default()
        };
        let finishing = self.running.drain(..split.finish).map(|r| (r.slot, r.id));
        let finishing: Vec<(usize, String)> = finishing.collect();
        let moving = self.running[..split.progress].iter();
        let moving: Vec<(usize, String)> = moving.map(|r| (r.slot, r.id.clone())).collect();
        for (k, (slot, id)) in finishing.into_iter().chain(moving).enumerate() {
            let domain = self.domain(slot).to_owned();
            let Some(w) = world.customerprofiles.workflow_mut(&domain, &id) else {
                continue;
            };
            if k < split.finish {
                self.finish(w, now);
                changed.finished.push(id);
            } else {
                let mut metrics = w.metrics.unwrap_or_default();
                metrics.steps_completed = (metrics.steps_completed + 1).min(STEPS - 1);
                metrics.records_processed += 1_000 + self.rng.below(9_000) as i64;
                w.metrics = Some(metrics);
                w.set_status("IN_PROGRESS", now);
                changed.progressed.push(id);
            }
        }
        for slot in pick_idle(&mut self.rng, self.ids.len(), busy, split.start) {
            let domain = self.domain(slot).to_owned();
            world
                .customerprofiles
                .remove_workflow(&domain, &self.ids[slot]);
            self.generation[slot] += 1;
            self.ids[slot] = id(slot, self.generation[slot]);
            let status = if self.rng.percent(20) {
                "NOT_STARTED"
            } else {
                "IN_PROGRESS"
            };
            let workflow = self.workflow(slot, status, now);
            world.customerprofiles.upsert_workflow(&domain, workflow);
            changed.started.push(self.ids[slot].clone());
            self.running.push(Running {
                slot,
                id: self.ids[slot].clone(),
            });
        }
        Step {
            changed,
            domains: (0..self.domains.len())
                .map(|d| (self.ids.len() - d * WORKFLOWS_PER_DOMAIN).min(WORKFLOWS_PER_DOMAIN))
                .collect(),
        }
    }

    fn domain(&self, slot: usize) -> &str {
        &self.domains[slot / WORKFLOWS_PER_DOMAIN]
    }

    /// The workflow slot `slot` holds now, started at `started` with nothing processed yet.
    fn workflow(&self, slot: usize, status: &str, started: f64) -> Workflow {
        let connector = CONNECTORS[slot % CONNECTORS.len()];
        Workflow::new(&self.ids[slot], status, started)
            .with_source(connector, &format!("{}-profile", connector.to_lowercase()))
            .with_progress(0, 0, STEPS)
    }

    /// Ends a workflow at `at`: mostly COMPLETE with every step done, some FAILED, a few
    /// CANCELLED.
    fn finish(&mut self, w: &mut Workflow, at: f64) {
        let roll = self.rng.below(100);
        let status = match roll {
            0..=9 => "FAILED",
            10..=12 => "CANCELLED",
            _ => "COMPLETE",
        };
        let mut metrics = w.metrics.unwrap_or_default();
        if status == "COMPLETE" {
            metrics.steps_completed = metrics.total_steps;
            metrics.records_processed += 1_000 + self.rng.below(50_000) as i64;
        } else if status == "FAILED" {
            w.error_description = Some("Ingestion step timed out after 3600 seconds".to_owned());
        }
        w.metrics = Some(metrics);
        w.set_status(status, at);
    }
}

/// The id of the `generation`th workflow of slot `slot`: 32 lowercase hex digits.
fn id(slot: usize, generation: u32) -> String {
    workflow_id(&format!("scale-{slot}-{generation}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const NOW: f64 = 1_750_000_000.0;

    fn digest(world: &World) -> BTreeSet<String> {
        let domains = world.customerprofiles.domains.values();
        domains
            .flat_map(|d| d.workflows.values())
            .map(|w| {
                let m = w.metrics.unwrap_or_default();
                let progress = (m.records_processed, m.steps_completed);
                format!("{} {} {} {progress:?}", w.id, w.status, w.last_updated_at)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_world_and_steps() {
        let run = |seed| {
            let mut world = World::default();
            let mut scale = CustomerProfilesScale::new(seed, 300);
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
    fn each_step_changes_exactly_the_fraction() {
        let mut world = World::default();
        let mut scale = CustomerProfilesScale::new(3, 2_500);
        scale.populate(&mut world, NOW);
        let profiles = &world.customerprofiles;
        assert_eq!(profiles.domains.len(), 3);
        let statuses: BTreeSet<&str> = profiles
            .domains
            .values()
            .flat_map(|d| d.workflows.values().map(|w| w.status.as_str()))
            .collect();
        assert_eq!(
            statuses,
            BTreeSet::from(["CANCELLED", "COMPLETE", "FAILED"])
        );
        for i in 1..=20 {
            let now = NOW + f64::from(i) * 60.0;
            let before = digest(&world);
            let step = scale.step(&mut world, now, 0.01);
            let c = &step.changed;
            assert_eq!(c.count(), 25, "step {i}");
            assert_eq!(
                world
                    .customerprofiles
                    .domains
                    .values()
                    .map(|d| d.workflows.len())
                    .sum::<usize>(),
                2_500
            );
            // The workflows whose listing or details changed: the started ones (and the finished
            // ones they replaced), the finished and progressed ones.
            let after = digest(&world);
            let id_of = |l: &String| l.split(' ').next().unwrap().to_owned();
            let new: BTreeSet<String> = after.difference(&before).map(id_of).collect();
            let expected: BTreeSet<String> = c
                .started
                .iter()
                .chain(&c.progressed)
                .chain(&c.finished)
                .cloned()
                .collect();
            assert_eq!(new, expected, "step {i}");
            assert_eq!(before.difference(&after).count(), c.count(), "step {i}");
            // Each of them changed its listing (status, LastUpdatedAt) too, which is all an
            // exporter sees before GetWorkflow: the bound reads exactly these.
            let listing = |d: &BTreeSet<String>| -> BTreeSet<String> {
                d.iter()
                    .map(|l| l.splitn(4, ' ').take(3).collect::<Vec<_>>().join(" "))
                    .collect()
            };
            let (listed_before, listed_after) = (listing(&before), listing(&after));
            let relisted = listed_after.difference(&listed_before).map(id_of);
            assert_eq!(relisted.collect::<BTreeSet<_>>(), expected, "step {i}");
            // 1 ListDomains page, 10 + 10 + 5 ListWorkflows pages.
            assert_eq!(step.lower_bound(), (1 + 25 + c.count()) as u64);
            if i > 1 {
                // A third move on, the rest are split between finishing and starting.
                assert_eq!(
                    (c.finished.len(), c.progressed.len(), c.started.len()),
                    (8, 8, 9),
                    "step {i}"
                );
            }
        }
    }

    #[test]
    fn tiny_and_empty_accounts_work() {
        let mut world = World::default();
        let mut scale = CustomerProfilesScale::new(4, 1);
        scale.populate(&mut world, NOW);
        for i in 1..=5 {
            let step = scale.step(&mut world, NOW + f64::from(i), 0.01);
            assert_eq!(step.changed.count(), 1);
        }
        let mut scale = CustomerProfilesScale::new(4, 0);
        let step = scale.step(&mut World::default(), NOW, 0.01);
        assert_eq!((step.changed.count(), step.lower_bound()), (0, 1));
    }
}
