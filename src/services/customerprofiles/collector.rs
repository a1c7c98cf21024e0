//! Amazon Connect Customer Profiles workflows: every `aws_customerprofiles_*`
//! series is computed here.
//!
//! Cost per collection: ListDomains pages, one ListWorkflows listing per
//! domain (QueryStartDate = now - lookback, 100 a page), and GetWorkflow only
//! for a workflow that is new or whose listed status or LastUpdatedAt changed
//! since it was last read, running or not (see `needs_details`): in steady
//! state, one call per workflow that changed. AWS allows 5 requests a second
//! for ListWorkflows and for GetWorkflow; the default `requests_per_second`
//! of 5 per target and service caps all three operations together at that
//! rate.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::SystemTime;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::api::{CustomerProfilesApi, DomainSummary, Progress, WorkflowDetails, WorkflowSummary};
use crate::aws::ApiError;
use crate::collector::{Collected, Collector, Setup};
use crate::compact::OptF64;
use crate::exposition::Exposition;
use crate::family;
use crate::filter::NameFilter;
use crate::interned::Interned;
use crate::services::counting::{self, unless_recreated, Baselined};
use crate::state::{Json, Keep, Kept};

const STATUSES: &[&str] = &[
    "NOT_STARTED",
    "IN_PROGRESS",
    "COMPLETE",
    "FAILED",
    "SPLIT",
    "RETRY",
    "CANCELLED",
];
/// The statuses counted by `workflows_finished_total`, in the order of `Domain::finished`.
const TERMINAL: &[&str] = &["COMPLETE", "FAILED", "CANCELLED"];

family!(
    INFO,
    "aws_customerprofiles_workflow_info",
    Gauge,
    [
        "domain_name",
        "workflow_id",
        "workflow_type",
        "source_connector",
        "connector_profile"
    ],
    "Information about a Customer Profiles workflow; always 1."
);
family!(
    STATUS,
    "aws_customerprofiles_workflow_status",
    Gauge,
    ["domain_name", "workflow_id", "status"],
    "The workflow's status, one series per state (1 = current)."
);
family!(
    RECORDS,
    "aws_customerprofiles_workflow_processed_records",
    Gauge,
    ["domain_name", "workflow_id"],
    "Metrics.AppflowIntegration.RecordsProcessed of the workflow."
);
family!(
    STEPS_COMPLETED,
    "aws_customerprofiles_workflow_steps_completed",
    Gauge,
    ["domain_name", "workflow_id"],
    "Metrics.AppflowIntegration.StepsCompleted of the workflow."
);
family!(
    STEPS,
    "aws_customerprofiles_workflow_steps",
    Gauge,
    ["domain_name", "workflow_id"],
    "Metrics.AppflowIntegration.TotalSteps of the workflow."
);
family!(
    START,
    "aws_customerprofiles_workflow_start_timestamp_seconds",
    Gauge,
    ["domain_name", "workflow_id"],
    "StartDate of the workflow."
);
family!(
    LAST_UPDATED,
    "aws_customerprofiles_workflow_last_updated_timestamp_seconds",
    Gauge,
    ["domain_name", "workflow_id"],
    "LastUpdatedAt of the workflow."
);
family!(
    FINISHED,
    "aws_customerprofiles_workflows_finished_total",
    Counter,
    ["domain_name", "status"],
    "Workflows seen reaching a terminal status, each (workflow, status) once."
);

/// The `domains` setting as a name filter (exact names; empty = every domain),
/// so that the collector selects domains the way other services select names.
pub fn domain_filter(domains: &[String]) -> Result<NameFilter, regex::Error> {
    let include = domains
        .iter()
        .map(|d| Regex::new(&format!("^{}$", regex::escape(d))))
        .collect::<Result<_, _>>()?;
    Ok(NameFilter::new(include, Vec::new()))
}

/// The Customer Profiles collector of one target.
pub struct CustomerProfilesCollector<A> {
    api: A,
    setup: Setup,
    state: Kept<State>,
}

/// Everything saved by `--storage.path`.
#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Set by the first successful collection: until then nothing is counted.
    baselined: bool,
    domains: BTreeMap<String, Domain>,
}

/// Saved as JSON.
impl Json for State {}

impl Baselined for State {
    fn baselined(&self) -> bool {
        self.baselined
    }
    fn set_baselined(&mut self) {
        self.baselined = true;
    }
}

/// What the exporter remembers of one domain.
#[derive(Default, Serialize, Deserialize)]
struct Domain {
    created_at: Option<f64>,
    workflows: BTreeMap<String, Box<Workflow>>,
    /// COMPLETE, FAILED, CANCELLED (the order of `TERMINAL`).
    finished: [u64; 3],
}

/// What the exporter remembers of one listed workflow.
#[derive(Default, Serialize, Deserialize)]
struct Workflow {
    summary: WorkflowSummary,
    details: Option<WorkflowDetails>,
    /// The listing's (status, LastUpdatedAt) when `details` were read.
    described: Option<(Interned, OptF64)>,
    /// Terminal statuses already seen: each is counted once.
    finished: Finished,
}

/// A set of `TERMINAL` statuses as bits, not strings: every workflow has one.
/// Saved as the list of their names, as before.
#[derive(Clone, Copy, Default, PartialEq, Debug, Serialize, Deserialize)]
#[serde(from = "BTreeSet<String>", into = "BTreeSet<String>")]
struct Finished(u8);

impl Finished {
    /// Adds the status at `index` in `TERMINAL`: whether it was new.
    fn insert(&mut self, index: usize) -> bool {
        let bit = 1 << index;
        let new = self.0 & bit == 0;
        self.0 |= bit;
        new
    }

    fn len(self) -> usize {
        self.0.count_ones() as usize
    }
}

impl From<BTreeSet<String>> for Finished {
    fn from(statuses: BTreeSet<String>) -> Finished {
        let mut finished = Finished::default();
        for (i, status) in TERMINAL.iter().enumerate() {
            if statuses.contains(*status) {
                finished.insert(i);
            }
        }
        finished
    }
}

impl From<Finished> for BTreeSet<String> {
    fn from(finished: Finished) -> BTreeSet<String> {
        (0..TERMINAL.len())
            .filter(|i| finished.0 & (1 << i) != 0)
            .map(|i| TERMINAL[i].to_string())
            .collect()
    }
}

/// What one collection fetched for a listed domain.
struct Fetched {
    summary: DomainSummary,
    /// None: the domain vanished between ListDomains and ListWorkflows.
    workflows: Option<Vec<(WorkflowSummary, Read)>>,
}

/// The outcome of GetWorkflow for one listed workflow.
enum Read {
    /// Not needed: the remembered details still hold.
    Skipped,
    /// The workflow vanished between ListWorkflows and GetWorkflow.
    Gone,
    /// Boxed: most workflows are skipped, and each listed one has a `Read`.
    Details(Box<WorkflowDetails>),
}

fn is_terminal(status: &str) -> bool {
    TERMINAL.contains(&status)
}

impl<A: CustomerProfilesApi> CustomerProfilesCollector<A> {
    pub fn new(api: A, setup: Setup) -> Self {
        CustomerProfilesCollector {
            api,
            setup,
            state: Kept::default(),
        }
    }

    /// The remembered workflow of this domain incarnation, if any.
    fn known(&self, domain: &DomainSummary, id: &str) -> Option<&Workflow> {
        let remembered = self.state.domains.get(&domain.name);
        unless_recreated(remembered, |d| d.created_at, domain.created_at)
            .and_then(|d| d.workflows.get(id))
            .map(|w| &**w)
    }

    /// Whether `w` must be read with GetWorkflow: it is new (in this domain
    /// incarnation), was never read, or its listed status or LastUpdatedAt
    /// differs from the listing it was last read with. Otherwise its details
    /// as last read still hold and are shown again, whatever its status
    /// (running, terminal or unknown to the exporter): this relies on AWS
    /// moving LastUpdatedAt whenever a workflow changes. A listing without LastUpdatedAt (the SDK's
    /// filler for a missing one) cannot show a change: such a workflow is read
    /// at every collection unless its status is terminal.
    fn needs_details(&self, domain: &DomainSummary, w: &WorkflowSummary) -> bool {
        let Some(known) = self.known(domain, &w.id) else {
            return true;
        };
        let unchanged = known
            .described
            .as_ref()
            .is_some_and(|(status, at)| *status == w.status && *at == w.last_updated_at);
        !unchanged || (w.last_updated_at.get().is_none() && !is_terminal(&w.status))
    }

    async fn read(
        &self,
        domain: &str,
        w: &WorkflowSummary,
        needed: bool,
    ) -> Result<Read, ApiError> {
        if !needed {
            return Ok(Read::Skipped);
        }
        Ok(match self.api.get_workflow(domain, &w.id).await? {
            Some(details) => Read::Details(Box::new(details)),
            None => Read::Gone,
        })
    }

    async fn fetch(&self, domain: DomainSummary, since: f64) -> Result<Fetched, ApiError> {
        let Some(mut listed) = self.api.list_workflows(&domain.name, since).await? else {
            return Ok(Fetched {
                summary: domain,
                workflows: None,
            });
        };
        let mut ids = HashSet::new();
        listed.retain(|w| ids.insert(w.id.clone()));
        let reads = (0..listed.len()).map(|i| {
            let w = &listed[i];
            self.read(&domain.name, w, self.needs_details(&domain, w))
        });
        let reads: Vec<Read> = self.setup.fetch_all(reads).await?;
        Ok(Fetched {
            summary: domain,
            workflows: Some(listed.into_iter().zip(reads).collect()),
        })
    }

    /// Applies a fully fetched collection to the state. Cannot fail.
    fn apply(&mut self, fetched: Vec<Fetched>) {
        let mut domains = Vec::with_capacity(fetched.len());
        for Fetched { summary, workflows } in fetched {
            let Some(workflows) = workflows else {
                continue;
            };
            // The remembered key is kept: the listing's copy is dropped with the collection.
            let (name, known) = match self.state.domains.remove_entry(&summary.name) {
                Some((name, d)) => (
                    name,
                    unless_recreated(Some(d), |d| d.created_at, summary.created_at),
                ),
                None => (summary.name.clone(), None),
            };
            let count = counting::counts(&self.state, known.is_some(), summary.created_at);
            let mut domain = known.unwrap_or_else(|| Domain {
                created_at: summary.created_at,
                ..Domain::default()
            });
            let mut previous = std::mem::take(&mut domain.workflows);
            let mut kept = Vec::with_capacity(workflows.len());
            for (mut listed, read) in workflows {
                // The id is held once, as the key: a remembered summary's is empty.
                let (id, mut workflow) = previous
                    .remove_entry(&listed.id)
                    .unwrap_or_else(|| (std::mem::take(&mut listed.id), Box::default()));
                match read {
                    Read::Gone => continue,
                    Read::Skipped => {}
                    Read::Details(details) => {
                        workflow.details = Some(*details);
                        workflow.described = Some((listed.status.clone(), listed.last_updated_at));
                    }
                }
                workflow.summary = WorkflowSummary {
                    id: String::new(),
                    ..listed
                };
                if let Some(status) = workflow.newly_finished() {
                    if count {
                        domain.count(&name, &id, &workflow, status);
                    }
                }
                crate::fault::point("customerprofiles");
                kept.push((id, workflow));
            }
            // Collected at once: a map built in one go has full B-tree nodes, where
            // inserts in key order leave them half empty.
            domain.workflows = BTreeMap::from_iter(kept);
            domains.push((name, domain));
        }
        self.state.domains = BTreeMap::from_iter(domains);
        counting::applied(&mut self.state);
    }

    fn render(&self) -> Exposition {
        let mut e = self.setup.exposition();
        for (name, domain) in &self.state.domains {
            domain.render(name, &mut e);
        }
        e
    }
}

impl Workflow {
    /// Remembers the current status if it is terminal and new for this workflow, and returns
    /// its index in `TERMINAL`.
    fn newly_finished(&mut self) -> Option<usize> {
        let status = &self.summary.status;
        let index = TERMINAL.iter().position(|s| status == s)?;
        self.finished.insert(index).then_some(index)
    }

    fn render(&self, domain: &str, id: &str, e: &mut Exposition) {
        let s = &self.summary;
        let labels = [("domain_name", domain), ("workflow_id", id)];
        let details = self.details.as_ref();
        let attribute = |f: fn(&WorkflowDetails) -> Option<&Interned>| {
            details.and_then(f).map_or("", Interned::as_str)
        };
        e.sample(
            &INFO,
            &[
                labels[0],
                labels[1],
                ("workflow_type", s.workflow_type.as_str()),
                (
                    "source_connector",
                    attribute(|d| d.source_connector.as_ref()),
                ),
                (
                    "connector_profile",
                    attribute(|d| d.connector_profile.as_ref()),
                ),
            ],
            1.0,
        );
        let status = Some(s.status.as_str()).filter(|s| !s.is_empty());
        e.state_set(&STATUS, &labels, STATUSES, status);
        if let Some(p) = details.and_then(|d| d.progress) {
            let Progress {
                records_processed,
                steps_completed,
                total_steps,
            } = p;
            for (family, value) in [
                (&RECORDS, records_processed),
                (&STEPS_COMPLETED, steps_completed),
                (&STEPS, total_steps),
            ] {
                // A negative count is garbage, not a value.
                if value >= 0 {
                    e.sample(family, &labels, value as f64);
                }
            }
        }
        if let Some(t) = details.and_then(|d| d.start_date.get()) {
            e.sample(&START, &labels, t);
        }
        if let Some(t) = s
            .last_updated_at
            .get()
            .or_else(|| details.and_then(|d| d.last_updated_at.get()))
        {
            e.sample(&LAST_UPDATED, &labels, t);
        }
    }
}

impl Domain {
    fn count(&mut self, domain: &str, id: &str, workflow: &Workflow, index: usize) {
        self.finished[index] += 1;
        if TERMINAL[index] == "FAILED" {
            let message = workflow.details.as_ref().and_then(|d| d.error.as_deref());
            tracing::warn!(
                domain_name = domain,
                workflow_id = id,
                message = message.unwrap_or(""),
                "Customer Profiles workflow failed"
            );
        }
    }

    fn render(&self, name: &str, e: &mut Exposition) {
        for (id, workflow) in &self.workflows {
            workflow.render(name, id, e);
        }
        for (status, n) in TERMINAL.iter().zip(self.finished) {
            e.sample(
                &FINISHED,
                &[("domain_name", name), ("status", status)],
                n as f64,
            );
        }
    }

    fn tracked(&self) -> usize {
        self.workflows.values().map(|w| w.finished.len()).sum()
    }
}

#[async_trait::async_trait]
impl<A: CustomerProfilesApi + 'static> Collector for CustomerProfilesCollector<A> {
    async fn collect(&mut self, now: SystemTime) -> Result<Collected, ApiError> {
        let since = self.setup.cutoff(now);
        let domains = self
            .setup
            .selected(self.api.list_domains().await?, |d| &d.name);
        let fetches = domains.into_iter().map(|domain| self.fetch(domain, since));
        let fetched: Vec<Fetched> = self.setup.fetch_all(fetches).await?;
        self.apply(fetched);
        let tracked = self.state.domains.values().map(Domain::tracked).sum();
        Ok(Collected {
            exposition: self.render(),
            tracked,
        })
    }

    fn kept(&mut self) -> Option<&mut dyn Keep> {
        Some(&mut self.state)
    }
}

#[cfg(test)]
mod tests;
