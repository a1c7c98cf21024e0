//! AppFlow schedules: when a scheduled flow is next due, so that a run that never
//! happens alerts (docs/schedules.md says what is read and the choices made).
//!
//! `rate(...)` is read here. `cron(...)` is EventBridge's six-field syntax; croner
//! does the calendar work, given a pattern adapted at the edge: a seconds field in
//! front, `?` only where croner reads it the same way, Quartz weekday numbers
//! (1-7 = SUN-SAT, as EventBridge), and the year field, which croner honours.

use std::cmp::Ordering;
use std::fmt;

use croner::parser::{CronParser, Seconds, Year};

use crate::compact::{OptF64, OptI64};
use crate::interned::Interned;
use croner::{CivilDate, CivilDateTime, CivilTime, Cron, CronDateTime, Resolution, Weekday};

/// `triggerConfig.triggerProperties.Scheduled` of DescribeFlow, as given; 40 bytes
/// (every scheduled flow keeps one), the expression shared between flows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScheduleConfig {
    /// `scheduleExpression`; None when AWS sent none.
    pub expression: Option<Interned>,
    pub start: OptF64,
    pub end: OptF64,
    /// `scheduleOffset`, seconds (the API allows 0..=36000).
    pub offset: OptI64,
    /// `flowErrorDeactivationThreshold`.
    pub threshold: OptI64,
}

/// A readable schedule expression.
#[derive(Clone, Debug)]
pub enum Expression {
    /// `rate(N unit)`: the interval in seconds.
    Rate(i64),
    Cron(Box<Cron>),
}

/// Why an expression cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable(String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn unreadable(why: impl Into<String>) -> Unreadable {
    Unreadable(why.into())
}

/// When the schedule is next due, and the interval that leads to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Due {
    pub next: f64,
    /// None for a cron schedule whose due time is its first fire time ever.
    pub interval: Option<f64>,
}

impl Expression {
    /// Reads `rate(...)` or `cron(...)`; surrounding blanks are ignored.
    pub fn parse(text: &str) -> Result<Expression, Unreadable> {
        let text = text.trim();
        let inner = |prefix: &str| {
            text.get(..prefix.len())
                .filter(|p| p.eq_ignore_ascii_case(prefix))
                .and_then(|_| text[prefix.len()..].strip_suffix(')'))
        };
        if let Some(rate) = inner("rate(") {
            return parse_rate(rate).map(Expression::Rate);
        }
        if let Some(fields) = inner("cron(") {
            return parse_cron(fields).map(|c| Expression::Cron(Box::new(c)));
        }
        Err(unreadable("neither rate(...) nor cron(...)"))
    }

    /// The first fire time strictly after `t` (cron: before the offset is added).
    fn cron_after(cron: &Cron, t: i64, inclusive: bool) -> Option<i64> {
        cron.find_next_occurrence(&Utc(t), inclusive)
            .ok()
            .map(|u| u.0)
    }

    fn cron_before(cron: &Cron, t: i64) -> Option<i64> {
        cron.find_previous_occurrence(&Utc(t), false)
            .ok()
            .map(|u| u.0)
    }

    /// When the schedule is next due. `last_start`: the newest execution's start;
    /// without one, `updated` (the flow's lastUpdatedAt) stands in for a missing
    /// start time. None: the schedule never fires again (past its end time, or a
    /// cron whose years are over), or there is nothing to count from.
    pub fn due(
        &self,
        config: &ScheduleConfig,
        last_start: Option<f64>,
        updated: Option<f64>,
    ) -> Option<Due> {
        let (start, end) = (config.start.get(), config.end.get());
        let offset = config.offset.get().unwrap_or(0) as f64;
        let due = match self {
            Expression::Rate(every) => {
                let every = *every as f64;
                let next = match (last_start, start) {
                    // The previous run already holds the offset.
                    (Some(last), start) => {
                        (last + every).max(start.map_or(f64::MIN, |s| s + offset))
                    }
                    // The first run is at the start time.
                    (None, Some(start)) => start + offset,
                    (None, None) => updated? + every,
                };
                Due {
                    next,
                    interval: Some(every),
                }
            }
            Expression::Cron(cron) => {
                // Fire times are the cron's, in UTC, plus the offset: search in the
                // cron's own time and shift back.
                let shift = config.offset.get().unwrap_or(0);
                // The first fire time at or after the start time (Some(None): none is).
                let first = start.map(|s| Self::cron_after(cron, (s - offset).ceil() as i64, true));
                let reference = match (last_start, start) {
                    (Some(last), _) => Some(last),
                    (None, None) => Some(updated?),
                    (None, Some(_)) => None,
                };
                let after = |r: f64| Self::cron_after(cron, (r - offset).floor() as i64, false);
                let next = match (reference, first) {
                    (Some(r), None) => after(r)?,
                    (Some(r), Some(first)) => after(r)?.max(first?),
                    (None, Some(first)) => first?,
                    (None, None) => return None,
                };
                Due {
                    next: (next + shift) as f64,
                    interval: Self::cron_before(cron, next).map(|before| (next - before) as f64),
                }
            }
        };
        match end {
            Some(end) if due.next > end => None,
            _ => Some(due),
        }
    }
}

/// `5minutes`, `5 minutes`, `1 hour`, `1day`...: seconds.
fn parse_rate(rate: &str) -> Result<i64, Unreadable> {
    let rate = rate.trim();
    let digits = rate.bytes().take_while(u8::is_ascii_digit).count();
    let n: i64 = rate[..digits]
        .parse()
        .map_err(|_| unreadable("rate without a number"))?;
    let unit = match rate[digits..].trim().to_ascii_lowercase().as_str() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        other => return Err(unreadable(format!("rate unit {other:?}"))),
    };
    if n <= 0 {
        return Err(unreadable("a rate of 0"));
    }
    n.checked_mul(unit)
        .ok_or_else(|| unreadable("a rate too long"))
}

/// EventBridge's `min hour day-of-month month day-of-week year`, as croner reads it.
fn parse_cron(fields: &str) -> Result<Cron, Unreadable> {
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let [minute, hour, dom, month, dow, year] = fields[..] else {
        return Err(unreadable(format!(
            "{} fields where cron(...) has 6",
            fields.len()
        )));
    };
    // EventBridge wants `?` in one of the two day fields. A `*` there reads the same
    // (croner ANDs a wildcard with the other field); two restrictions are refused,
    // as EventBridge does, since cron's OR of them is not what EventBridge would do.
    let free = |f: &str| f == "?" || f == "*";
    let (dom, dow) = match (free(dom), free(dow)) {
        (true, true) => (dom, "*"),
        (true, false) | (false, true) => (dom, dow),
        (false, false) => {
            return Err(unreadable(
                "day-of-month and day-of-week both set: one must be ?",
            ))
        }
    };
    // A lone `L` in day-of-week is the last day of the week: Saturday.
    let dow = if dow.eq_ignore_ascii_case("L") {
        "7".to_string()
    } else {
        check_weekdays(dow)?;
        dow.to_string()
    };
    let pattern = format!("0 {minute} {hour} {dom} {month} {dow} {year}");
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&pattern)
        .map_err(|e| unreadable(e.to_string()))
}

/// Weekday numbers are 1-7 (croner's Quartz mode would take an 8).
fn check_weekdays(dow: &str) -> Result<(), Unreadable> {
    for item in dow.split(',') {
        let base = item.split('#').next().unwrap_or("");
        let base = base.strip_suffix(['L', 'l']).unwrap_or(base);
        let values = base.split('/').next().unwrap_or("");
        for value in values.split('-') {
            if let Ok(n) = value.parse::<u32>() {
                if !(1..=7).contains(&n) {
                    return Err(unreadable(format!("day-of-week {n}: 1-7 is SUN-SAT")));
                }
            }
        }
    }
    Ok(())
}

/// A UTC instant in whole seconds: what croner searches over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Utc(i64);

const DAY: i64 = 86_400;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl CronDateTime for Utc {
    fn to_civil(&self) -> CivilDateTime {
        let (days, secs) = (self.0.div_euclid(DAY), self.0.rem_euclid(DAY));
        let (y, m, d) = civil_from_days(days);
        let secs = secs as u32;
        CivilDateTime::new(
            CivilDate::from_parts_unchecked(y as i32, m, d),
            CivilTime::from_parts_unchecked(secs / 3600, secs / 60 % 60, secs % 60),
        )
    }

    fn civil_weekday(&self) -> Weekday {
        // 1970-01-01 was a Thursday.
        Weekday::from_days_from_sunday((self.0.div_euclid(DAY) + 4).rem_euclid(7) as u32)
    }

    fn resolve_civil(
        &self,
        c: CivilDateTime,
    ) -> Result<Resolution<Self>, croner::errors::CronError> {
        let days = days_from_civil(i64::from(c.year()), c.month(), c.day());
        let secs = i64::from(c.hour() * 3600 + c.minute() * 60 + c.second());
        Ok(Resolution::Single(Utc(days * DAY + secs)))
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0.checked_add(seconds).map(Utc)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests;
