//! The Customer Profiles part of the demo: two domains fed by AppFlow integration workflows
//! that start on a schedule, wait (NOT_STARTED), work through their steps (IN_PROGRESS, records
//! growing), sometimes stumble and retry (RETRY), and end COMPLETE, FAILED or now and then
//! CANCELLED. About two days of history are invented at `populate`.

use super::{ms, Rng, DAY, HOUR, MINUTE};
use crate::customerprofiles::{workflow_id, Domain, Workflow};
use crate::World;

/// Finished workflows kept per domain, so a long demo stays small.
const MAX_WORKFLOWS: usize = 200;

/// One recurring ingestion into a domain.
struct Source {
    domain: &'static str,
    connector: &'static str,
    profile: &'static str,
    every: f64,
    steps: i64,
    fail_percent: u64,
    /// Typical records per step.
    scale: i64,
}

const SOURCES: [Source; 5] = [
    Source {
        domain: "retail-customers",
        connector: "Salesforce",
        profile: "salesforce-crm",
        every: 2.0 * HOUR,
        steps: 6,
        fail_percent: 10,
        scale: 20_000,
    },
    Source {
        domain: "retail-customers",
        connector: "S3",
        profile: "s3-loyalty-exports",
        every: HOUR,
        steps: 3,
        fail_percent: 5,
        scale: 4_000,
    },
    Source {
        domain: "retail-customers",
        connector: "Zendesk",
        profile: "zendesk-support",
        every: 4.0 * HOUR,
        steps: 4,
        fail_percent: 25,
        scale: 2_500,
    },
    Source {
        domain: "support-contacts",
        connector: "Servicenow",
        profile: "servicenow-itsm",
        every: 3.0 * HOUR,
        steps: 5,
        fail_percent: 15,
        scale: 6_000,
    },
    Source {
        domain: "support-contacts",
        connector: "Marketo",
        profile: "marketo-leads",
        every: 6.0 * HOUR,
        steps: 8,
        fail_percent: 30,
        scale: 12_000,
    },
];

const ERRORS: [&str; 3] = [
    "AppFlow flow run failed: the connector profile credentials have expired",
    "Object mapping failed: required key attribute missing in 214 records",
    "Ingestion step timed out after 3600 seconds",
];

/// A workflow the demo is driving.
struct Running {
    domain: &'static str,
    id: String,
    source: usize,
    /// When it next changes.
    next_at: f64,
    /// The step at which it fails, if it is going to.
    fails_at: Option<i64>,
    retried: bool,
}

/// See the module docs.
pub(crate) struct Demo {
    rng: Rng,
    running: Vec<Running>,
    /// Next scheduled start per source.
    next_start: Vec<f64>,
    count: u64,
}

impl Demo {
    pub(crate) fn new(seed: u64) -> Demo {
        Demo {
            rng: Rng::new(seed ^ 0x0c57_0e12_9f0f_11e5),
            running: Vec::new(),
            next_start: Vec::new(),
            count: 0,
        }
    }

    /// Creates the domains with their history up to `now` and one workflow running per domain.
    pub(crate) fn populate(&mut self, world: &mut World, now: f64) {
        for source in &SOURCES {
            if !world.customerprofiles.domains.contains_key(source.domain) {
                let created = ms(now - self.rng.between(60.0 * DAY, 200.0 * DAY));
                world
                    .customerprofiles
                    .add_domain(Domain::new(source.domain, created));
            }
        }
        for (index, source) in SOURCES.iter().enumerate() {
            let mut at = now - 2.0 * DAY + self.rng.between(0.0, source.every);
            while at + source.every < now {
                let workflow = self.finished(index, at);
                world
                    .customerprofiles
                    .upsert_workflow(source.domain, workflow);
                at += source.every;
            }
            self.next_start.push(at);
        }
        // Something visibly in flight from the start.
        self.start(world, 0, now - 10.0 * MINUTE);
        self.start(world, 3, now - 5.0 * MINUTE);
    }

    /// Advances every running workflow and starts the scheduled ones.
    pub(crate) fn step(&mut self, world: &mut World, now: f64) {
        let profiles = &mut world.customerprofiles;
        // Workflows or domains a test removed are no longer ours to drive.
        self.running
            .retain(|r| profiles.workflow_mut(r.domain, &r.id).is_some());
        let mut running = std::mem::take(&mut self.running);
        for r in &mut running {
            while now >= r.next_at && self.advance(world, r) {}
        }
        running.retain(|r| r.next_at.is_finite());
        self.running = running;
        for (index, source) in SOURCES.iter().enumerate() {
            if now >= self.next_start[index] {
                self.start(world, index, now);
                self.next_start[index] = now + source.every;
            }
        }
        for domain in world.customerprofiles.domains.values_mut() {
            trim(domain);
        }
    }

    fn start(&mut self, world: &mut World, index: usize, at: f64) {
        let source = &SOURCES[index];
        if !world.customerprofiles.domains.contains_key(source.domain) {
            return;
        }
        self.count += 1;
        let id = workflow_id(&format!("demo-{}-{}", self.count, self.rng.next()));
        let at = ms(at);
        let workflow = Workflow::new(&id, "NOT_STARTED", at)
            .with_source(source.connector, source.profile)
            .with_progress(0, 0, source.steps);
        world
            .customerprofiles
            .upsert_workflow(source.domain, workflow);
        let fails_at = self
            .rng
            .percent(source.fail_percent)
            .then(|| 1 + self.rng.below(source.steps as u64) as i64);
        self.running.push(Running {
            domain: source.domain,
            id,
            source: index,
            next_at: at + self.rng.between(30.0, 2.0 * MINUTE),
            fails_at,
            retried: false,
        });
    }

    /// Makes the next change of `r` at `r.next_at`; false once it has ended.
    fn advance(&mut self, world: &mut World, r: &mut Running) -> bool {
        let source = &SOURCES[r.source];
        let at = ms(r.next_at);
        let rng = &mut self.rng;
        let Some(w) = world.customerprofiles.workflow_mut(r.domain, &r.id) else {
            r.next_at = f64::INFINITY;
            return false;
        };
        let mut metrics = w.metrics.unwrap_or_default();
        let step = metrics.steps_completed + 1;
        match w.status.as_str() {
            "IN_PROGRESS" if r.fails_at == Some(step) && !r.retried && rng.percent(50) => {
                w.set_status("RETRY", at);
                r.retried = true;
            }
            "IN_PROGRESS" if r.fails_at == Some(step) => {
                w.set_status("FAILED", at);
                w.error_description = Some(rng.pick(&ERRORS).to_owned());
                r.next_at = f64::INFINITY;
                return false;
            }
            "IN_PROGRESS" => {
                metrics.steps_completed = step;
                metrics.records_processed +=
                    source.scale / 2 + rng.below(source.scale as u64) as i64;
                w.metrics = Some(metrics);
                w.last_updated_at = at;
                if step >= metrics.total_steps {
                    let status = if rng.percent(3) {
                        "CANCELLED"
                    } else {
                        "COMPLETE"
                    };
                    w.set_status(status, at);
                    r.next_at = f64::INFINITY;
                    return false;
                }
            }
            // NOT_STARTED and RETRY both resume work.
            _ => w.set_status("IN_PROGRESS", at),
        }
        r.next_at = at + rng.between(MINUTE, 6.0 * MINUTE);
        true
    }

    /// A workflow of source `index` that started at `at` and has already ended.
    fn finished(&mut self, index: usize, at: f64) -> Workflow {
        let source = &SOURCES[index];
        self.count += 1;
        let rng = &mut self.rng;
        let id = workflow_id(&format!("demo-{}-{}", self.count, rng.next()));
        let roll = rng.below(100);
        let (status, steps) = if roll < source.fail_percent {
            ("FAILED", rng.below(source.steps as u64) as i64)
        } else if roll == 99 {
            ("CANCELLED", rng.below(source.steps as u64) as i64)
        } else {
            ("COMPLETE", source.steps)
        };
        let records = (0..steps)
            .map(|_| source.scale / 2 + rng.below(source.scale as u64) as i64)
            .sum();
        let ended = ms(at + rng.between(5.0 * MINUTE, 40.0 * MINUTE));
        let mut w = Workflow::new(&id, status, ms(at))
            .with_source(source.connector, source.profile)
            .with_progress(records, steps, source.steps);
        w.last_updated_at = ended;
        if status == "FAILED" {
            w.error_description = Some(rng.pick(&ERRORS).to_owned());
        }
        w
    }
}

/// Drops the oldest workflows beyond [`MAX_WORKFLOWS`], never a running one.
fn trim(domain: &mut Domain) {
    if domain.workflows.len() <= MAX_WORKFLOWS {
        return;
    }
    let mut ended: Vec<(f64, String)> = domain
        .workflows
        .values()
        .filter(|w| matches!(w.status.as_str(), "COMPLETE" | "FAILED" | "CANCELLED"))
        .map(|w| (w.created_at, w.id.clone()))
        .collect();
    ended.sort_by(|a, b| a.0.total_cmp(&b.0));
    let excess = domain.workflows.len() - MAX_WORKFLOWS;
    for (_, id) in ended.into_iter().take(excess) {
        domain.workflows.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_750_000_000.0;

    fn statuses(world: &World) -> Vec<String> {
        let domains = world.customerprofiles.domains.values();
        domains
            .flat_map(|d| d.workflows.values().map(|w| w.status.clone()))
            .collect()
    }

    #[test]
    fn populate_and_steps_cover_every_status_path() {
        let mut world = World::default();
        let mut demo = Demo::new(11);
        demo.populate(&mut world, NOW);
        let domains = &world.customerprofiles.domains;
        assert_eq!(
            domains.keys().collect::<Vec<_>>(),
            ["retail-customers", "support-contacts"]
        );
        let initial = statuses(&world);
        assert!(initial.iter().any(|s| s == "COMPLETE"));
        assert!(initial.iter().any(|s| s == "FAILED"));
        assert!(initial.iter().any(|s| s == "NOT_STARTED"));
        let mut seen = std::collections::BTreeSet::new();
        for i in 1..=2000 {
            demo.step(&mut world, NOW + f64::from(i) * 30.0);
            seen.extend(statuses(&world));
        }
        for status in ["NOT_STARTED", "IN_PROGRESS", "RETRY", "COMPLETE", "FAILED"] {
            assert!(seen.contains(status), "{status} never seen: {seen:?}");
        }
        let progressed = world.customerprofiles.domains.values().any(|d| {
            d.workflows.values().any(|w| {
                w.status == "IN_PROGRESS" && w.metrics.is_some_and(|m| m.steps_completed > 0)
            })
        });
        assert!(progressed || seen.contains("IN_PROGRESS"));
        for domain in world.customerprofiles.domains.values() {
            assert!(domain.workflows.len() <= MAX_WORKFLOWS + SOURCES.len());
        }
    }

    #[test]
    fn step_tolerates_removed_domains() {
        let mut world = World::default();
        let mut demo = Demo::new(2);
        demo.populate(&mut world, NOW);
        world.customerprofiles.remove_domain("retail-customers");
        for i in 1..=200 {
            demo.step(&mut world, NOW + f64::from(i) * 60.0);
        }
        assert!(!world
            .customerprofiles
            .domains
            .contains_key("retail-customers"));
    }
}
