//! Schedules (metrics.md, "Schedules (v4)"): the four series and what DescribeFlow costs.

use super::*;

fn series(family: &str, name: &str) -> String {
    format!("{family}{{flow_name=\"{name}\",region=\"us-east-1\"}}")
}

const NEXT: &str = "aws_appflow_flow_next_scheduled_run_timestamp_seconds";
const INTERVAL: &str = "aws_appflow_flow_schedule_interval_seconds";
const FAILURES: &str = "aws_appflow_flow_consecutive_failures";
const THRESHOLD: &str = "aws_appflow_flow_error_deactivation_threshold";

impl Fake {
    /// Makes `name` a scheduled flow with this expression and threshold.
    fn schedule(&self, name: &str, expression: &str, threshold: Option<i64>) {
        let mut flows = self.flows.lock().unwrap();
        let flow = flows.iter_mut().find(|f| f.name == name).unwrap();
        flow.trigger_type = Some("Scheduled".into());
        flow.last_updated_at = Some(NOW - 86_400.0);
        self.schedules.lock().unwrap().insert(
            name.into(),
            ScheduleConfig {
                expression: Some(crate::interned::Interned::new(expression)),
                threshold: threshold.into(),
                ..ScheduleConfig::default()
            },
        );
    }
    fn describes(&self) -> usize {
        self.take_calls()
            .iter()
            .filter(|c| c.starts_with("DescribeFlow "))
            .count()
    }
}

#[tokio::test]
async fn a_scheduled_flow_is_due_one_interval_after_its_newest_run() {
    let fake = Fake::shared(100);
    fake.set(
        "hourly",
        vec![
            run("c", "Error", NOW - 100.0),
            run("b", "Error", NOW - 3700.0),
            run("a", "Successful", NOW - 7300.0),
        ],
    );
    fake.schedule("hourly", "rate(1hours)", Some(5));
    fake.set("daily", vec![run("d", "Successful", NOW - 600.0)]);
    fake.schedule("daily", "cron(0 10 * * ? *)", None);
    fake.set("manual", vec![run("m", "Error", NOW - 60.0)]);
    let mut c = collector(&fake);
    let text = collect(&mut c).await;
    assert_eq!(fake.describes(), 2, "one DescribeFlow per scheduled flow");
    assert_eq!(value(&text, &series(NEXT, "hourly")), Some(NOW + 3500.0));
    assert_eq!(value(&text, &series(INTERVAL, "hourly")), Some(3600.0));
    assert_eq!(value(&text, &series(FAILURES, "hourly")), Some(2.0));
    assert_eq!(value(&text, &series(THRESHOLD, "hourly")), Some(5.0));
    // NOW is 2023-11-14 22:13:20 UTC: the next 10:00 is the 15th's.
    assert_eq!(value(&text, &series(NEXT, "daily")), Some(1_700_042_400.0));
    assert_eq!(value(&text, &series(INTERVAL, "daily")), Some(86_400.0));
    assert_eq!(value(&text, &series(THRESHOLD, "daily")), None);
    assert_eq!(value(&text, &series(FAILURES, "daily")), Some(0.0));
    // Not scheduled: failures only.
    assert_eq!(value(&text, &series(NEXT, "manual")), None);
    assert_eq!(value(&text, &series(FAILURES, "manual")), Some(1.0));

    // Unchanged: no DescribeFlow; a new run moves the due time.
    let mut runs = vec![run("e", "Successful", NOW + 3500.0)];
    runs.extend(fake.records.lock().unwrap()["hourly"].clone());
    fake.set("hourly", runs);
    for _ in 0..2 {
        let text = collect(&mut c).await;
        assert_eq!(fake.describes(), 0);
        assert_eq!(value(&text, &series(NEXT, "hourly")), Some(NOW + 7100.0));
        assert_eq!(value(&text, &series(FAILURES, "hourly")), Some(0.0));
    }

    // Updated (lastUpdatedAt changes): described again, the new schedule applies.
    fake.schedule("hourly", "rate(2 hours)", None);
    fake.flows.lock().unwrap()[0].last_updated_at = Some(NOW);
    let text = collect(&mut c).await;
    assert_eq!(fake.describes(), 1);
    assert_eq!(value(&text, &series(NEXT, "hourly")), Some(NOW + 10_700.0));
    assert_eq!(value(&text, &series(THRESHOLD, "hourly")), None);

    // No longer scheduled: the schedule series go.
    fake.flows.lock().unwrap()[0].trigger_type = Some("OnDemand".into());
    fake.flows.lock().unwrap()[0].last_updated_at = Some(NOW + 1.0);
    let text = collect(&mut c).await;
    assert_eq!(fake.describes(), 0);
    assert_eq!(value(&text, &series(NEXT, "hourly")), None);
    assert_eq!(value(&text, &series(INTERVAL, "hourly")), None);
    assert_eq!(value(&text, &series(FAILURES, "hourly")), Some(0.0));
}

#[tokio::test]
async fn the_newest_run_counts_after_it_leaves_the_lookback() {
    let fake = Fake::shared(100);
    // A run every two weeks, the last ten days ago: outside the 7-day lookback.
    fake.set(
        "fortnightly",
        vec![run("a", "Successful", NOW - 10.0 * 86_400.0)],
    );
    fake.schedule("fortnightly", "rate(14 days)", None);
    let mut c = collector(&fake);
    let text = collect(&mut c).await;
    assert_eq!(
        value(&text, &series(NEXT, "fortnightly")),
        Some(NOW + 4.0 * 86_400.0)
    );
    // Never run, no start time: one interval after lastUpdatedAt.
    fake.set("new", vec![]);
    fake.schedule("new", "rate(1 day)", None);
    let text = collect(&mut c).await;
    assert_eq!(value(&text, &series(NEXT, "new")), Some(NOW));
}

#[tokio::test]
async fn an_unreadable_expression_has_no_schedule_series_and_fails_nothing() {
    let fake = Fake::shared(100);
    fake.set("odd", vec![run("a", "Error", NOW - 100.0)]);
    fake.schedule("odd", "every(5 minutes)", Some(3));
    let mut c = collector(&fake);
    for _ in 0..2 {
        let text = collect(&mut c).await;
        assert_eq!(value(&text, &series(NEXT, "odd")), None);
        assert_eq!(value(&text, &series(INTERVAL, "odd")), None);
        assert_eq!(value(&text, &series(THRESHOLD, "odd")), Some(3.0));
        assert_eq!(value(&text, &series(FAILURES, "odd")), Some(1.0));
    }
    let flow = &c.state.flows["odd"];
    assert!(flow.schedule.as_ref().unwrap().warned());
}

#[tokio::test]
async fn a_schedule_past_its_end_time_has_no_due_time() {
    let fake = Fake::shared(100);
    fake.set("ended", vec![run("a", "Successful", NOW - 100.0)]);
    fake.schedule("ended", "rate(1 hour)", None);
    fake.schedules.lock().unwrap().get_mut("ended").unwrap().end = Some(NOW).into();
    let mut c = collector(&fake);
    let text = collect(&mut c).await;
    assert_eq!(value(&text, &series(NEXT, "ended")), None);
}

#[tokio::test]
async fn schedules_are_saved_and_restored_without_describing_again() {
    let fake = Fake::shared(100);
    fake.set("hourly", vec![run("a", "Successful", NOW - 100.0)]);
    fake.schedule("hourly", "rate(1 hour)", Some(4));
    fake.schedules
        .lock()
        .unwrap()
        .get_mut("hourly")
        .unwrap()
        .offset = Some(30).into();
    let mut before = collector(&fake);
    let expected = collect(&mut before).await;
    let saved = before.state.saved().unwrap();
    fake.take_calls();

    let mut after = collector(&fake);
    after.state.restore(&saved, FORMAT_VERSION, NOW).unwrap();
    assert_eq!(after.state.saved().unwrap(), saved);
    let text = collect(&mut after).await;
    assert_eq!(fake.describes(), 0, "the schedule was restored");
    for family in [NEXT, INTERVAL, THRESHOLD, FAILURES] {
        let s = series(family, "hourly");
        assert_eq!(value(&text, &s), value(&expected, &s), "{family}");
    }
    assert_eq!(value(&text, &series(NEXT, "hourly")), Some(NOW + 3500.0));
}

#[tokio::test]
async fn a_state_saved_before_schedules_describes_each_scheduled_flow_once() {
    let fake = Fake::shared(100);
    fake.set("hourly", vec![run("a", "Successful", NOW - 100.0)]);
    let mut before = collector(&fake);
    collect(&mut before).await;
    // Saved by an exporter that did not read schedules: no schedule in the state.
    let saved = before.state.saved().unwrap();
    fake.schedule("hourly", "rate(1 hour)", None);
    fake.flows.lock().unwrap()[0].last_updated_at = None;
    fake.take_calls();
    let mut after = collector(&fake);
    after.state.restore(&saved, FORMAT_VERSION, NOW).unwrap();
    let text = collect(&mut after).await;
    assert_eq!(fake.describes(), 1);
    assert_eq!(value(&text, &series(NEXT, "hourly")), Some(NOW + 3500.0));
    // Not a baseline: the counters went on.
    assert_eq!(
        value(&text, OK.replace("\"f\"", "\"hourly\"").as_str()),
        Some(0.0)
    );
    collect(&mut after).await;
    assert_eq!(fake.describes(), 0);
}
