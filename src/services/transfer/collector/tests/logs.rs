use super::*;

const GROUP: &str = "/aws/transfer/s-1";
const NOW_MS: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;
const OVERLAP_MS: i64 = 300_000;

fn message(
    kind: &str,
    workflow: &str,
    execution: &str,
    step: Option<(&str, &str, &str)>,
) -> String {
    let details = match step {
        Some((name, step_type, error_type)) => serde_json::json!({
            "stepName": name, "stepType": step_type, "errorType": error_type,
            "errorMessage": "secret path /home/alice/payroll.csv",
        }),
        None => serde_json::json!({}),
    };
    serde_json::json!({
        "type": kind, "workflowId": workflow, "executionId": execution, "details": details,
    })
    .to_string()
}

impl Fake {
    fn create_group(&self, group: &str) {
        self.groups.lock().unwrap().entry(group.into()).or_default();
    }
    fn log(&self, group: &str, t_ms: i64, message: String) {
        self.groups
            .lock()
            .unwrap()
            .get_mut(group)
            .expect("the group exists")
            .push((t_ms, message));
    }
    /// A run in GROUP: its step errors one second apart from `t_ms`, then its end event
    /// (`ExecutionCompleted` or `ExecutionErrored`) a second later; returns the end time.
    fn run(
        &self,
        workflow: &str,
        execution: &str,
        t_ms: i64,
        errors: &[(&str, &str, &str)],
        end: &str,
    ) -> i64 {
        let mut t = t_ms;
        for error in errors {
            self.log(
                GROUP,
                t,
                message("StepErrored", workflow, execution, Some(*error)),
            );
            t += 1000;
        }
        self.log(GROUP, t, message(end, workflow, execution, None));
        t
    }
    fn reads(&self) -> Vec<String> {
        self.take_calls()
            .into_iter()
            .filter(|c| c.starts_with("FilterLogEvents") || c == "ListServers")
            .collect()
    }
}

fn logged(fake: &Arc<Fake>, groups: LogGroups) -> Tested {
    TransferCollector::new(
        fake.clone(),
        Some(LogSource {
            api: fake.clone(),
            groups,
        }),
        Setup::new(
            NameFilter::new(vec![], vec![regex::Regex::new("^skip").unwrap()]),
            Duration::from_secs(86_400),
            4,
            vec![("region".into(), "us-east-1".into())],
        ),
    )
}

fn named(groups: &[&str]) -> LogGroups {
    LogGroups::Names(groups.iter().map(|g| g.to_string()).collect())
}

fn group_up(text: &str, group: &str) -> Option<f64> {
    value(
        text,
        &format!("aws_transfer_log_group_up{{log_group=\"{group}\",region=\"us-east-1\"}}"),
    )
}

fn last_end(text: &str, workflow: &str, outcome: &str) -> Option<f64> {
    value(text, &format!("aws_transfer_workflow_last_execution_end_timestamp_seconds{{workflow_id=\"{workflow}\",outcome=\"{outcome}\",region=\"us-east-1\"}}"))
}

const TAG_BAD: &str = "phase=\"steps\",step_type=\"TAG\",error_type=\"BAD_REQUEST\"";
const HANDLER_DENIED: &str =
    "phase=\"on_exception_steps\",step_type=\"DELETE\",error_type=\"PERMISSION_DENIED\"";

#[tokio::test]
async fn the_baseline_reads_the_lookback_and_counts_nothing_then_each_event_counts_once() {
    let fake = Arc::new(Fake::default());
    fake.set("w", vec![]);
    fake.create_group(GROUP);
    let old_end = fake.run("w", "old-1", NOW_MS - 3_600_000, &[], "ExecutionCompleted");
    let failed_end = fake.run(
        "w",
        "old-2",
        NOW_MS - 1_800_000,
        &[("tag", "TAG", "BAD_REQUEST")],
        "ExecutionErrored",
    );
    // Under way at the baseline, its first step already failed.
    fake.log(
        GROUP,
        NOW_MS - 60_000,
        message(
            "StepErrored",
            "w",
            "run-1",
            Some(("tag", "TAG", "BAD_REQUEST")),
        ),
    );
    let mut c = logged(&fake, named(&[GROUP]));
    let (text, tracked) = collect_at(&mut c, NOW).await;
    assert_eq!(
        fake.reads(),
        vec![format!("FilterLogEvents {GROUP} {}", NOW_MS - DAY_MS)]
    );
    assert_eq!(group_up(&text, GROUP), Some(1.0));
    assert_eq!(finished(&text, "w", "completed"), Some(0.0));
    assert_eq!(finished(&text, "w", "exception"), Some(0.0));
    assert!(
        !text.contains("aws_transfer_workflow_step_errors_total"),
        "{text}"
    );
    // Gauges are filled from history.
    assert_eq!(
        last_end(&text, "w", "completed"),
        Some(old_end as f64 / 1000.0)
    );
    assert_eq!(
        last_end(&text, "w", "exception"),
        Some(failed_end as f64 / 1000.0)
    );
    // The ended ones are older than the next read: forgotten; run-1 is remembered.
    assert_eq!(tracked, 1);

    // run-1's handler fails too and it ends; a quick run starts and completes.
    fake.log(
        GROUP,
        NOW_MS + 10_000,
        message(
            "StepErrored",
            "w",
            "run-1",
            Some(("cleanup", "DELETE", "PERMISSION_DENIED")),
        ),
    );
    fake.log(
        GROUP,
        NOW_MS + 11_000,
        message("ExecutionErrored", "w", "run-1", None),
    );
    let quick_end = fake.run("w", "q-1", NOW_MS + 15_000, &[], "ExecutionCompleted");
    for (i, at) in [NOW + 30.0, NOW + 60.0].into_iter().enumerate() {
        let (text, tracked) = collect_at(&mut c, at).await;
        // From the end of the last read (the last collection), not of the newest event.
        let start = if i == 0 { NOW_MS } else { NOW_MS + 30_000 } - OVERLAP_MS;
        assert_eq!(
            fake.reads(),
            vec![format!("FilterLogEvents {GROUP} {start}")]
        );
        assert_eq!(finished(&text, "w", "completed"), Some(1.0));
        assert_eq!(finished(&text, "w", "exception"), Some(1.0));
        assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
        assert_eq!(step_errors(&text, "w", TAG_BAD), None);
        assert_eq!(
            last_end(&text, "w", "completed"),
            Some(quick_end as f64 / 1000.0)
        );
        assert!(!text.contains("payroll"), "a message leaked into a label");
        assert_eq!(tracked, 2);
    }
}

#[tokio::test]
async fn late_events_inside_the_overlap_count_once_and_phases_follow_time() {
    let fake = Arc::new(Fake::default());
    fake.set("w", vec![]);
    fake.create_group(GROUP);
    let mut c = logged(&fake, named(&[GROUP]));
    collect_at(&mut c, NOW).await;
    let end = fake.run(
        "w",
        "a",
        NOW_MS + 1_000,
        &[
            ("tag", "TAG", "BAD_REQUEST"),
            ("cleanup", "DELETE", "PERMISSION_DENIED"),
        ],
        "ExecutionErrored",
    );
    let text = collect_at(&mut c, NOW + 10.0).await.0;
    assert_eq!(finished(&text, "w", "exception"), Some(1.0));
    assert_eq!(step_errors(&text, "w", TAG_BAD), Some(1.0));
    assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
    // Delivered late (two minutes old): another run, and a second copy of a's events.
    fake.run(
        "w",
        "b",
        end - 120_000,
        &[("tag", "TAG", "BAD_REQUEST")],
        "ExecutionErrored",
    );
    fake.log(GROUP, end, message("ExecutionCompleted", "w", "a", None));
    fake.log(
        GROUP,
        end - 1_000,
        message(
            "StepErrored",
            "w",
            "a",
            Some(("cleanup", "DELETE", "PERMISSION_DENIED")),
        ),
    );
    // Older than the overlap: never read (CloudWatch promises no later delivery than that).
    fake.run(
        "w",
        "too-late",
        end - OVERLAP_MS - 1_000,
        &[],
        "ExecutionCompleted",
    );
    fake.reads();
    for at in [NOW + 20.0, NOW + 30.0] {
        let text = collect_at(&mut c, at).await.0;
        assert_eq!(finished(&text, "w", "exception"), Some(2.0));
        assert_eq!(finished(&text, "w", "completed"), Some(0.0));
        assert_eq!(step_errors(&text, "w", TAG_BAD), Some(2.0));
        assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
    }
    // Both reads returned b's late events (older than the previous read's end, inside the
    // overlap), each counted once.
    let starts = [NOW_MS + 10_000 - OVERLAP_MS, NOW_MS + 20_000 - OVERLAP_MS];
    assert_eq!(
        fake.reads(),
        starts.map(|s| format!("FilterLogEvents {GROUP} {s}"))
    );
    assert!(starts.iter().all(|&s| s <= end - 120_000));
}

#[tokio::test]
async fn a_missing_group_is_not_a_failure_and_its_workflows_keep_the_listing() {
    let fake = Arc::new(Fake::default());
    let missing = "/aws/transfer/s-quiet";
    fake.create_group(GROUP);
    fake.set("logged", vec![exec("l", "IN_PROGRESS", vec![])]);
    fake.set("quiet", vec![exec("q", "IN_PROGRESS", vec![])]);
    fake.run(
        "logged",
        "history",
        NOW_MS - 600_000,
        &[],
        "ExecutionCompleted",
    );
    let mut c = logged(&fake, named(&[GROUP, missing]));
    let text = collect(&mut c).await;
    assert_eq!(group_up(&text, GROUP), Some(1.0));
    assert_eq!(group_up(&text, missing), Some(0.0));
    let calls = fake.take_calls();
    assert!(
        calls.contains(&"DescribeExecution quiet q".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("DescribeExecution logged")),
        "{calls:?}"
    );
    // Both end: the quiet one is counted by the listing, the logged one by its event only.
    fake.set("logged", vec![]);
    fake.set("quiet", vec![]);
    let text = collect_at(&mut c, NOW + 10.0).await.0;
    assert_eq!(finished(&text, "quiet", "completed"), Some(1.0));
    assert_eq!(finished(&text, "logged", "completed"), Some(0.0));
    fake.run("logged", "l", NOW_MS + 5_000, &[], "ExecutionCompleted");
    for at in [NOW + 20.0, NOW + 30.0] {
        let text = collect_at(&mut c, at).await.0;
        assert_eq!(finished(&text, "logged", "completed"), Some(1.0));
        assert_eq!(finished(&text, "quiet", "completed"), Some(1.0));
        assert_eq!(last_end(&text, "quiet", "completed"), None);
    }
}

#[tokio::test]
async fn what_the_listing_counted_is_not_counted_again_when_the_logs_appear() {
    let fake = Arc::new(Fake::default());
    fake.create_group(GROUP);
    fake.set("w", vec![exec("e", "IN_PROGRESS", vec![])]);
    let mut c = logged(&fake, named(&[GROUP]));
    collect(&mut c).await;
    // No event of w yet: the listing counts e's error and, when it vanishes, e.
    fake.set(
        "w",
        vec![exec(
            "e",
            "HANDLING_EXCEPTION",
            vec![error(Phase::Steps, 0, "TAG", "BAD_REQUEST")],
        )],
    );
    let text = collect_at(&mut c, NOW + 10.0).await.0;
    assert_eq!(step_errors(&text, "w", TAG_BAD), Some(1.0));
    fake.set("w", vec![]);
    let text = collect_at(&mut c, NOW + 20.0).await.0;
    assert_eq!(finished(&text, "w", "exception"), Some(1.0));
    // Its events arrive late, with a new run's: only the new run counts.
    fake.run(
        "w",
        "e",
        NOW_MS + 5_000,
        &[("tag", "TAG", "BAD_REQUEST")],
        "ExecutionErrored",
    );
    fake.run(
        "w",
        "f",
        NOW_MS + 25_000,
        &[("tag", "TAG", "BAD_REQUEST")],
        "ExecutionErrored",
    );
    for at in [NOW + 30.0, NOW + 40.0] {
        let text = collect_at(&mut c, at).await.0;
        assert_eq!(finished(&text, "w", "exception"), Some(2.0));
        assert_eq!(step_errors(&text, "w", TAG_BAD), Some(2.0));
    }
}

#[tokio::test]
async fn a_group_that_disappears_hands_its_workflows_back_to_the_listing() {
    let fake = Arc::new(Fake::default());
    fake.create_group(GROUP);
    fake.set("w", vec![]);
    fake.run("w", "a", NOW_MS - 60_000, &[], "ExecutionCompleted");
    let mut c = logged(&fake, named(&[GROUP]));
    collect(&mut c).await;
    fake.set("w", vec![exec("b", "IN_PROGRESS", vec![])]);
    fake.run(
        "w",
        "c",
        NOW_MS + 1_000,
        &[("tag", "TAG", "BAD_REQUEST")],
        "ExecutionErrored",
    );
    let text = collect_at(&mut c, NOW + 10.0).await.0;
    assert_eq!(finished(&text, "w", "exception"), Some(1.0));
    assert!(!fake
        .take_calls()
        .iter()
        .any(|c| c.starts_with("DescribeExecution")));
    fake.groups.lock().unwrap().clear();
    let text = collect_at(&mut c, NOW + 20.0).await.0;
    assert_eq!(group_up(&text, GROUP), Some(0.0));
    assert!(fake
        .take_calls()
        .contains(&"DescribeExecution w b".to_string()));
    fake.set("w", vec![]);
    let text = collect_at(&mut c, NOW + 30.0).await.0;
    assert_eq!(finished(&text, "w", "completed"), Some(1.0));
    assert_eq!(finished(&text, "w", "exception"), Some(1.0));
}

#[tokio::test]
async fn a_failed_read_applies_nothing_and_keeps_the_mark() {
    let fake = Arc::new(Fake::default());
    fake.create_group(GROUP);
    fake.set("w", vec![]);
    let end = fake.run("w", "a", NOW_MS - 60_000, &[], "ExecutionCompleted");
    let mut c = logged(&fake, named(&[GROUP]));
    collect(&mut c).await;
    fake.take_calls();
    fake.run("w", "b", NOW_MS + 1_000, &[], "ExecutionCompleted");
    *fake.fail_logs.lock().unwrap() = Some("ThrottlingException");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(NOW + 10.0);
    let e = c.collect(at).await.err().expect("the collection fails");
    assert_eq!(e.operation, "FilterLogEvents");
    *fake.fail_logs.lock().unwrap() = Some("AccessDeniedException");
    assert!(c.collect(at).await.is_err());
    *fake.fail_logs.lock().unwrap() = None;
    for _ in 0..2 {
        let text = collect_at(&mut c, NOW + 20.0).await.0;
        assert_eq!(finished(&text, "w", "completed"), Some(1.0));
    }
    // The failed reads did not move the mark: the first good one starts where they did.
    let reads = fake.reads();
    assert!(end < NOW_MS);
    let from_baseline = format!("FilterLogEvents {GROUP} {}", NOW_MS - OVERLAP_MS);
    assert_eq!(reads[0], from_baseline);
    assert_eq!(reads[2], from_baseline);
    assert_eq!(
        reads[3],
        format!("FilterLogEvents {GROUP} {}", NOW_MS + 20_000 - OVERLAP_MS)
    );
}

#[tokio::test]
async fn auto_reads_the_group_of_every_server() {
    let fake = Arc::new(Fake::default());
    fake.create_group(GROUP);
    *fake.servers.lock().unwrap() = vec!["s-1".into(), "s-2".into(), "s-1".into()];
    fake.set("w", vec![]);
    let mut c = logged(&fake, LogGroups::Auto);
    let text = collect(&mut c).await;
    assert_eq!(group_up(&text, GROUP), Some(1.0));
    assert_eq!(group_up(&text, "/aws/transfer/s-2"), Some(0.0));
    let start = NOW_MS - DAY_MS;
    assert_eq!(
        fake.reads(),
        vec![
            "ListServers".to_string(),
            format!("FilterLogEvents {GROUP} {start}"),
            format!("FilterLogEvents /aws/transfer/s-2 {start}"),
        ]
    );
    // A server deleted: its group's series goes.
    *fake.servers.lock().unwrap() = vec!["s-1".into()];
    let text = collect(&mut c).await;
    assert!(!text.contains("s-2"), "{text}");
}

#[tokio::test]
async fn bad_events_and_other_workflows_are_skipped_but_move_the_mark() {
    let fake = Arc::new(Fake::default());
    fake.create_group(GROUP);
    fake.set("w", vec![]);
    fake.set("skip-me", vec![]);
    let mut c = logged(&fake, named(&[GROUP]));
    collect(&mut c).await;
    fake.take_calls();
    fake.log(GROUP, NOW_MS + 1_000, "not json".into());
    fake.log(
        GROUP,
        NOW_MS + 2_000,
        message("ExecutionStarted", "w", "a", None),
    );
    fake.log(
        GROUP,
        NOW_MS + 3_000,
        r#"{"type":"ExecutionCompleted","executionId":"a"}"#.into(),
    );
    fake.run("w-deleted", "b", NOW_MS + 4_000, &[], "ExecutionCompleted");
    fake.run("skip-me", "c", NOW_MS + 5_000, &[], "ExecutionCompleted");
    fake.log(GROUP, NOW_MS + 9_000, "{}".into());
    let (text, tracked) = collect_at(&mut c, NOW + 10.0).await;
    assert_eq!(finished(&text, "w", "completed"), Some(0.0));
    assert!(
        !text.contains("w-deleted") && !text.contains("skip-me"),
        "{text}"
    );
    assert_eq!(tracked, 0);
    collect_at(&mut c, NOW + 20.0).await;
    assert_eq!(
        fake.reads(),
        vec![
            // Nothing counted yet, yet never the whole lookback again.
            format!("FilterLogEvents {GROUP} {}", NOW_MS - OVERLAP_MS),
            format!("FilterLogEvents {GROUP} {}", NOW_MS + 10_000 - OVERLAP_MS),
        ]
    );
}

#[tokio::test]
async fn ids_are_forgotten_after_the_overlap_once_ended_and_after_the_lookback_otherwise() {
    let fake = Arc::new(Fake::default());
    fake.create_group(GROUP);
    fake.set("w", vec![]);
    let mut c = logged(&fake, named(&[GROUP]));
    collect(&mut c).await;
    fake.log(
        GROUP,
        NOW_MS + 1_000,
        message(
            "StepErrored",
            "w",
            "running",
            Some(("tag", "TAG", "BAD_REQUEST")),
        ),
    );
    fake.run("w", "done", NOW_MS + 2_000, &[], "ExecutionCompleted");
    assert_eq!(collect_at(&mut c, NOW + 10.0).await.1, 2);
    fake.run("w", "later", NOW_MS + 400_000, &[], "ExecutionCompleted");
    assert_eq!(
        collect_at(&mut c, NOW + 410.0).await.1,
        2,
        "done is forgotten"
    );
    // The handler of "running" fails much later: still an exception-handler error.
    fake.log(
        GROUP,
        NOW_MS + 3_600_000,
        message(
            "StepErrored",
            "w",
            "running",
            Some(("cleanup", "DELETE", "PERMISSION_DENIED")),
        ),
    );
    let (text, tracked) = collect_at(&mut c, NOW + 3_610.0).await;
    assert_eq!(step_errors(&text, "w", HANDLER_DENIED), Some(1.0));
    assert_eq!(tracked, 1, "later is forgotten");
    let (_, tracked) = collect_at(&mut c, NOW + 3_610.0 + 86_400.0).await;
    assert_eq!(tracked, 0, "older than the lookback");
}

mod marks;
