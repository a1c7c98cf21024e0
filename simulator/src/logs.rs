//! Amazon CloudWatch Logs (awsJson1_1, `X-Amz-Target: Logs_20140328.<Operation>`): log groups
//! holding events, and the one read operation the exporter uses, FilterLogEvents.
//!
//! Events are kept per group in `eventId` order; ids are 56 digits that sort like
//! (timestamp, arrival), so FilterLogEvents serves events in timestamp order, ties by eventId.
//!
//! **Late delivery**: every event has an ingestion time, possibly later than its timestamp, and
//! FilterLogEvents only sees it once the logs clock ([`Logs::now_ms`]) has reached that time.
//! The clock is the wall clock unless pinned with [`Logs::set_clock`] (the demo scenario pins
//! it to the `now` it is stepped with).
//!
//! **Filter patterns** (`filterPattern`), the subset of CloudWatch's syntax the simulator
//! understands; anything else is an InvalidParameterException, so a pattern the simulator does
//! not know never silently matches everything:
//!
//! ```text
//! pattern    := ""  (blank: every event)  |  "{" expr "}"
//! expr       := and ( "||" and )*
//! and        := primary ( "&&" primary )*
//! primary    := "(" expr ")" | selector test
//! selector   := "$" ( "." name | "[" digits "]" )*        name: letters, digits, _ -
//! test       := ( "=" | "!=" ) string                      string: "quoted" or a bare word; * is a wildcard
//!             | ( "=" | "!=" | "<" | "<=" | ">" | ">=" ) number
//!             | "EXISTS" | "NOT EXISTS"
//!             | "IS" ( "TRUE" | "FALSE" | "NULL" )
//! ```
//!
//! A JSON pattern only matches messages that are JSON; `=` with a string needs a string field
//! (a number needs a number field); `!=` needs the field to exist; `$.type = *` matches any
//! string `type`. Keywords are upper case, as in CloudWatch.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, RangeBounds};

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::{Call, FaultErrors, Service};
use crate::wire::{self, ApiError, ErrorCode, Protocol};
use crate::World;

/// CloudWatch Logs' client errors are HTTP 400 with the code in `__type`.
const INVALID_PARAMETER: ErrorCode = ErrorCode::new(400, "InvalidParameterException");
const NOT_FOUND: ErrorCode = ErrorCode::new(400, "ResourceNotFoundException");
/// The model marks it a fault (a server error).
const UNAVAILABLE: ErrorCode = ErrorCode::new(500, "ServiceUnavailableException");

const TARGET_PREFIX: &str = "Logs_20140328";
const OPERATIONS: [&str; 1] = ["FilterLogEvents"];
/// `EventsLimit`: 1..=10000, default 10000.
const MAX_LIMIT: i64 = 10_000;
/// A page holds at most 1 MB of events (message bytes plus 26 bytes each, as PutLogEvents counts).
const MAX_PAGE_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;

pub(crate) static SERVICE: Service = Service {
    name: "logs",
    protocol: Protocol::AwsJson1_1,
    errors: FaultErrors {
        throttling: ErrorCode::new(400, "ThrottlingException"),
        internal: UNAVAILABLE,
        access_denied: ErrorCode::new(400, "AccessDeniedException"),
        not_found: NOT_FOUND,
    },
    route,
    handle,
};

/// One log event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    pub stream: String,
    /// When it happened, epoch milliseconds.
    pub timestamp: i64,
    /// When CloudWatch Logs received it; FilterLogEvents sees it from then on.
    pub ingestion_time: i64,
    pub message: String,
    pub event_id: String,
}

/// A log group: its events by event id (that is, by timestamp then arrival).
#[derive(Clone, Debug, Default)]
pub struct LogGroup {
    pub name: String,
    pub events: BTreeMap<String, LogEvent>,
}

/// The CloudWatch Logs state of the simulated account.
#[derive(Default)]
pub struct Logs {
    pub groups: BTreeMap<String, LogGroup>,
    clock_ms: Option<i64>,
    next_seq: u64,
}

impl Logs {
    /// Creates the log group `name` (no-op if it exists).
    pub fn create_group(&mut self, name: &str) {
        self.groups
            .entry(name.to_owned())
            .or_insert_with(|| LogGroup {
                name: name.to_owned(),
                events: BTreeMap::new(),
            });
    }

    /// Deletes a log group and its events; false if there was none.
    pub fn delete_group(&mut self, name: &str) -> bool {
        self.groups.remove(name).is_some()
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    /// Pins the clock that decides which events have been ingested (epoch milliseconds);
    /// `None` goes back to the wall clock.
    pub fn set_clock(&mut self, now_ms: Option<i64>) {
        self.clock_ms = now_ms;
    }

    /// The logs clock, epoch milliseconds: the pinned time, or the wall clock.
    pub fn now_ms(&self) -> i64 {
        self.clock_ms
            .unwrap_or_else(|| (wire::epoch_now() * 1000.0) as i64)
    }

    /// Writes an event ingested as soon as it happened; returns its event id.
    ///
    /// # Panics
    /// If the group does not exist (a bug in the test): create it with [`Logs::create_group`].
    pub fn put_event(
        &mut self,
        group: &str,
        stream: &str,
        timestamp_ms: i64,
        message: &str,
    ) -> String {
        self.put_event_ingested(group, stream, timestamp_ms, timestamp_ms, message)
    }

    /// Writes an event that CloudWatch receives `delay_ms` after it happened (late delivery).
    pub fn put_event_delayed(
        &mut self,
        group: &str,
        stream: &str,
        timestamp_ms: i64,
        delay_ms: i64,
        message: &str,
    ) -> String {
        let ingested = timestamp_ms.saturating_add(delay_ms.max(0));
        self.put_event_ingested(group, stream, timestamp_ms, ingested, message)
    }

    /// Writes an event with an explicit ingestion time (never before `timestamp_ms`).
    pub fn put_event_ingested(
        &mut self,
        group: &str,
        stream: &str,
        timestamp_ms: i64,
        ingestion_ms: i64,
        message: &str,
    ) -> String {
        let Some(target) = self.groups.get_mut(group) else {
            panic!("put_event: no log group {group:?}");
        };
        self.next_seq += 1;
        let timestamp = timestamp_ms.max(0);
        let event_id = format!("{timestamp:020}{:036}", self.next_seq);
        let event = LogEvent {
            stream: stream.to_owned(),
            timestamp,
            ingestion_time: ingestion_ms.max(timestamp),
            message: message.to_owned(),
            event_id: event_id.clone(),
        };
        target.events.insert(event_id.clone(), event);
        event_id
    }

    /// The events of `group` in timestamp order (ingested or not); empty for an unknown group.
    pub fn events(&self, group: &str) -> impl Iterator<Item = &LogEvent> {
        self.groups
            .get(group)
            .into_iter()
            .flat_map(|g| g.events.values())
    }

    /// What the exporter must count from the Transfer workflow events that are visible now (see
    /// [`WorkflowTruth`]), in every log group whose name starts with `/aws/transfer/`; only the
    /// counting events with a timestamp in `window` (epoch ms) count (`..` for all).
    pub fn workflow_truth(&self, window: impl RangeBounds<i64>) -> WorkflowTruth {
        let now = self.now_ms();
        let events = self
            .groups
            .values()
            .filter(|g| g.name.starts_with("/aws/transfer/"))
            .flat_map(|g| g.events.values())
            .filter(|e| e.ingestion_time <= now);
        WorkflowTruth::count(events, window)
    }
}

/// The Transfer counts, computed from log events the way the spec counts them:
///
/// - per execution id, the first ExecutionCompleted / ExecutionErrored in time order is its
///   outcome (`completed` / `exception`);
/// - each StepErrored counts once per (execution, step name, phase), `phase` being `steps` for the
///   first StepErrored of the execution and `on_exception_steps` for later ones; a repeated
///   StepErrored of the same step name in one execution is a duplicate delivery and counts nothing.
///
/// Messages that are not JSON, other types, and events without `workflowId` or `executionId` are
/// skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkflowTruth {
    /// (workflow id, outcome) -> executions.
    pub finished: BTreeMap<(String, String), u64>,
    /// (workflow id, phase, step type, error type) -> step errors.
    pub step_errors: BTreeMap<(String, String, String, String), u64>,
    /// (workflow id, outcome) -> timestamp (ms) of the newest counting event.
    pub last_end_ms: BTreeMap<(String, String), i64>,
}

/// (timestamp, event id, type, workflow id, details) of one event that counts.
type CountedEvent<'a> = (i64, &'a str, String, String, Value);

impl WorkflowTruth {
    /// Executions of `workflow` that ended with `outcome` ("completed" or "exception").
    pub fn finished(&self, workflow: &str, outcome: &str) -> u64 {
        let key = (workflow.to_owned(), outcome.to_owned());
        self.finished.get(&key).copied().unwrap_or(0)
    }

    /// Step errors of `workflow` in `phase` ("steps" or "on_exception_steps").
    pub fn step_errors(
        &self,
        workflow: &str,
        phase: &str,
        step_type: &str,
        error_type: &str,
    ) -> u64 {
        let key = (
            workflow.to_owned(),
            phase.to_owned(),
            step_type.to_owned(),
            error_type.to_owned(),
        );
        self.step_errors.get(&key).copied().unwrap_or(0)
    }

    fn count<'a>(
        events: impl Iterator<Item = &'a LogEvent>,
        window: impl RangeBounds<i64>,
    ) -> Self {
        // Per execution: (timestamp, event id, type, workflow, details), sorted in time order.
        let mut runs: BTreeMap<String, Vec<CountedEvent<'_>>> = BTreeMap::new();
        for e in events {
            let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&e.message) else {
                continue;
            };
            let text = |m: &serde_json::Map<String, Value>, k: &str| {
                m.get(k).and_then(Value::as_str).map(str::to_owned)
            };
            let (Some(kind), Some(workflow), Some(execution)) = (
                text(&m, "type"),
                text(&m, "workflowId"),
                text(&m, "executionId"),
            ) else {
                continue;
            };
            if !matches!(
                kind.as_str(),
                "ExecutionCompleted" | "ExecutionErrored" | "StepErrored"
            ) {
                continue;
            }
            let details = m.remove("details").unwrap_or(Value::Null);
            runs.entry(execution).or_default().push((
                e.timestamp,
                &e.event_id,
                kind,
                workflow,
                details,
            ));
        }
        let mut truth = WorkflowTruth::default();
        for mut events in runs.into_values() {
            events.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            let mut ended = false;
            let mut errored = false;
            let mut seen = BTreeSet::new();
            for (timestamp, _, kind, workflow, details) in &events {
                let inside = window.contains(timestamp);
                if kind == "StepErrored" {
                    let field = |k: &str| details[k].as_str().unwrap_or("").to_owned();
                    // A second event of the same step is a duplicate (read de-duplicates by
                    // execution, type and step name), not a new error.
                    if !seen.insert(field("stepName")) {
                        continue;
                    }
                    let phase = if errored {
                        "on_exception_steps"
                    } else {
                        "steps"
                    };
                    errored = true;
                    if !inside {
                        continue;
                    }
                    let key = (
                        workflow.clone(),
                        phase.to_owned(),
                        field("stepType"),
                        field("errorType"),
                    );
                    *truth.step_errors.entry(key).or_default() += 1;
                } else if !ended {
                    ended = true;
                    if !inside {
                        continue;
                    }
                    let outcome = if kind == "ExecutionCompleted" {
                        "completed"
                    } else {
                        "exception"
                    };
                    let key = (workflow.clone(), outcome.to_owned());
                    *truth.finished.entry(key.clone()).or_default() += 1;
                    let last = truth.last_end_ms.entry(key).or_insert(*timestamp);
                    *last = (*last).max(*timestamp);
                }
            }
        }
        truth
    }
}

fn route(method: &Method, path: &str, headers: &HeaderMap) -> Option<&'static str> {
    if method != Method::POST || path != "/" {
        return None;
    }
    let operation = wire::amz_target(headers, TARGET_PREFIX)?;
    OPERATIONS.iter().copied().find(|op| *op == operation)
}

fn handle(world: &mut World, call: &Call) -> Result<Bytes, ApiError> {
    let request: Request = wire::parse_json(&call.body)?;
    match call.operation {
        "FilterLogEvents" => filter_log_events(&world.logs, &request),
        other => unreachable!("Logs routed unknown operation {other}"),
    }
}

/// FilterLogEvents' input members; unknown members are ignored, a wrongly typed one is a
/// SerializationException. `startFromHead`, `interleaved` (deprecated: always interleaved) and
/// `unmask` are accepted and change nothing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Request {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
    interleaved: Option<bool>,
    unmask: Option<bool>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    INVALID_PARAMETER.with(message)
}

fn constraint(value: impl std::fmt::Display, member: &str, rule: &str) -> ApiError {
    invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
         constraint: Member must {rule}"
    ))
}

/// The log group a request names: `logGroupName`, or `logGroupIdentifier` (a name or an ARN).
fn group_name(request: &Request) -> Result<String, ApiError> {
    match (&request.log_group_name, &request.log_group_identifier) {
        (Some(_), Some(_)) => Err(invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (None, None) => Err(invalid(
            "Either logGroupName or logGroupIdentifier must be specified.",
        )),
        (Some(name), None) => {
            let valid = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
            if name.is_empty() || name.len() > 512 || !valid {
                return Err(constraint(
                    name,
                    "logGroupName",
                    "satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
                ));
            }
            Ok(name.clone())
        }
        (None, Some(id)) => {
            if id.is_empty() || id.len() > 2048 {
                return Err(constraint(
                    id,
                    "logGroupIdentifier",
                    "have length between 1 and 2048",
                ));
            }
            // arn:aws:logs:<region>:<account>:log-group:<name>[:*]
            let name = match id.split_once(":log-group:") {
                Some((prefix, rest)) if prefix.starts_with("arn:") => {
                    rest.strip_suffix(":*").unwrap_or(rest)
                }
                _ => id.as_str(),
            };
            Ok(name.to_owned())
        }
    }
}

fn filter_log_events(logs: &Logs, request: &Request) -> Result<Bytes, ApiError> {
    let name = group_name(request)?;
    let limit = wire::bounded_page_size(
        request.limit,
        "limit",
        MAX_LIMIT,
        MAX_LIMIT as usize,
        INVALID_PARAMETER,
    )?;
    for (member, time) in [
        ("startTime", request.start_time),
        ("endTime", request.end_time),
    ] {
        if let Some(t) = time.filter(|t| *t < 0) {
            return Err(constraint(
                t,
                member,
                "have value greater than or equal to 0",
            ));
        }
    }
    if let (Some(start), Some(end)) = (request.start_time, request.end_time) {
        if start > end {
            return Err(invalid(
                "End time must be greater than or equal to start time",
            ));
        }
    }
    if request.log_stream_names.is_some() && request.log_stream_name_prefix.is_some() {
        return Err(invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    if let Some(names) = &request.log_stream_names {
        if names.is_empty() || names.len() > 100 {
            return Err(constraint(
                names.len(),
                "logStreamNames",
                "have length between 1 and 100",
            ));
        }
    }
    if request.log_stream_name_prefix.as_deref() == Some("") {
        return Err(constraint(
            "",
            "logStreamNamePrefix",
            "have length greater than or equal to 1",
        ));
    }
    let pattern_text = request.filter_pattern.as_deref().unwrap_or("");
    if pattern_text.len() > 1024 {
        return Err(constraint(
            pattern_text.len(),
            "filterPattern",
            "have length less than or equal to 1024",
        ));
    }
    let pattern = Pattern::parse(pattern_text)
        .map_err(|e| invalid(format!("Invalid filter pattern {pattern_text:?}: {e}")))?;
    let scope = format!("FilterLogEvents/{name}");
    let after = match request.next_token.as_deref() {
        None => Bound::Unbounded,
        Some("") => {
            return Err(constraint(
                "",
                "nextToken",
                "have length greater than or equal to 1",
            ))
        }
        Some(token) => Bound::Excluded(
            wire::decode_token(&scope, token)
                .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
        ),
    };
    let group = logs
        .groups
        .get(&name)
        .ok_or_else(|| NOT_FOUND.with("The specified log group does not exist."))?;

    let now = logs.now_ms();
    let start = request.start_time.unwrap_or(i64::MIN);
    let end = request.end_time.unwrap_or(i64::MAX);
    let streams: Option<BTreeSet<&str>> = request
        .log_stream_names
        .as_ref()
        .map(|names| names.iter().map(String::as_str).collect());
    let prefix = request.log_stream_name_prefix.as_deref();
    let mut matching = group
        .events
        .range::<String, _>((after, Bound::Unbounded))
        .map(|(_, e)| e)
        .filter(|e| {
            e.ingestion_time <= now
                && (start..=end).contains(&e.timestamp)
                && streams
                    .as_ref()
                    .is_none_or(|s| s.contains(e.stream.as_str()))
                && prefix.is_none_or(|p| e.stream.starts_with(p))
                && pattern.matches(&e.message)
        });
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut last = None;
    let mut more = false;
    for e in matching.by_ref() {
        let size = e.message.len() + EVENT_OVERHEAD;
        if events.len() >= limit
            || (!events.is_empty() && bytes + size > wire::oversized(MAX_PAGE_BYTES))
        {
            more = true;
            break;
        }
        bytes += size;
        last = Some(&e.event_id);
        events.push(json!({
            "logStreamName": e.stream,
            "timestamp": e.timestamp,
            "message": e.message,
            "ingestionTime": e.ingestion_time,
            "eventId": e.event_id,
        }));
    }
    let mut out = json!({ "events": events, "searchedLogStreams": [] });
    if let (true, Some(last)) = (more, last) {
        out["nextToken"] = json!(wire::encode_token(&scope, last));
    }
    Ok(wire::to_json(&out))
}

// ---- Filter patterns (grammar in the module docs) ----

/// A parsed filter pattern.
#[derive(Debug)]
enum Pattern {
    All,
    Json(Expr),
}

#[derive(Debug)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Test(Vec<Segment>, Test),
}

#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
enum Test {
    Exists(bool),
    Text { equal: bool, glob: String },
    Number { op: &'static str, value: f64 },
    Is(Value),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Pattern::All);
        }
        if !text.starts_with('{') {
            return Err("only JSON patterns ({ ... }) are supported by the simulator".into());
        }
        let mut p = Parser {
            s: text.as_bytes(),
            i: 1,
        };
        let expr = p.expr()?;
        p.skip();
        if !p.eat("}") {
            return Err(format!("expected '}}' at offset {}", p.i));
        }
        p.skip();
        if p.i != p.s.len() {
            return Err(format!("unexpected text after '}}' at offset {}", p.i));
        }
        Ok(Pattern::Json(expr))
    }

    fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Json(expr) => {
                serde_json::from_str::<Value>(message).is_ok_and(|v| expr.matches(&v))
            }
        }
    }
}

impl Expr {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(v) && b.matches(v),
            Expr::Or(a, b) => a.matches(v) || b.matches(v),
            Expr::Test(path, test) => {
                let field = path.iter().try_fold(v, |v, seg| match seg {
                    Segment::Key(k) => v.get(k.as_str()),
                    Segment::Index(n) => v.get(*n),
                });
                match (test, field) {
                    (Test::Exists(want), f) => f.is_some() == *want,
                    (_, None) => false,
                    (Test::Text { equal, glob }, Some(Value::String(s))) => {
                        glob_match(glob, s) == *equal
                    }
                    (Test::Text { equal: false, .. }, Some(_)) => true,
                    (Test::Number { op, value }, Some(Value::Number(n))) => {
                        let n = n.as_f64().unwrap_or(f64::NAN);
                        match *op {
                            "=" => n == *value,
                            "!=" => n != *value,
                            "<" => n < *value,
                            "<=" => n <= *value,
                            ">" => n > *value,
                            _ => n >= *value,
                        }
                    }
                    (Test::Is(want), Some(f)) => f == want,
                    _ => false,
                }
            }
        }
    }
}

/// `*` matches any run of characters; everything else is literal.
fn glob_match(glob: &str, s: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.s[self.i..].starts_with(token.as_bytes()) {
            self.i += token.len();
            true
        } else {
            false
        }
    }

    /// Eats a keyword only when it is a whole word.
    fn keyword(&mut self, word: &str) -> bool {
        let end = self.i + word.len();
        let whole = self.s[self.i..].starts_with(word.as_bytes())
            && !self
                .s
                .get(end)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if whole {
            self.i = end;
        }
        whole
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        loop {
            self.skip();
            if !self.eat("||") {
                return Ok(left);
            }
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.primary()?;
        loop {
            self.skip();
            if !self.eat("&&") {
                return Ok(left);
            }
            left = Expr::And(Box::new(left), Box::new(self.primary()?));
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip();
        if self.eat("(") {
            let inner = self.expr()?;
            self.skip();
            if !self.eat(")") {
                return Err(format!("expected ')' at offset {}", self.i));
            }
            return Ok(inner);
        }
        let path = self.selector()?;
        self.skip();
        let test = self.test()?;
        Ok(Expr::Test(path, test))
    }

    fn selector(&mut self) -> Result<Vec<Segment>, String> {
        if !self.eat("$") {
            return Err(format!(
                "expected a selector ($.field) at offset {}",
                self.i
            ));
        }
        let mut path = Vec::new();
        loop {
            if self.eat(".") {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                {
                    self.i += 1;
                }
                if start == self.i {
                    return Err(format!("expected a field name at offset {start}"));
                }
                path.push(Segment::Key(self.text(start)));
            } else if self.eat("[") {
                let start = self.i;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                let index = self
                    .text(start)
                    .parse()
                    .map_err(|_| format!("expected an index at offset {start}"))?;
                if !self.eat("]") {
                    return Err(format!("expected ']' at offset {}", self.i));
                }
                path.push(Segment::Index(index));
            } else if path.is_empty() {
                return Err(format!(
                    "expected '.' or '[' after '$' at offset {}",
                    self.i
                ));
            } else {
                return Ok(path);
            }
        }
    }

    fn text(&self, start: usize) -> String {
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn test(&mut self) -> Result<Test, String> {
        if self.keyword("EXISTS") {
            return Ok(Test::Exists(true));
        }
        if self.keyword("NOT") {
            self.skip();
            if self.keyword("EXISTS") {
                return Ok(Test::Exists(false));
            }
            return Err(format!("expected EXISTS after NOT at offset {}", self.i));
        }
        if self.keyword("IS") {
            self.skip();
            for (word, value) in [
                ("TRUE", json!(true)),
                ("FALSE", json!(false)),
                ("NULL", Value::Null),
            ] {
                if self.keyword(word) {
                    return Ok(Test::Is(value));
                }
            }
            return Err(format!(
                "expected TRUE, FALSE or NULL after IS at offset {}",
                self.i
            ));
        }
        let op = ["!=", "<=", ">=", "=", "<", ">"]
            .into_iter()
            .find(|op| self.eat(op))
            .ok_or_else(|| format!("expected an operator at offset {}", self.i))?;
        self.skip();
        if self.eat("\"") {
            let mut value = String::new();
            loop {
                match self.s.get(self.i) {
                    None => return Err("unterminated string".into()),
                    Some(b'"') => break,
                    Some(b'\\') if self.s.get(self.i + 1).is_some() => {
                        value.push(char::from(self.s[self.i + 1]));
                        self.i += 2;
                    }
                    Some(_) => {
                        // Copy one UTF-8 character.
                        let rest =
                            std::str::from_utf8(&self.s[self.i..]).map_err(|e| e.to_string())?;
                        let c = rest.chars().next().expect("not at the end");
                        value.push(c);
                        self.i += c.len_utf8();
                    }
                }
            }
            self.i += 1;
            return text_test(op, value);
        }
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !b"()&|}\"".contains(b))
        {
            self.i += 1;
        }
        let word = self.text(start);
        if word.is_empty() {
            return Err(format!("expected a value at offset {start}"));
        }
        match word.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Test::Number { op, value }),
            _ => text_test(op, word),
        }
    }
}

fn text_test(op: &'static str, glob: String) -> Result<Test, String> {
    match op {
        "=" | "!=" => Ok(Test::Text {
            equal: op == "=",
            glob,
        }),
        _ => Err(format!("{op} needs a number, not {glob:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, message: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn json_patterns_select_on_fields() {
        let m = r#"{"type":"StepErrored","details":{"errorType":"BAD_REQUEST","n":3},"list":[1,"x"],"ok":true}"#;
        assert!(matches("", m) && matches("  ", "plain text"));
        assert!(matches(r#"{ $.type = "StepErrored" }"#, m));
        assert!(matches("{$.type=StepErrored}", m));
        assert!(!matches(r#"{ $.type = "StepCompleted" }"#, m));
        assert!(matches(
            r#"{ ($.type = "ExecutionCompleted") || ($.type = "ExecutionErrored") || ($.type = "StepErrored") }"#,
            m
        ));
        assert!(matches(r#"{ $.type = "Step*" && $.details.n >= 3 }"#, m));
        assert!(!matches(r#"{ $.type = "Step*" && $.details.n > 3 }"#, m));
        assert!(matches(r#"{ $.type = * }"#, m) && matches("{ $.type EXISTS }", m));
        assert!(!matches("{ $.type NOT EXISTS }", m));
        assert!(matches("{ $.missing NOT EXISTS }", m));
        assert!(!matches(r#"{ $.missing != "x" }"#, m));
        assert!(matches(r#"{ $.type != "x" }"#, m));
        assert!(matches(r#"{ $.list[1] = "x" && $.ok IS TRUE }"#, m));
        assert!(matches(
            r#"{ $.a = 1 && $.b = 2 || $.type = "StepErrored" }"#,
            m
        ));
        assert!(!matches(
            r#"{ $.a = 1 && ($.b = 2 || $.type = "StepErrored") }"#,
            m
        ));
        // Non-JSON messages and JSON without the field never match a JSON pattern.
        assert!(!matches(r#"{ $.type = * }"#, "ERROR type=StepErrored"));
        assert!(!matches(
            r#"{ $.type = * }"#,
            r#"{"activity-type":"CONNECTED"}"#
        ));
    }

    #[test]
    fn unsupported_patterns_are_errors() {
        for bad in [
            "ERROR",
            "[ip, user, status]",
            "%ERR.*%",
            "{ $.type = }",
            "{ $.type \"x\" }",
            "{ $.type = \"x\"",
            "{ $.type = \"x\" } extra",
            "{ ($.type = \"x\" }",
            "{ type = \"x\" }",
            "{ $.type < abc }",
            "{ $.type = \"x\" ||| $.a = 1 }",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*c", "abbc") && glob_match("a*c", "ac"));
        assert!(!glob_match("a*c", "abcd") && !glob_match("ab*ba", "aba"));
        assert!(glob_match("*b*d*", "abcde"));
    }

    #[test]
    fn truth_counts_outcomes_once_and_phases_in_order() {
        let mut logs = Logs::default();
        logs.set_clock(Some(1_000));
        let g = "/aws/transfer/s-00000000000000001";
        logs.create_group(g);
        let ev = |kind: &str, extra: Value| {
            let mut m =
                json!({ "type": kind, "workflowId": "w-1", "executionId": "e1", "details": {} });
            m["details"] = extra;
            m.to_string()
        };
        let err =
            |name: &str| json!({ "stepName": name, "stepType": "TAG", "errorType": "BAD_REQUEST" });
        logs.put_event(g, "u.w-1.e1", 10, &ev("StepErrored", err("a")));
        logs.put_event(g, "u.w-1.e1", 11, &ev("StepErrored", err("a"))); // duplicate
        logs.put_event(g, "u.w-1.e1", 12, &ev("StepErrored", err("b")));
        logs.put_event(g, "u.w-1.e1", 13, &ev("ExecutionErrored", json!({})));
        logs.put_event(g, "u.w-1.e1", 14, &ev("ExecutionCompleted", json!({})));
        logs.put_event(g, "u.w-1.e1", 15, "not json");
        logs.put_event_delayed(g, "u.w-1.e1", 16, 5_000, &ev("StepErrored", err("late")));
        let t = logs.workflow_truth(..);
        assert_eq!(t.finished("w-1", "exception"), 1);
        assert_eq!(t.finished("w-1", "completed"), 0);
        assert_eq!(t.step_errors("w-1", "steps", "TAG", "BAD_REQUEST"), 1);
        assert_eq!(
            t.step_errors("w-1", "on_exception_steps", "TAG", "BAD_REQUEST"),
            1
        );
        assert_eq!(t.last_end_ms[&("w-1".into(), "exception".into())], 13);
        assert_eq!(
            logs.workflow_truth(12..)
                .step_errors("w-1", "steps", "TAG", "BAD_REQUEST"),
            0
        );
        logs.set_clock(Some(10_000));
        let t = logs.workflow_truth(..);
        assert_eq!(
            t.step_errors("w-1", "on_exception_steps", "TAG", "BAD_REQUEST"),
            2
        );
    }
}
