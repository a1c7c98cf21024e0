//! Read marks: where each log group's next read starts, across restarts.

use super::*;

/// `--storage.path`: the read marks and the remembered ids are part of
/// the state, so a restart reads on from the mark and counts nothing twice,
/// while what ended during the downtime counts once.
#[tokio::test]
async fn a_restart_reads_on_from_the_saved_mark_and_counts_nothing_twice() {
    let fake = Arc::new(Fake::default());
    fake.set("w", vec![]);
    fake.create_group(GROUP);
    fake.run("w", "old", NOW_MS - 3_600_000, &[], "ExecutionCompleted");
    let mut before = logged(&fake, named(&[GROUP]));
    collect_at(&mut before, NOW).await;
    fake.run(
        "w",
        "a",
        NOW_MS + 5_000,
        &[("tag", "TAG", "BAD_REQUEST")],
        "ExecutionErrored",
    );
    let (text, _) = collect_at(&mut before, NOW + 30.0).await;
    assert_eq!(finished(&text, "w", "exception"), Some(1.0));
    let saved = before.state.saved().unwrap();

    // While down: b completes. a's events are still inside the overlap.
    let b_end = fake.run("w", "b", NOW_MS + 40_000, &[], "ExecutionCompleted");
    let mut after = logged(&fake, named(&[GROUP]));
    after
        .state
        .restore(&saved, FORMAT_VERSION, NOW + 30.0)
        .expect("restores");
    fake.reads();
    let (text, _) = collect_at(&mut after, NOW + 60.0).await;
    let mark = NOW_MS + 30_000 - OVERLAP_MS;
    assert_eq!(
        fake.reads(),
        vec![format!("FilterLogEvents {GROUP} {mark}")],
        "from the saved mark, not the lookback"
    );
    assert_eq!(finished(&text, "w", "exception"), Some(1.0), "a, not again");
    assert_eq!(finished(&text, "w", "completed"), Some(1.0), "b, once");
    assert_eq!(step_errors(&text, "w", TAG_BAD), Some(1.0));
    assert_eq!(
        last_end(&text, "w", "completed"),
        Some(b_end as f64 / 1000.0)
    );
}

/// Each group reads on from the end of its own last read, found events or not
/// (a quiet group, a missing one), never from the start of the lookback again;
/// a group new since the last collection (a server created, one that left and
/// came back) reads from the newest mark.
#[tokio::test]
async fn every_group_reads_on_from_the_end_of_its_last_read_events_or_not() {
    let fake = Arc::new(Fake::default());
    let quiet = "/aws/transfer/s-quiet";
    let missing = "/aws/transfer/s-missing";
    let new = "/aws/transfer/s-new";
    fake.create_group(GROUP);
    fake.create_group(quiet);
    fake.set("w", vec![]);
    fake.set("w2", vec![]);
    *fake.servers.lock().unwrap() = vec!["s-1".into(), "s-quiet".into(), "s-missing".into()];
    let reads = |fake: &Fake, starts: &[(&str, i64)]| {
        let mut expected = vec!["ListServers".to_string()];
        expected.extend(
            starts
                .iter()
                .map(|(g, s)| format!("FilterLogEvents {g} {s}")),
        );
        assert_eq!(fake.reads(), expected);
    };
    let mut c = logged(&fake, LogGroups::Auto);
    collect_at(&mut c, NOW).await;
    let lookback = NOW_MS - DAY_MS;
    reads(
        &fake,
        &[(GROUP, lookback), (quiet, lookback), (missing, lookback)],
    );
    fake.run("w", "a", NOW_MS + 1_000, &[], "ExecutionCompleted");
    for i in 1..=3 {
        let at = NOW + 10.0 * f64::from(i);
        let text = collect_at(&mut c, at).await.0;
        assert_eq!(finished(&text, "w", "completed"), Some(1.0));
        let start = to_ms(at - 10.0) - OVERLAP_MS;
        reads(&fake, &[(GROUP, start), (quiet, start), (missing, start)]);
    }
    // A server is created: its group, with an event from before the last collection and one
    // after, reads from the newest mark (the last collection).
    fake.create_group(new);
    fake.log(
        new,
        NOW_MS - 3_600_000,
        message("ExecutionCompleted", "w2", "history", None),
    );
    fake.log(
        new,
        NOW_MS + 35_000,
        message("ExecutionErrored", "w2", "fresh", None),
    );
    fake.servers.lock().unwrap().push("s-new".into());
    let text = collect_at(&mut c, NOW + 40.0).await.0;
    let start = NOW_MS + 30_000 - OVERLAP_MS;
    reads(
        &fake,
        &[
            (GROUP, start),
            (quiet, start),
            (missing, start),
            (new, start),
        ],
    );
    assert_eq!(finished(&text, "w2", "exception"), Some(1.0));
    assert_eq!(finished(&text, "w2", "completed"), Some(0.0));
    // The quiet server leaves, and comes back two collections later: from the newest mark,
    // not from where its own reads ended.
    fake.servers.lock().unwrap().retain(|s| s != "s-quiet");
    collect_at(&mut c, NOW + 50.0).await;
    collect_at(&mut c, NOW + 60.0).await;
    fake.reads();
    fake.servers.lock().unwrap().push("s-quiet".into());
    collect_at(&mut c, NOW + 70.0).await;
    let start = NOW_MS + 60_000 - OVERLAP_MS;
    reads(
        &fake,
        &[
            (GROUP, start),
            (missing, start),
            (new, start),
            (quiet, start),
        ],
    );
    // The marks are saved: a restart reads on from them.
    let saved = c.state.saved().unwrap();
    let mut after = logged(&fake, LogGroups::Auto);
    after
        .state
        .restore(&saved, FORMAT_VERSION, NOW + 70.0)
        .expect("restores");
    let text = collect_at(&mut after, NOW + 100.0).await.0;
    let start = NOW_MS + 70_000 - OVERLAP_MS;
    reads(
        &fake,
        &[
            (GROUP, start),
            (missing, start),
            (new, start),
            (quiet, start),
        ],
    );
    assert_eq!(finished(&text, "w", "completed"), Some(1.0));
    assert_eq!(finished(&text, "w2", "exception"), Some(1.0));
}

/// A state saved before the groups had marks of their own (only the newest
/// event time read) is read on from that time, counting nothing twice.
#[tokio::test]
async fn a_state_without_read_marks_reads_on_from_its_newest_event() {
    let fake = Arc::new(Fake::default());
    fake.create_group(GROUP);
    fake.set("w", vec![]);
    let mut before = logged(&fake, named(&[GROUP]));
    collect_at(&mut before, NOW).await;
    let end = fake.run("w", "a", NOW_MS + 5_000, &[], "ExecutionCompleted");
    let text = collect_at(&mut before, NOW + 30.0).await.0;
    assert_eq!(finished(&text, "w", "completed"), Some(1.0));
    let mut saved: serde_json::Value =
        serde_json::from_slice(&before.state.saved().unwrap()).unwrap();
    let state = saved.as_object_mut().unwrap();
    assert!(state.remove("log_read_ms").is_some());
    state.insert("log_mark_ms".into(), end.into());
    fake.run("w", "b", NOW_MS + 40_000, &[], "ExecutionCompleted");
    let mut after = logged(&fake, named(&[GROUP]));
    after
        .state
        .restore(saved.to_string().as_bytes(), FORMAT_VERSION, NOW + 30.0)
        .expect("restores");
    fake.reads();
    let text = collect_at(&mut after, NOW + 60.0).await.0;
    assert_eq!(
        finished(&text, "w", "completed"),
        Some(2.0),
        "b once, a not again"
    );
    collect_at(&mut after, NOW + 70.0).await;
    assert_eq!(
        fake.reads(),
        vec![
            format!("FilterLogEvents {GROUP} {}", end - OVERLAP_MS),
            format!("FilterLogEvents {GROUP} {}", NOW_MS + 60_000 - OVERLAP_MS),
        ]
    );
}
