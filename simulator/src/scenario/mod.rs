//! A deterministic, evolving demo world: a dozen AppFlow flows with varied connectors, scheduled
//! runs that start, succeed or fail and finish later, Glue registrations, stopped flows and
//! short-lived ad-hoc flows; Customer Profiles domains whose workflows progress step by step
//! (`customerprofiles.rs`). The same seed and the same sequence of `now`s give the same world.

mod customerprofiles;

pub mod scale;

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::appflow::{CatalogDetail, Execution, Flow, SapOData, Schedule};
use crate::{epoch_now, Simulator, World};

pub mod supplychain;
mod transfer;

const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
/// How far back `populate` invents history, and at most how many runs per flow.
const HISTORY: f64 = 2.0 * DAY;
const MAX_HISTORY_RUNS: f64 = 150.0;
/// Older runs are forgotten beyond this many per flow, so a long demo stays small.
const MAX_RUNS: usize = 300;

/// xorshift64*: tiny, seeded, good enough for demo data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // splitmix64 scrambles small seeds; the `| 1` keeps the state non-zero.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// Uniform in `lo..hi`, rounded to milliseconds like AWS timestamps.
    pub(crate) fn between(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ms(lo + (hi - lo) * unit)
    }

    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A UUID-shaped execution id.
    pub(crate) fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

pub(crate) fn ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// The static description of one demo flow.
struct Profile {
    name: &'static str,
    description: Option<&'static str>,
    source: &'static str,
    source_label: Option<&'static str>,
    destination: &'static str,
    trigger: &'static str,
    status: &'static str,
    /// Seconds between scheduled runs; `None` runs on demand every few hours.
    every: Option<f64>,
    fail_percent: u64,
    glue: bool,
    sap: Option<(Option<i32>, Option<i32>)>,
    /// Typical records per run.
    scale: i64,
    /// Make sure a run is in progress right after `populate`.
    in_flight: bool,
    /// Scheduled flows: the expression, matching `every` and `offset`.
    expression: Option<&'static str>,
    /// Seconds after each `every` slot that a run starts (`scheduleOffset`).
    offset: f64,
    /// `flowErrorDeactivationThreshold`.
    threshold: Option<i32>,
    /// Active, but its runs stopped a few hours ago (a broken connection): its run is missed.
    stalls: bool,
}

const fn profile(name: &'static str, source: &'static str, destination: &'static str) -> Profile {
    Profile {
        name,
        description: None,
        source,
        source_label: None,
        destination,
        trigger: "Scheduled",
        status: "Active",
        every: Some(HOUR),
        fail_percent: 5,
        glue: false,
        sap: None,
        scale: 10_000,
        in_flight: false,
        expression: Some("rate(1hours)"),
        offset: 0.0,
        threshold: None,
        stalls: false,
    }
}

const PROFILES: [Profile; 13] = [
    Profile {
        description: Some("Hourly export of Salesforce accounts to the data lake"),
        glue: true,
        scale: 20_000,
        ..profile("salesforce-accounts-to-s3", "Salesforce", "S3")
    },
    Profile {
        every: Some(6.0 * HOUR),
        fail_percent: 10,
        scale: 80_000,
        expression: Some("cron(0 0/6 * * ? *)"),
        threshold: Some(5),
        ..profile(
            "salesforce-opportunities-to-redshift",
            "Salesforce",
            "Redshift",
        )
    },
    Profile {
        description: Some("SAP sales orders, 10 parallel OData readers"),
        every: Some(30.0 * MINUTE),
        fail_percent: 8,
        glue: true,
        sap: Some((Some(10), Some(3000))),
        scale: 150_000,
        expression: Some("rate(30minutes)"),
        in_flight: true,
        ..profile("sap-sales-orders-to-s3", "SAPOData", "S3")
    },
    Profile {
        description: Some("SAP material master with default OData settings"),
        every: Some(2.0 * HOUR),
        sap: Some((None, None)),
        expression: Some("cron(0 0/2 ? * * *)"),
        offset: 300.0,
        scale: 40_000,
        ..profile("sap-material-master-to-s3", "SAPOData", "S3")
    },
    Profile {
        description: Some("Curates files as they land"),
        trigger: "Event",
        expression: None,
        every: Some(2.0 * MINUTE),
        fail_percent: 3,
        glue: true,
        scale: 2_000,
        ..profile("s3-landing-to-s3-curated", "S3", "S3")
    },
    Profile {
        fail_percent: 30,
        glue: true,
        scale: 5_000,
        expression: Some("rate(1 hour)"),
        threshold: Some(3),
        ..profile("zendesk-tickets-to-s3", "Zendesk", "S3")
    },
    Profile {
        description: Some("Orders from the Acme REST API via a custom connector"),
        source_label: Some("AcmeOrdersConnector"),
        every: Some(15.0 * MINUTE),
        fail_percent: 10,
        scale: 8_000,
        expression: Some("rate(15minutes)"),
        in_flight: true,
        ..profile("custom-orders-api-to-s3", "CustomConnector", "S3")
    },
    Profile {
        trigger: "OnDemand",
        expression: None,
        every: None,
        fail_percent: 15,
        scale: 3_000,
        ..profile("s3-exports-to-salesforce", "S3", "Salesforce")
    },
    Profile {
        status: "Errored",
        every: Some(4.0 * HOUR),
        expression: Some("cron(0 0/4 * * ? *)"),
        fail_percent: 20,
        ..profile("marketo-leads-to-snowflake", "Marketo", "Snowflake")
    },
    Profile {
        description: Some("Suspended after repeated failures"),
        status: "Suspended",
        fail_percent: 20,
        threshold: Some(3),
        ..profile("servicenow-incidents-to-s3", "Servicenow", "S3")
    },
    Profile {
        every: Some(5.0 * MINUTE),
        scale: 500,
        expression: Some("rate(5minutes)"),
        ..profile("slack-messages-to-eventbridge", "Slack", "EventBridge")
    },
    Profile {
        description: Some("Not activated yet"),
        source_label: Some("HubSpotConnector"),
        trigger: "OnDemand",
        status: "Draft",
        every: None,
        expression: None,
        ..profile("hubspot-contacts-draft", "CustomConnector", "S3")
    },
    Profile {
        description: Some("Hourly; its connection broke and no run has started since"),
        expression: Some("cron(0 * * * ? *)"),
        threshold: Some(10),
        stalls: true,
        ..profile("pardot-prospects-to-redshift", "Pardot", "Redshift")
    },
];

const PUT_FAILURES: [&str; 3] = [
    "records failed to be written to the destination: Access Denied (Service: Amazon S3; Status Code: 403)",
    "records were rejected by the destination: invalid value for field",
    "records failed to be written to the destination: request rate exceeded",
];
const SOURCE_FAILURES: [&str; 3] = [
    "Source connector error: API request limit exceeded",
    "Connection to the source timed out after 300 seconds",
    "The connector profile credentials have expired",
];

/// A run in progress and when it will finish.
struct Run {
    id: String,
    started: f64,
    ends: f64,
}

impl Run {
    /// A run starting at `started` that takes a plausible time for a flow running every `every`.
    fn new(rng: &mut Rng, started: f64, every: f64) -> Run {
        let started = ms(started);
        Run {
            id: rng.uuid(),
            started,
            ends: ms(started + run_length(rng, every)),
        }
    }
}

/// What the scenario keeps per flow it drives.
struct Plan {
    flow: String,
    every: Option<f64>,
    /// Runs start this long after each `every` slot.
    offset: f64,
    /// Stopped flows (Errored, Suspended, Draft) keep their history but start no runs.
    runs: bool,
    next_run: f64,
    running: Option<Run>,
    fail_percent: u64,
    glue: bool,
    sap: Option<SapOData>,
    scale: i64,
    delete_at: Option<f64>,
}

/// See the module docs. Call [`Scenario::populate`] once, then [`Scenario::step`] as time passes.
pub struct Scenario {
    rng: Rng,
    plans: Vec<Plan>,
    next_adhoc_at: Option<f64>,
    adhoc_count: u32,
    transfer: transfer::Demo,
    supplychain: supplychain::Demo,
    customerprofiles: customerprofiles::Demo,
}

impl Scenario {
    pub fn new(seed: u64) -> Scenario {
        Scenario {
            rng: Rng::new(seed),
            plans: Vec::new(),
            next_adhoc_at: None,
            adhoc_count: 0,
            transfer: transfer::Demo::new(seed),
            supplychain: supplychain::Demo::new(seed),
            customerprofiles: customerprofiles::Demo::new(seed),
        }
    }

    /// Adds the demo flows with about two days of history up to `now`.
    pub fn populate(&mut self, world: &mut World, now: f64) {
        for profile in &PROFILES {
            let plan = self.create(world, profile, now);
            self.backfill(world, profile, plan, now);
        }
        self.next_adhoc_at = Some(now + self.rng.between(5.0 * MINUTE, 15.0 * MINUTE));
        self.transfer.populate(world, now);
        self.supplychain.populate(world, now);
        self.customerprofiles.populate(world, now);
    }

    /// Advances to `now`: finishes due runs, starts scheduled ones, adds and deletes ad-hoc flows.
    pub fn step(&mut self, world: &mut World, now: f64) {
        // Flows a test removed are no longer ours to drive.
        self.plans
            .retain(|p| world.appflow.flows.contains_key(&p.flow));
        let rng = &mut self.rng;
        for plan in &mut self.plans {
            if plan.running.as_ref().is_some_and(|r| now >= r.ends) {
                let run = plan.running.take().expect("checked above");
                let execution = finish(rng, plan, &run, run.ends.min(now), false);
                world.appflow.upsert_execution(&plan.flow, execution);
            }
            if plan.runs && plan.running.is_none() && now >= plan.next_run {
                let run = Run::new(rng, now, plan.every.unwrap_or(HOUR));
                begin(world, plan, run);
                plan.next_run = match plan.every {
                    Some(every) => {
                        ((now - plan.offset) / every).floor() * every + every + plan.offset
                    }
                    None => now + rng.between(4.0 * HOUR, 16.0 * HOUR),
                };
            }
            if let Some(flow) = world.appflow.flow_mut(&plan.flow) {
                if flow.executions.len() > MAX_RUNS {
                    flow.executions.sort_by(|a, b| {
                        b.started_at
                            .unwrap_or(0.0)
                            .total_cmp(&a.started_at.unwrap_or(0.0))
                    });
                    flow.executions.truncate(MAX_RUNS);
                }
            }
        }
        self.retire_adhoc(world, now);
        if self.next_adhoc_at.is_some_and(|at| now >= at) {
            self.add_adhoc(world, now);
        }
        self.transfer.step(world, now);
        self.supplychain.step(world, now);
        self.customerprofiles.step(world, now);
    }

    fn create(&mut self, world: &mut World, p: &Profile, now: f64) -> Plan {
        let created = ms(now - self.rng.between(30.0 * DAY, 90.0 * DAY));
        let mut flow = Flow::new(p.name, created);
        flow.description = p.description.map(str::to_owned);
        flow.status = p.status.to_owned();
        flow.source_connector_type = p.source.to_owned();
        flow.source_connector_label = p.source_label.map(str::to_owned);
        flow.destination_connector_type = p.destination.to_owned();
        flow.trigger_type = p.trigger.to_owned();
        flow.last_updated_at = ms(created + self.rng.between(0.0, 20.0 * DAY));
        if let Some((parallelism, page_size)) = p.sap {
            flow = flow.with_sapodata(parallelism, page_size);
        }
        if let (Some(expression), "Scheduled") = (p.expression, p.trigger) {
            let mut schedule = Schedule::new(expression);
            schedule.start_time = Some(created);
            schedule.offset = (p.offset > 0.0).then_some(p.offset as i64);
            schedule.error_deactivation_threshold = p.threshold;
            schedule.timezone = Some("UTC".to_owned());
            flow = flow.with_schedule(schedule);
        }
        let sap = flow.sapodata.clone();
        world.appflow.add_flow(flow);
        Plan {
            flow: p.name.to_owned(),
            every: p.every,
            offset: p.offset,
            runs: p.status == "Active" && !p.stalls,
            next_run: now,
            running: None,
            fail_percent: p.fail_percent,
            glue: p.glue,
            sap,
            scale: p.scale,
            delete_at: None,
        }
    }

    /// Invents the runs of the last two days; stopped flows stop a few hours ago after three
    /// failures in a row.
    fn backfill(&mut self, world: &mut World, p: &Profile, mut plan: Plan, now: f64) {
        let rng = &mut self.rng;
        let stopped_at = (!plan.runs).then(|| {
            let hours = if p.stalls { 2.0..3.0 } else { 6.0..9.0 };
            now - rng.between(hours.start * HOUR, hours.end * HOUR)
        });
        if p.status != "Draft" {
            let end = stopped_at.unwrap_or(now);
            let every = plan.every.unwrap_or(8.0 * HOUR);
            let from = (now - HISTORY).max(now - every * MAX_HISTORY_RUNS);
            let mut slot = (from / every).ceil() * every + plan.offset;
            let mut slots = Vec::new();
            while slot < end {
                slots.push(slot);
                slot += plan
                    .every
                    .unwrap_or_else(|| rng.between(4.0 * HOUR, 16.0 * HOUR));
            }
            plan.next_run = slot;
            let count = slots.len();
            for (i, slot) in slots.into_iter().enumerate() {
                let started = ms(slot + rng.between(0.0, 20.0));
                let last = i + 1 == count;
                let ends = if last && p.in_flight && stopped_at.is_none() {
                    now + rng.between(MINUTE, 10.0 * MINUTE)
                } else {
                    started + run_length(rng, every)
                };
                let run = Run {
                    id: rng.uuid(),
                    started,
                    ends: ms(ends),
                };
                if run.ends <= now {
                    let failing = stopped_at.is_some() && i + 3 >= count && !p.stalls;
                    let execution = finish(rng, &plan, &run, run.ends, failing);
                    world.appflow.upsert_execution(&plan.flow, execution);
                } else {
                    begin(world, &mut plan, run);
                }
            }
        }
        self.plans.push(plan);
    }

    /// Ad-hoc backfill flows appear every half hour or so, run once and vanish a little later.
    fn add_adhoc(&mut self, world: &mut World, now: f64) {
        self.adhoc_count += 1;
        let name = format!("adhoc-backfill-{:03}", self.adhoc_count);
        let mut flow = Flow::new(&name, ms(now));
        flow.description = Some("One-off backfill, deleted when done".to_owned());
        world.appflow.add_flow(flow);
        let mut plan = Plan {
            flow: name,
            every: None,
            offset: 0.0,
            runs: false,
            next_run: f64::INFINITY,
            running: None,
            fail_percent: 10,
            glue: false,
            sap: None,
            scale: 50_000,
            delete_at: Some(now + self.rng.between(10.0 * MINUTE, 20.0 * MINUTE)),
        };
        let run = Run::new(&mut self.rng, now, HOUR);
        begin(world, &mut plan, run);
        self.plans.push(plan);
        self.next_adhoc_at = Some(now + self.rng.between(20.0 * MINUTE, 40.0 * MINUTE));
    }

    fn retire_adhoc(&mut self, world: &mut World, now: f64) {
        self.plans.retain(|plan| {
            let due = plan.delete_at.is_some_and(|at| now >= at);
            if due {
                world.appflow.remove_flow(&plan.flow);
            }
            !due
        });
    }
}

/// How long a run takes: seconds for frequent flows, up to ten minutes for slow ones.
fn run_length(rng: &mut Rng, every: f64) -> f64 {
    rng.between(15.0, (every / 3.0).clamp(30.0, 10.0 * MINUTE))
}

/// Records `run` as in progress; `step` finishes it once its end has passed.
fn begin(world: &mut World, plan: &mut Plan, run: Run) {
    let execution = Execution::new(&run.id, "InProgress", run.started);
    world.appflow.upsert_execution(&plan.flow, execution);
    plan.running = Some(run);
}

/// The finished record of `run`; `fail` forces an error.
fn finish(rng: &mut Rng, plan: &Plan, run: &Run, ended: f64, fail: bool) -> Execution {
    let roll = rng.below(100);
    let status = if fail || roll < plan.fail_percent {
        "Error"
    } else if roll == 99 {
        "Canceled"
    } else {
        "Successful"
    };
    let mut e = Execution::finished(&run.id, status, run.started, ended);
    let records = (plan.scale * (50 + rng.below(100) as i64) / 100).max(1);
    let bytes = records * (150 + rng.below(350) as i64);
    e.records_processed = Some(records);
    e.bytes_processed = Some(bytes);
    e.bytes_written = Some(bytes);
    match status {
        "Error" if rng.percent(60) => {
            let failures = 1 + rng.below(records as u64 / 20 + 1) as i64;
            e.put_failures = Some(failures);
            e.bytes_written = Some(bytes - bytes * failures / records);
            e.message = Some(format!("{failures} {}", rng.pick(&PUT_FAILURES)));
        }
        "Error" => {
            e.put_failures = Some(0);
            e.bytes_written = Some(0);
            e.message = Some(rng.pick(&SOURCE_FAILURES).to_owned());
        }
        "Canceled" => e.bytes_written = Some(bytes / 2),
        _ => {}
    }
    match &plan.sap {
        Some(sap) => {
            e.num_parallel_processes = Some(i64::from(sap.max_parallelism.unwrap_or(1)));
            e.max_page_size = Some(i64::from(sap.max_page_size.unwrap_or(3000)));
        }
        None => e.num_parallel_processes = Some(1),
    }
    if plan.glue && status == "Successful" {
        let partition = if rng.percent(10) {
            "Error"
        } else {
            "Successful"
        };
        e.catalog.push(CatalogDetail {
            table_name: plan.flow.replace('-', "_"),
            table_status: Some("Successful".to_owned()),
            partition_status: Some(partition.to_owned()),
        });
    }
    e
}

/// Spawns a tokio task that calls step every `every` with the wall clock, until the simulator
/// stops. Abort the returned handle to stop earlier.
pub fn spawn_stepping(sim: &Simulator, mut scenario: Scenario, every: Duration) -> JoinHandle<()> {
    let handle = sim.handle();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks.tick().await; // The first tick is immediate; populate has just run.
        loop {
            tokio::select! {
                _ = ticks.tick() => handle.with(|world| scenario.step(world, epoch_now())),
                _ = handle.stopped() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_750_000_000.0;

    /// A comparable digest of the AppFlow state.
    fn digest(world: &World) -> Vec<String> {
        let mut out = Vec::new();
        for flow in world.appflow.flows.values() {
            out.push(format!("{} {} {}", flow.name, flow.status, flow.created_at));
            for e in &flow.executions {
                out.push(format!(
                    "  {} {} {:?} {:?}",
                    e.id, e.status, e.started_at, e.records_processed
                ));
            }
        }
        out
    }

    fn run(seed: u64, steps: u32) -> World {
        let mut world = World::default();
        let mut scenario = Scenario::new(seed);
        scenario.populate(&mut world, NOW);
        for i in 1..=steps {
            scenario.step(&mut world, NOW + f64::from(i) * 30.0);
        }
        world
    }

    #[test]
    fn same_seed_same_world() {
        assert_eq!(digest(&run(7, 200)), digest(&run(7, 200)));
        assert_ne!(digest(&run(7, 0)), digest(&run(8, 0)));
    }

    #[test]
    fn populate_builds_varied_history() {
        let world = run(1, 0);
        let flows = &world.appflow.flows;
        assert_eq!(flows.len(), 13);
        let all: Vec<&Execution> = flows.values().flat_map(|f| &f.executions).collect();
        let has = |status: &str| all.iter().any(|e| e.status == status);
        assert!(has("Successful") && has("Error") && has("InProgress"));
        assert!(all
            .iter()
            .any(|e| e.put_failures.unwrap_or(0) > 0 && e.message.is_some()));
        assert!(all.iter().any(|e| !e.catalog.is_empty()));
        assert!(all
            .iter()
            .all(|e| e.started_at.unwrap() >= NOW - HISTORY - 30.0));
        assert!(flows["hubspot-contacts-draft"].executions.is_empty());
        assert_eq!(flows["servicenow-incidents-to-s3"].status, "Suspended");
        let sap = &flows["sap-sales-orders-to-s3"];
        assert_eq!(sap.source_connector_type, "SAPOData");
        assert_eq!(sap.newest_execution().unwrap().status, "InProgress");
        // The stalled flow: Active and scheduled hourly, its last run hours ago and fine.
        let stalled = &flows["pardot-prospects-to-redshift"];
        assert_eq!(stalled.status, "Active");
        let schedule = stalled.schedule.as_ref().unwrap();
        assert_eq!(schedule.expression, "cron(0 * * * ? *)");
        let last = stalled.newest_execution().unwrap();
        assert!(last.started_at.unwrap() < NOW - 2.0 * HOUR);
        let sap = &flows["sap-material-master-to-s3"];
        let offset = sap.schedule.as_ref().unwrap().offset.unwrap() as f64;
        assert!(sap
            .executions
            .iter()
            .all(|e| (e.started_at.unwrap() - offset).rem_euclid(2.0 * HOUR) < 30.0));
        assert!(flows["s3-landing-to-s3-curated"].schedule.is_none());
        let custom = &flows["custom-orders-api-to-s3"];
        assert_eq!(
            custom.source_connector_label.as_deref(),
            Some("AcmeOrdersConnector")
        );
    }

    #[test]
    fn steps_finish_and_start_runs_and_churn_adhoc_flows() {
        let mut world = World::default();
        let mut scenario = Scenario::new(3);
        scenario.populate(&mut world, NOW);
        let in_progress = |w: &World| -> Vec<String> {
            let flows = w.appflow.flows.values();
            flows
                .flat_map(|f| &f.executions)
                .filter(|e| e.status == "InProgress")
                .map(|e| e.id.clone())
                .collect()
        };
        let before = in_progress(&world);
        let runs_before: usize = world
            .appflow
            .flows
            .values()
            .map(|f| f.executions.len())
            .sum();
        let mut seen_adhoc = false;
        for i in 1..=240 {
            scenario.step(&mut world, NOW + f64::from(i) * 15.0);
            seen_adhoc |= world.appflow.flows.keys().any(|k| k.starts_with("adhoc-"));
        }
        let after = in_progress(&world);
        assert!(
            before.iter().all(|id| !after.contains(id)),
            "old runs finished"
        );
        let runs_after: usize = world
            .appflow
            .flows
            .values()
            .map(|f| f.executions.len())
            .sum();
        assert!(runs_after > runs_before, "new runs started");
        assert!(seen_adhoc, "an ad-hoc flow appeared");
        let suspended = &world.appflow.flows["servicenow-incidents-to-s3"];
        assert_eq!(suspended.newest_execution().unwrap().status, "Error");
    }

    #[test]
    fn step_tolerates_flows_removed_by_tests() {
        let mut world = World::default();
        let mut scenario = Scenario::new(5);
        scenario.populate(&mut world, NOW);
        world.appflow.flows.clear();
        scenario.step(&mut world, NOW + HOUR);
        assert!(world
            .appflow
            .flows
            .keys()
            .all(|name| name.starts_with("adhoc-")));
    }
}
