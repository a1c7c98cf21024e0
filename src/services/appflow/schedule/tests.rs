use proptest::prelude::*;

use super::*;

/// Unix seconds of a UTC date and time.
fn t(y: i64, m: u32, d: u32, h: i64, min: i64) -> f64 {
    (days_from_civil(y, m, d) * DAY + h * 3600 + min * 60) as f64
}

/// A Tuesday.
fn tuesday() -> f64 {
    t(2026, 12, 8, 1, 11)
}

fn parse(text: &str) -> Expression {
    Expression::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The due time after a run that started at `last`, with no start or end time.
fn next(text: &str, last: f64) -> Option<f64> {
    parse(text)
        .due(&ScheduleConfig::default(), Some(last), None)
        .map(|d| d.next)
}

fn due(text: &str, last: f64) -> Due {
    parse(text)
        .due(&ScheduleConfig::default(), Some(last), None)
        .unwrap()
}

#[test]
fn the_calendar_round_trips() {
    for days in [-800_000, -1, 0, 1, 59, 60, 10_956, 20_795, 2_932_896] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
    }
    assert_eq!(civil_from_days(20_795), (2026, 12, 8));
    assert_eq!(
        Utc(t(2026, 12, 8, 0, 0) as i64).civil_weekday(),
        Weekday::Tuesday
    );
}

/// The examples of EventBridge's "Cron expressions reference".
#[test]
fn eventbridge_documentation_examples() {
    // 10:00 every day.
    let d = due("cron(0 10 * * ? *)", tuesday());
    assert_eq!(d.next, t(2026, 12, 8, 10, 0));
    assert_eq!(d.interval, Some(86_400.0));
    // 12:15 every day; strictly after a run at that very time.
    assert_eq!(
        next("cron(15 12 * * ? *)", t(2026, 12, 8, 12, 15)),
        Some(t(2026, 12, 9, 12, 15))
    );
    // 18:00 Monday to Friday: after Friday's, Monday's, three days on.
    let d = due("cron(0 18 ? * MON-FRI *)", t(2026, 12, 11, 18, 0));
    assert_eq!(d.next, t(2026, 12, 14, 18, 0));
    assert_eq!(d.interval, Some(3.0 * 86_400.0));
    // 8:00 on the first day of every month.
    let d = due("cron(0 8 1 * ? *)", tuesday());
    assert_eq!(d.next, t(2027, 1, 1, 8, 0));
    assert_eq!(d.interval, Some(31.0 * 86_400.0));
    // Every 15 minutes.
    let d = due("cron(0/15 * * * ? *)", tuesday());
    assert_eq!(d.next, t(2026, 12, 8, 1, 15));
    assert_eq!(d.interval, Some(900.0));
    // Every 10 minutes Monday to Friday: from Saturday, Monday 00:00, after Friday 23:50.
    let d = due("cron(0/10 * ? * MON-FRI *)", t(2026, 12, 12, 12, 0));
    assert_eq!(d.next, t(2026, 12, 14, 0, 0));
    assert_eq!(d.interval, Some(2.0 * 86_400.0 + 600.0));
    // Every 5 minutes Monday to Friday between 8:00 and 17:55.
    let d = due("cron(0/5 8-17 ? * MON-FRI *)", t(2026, 12, 8, 17, 55));
    assert_eq!(d.next, t(2026, 12, 9, 8, 0));
    assert_eq!(d.interval, Some(14.0 * 3600.0 + 300.0));
    // 9:00 on the first Monday of every month (2 is Monday).
    assert_eq!(
        next("cron(0 9 ? * 2#1 *)", tuesday()),
        Some(t(2027, 1, 4, 9, 0))
    );
}

#[test]
fn weekdays_count_from_sunday_as_one() {
    assert_eq!(
        next("cron(0 12 ? * 1 *)", tuesday()),
        Some(t(2026, 12, 13, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 ? * SUN *)", tuesday()),
        Some(t(2026, 12, 13, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 ? * 7 *)", tuesday()),
        Some(t(2026, 12, 12, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 ? * 3 *)", tuesday()),
        Some(t(2026, 12, 8, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 ? * mon-fri *)", tuesday()),
        Some(t(2026, 12, 8, 12, 0))
    );
    // L alone: the last day of the week, Saturday; 6L: the last Friday of the month.
    assert_eq!(
        next("cron(0 12 ? * L *)", tuesday()),
        Some(t(2026, 12, 12, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 ? * 6L *)", tuesday()),
        Some(t(2026, 12, 25, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 ? * FRI#2 *)", tuesday()),
        Some(t(2026, 12, 11, 12, 0))
    );
    // Steps over the week: 1/2 is SUN, TUE, THU, SAT.
    assert_eq!(
        next("cron(0 0 ? * 1/2 *)", tuesday()),
        Some(t(2026, 12, 10, 0, 0))
    );
}

#[test]
fn days_of_month_last_and_weekday() {
    assert_eq!(
        next("cron(0 12 L * ? *)", tuesday()),
        Some(t(2026, 12, 31, 12, 0))
    );
    // The 26th is a Saturday: the nearest weekday is Friday the 25th.
    assert_eq!(
        next("cron(0 12 26W * ? *)", tuesday()),
        Some(t(2026, 12, 25, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 LW * ? *)", tuesday()),
        Some(t(2026, 12, 31, 12, 0))
    );
    assert_eq!(
        next("cron(0 0 1,15 * ? *)", tuesday()),
        Some(t(2026, 12, 15, 0, 0))
    );
    assert_eq!(
        next("cron(30 6 ? JAN-MAR MON *)", tuesday()),
        Some(t(2027, 1, 4, 6, 30))
    );
    // Both day fields `*`, or `*` beside a restriction, read as `?`.
    assert_eq!(
        next("cron(0 12 * * * *)", tuesday()),
        Some(t(2026, 12, 8, 12, 0))
    );
    assert_eq!(
        next("cron(0 12 * * FRI *)", tuesday()),
        Some(t(2026, 12, 11, 12, 0))
    );
}

#[test]
fn the_year_field_is_honoured() {
    let first = t(2028, 1, 1, 0, 0);
    let d = due("cron(0 0 1 1 ? 2028)", tuesday());
    assert_eq!(d.next, first);
    // Its first fire time ever: no interval.
    assert_eq!(d.interval, None);
    assert_eq!(next("cron(0 0 1 1 ? 2028)", first), None);
    assert_eq!(next("cron(0 0 1 1 ? 2020)", tuesday()), None);
    assert_eq!(
        next("cron(0 0 1 1 ? 2027-2030/2)", first),
        Some(t(2029, 1, 1, 0, 0))
    );
    assert_eq!(
        due("cron(0 0 1 1 ? 2027,2029)", first).interval,
        Some(t(2029, 1, 1, 0, 0) - t(2027, 1, 1, 0, 0))
    );
}

#[test]
fn rates_with_or_without_the_space_singular_or_plural() {
    for (text, seconds) in [
        ("rate(5minutes)", 300),
        ("rate(5 minutes)", 300),
        ("rate(1 minute)", 60),
        ("rate(1minute)", 60),
        ("rate(2 Hours)", 7200),
        ("rate(1hour)", 3600),
        ("rate(1 day)", 86_400),
        ("RATE(7days)", 7 * 86_400),
        (" rate( 12 hours ) ", 12 * 3600),
    ] {
        match parse(text) {
            Expression::Rate(s) => assert_eq!(s, seconds, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // A rate fires every interval after the previous run started.
    let d = due("rate(5minutes)", 1000.5);
    assert_eq!(
        d,
        Due {
            next: 1300.5,
            interval: Some(300.0)
        }
    );
}

#[test]
fn unreadable_expressions_say_why() {
    for text in [
        "",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "rate(minutes)",
        "rate(-5 minutes)",
        "rate(99999999999999999 days)",
        "at(2026-01-01T00:00:00)",
        "cron(0 12 * * ?)",
        "cron(0 12 * * ? * *)",
        "cron(0 12 1 * MON *)",
        "cron(0 12 ? * 8 *)",
        "cron(0 12 ? * 0 *)",
        "cron(61 * * * ? *)",
        "cron(0 25 * * ? *)",
        "cron(0 12 ? * MON#6 *)",
        "cron(0 12 ? * SAT-MON *)",
        "cron(0 12 32 * ? *)",
        "cron(0 12 L-3 * ? *)",
        "cron(x 12 * * ? *)",
        "cron(0 12 * * ? *",
    ] {
        assert!(Expression::parse(text).is_err(), "{text:?} read");
    }
}

#[test]
fn offsets_shift_cron_fire_times() {
    let config = ScheduleConfig {
        offset: Some(300).into(),
        ..ScheduleConfig::default()
    };
    let cron = parse("cron(0 * * * ? *)");
    let at = |last| cron.due(&config, Some(last), None).unwrap().next;
    assert_eq!(at(t(2026, 12, 8, 1, 11)), t(2026, 12, 8, 2, 5));
    assert_eq!(at(t(2026, 12, 8, 1, 4)), t(2026, 12, 8, 1, 5));
    assert_eq!(at(t(2026, 12, 8, 1, 5)), t(2026, 12, 8, 2, 5));
}

#[test]
fn start_and_end_times_are_respected() {
    let start = t(2026, 12, 20, 6, 30);
    let config = ScheduleConfig {
        start: Some(start).into(),
        end: Some(t(2026, 12, 31, 0, 0)).into(),
        ..ScheduleConfig::default()
    };
    let daily = parse("cron(0 8 * * ? *)");
    // A run before the start time: the first fire time at or after the start.
    assert_eq!(
        daily.due(&config, Some(tuesday()), None).unwrap().next,
        t(2026, 12, 20, 8, 0)
    );
    // No run: the first fire time at or after the start, whatever lastUpdatedAt says.
    assert_eq!(
        daily.due(&config, None, Some(0.0)).unwrap().next,
        t(2026, 12, 20, 8, 0)
    );
    // The start time itself fires when it is a fire time.
    let exact = ScheduleConfig {
        start: Some(t(2026, 12, 20, 8, 0)).into(),
        ..config.clone()
    };
    assert_eq!(
        daily.due(&exact, None, None).unwrap().next,
        t(2026, 12, 20, 8, 0)
    );
    // After the end time: absent.
    assert_eq!(daily.due(&config, Some(t(2026, 12, 30, 8, 0)), None), None);
    assert!(daily
        .due(&config, Some(t(2026, 12, 29, 8, 0)), None)
        .is_some());

    let rate = parse("rate(1 hour)");
    // No run: the first run is at the start time (plus the offset).
    let offset = ScheduleConfig {
        offset: Some(60).into(),
        ..config.clone()
    };
    assert_eq!(rate.due(&offset, None, None).unwrap().next, start + 60.0);
    assert_eq!(
        rate.due(&config, Some(tuesday()), None).unwrap().next,
        start
    );
    assert_eq!(
        rate.due(&config, Some(start + 10.0), None).unwrap().next,
        start + 3610.0
    );
    assert_eq!(rate.due(&config, Some(t(2026, 12, 30, 23, 30)), None), None);
}

#[test]
fn without_a_run_or_a_start_the_last_update_counts() {
    let none = ScheduleConfig::default();
    let updated = t(2026, 12, 8, 1, 11);
    assert_eq!(
        parse("rate(1 hour)")
            .due(&none, None, Some(updated))
            .unwrap()
            .next,
        updated + 3600.0
    );
    assert_eq!(
        parse("cron(0 * * * ? *)")
            .due(&none, None, Some(updated))
            .unwrap()
            .next,
        t(2026, 12, 8, 2, 0)
    );
    assert_eq!(parse("rate(1 hour)").due(&none, None, None), None);
}

const EXPRESSIONS: &[&str] = &[
    "cron(0 10 * * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 12 ? * 6L *)",
    "cron(0 12 L * ? *)",
    "cron(0 12 15W * ? *)",
    "cron(30 23 29 2 ? *)",
    "cron(0 0 1 1 ? 2030-2040)",
    "cron(7 1/3 ? * SUN,WED *)",
];

proptest! {
    /// The due time is strictly after the run, is itself a fire time, and no fire
    /// time lies between the two (the one before it is not after the run).
    #[test]
    fn the_due_time_is_the_next_fire_time(
        i in 0..EXPRESSIONS.len(),
        last in 0i64..4_000_000_000,
        fraction in 0.0f64..1.0,
        offset in 0i64..36_000,
    ) {
        let last = last as f64 + fraction;
        let expression = parse(EXPRESSIONS[i]);
        let config = ScheduleConfig { offset: Some(offset).into(), ..ScheduleConfig::default() };
        let Expression::Cron(cron) = &expression else { unreachable!() };
        if let Some(d) = expression.due(&config, Some(last), None) {
            prop_assert!(d.next > last, "{} after {last}: {}", EXPRESSIONS[i], d.next);
            let fire = d.next as i64 - offset;
            prop_assert!(cron.is_time_matching(&Utc(fire)).unwrap());
            if let Some(interval) = d.interval {
                prop_assert!(interval > 0.0);
                prop_assert!(d.next - interval <= last);
                prop_assert!(cron.is_time_matching(&Utc(fire - interval as i64)).unwrap());
            }
        } else {
            // Only the bounded years end.
            prop_assert!(EXPRESSIONS[i].contains("2030"));
        }
    }

    /// A rate is due one interval after the run started.
    #[test]
    fn a_rate_is_due_one_interval_after_the_run(n in 1i64..1000, last in 0.0f64..4e9) {
        let d = parse(&format!("rate({n} minutes)")).due(&ScheduleConfig::default(), Some(last), None).unwrap();
        prop_assert_eq!(d.next, last + n as f64 * 60.0);
        prop_assert!(d.next > last);
    }
}
