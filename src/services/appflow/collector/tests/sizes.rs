//! What a saved state weighs.

use super::*;

#[test]
fn a_day_of_runs_saves_in_under_420_bytes_a_flow() {
    let flows = 1_000;
    let mut rng = fastrand::Rng::with_seed(1);
    let mut state = State {
        baselined: true,
        ..State::default()
    };
    let uuid = |rng: &mut fastrand::Rng| {
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            rng.u32(..),
            rng.u16(..),
            rng.u16(..0xfff),
            rng.u16(0x8000..0xc000),
            rng.u64(..1 << 48)
        )
    };
    let ms = |t: f64| (t * 1000.0).round() / 1000.0;
    for i in 0..flows {
        let mut flow = Flow::default();
        for k in 0..12 {
            let id = uuid(&mut rng);
            let started = ms(NOW - 86_400.0 + f64::from(k) * 7200.0 + rng.f64() * 20.0);
            let status = ["Successful", "Error", "Canceled"][rng.usize(..3) / 2];
            let mut r = run(&id, status, started);
            r.last_updated_at = Some(ms(started + 30.0 + rng.f64() * 570.0));
            r.bytes_processed = Some(rng.i64(1000..100_000_000));
            r.records_processed = Some(rng.i64(10..100_000));
            if i % 3 == 0 {
                r.registrations = vec![("table", "Successful".into())];
            }
            flow.seen.push(Seen {
                id: fingerprint(&id),
                started_at: started,
                status: Status::new(status),
            });
            flow.newest = Some((started, ExecId::new(&id)));
            flow.newest_finished = Some(LastRun::new(&r, started));
            let mut tally = Tally::default();
            tally.add(&r);
            flow.count("f", tally);
        }
        flow.summary = FlowSummary {
            name: format!("scale-{i:05}-salesforce-to-s3"),
            created_at: Some(ms(NOW - 100.0 * 86_400.0)),
            last_run: Some((Some("Successful".into()), Some(ms(NOW - 100.0)))),
            ..flow.summary
        };
        flow.last_success = Some(ms(NOW - 100.0)).into();
        flow.last_failure = Some(ms(NOW - 5000.0)).into();
        state
            .flows
            .insert(flow.summary.name.clone(), Box::new(flow));
    }
    let saved = encoded(&state);
    assert!(saved.len() <= 420 * flows, "{} bytes", saved.len());
    let again = State::decode(&saved, FORMAT_VERSION).unwrap();
    assert_eq!(encoded(&again), saved);
}

fn encoded(state: &State) -> Vec<u8> {
    let mut bytes = Vec::new();
    state.encode(&mut bytes).unwrap();
    bytes
}

/// A scheduled flow keeps its schedule in 72 bytes (and shares the expression's text).
#[test]
fn a_schedule_is_small() {
    assert!(
        std::mem::size_of::<Scheduled>() <= 72,
        "{}",
        std::mem::size_of::<Scheduled>()
    );
}
