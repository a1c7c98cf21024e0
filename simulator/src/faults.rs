//! Fault injection: misbehaviour the server applies to chosen operations before (or instead of)
//! answering normally, so clients can be tested against throttling, errors and broken transports.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Matches every operation in [`Faults`] calls.
pub const ANY: &str = "*";

/// One kind of misbehaviour. Error variants are rendered in the protocol and with the codes of
/// the service that owns the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error (AppFlow: 429 ThrottlingException).
    Throttle,
    /// Like `Throttle`, plus a `Retry-After: N` header.
    ThrottleRetryAfter(u64),
    /// 500 InternalServerException.
    ServerError,
    /// 403 AccessDeniedException.
    AccessDenied,
    /// 404 ResourceNotFoundException.
    NotFound,
    /// 200 with a body that is not valid JSON.
    Malformed,
    /// 200 whose `Content-Length` says more than is sent, then the connection closes.
    Truncated,
    /// Close the connection without any response.
    Drop,
    /// Wait this long, then answer normally.
    Hang(Duration),
    /// Answer normally, but ignore the page size asked for: the whole rest of a listing in one
    /// page, far larger than AWS's limit.
    Oversize,
}

/// Parses `Throttle`, `ThrottleRetryAfter:5`, `ServerError`, `AccessDenied`, `NotFound`,
/// `Malformed`, `Truncated`, `Drop`, `Oversize` and `Hang:2s` (used by the binary's control endpoint).
impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Fault, String> {
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (s, None),
        };
        let fault = match (name, arg) {
            ("Throttle", None) => Fault::Throttle,
            ("ThrottleRetryAfter", Some(n)) => {
                Fault::ThrottleRetryAfter(n.parse().map_err(|_| format!("bad seconds {n:?}"))?)
            }
            ("ServerError", None) => Fault::ServerError,
            ("AccessDenied", None) => Fault::AccessDenied,
            ("NotFound", None) => Fault::NotFound,
            ("Malformed", None) => Fault::Malformed,
            ("Truncated", None) => Fault::Truncated,
            ("Drop", None) => Fault::Drop,
            ("Oversize", None) => Fault::Oversize,
            ("Hang", Some(d)) => Fault::Hang(parse_duration(d)?),
            _ => return Err(format!("unknown fault {s:?}")),
        };
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::ThrottleRetryAfter(n) => write!(f, "ThrottleRetryAfter:{n}"),
            Fault::Hang(d) => write!(f, "Hang:{}ms", d.as_millis()),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h` or a bare number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("bad duration unit in {s:?}")),
    };
    number
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("bad duration {s:?}"))
}

#[derive(Clone, Debug)]
struct Injected {
    operation: String,
    fault: Fault,
    remaining: u32,
}

/// The faults and latencies currently configured. Counted injections are consumed first (oldest
/// first), then standing `always` faults apply.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    injected: Vec<Injected>,
    always: Vec<(String, Fault)>,
    latency: HashMap<String, Duration>,
}

/// Whether `pattern` selects a call of `operation` in `service`. Patterns: `*` (every call),
/// `ListWorkflows` (that operation in any service), `transfer:*` (every call of one service) and
/// `transfer:ListWorkflows` (one operation of one service: Transfer and Customer Profiles both
/// have a ListWorkflows).
fn matches(pattern: &str, service: &str, operation: &str) -> bool {
    match pattern.split_once(':') {
        Some((s, op)) => s == service && (op == ANY || op == operation),
        None => pattern == ANY || pattern == operation,
    }
}

impl Faults {
    /// Apply `fault` to the next `times` calls of `operation` ("ListFlows", ... or "*" for every operation).
    pub fn inject(&mut self, operation: &str, fault: Fault, times: u32) {
        if times > 0 {
            self.injected.push(Injected {
                operation: operation.to_owned(),
                fault,
                remaining: times,
            });
        }
    }

    /// Apply `fault` to every call of `operation` until cleared.
    pub fn always(&mut self, operation: &str, fault: Fault) {
        self.always.push((operation.to_owned(), fault));
    }

    /// Extra latency added to every call of `operation` ("*" = all). A per-operation latency
    /// replaces the "*" one; `Duration::ZERO` removes the setting.
    pub fn set_latency(&mut self, operation: &str, latency: std::time::Duration) {
        if latency.is_zero() {
            self.latency.remove(operation);
        } else {
            self.latency.insert(operation.to_owned(), latency);
        }
    }

    /// Removes every fault and latency.
    pub fn clear(&mut self) {
        *self = Faults::default();
    }

    /// How many counted injections are still waiting for `operation` of `service` (wildcards
    /// included).
    pub fn pending(&self, service: &str, operation: &str) -> u32 {
        self.injected
            .iter()
            .filter(|i| matches(&i.operation, service, operation))
            .map(|i| i.remaining)
            .sum()
    }

    /// The fault for one call of `operation`, consuming one counted injection if any applies.
    pub(crate) fn take(&mut self, service: &str, operation: &str) -> Option<Fault> {
        if let Some(pos) = self
            .injected
            .iter()
            .position(|i| matches(&i.operation, service, operation))
        {
            let entry = &mut self.injected[pos];
            entry.remaining -= 1;
            let fault = entry.fault.clone();
            if entry.remaining == 0 {
                self.injected.remove(pos);
            }
            return Some(fault);
        }
        self.always
            .iter()
            .find(|(op, _)| matches(op, service, operation))
            .map(|(_, fault)| fault.clone())
    }

    /// The extra latency for one call of `operation` in `service`: the most specific setting wins.
    pub(crate) fn latency(&self, service: &str, operation: &str) -> Duration {
        [
            format!("{service}:{operation}"),
            operation.to_owned(),
            format!("{service}:{ANY}"),
            ANY.to_owned(),
        ]
        .iter()
        .find_map(|key| self.latency.get(key))
        .copied()
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_faults_are_consumed_in_order_then_always_applies() {
        let mut faults = Faults::default();
        faults.always("ListFlows", Fault::ServerError);
        faults.inject("ListFlows", Fault::Throttle, 2);
        faults.inject("*", Fault::Drop, 1);
        assert_eq!(faults.pending("appflow", "ListFlows"), 3);
        assert_eq!(faults.pending("appflow", "DescribeFlow"), 1);
        assert_eq!(faults.take("appflow", "DescribeFlow"), Some(Fault::Drop));
        assert_eq!(faults.take("appflow", "DescribeFlow"), None);
        assert_eq!(faults.take("appflow", "ListFlows"), Some(Fault::Throttle));
        assert_eq!(faults.take("appflow", "ListFlows"), Some(Fault::Throttle));
        assert_eq!(
            faults.take("appflow", "ListFlows"),
            Some(Fault::ServerError)
        );
        assert_eq!(
            faults.take("appflow", "ListFlows"),
            Some(Fault::ServerError)
        );
        faults.clear();
        assert_eq!(faults.take("appflow", "ListFlows"), None);
    }

    #[test]
    fn specific_latency_overrides_wildcard() {
        let mut faults = Faults::default();
        faults.set_latency("*", Duration::from_millis(10));
        faults.set_latency("ListFlows", Duration::from_millis(30));
        assert_eq!(
            faults.latency("appflow", "ListFlows"),
            Duration::from_millis(30)
        );
        assert_eq!(
            faults.latency("appflow", "DescribeFlow"),
            Duration::from_millis(10)
        );
        faults.set_latency("*", Duration::ZERO);
        assert_eq!(faults.latency("appflow", "DescribeFlow"), Duration::ZERO);
    }

    #[test]
    fn service_qualified_patterns_select_one_service() {
        let mut faults = Faults::default();
        faults.always("transfer:ListWorkflows", Fault::ServerError);
        faults.inject("customerprofiles:*", Fault::Throttle, 1);
        faults.set_latency("transfer:*", Duration::from_millis(5));
        assert_eq!(
            faults.take("customerprofiles", "ListWorkflows"),
            Some(Fault::Throttle)
        );
        assert_eq!(faults.take("customerprofiles", "ListWorkflows"), None);
        assert_eq!(
            faults.take("transfer", "ListWorkflows"),
            Some(Fault::ServerError)
        );
        assert_eq!(faults.take("transfer", "ListExecutions"), None);
        assert_eq!(
            faults.latency("transfer", "ListExecutions"),
            Duration::from_millis(5)
        );
        assert_eq!(faults.latency("appflow", "ListFlows"), Duration::ZERO);
    }

    #[test]
    fn faults_parse_and_display() {
        for text in ["Throttle", "ThrottleRetryAfter:7", "Drop", "Hang:1500ms"] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
        assert_eq!("Hang:2s".parse(), Ok(Fault::Hang(Duration::from_secs(2))));
        assert!("Hang".parse::<Fault>().is_err());
        assert!("Explode".parse::<Fault>().is_err());
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
