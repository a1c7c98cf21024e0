//! A deterministic AppFlow account at benchmark scale: `N` active flows with varied connectors
//! (one in ten reads SAP OData), each with 24 hours of history (a run every two hours), and a
//! [`Scale::step`] that makes an exact number of flows start or finish a run and says which, so a
//! benchmark can compute the fewest AWS calls an exporter needs to notice the changes.
//!
//! ```
//! use aws_flow_simulator::scenario::scale::Scale;
//! use aws_flow_simulator::World;
//! let mut world = World::default();
//! let mut scale = Scale::new(1, 1_000);
//! scale.populate(&mut world, 1_750_000_000.0);
//! let step = scale.step(&mut world, 1_750_000_060.0, 0.01);
//! assert_eq!(step.changed(), 10);
//! ```

use crate::appflow::{CatalogDetail, Execution, Flow, Schedule};
use crate::scenario::{ms, Rng};
use crate::World;

// The same kind of account for the other services, for the same benchmark.
pub mod customerprofiles;
pub mod supplychain;
pub mod transfer;

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
/// History kept per flow, and the schedule that fills it.
pub const HISTORY: f64 = DAY;
pub const EVERY: f64 = 2.0 * HOUR;
/// AppFlow's largest ListFlows page, which the exporter asks for.
pub const LIST_PAGE: usize = 100;

/// (source, source label, destination); every tenth flow is SAP OData (see [`Scale::populate`]).
const CONNECTORS: [(&str, Option<&str>, &str); 9] = [
    ("Salesforce", None, "S3"),
    ("Salesforce", None, "Redshift"),
    ("Zendesk", None, "S3"),
    ("CustomConnector", Some("AcmeOrdersConnector"), "S3"),
    ("S3", None, "Snowflake"),
    ("Marketo", None, "S3"),
    ("Slack", None, "EventBridge"),
    ("Servicenow", None, "S3"),
    ("S3", None, "Salesforce"),
];

/// A run in progress: which flow, its id and start.
struct Running {
    flow: usize,
    id: String,
    started: f64,
}

/// What one [`Scale::step`] did. `started` and `was_running` are disjoint; `finished` is a
/// subset of `was_running`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// Flows that started a run.
    pub started: Vec<String>,
    /// Flows whose run finished.
    pub finished: Vec<String>,
    /// Flows that had a run in progress before the step (the exporter last saw them running).
    pub was_running: Vec<String>,
}

impl Step {
    /// Flows whose newest run (`lastRunExecutionDetails`) changed.
    pub fn changed(&self) -> usize {
        self.started.len() + self.finished.len()
    }

    /// The fewest AppFlow calls one collection after this step can make, for an exporter that
    /// remembers the previous collection: every ListFlows page, plus one
    /// DescribeFlowExecutionRecords page for each flow whose last run changed or that had a run
    /// in progress (histories are shorter than a page). DescribeFlow is not needed: no flow
    /// definition changes.
    pub fn lower_bound(&self, flows: usize) -> u64 {
        (list_pages(flows) + self.started.len() + self.was_running.len()) as u64
    }
}

/// ListFlows pages for `flows` flows (one, even when there are none).
pub fn list_pages(flows: usize) -> usize {
    pages(flows, LIST_PAGE)
}

/// Pages a listing of `items` takes at `page` a page: one, even when there are none.
pub fn pages(items: usize, page: usize) -> usize {
    items.div_ceil(page).max(1)
}

/// What one step of the other services' scale scenarios changed, by resource name.
/// `started`, `progressed` and `finished` are disjoint; the last two are subsets of
/// `was_running`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changed {
    /// Resources that started a run.
    pub started: Vec<String>,
    /// Resources whose run in progress moved on and is still in progress.
    pub progressed: Vec<String>,
    /// Resources whose run finished.
    pub finished: Vec<String>,
    /// Resources that had a run in progress before the step (the exporter last saw them so).
    pub was_running: Vec<String>,
}

impl Changed {
    /// Resources the step changed.
    pub fn count(&self) -> usize {
        self.started.len() + self.progressed.len() + self.finished.len()
    }
}

/// How a step splits its changes among runs to finish, runs to move on and runs to start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Split {
    pub finish: usize,
    pub progress: usize,
    pub start: usize,
}

impl Split {
    /// `fraction` of `total` resources (rounded, at least one; none of none), of which `running`
    /// have a run in progress. Without `progress`, about half finish the oldest runs and the rest
    /// start; with it, a third move on instead. As many finish as are needed for the starts to
    /// fit on idle resources.
    pub(crate) fn new(fraction: f64, total: usize, running: usize, progress: bool) -> Split {
        if total == 0 {
            return Split {
                finish: 0,
                progress: 0,
                start: 0,
            };
        }
        let wanted = ((fraction * total as f64).round() as usize).clamp(1, total);
        let idle = total - running;
        let moving = if progress { wanted / 3 } else { 0 };
        let finish = ((wanted - moving) / 2)
            .max(wanted.saturating_sub(moving + idle))
            .min(running);
        let progress = moving.min(running - finish);
        Split {
            finish,
            progress,
            start: wanted - finish - progress,
        }
    }
}

/// `count` (at most as many as there are) of the resources `0..total` not `busy`, chosen at
/// random with a partial Fisher-Yates shuffle. A step passes the resources that were running
/// before it, so none finishes and starts again in the same step.
pub(crate) fn pick_idle(
    rng: &mut Rng,
    total: usize,
    busy: impl IntoIterator<Item = usize>,
    count: usize,
) -> Vec<usize> {
    let mut idle = vec![true; total];
    for i in busy {
        idle[i] = false;
    }
    let mut idle: Vec<usize> = (0..total).filter(|i| idle[*i]).collect();
    let count = count.min(idle.len());
    for k in 0..count {
        let pick = k + rng.below((idle.len() - k) as u64) as usize;
        idle.swap(k, pick);
    }
    idle.truncate(count);
    idle
}

/// See the module docs. [`Scale::populate`] once, then [`Scale::step`].
pub struct Scale {
    rng: Rng,
    names: Vec<String>,
    /// Oldest first: `step` finishes the oldest runs.
    running: Vec<Running>,
}

impl Scale {
    pub fn new(seed: u64, flows: usize) -> Scale {
        let names = (0..flows)
            .map(|i| {
                let (source, _, destination) = connectors(i);
                format!(
                    "scale-{i:05}-{}-to-{}",
                    source.to_lowercase(),
                    destination.to_lowercase()
                )
            })
            .collect();
        Scale {
            rng: Rng::new(seed),
            names,
            running: Vec::new(),
        }
    }

    pub fn flow_names(&self) -> &[String] {
        &self.names
    }

    /// Flows with a run in progress, oldest run first.
    pub fn running(&self) -> Vec<String> {
        self.running
            .iter()
            .map(|r| self.names[r.flow].clone())
            .collect()
    }

    /// SAP OData flows: DescribeFlow is read once for each.
    pub fn sapodata_flows(&self) -> usize {
        (0..self.names.len()).filter(|i| is_sap(*i)).count()
    }

    /// Adds the flows, each with the finished runs of the last 24 hours up to `now`.
    pub fn populate(&mut self, world: &mut World, now: f64) {
        for i in 0..self.names.len() {
            let created = ms(now - self.rng.between(30.0 * DAY, 400.0 * DAY));
            let mut flow = Flow::new(&self.names[i], created);
            let (source, label, destination) = connectors(i);
            flow.source_connector_type = source.to_owned();
            flow.source_connector_label = label.map(str::to_owned);
            flow.destination_connector_type = destination.to_owned();
            flow = flow.with_schedule(Schedule::new("rate(2hours)"));
            flow.last_updated_at = ms(created + self.rng.between(0.0, 20.0 * DAY));
            if is_sap(i) {
                let parallelism = i.is_multiple_of(20).then_some(10);
                flow = flow.with_sapodata(parallelism, Some(3000));
            }
            // Each flow has its own slot within the two-hour schedule.
            let offset = self.rng.between(0.0, EVERY);
            let mut start = now - HISTORY + offset;
            while start < now {
                let id = self.rng.uuid();
                let started = ms(start + self.rng.between(0.0, 20.0));
                let ended = ms(started + self.rng.between(30.0, 10.0 * MINUTE));
                if ended < now {
                    flow.executions.push(self.finished(i, &id, started, ended));
                }
                start += EVERY;
            }
            world.appflow.add_flow(flow);
        }
    }

    /// Makes exactly `fraction` of the flows (rounded, at least one) start or finish a run at
    /// `now`: up to half of them finish the oldest runs in progress, the others start a run on
    /// flows chosen at random among those not running. Runs older than 24 hours are dropped from
    /// the flows that start one, so histories stay 24 hours long.
    pub fn step(&mut self, world: &mut World, now: f64, fraction: f64) -> Step {
        let total = self.names.len();
        let wanted = ((fraction * total as f64).round() as usize).clamp(1, total.max(1));
        if total == 0 {
            return Step::default();
        }
        let idle = total - self.running.len();
        // Finish at least enough that the rest can start on idle flows.
        let finishing = (wanted / 2)
            .max(wanted.saturating_sub(idle))
            .min(self.running.len());
        let starting = wanted - finishing;
        let mut step = Step {
            was_running: self.running(),
            ..Step::default()
        };
        let mut idle: Vec<usize> = {
            let mut busy = vec![false; total];
            for r in &self.running {
                busy[r.flow] = true;
            }
            (0..total).filter(|i| !busy[*i]).collect()
        };
        for run in self.running.drain(..finishing).collect::<Vec<_>>() {
            let execution = self.finished(run.flow, &run.id, run.started, ms(now));
            world
                .appflow
                .upsert_execution(&self.names[run.flow], execution);
            step.finished.push(self.names[run.flow].clone());
        }
        // A partial Fisher-Yates shuffle picks the flows that start.
        for k in 0..starting {
            let pick = k + self.rng.below((idle.len() - k) as u64) as usize;
            idle.swap(k, pick);
            let flow = idle[k];
            let id = self.rng.uuid();
            let name = &self.names[flow];
            if let Some(f) = world.appflow.flow_mut(name) {
                f.executions
                    .retain(|e| e.started_at.is_some_and(|s| s >= now - HISTORY));
            }
            world
                .appflow
                .upsert_execution(name, Execution::new(&id, "InProgress", ms(now)));
            step.started.push(name.clone());
            self.running.push(Running {
                flow,
                id,
                started: ms(now),
            });
        }
        step
    }

    /// A finished run: mostly Successful, some Error, a few Canceled; Glue registrations on a
    /// third of the flows; SAP OData runs report their parallelism and page size.
    fn finished(&mut self, flow: usize, id: &str, started: f64, ended: f64) -> Execution {
        let roll = self.rng.below(100);
        let status = match roll {
            0..=7 => "Error",
            8..=9 => "Canceled",
            _ => "Successful",
        };
        let mut e = Execution::finished(id, status, started, ended);
        if is_sap(flow) {
            e.num_parallel_processes = Some(if flow.is_multiple_of(20) { 10 } else { 1 });
            e.max_page_size = Some(3000);
        }
        if flow.is_multiple_of(3) && status == "Successful" {
            e.catalog.push(CatalogDetail {
                table_name: format!("table_{flow}"),
                table_status: Some("Successful".to_owned()),
                partition_status: Some(if roll == 99 { "Error" } else { "Successful" }.to_owned()),
            });
        }
        e
    }
}

fn is_sap(flow: usize) -> bool {
    flow % 10 == 9
}

fn connectors(flow: usize) -> (&'static str, Option<&'static str>, &'static str) {
    if is_sap(flow) {
        ("SAPOData", None, "S3")
    } else {
        CONNECTORS[flow % CONNECTORS.len()]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const NOW: f64 = 1_750_000_000.0;

    fn populated(seed: u64, flows: usize) -> (World, Scale) {
        let mut world = World::default();
        let mut scale = Scale::new(seed, flows);
        scale.populate(&mut world, NOW);
        (world, scale)
    }

    fn digest(world: &World) -> Vec<String> {
        let mut out = Vec::new();
        for flow in world.appflow.flows.values() {
            out.push(format!("{} {}", flow.name, flow.source_connector_type));
            for e in &flow.executions {
                out.push(format!("  {} {} {:?}", e.id, e.status, e.last_updated_at));
            }
        }
        out
    }

    #[test]
    fn populate_gives_each_flow_a_day_of_finished_runs() {
        let (world, scale) = populated(1, 1_000);
        let flows = &world.appflow.flows;
        assert_eq!(flows.len(), 1_000);
        assert_eq!(scale.sapodata_flows(), 100);
        let connectors: BTreeSet<&str> = flows
            .values()
            .map(|f| f.source_connector_type.as_str())
            .collect();
        assert!(connectors.len() >= 7, "{connectors:?}");
        assert!(flows.values().any(|f| f.sapodata.is_some()));
        for flow in flows.values() {
            assert!((11..=12).contains(&flow.executions.len()), "{}", flow.name);
            for e in &flow.executions {
                assert!(e.started_at.unwrap() >= NOW - HISTORY);
                assert!(e.last_updated_at.unwrap() < NOW);
                assert_ne!(e.status, "InProgress");
            }
        }
        let all: Vec<&Execution> = flows.values().flat_map(|f| &f.executions).collect();
        for status in ["Successful", "Error", "Canceled"] {
            assert!(all.iter().any(|e| e.status == status), "{status}");
        }
        assert!(all.iter().any(|e| !e.catalog.is_empty()));
        assert!(scale.running().is_empty());
    }

    #[test]
    fn same_seed_same_world_and_steps() {
        let run = |seed| {
            let (mut world, mut scale) = populated(seed, 300);
            let steps: Vec<Step> = (1..=5)
                .map(|i| scale.step(&mut world, NOW + f64::from(i) * 60.0, 0.01))
                .collect();
            (digest(&world), steps)
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7).0, run(8).0);
    }

    #[test]
    fn each_step_changes_exactly_the_fraction() {
        let (mut world, mut scale) = populated(3, 1_000);
        let mut before = digest(&world);
        for i in 1..=20 {
            let now = NOW + f64::from(i) * 60.0;
            let step = scale.step(&mut world, now, 0.01);
            assert_eq!(step.changed(), 10, "step {i}");
            let started: BTreeSet<&String> = step.started.iter().collect();
            let was: BTreeSet<&String> = step.was_running.iter().collect();
            assert!(started.is_disjoint(&was));
            assert!(step.finished.iter().all(|f| was.contains(f)));
            // Exactly those flows differ, and their newest run is the change.
            let after = digest(&world);
            let changed: BTreeSet<&str> = world
                .appflow
                .flows
                .values()
                .filter(|f| {
                    let line = format!("{} {}", f.name, f.source_connector_type);
                    let slice = |d: &[String]| -> Vec<String> {
                        d.iter()
                            .skip_while(|l| **l != line)
                            .skip(1)
                            .take_while(|l| l.starts_with("  "))
                            .cloned()
                            .collect()
                    };
                    slice(&before) != slice(&after)
                })
                .map(|f| f.name.as_str())
                .collect();
            let expected: BTreeSet<&str> = step
                .started
                .iter()
                .chain(&step.finished)
                .map(String::as_str)
                .collect();
            assert_eq!(changed, expected, "step {i}");
            for name in &step.started {
                let newest = world.appflow.flows[name].newest_execution().unwrap();
                assert_eq!(newest.status, "InProgress");
                assert_eq!(newest.started_at, Some(ms(now)));
            }
            for name in &step.finished {
                let newest = world.appflow.flows[name].newest_execution().unwrap();
                assert_ne!(newest.status, "InProgress");
                assert_eq!(newest.last_updated_at, Some(ms(now)));
            }
            // Steady state: as many runs in progress as start each step.
            assert!(scale.running().len() <= 10);
            if i > 1 {
                // 10 ListFlows pages, 5 started, 10 were running (5 of which finished).
                assert_eq!((step.started.len(), step.was_running.len()), (5, 10));
                assert_eq!(step.lower_bound(1_000), 25);
            }
            before = after;
        }
    }

    #[test]
    fn lower_bound_counts_pages_changes_and_runs_in_progress() {
        let step = Step {
            started: vec!["a".into(), "b".into()],
            finished: vec!["c".into()],
            was_running: vec!["c".into(), "d".into()],
        };
        assert_eq!(step.changed(), 3);
        // 101 flows: two ListFlows pages; a, b (started), c, d (were running).
        assert_eq!(step.lower_bound(101), 2 + 4);
        assert_eq!(list_pages(0), 1);
        assert_eq!(list_pages(100), 1);
    }

    #[test]
    fn split_changes_exactly_the_fraction_and_starts_only_on_idle_resources() {
        let split = |running, progress| {
            let s = Split::new(0.01, 1_000, running, progress);
            (s.finish, s.progress, s.start)
        };
        assert_eq!(split(0, false), (0, 0, 10));
        assert_eq!(split(10, false), (5, 0, 5));
        assert_eq!(split(0, true), (0, 0, 10));
        assert_eq!(split(10, true), (3, 3, 4));
        assert_eq!(split(2, true), (2, 0, 8));
        // Every resource busy: the starts need as many finishes.
        let s = Split::new(0.5, 4, 4, true);
        assert_eq!((s.finish, s.progress, s.start), (2, 0, 0));
        let s = Split::new(0.5, 4, 3, false);
        assert_eq!((s.finish, s.progress, s.start), (1, 0, 1));
        let s = Split::new(0.01, 0, 0, true);
        assert_eq!(s.finish + s.progress + s.start, 0);
    }

    #[test]
    fn pick_idle_picks_distinct_idle_resources() {
        let mut rng = Rng::new(1);
        let busy = [0, 3];
        let mut picked = pick_idle(&mut rng, 5, busy, 2);
        assert_eq!(picked.len(), 2);
        assert!(picked.iter().all(|i| !busy.contains(i)));
        picked.dedup();
        assert_eq!(picked.len(), 2);
        let mut all = pick_idle(&mut rng, 5, busy, 9);
        all.sort_unstable();
        assert_eq!(all, vec![1, 2, 4]);
    }

    #[test]
    fn history_stays_a_day_long_and_tiny_worlds_work() {
        let (mut world, mut scale) = populated(4, 2);
        for i in 1..=200 {
            let now = NOW + f64::from(i) * 1_000.0;
            let step = scale.step(&mut world, now, 0.5);
            assert_eq!(step.changed(), 1);
            for flow in world.appflow.flows.values() {
                let oldest = flow.executions.iter().filter_map(|e| e.started_at);
                assert!(oldest.fold(f64::MAX, f64::min) >= now - HISTORY - 3.0 * HOUR);
            }
        }
        let (mut world, mut scale) = populated(4, 0);
        assert_eq!(scale.step(&mut world, NOW, 0.01), Step::default());
    }
}
