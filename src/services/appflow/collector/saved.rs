//! How the AppFlow state is saved (`--storage.path`). At 10,000 flows it
//! holds some 120,000 executions (a day of runs every two hours), which JSON
//! made 17 MB; format version 2 is binary ([`crate::state::pack`]), 3.43 MiB:
//!
//! ```text
//! state   := bounds:fixed  baselined:bool  flows:varint  flow*
//! flow    := name  created_at:opt_f64  last_run  sap  described  seen
//!            newest  newest_finished  last_success:opt_f64  last_failure:opt_f64  counters
//! name    := shared:varint rest:str      the bytes it shares with the previous name, then the rest
//! seen    := n:len  (id:fixed  started_at  status)*, latest start first
//!            started_at: the first as f64, each next one as a varint, the difference
//!            of its bits from the bits of the one before: exact, and 5 bytes for runs
//!            up to two hours apart (1.7e9 s: a bit is 2^-22 s)
//! last_run, sap, newest, newest_finished := bool (present), then their fields in order
//!            (statuses as status, ids as exec_id, optional numbers as opt_f64 or opt_signed)
//! described := u8: 0 never, 1 with no lastUpdatedAt, 2 then f64; 3 and 4 as 1 and 2,
//!            then schedule (a scheduled flow; states saved before schedules have none)
//! schedule := expression:bool (then str)  start:opt_f64  end:opt_f64  offset:opt_signed
//!            threshold:opt_signed  last_start:opt_f64
//! status  := u8: index in EXECUTION_STATUSES, or 255 then str
//! exec_id := u8 0 then the 16 bytes of a lowercase UUID, or 1 then str
//! counters:= executions:varint*3  bytes_processed bytes_written records put_failures:varint
//!            duration buckets:varint*13 sum:f64 count:varint
//!            registrations:len (kind:u8 status:str n:varint)*
//! ```
//!
//! `bounds` is a hash of the duration buckets: a state saved with others is
//! refused. Of the listing, only a flow's name, createdAt and
//! lastRunExecutionDetails are kept: the first collection after a restart
//! lists every flow before anything is rendered. Version 1 (JSON) is read by
//! the serde derives.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{
    Counters, Flow, LastRun, Scheduled, Seen, State, Status, DURATION_BUCKETS, EXECUTION_STATUSES,
};
use crate::compact::ExecId;
use crate::exposition::Histogram;
use crate::interned::{Code, Interned};
use crate::services::appflow::api::{FlowSummary, SapODataLimits};
use crate::services::appflow::schedule::ScheduleConfig;
use crate::state::pack::{Reader, Writer};
use crate::state::{from_json, Codec, FORMAT_VERSION_1};

/// The status code of a status AWS added later: its text follows.
const OTHER: u8 = u8::MAX;
/// An execution id: a lowercase UUID in 16 bytes, or text.
const UUID: u8 = 0;
const TEXT: u8 = 1;

impl Codec for State {
    fn encode(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut w = Writer::new(out);
        encode(self, &mut w);
        w.finish()
    }

    fn decode(state: &[u8], version: u64) -> Result<State, String> {
        if version == FORMAT_VERSION_1 {
            return from_json(state);
        }
        decode(state).map_err(|e| format!("appflow state {e}"))
    }
}

/// Identifies the duration buckets.
fn bounds_hash() -> u64 {
    let bytes: Vec<u8> = DURATION_BUCKETS
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    crate::hash::fnv1a(&bytes)
}

fn encode(state: &State, w: &mut Writer) {
    w.fixed(bounds_hash());
    w.bool(state.baselined);
    w.varint(state.flows.len() as u64);
    let mut previous = "";
    for (name, flow) in &state.flows {
        let shared = shared_prefix(previous, name);
        w.varint(shared as u64);
        w.str(&name[shared..]);
        previous = name;
        encode_flow(w, flow);
    }
}

/// The length of the longest common prefix that ends on a character boundary of both.
fn shared_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

fn encode_flow(w: &mut Writer, flow: &Flow) {
    let summary = &flow.summary;
    w.opt_f64(summary.created_at);
    w.bool(summary.last_run.is_some());
    if let Some((status, at)) = &summary.last_run {
        w.bool(status.is_some());
        if let Some(status) = status {
            encode_status(w, &Status::new(status));
        }
        w.opt_f64(*at);
    }
    w.bool(flow.sap.is_some());
    if let Some(sap) = &flow.sap {
        w.opt_signed(sap.max_parallelism);
        w.opt_signed(sap.max_page_size);
    }
    let scheduled = if flow.schedule.is_some() { 2 } else { 0 };
    match flow.described {
        None => w.u8(0),
        Some(None) => w.u8(1 + scheduled),
        Some(Some(at)) => {
            w.u8(2 + scheduled);
            w.f64(at);
        }
    }
    if let (Some(_), Some(schedule)) = (flow.described, &flow.schedule) {
        let c = &schedule.config;
        w.bool(c.expression.is_some());
        if let Some(expression) = &c.expression {
            w.str(expression);
        }
        w.opt_f64(c.start.get());
        w.opt_f64(c.end.get());
        w.opt_signed(c.offset.get());
        w.opt_signed(c.threshold.get());
        w.opt_f64(schedule.last_start.get());
    }
    w.varint(flow.seen.len() as u64);
    // By their bits, descending: for times (positive), the latest first.
    let mut seen: Vec<&Seen> = flow.seen.iter().collect();
    seen.sort_by_key(|s| std::cmp::Reverse(s.started_at.to_bits()));
    let mut before = None;
    for s in seen {
        w.fixed(s.id);
        let bits = s.started_at.to_bits();
        match before {
            None => w.fixed(bits),
            Some(before) => w.varint(before - bits),
        }
        before = Some(bits);
        encode_status(w, &s.status);
    }
    w.bool(flow.newest.is_some());
    if let Some((at, id)) = &flow.newest {
        w.f64(*at);
        encode_id(w, id);
    }
    w.bool(flow.newest_finished.is_some());
    if let Some(last) = &flow.newest_finished {
        encode_id(w, &last.id);
        w.f64(last.started_at);
        w.opt_f64(last.duration.get());
        for v in [
            last.bytes_processed,
            last.bytes_written,
            last.records_processed,
            last.put_failures,
            last.parallel_processes,
            last.max_page_size,
        ] {
            w.opt_signed(v.get());
        }
    }
    w.opt_f64(flow.last_success.get());
    w.opt_f64(flow.last_failure.get());
    encode_counters(w, &flow.counters);
}

fn encode_counters(w: &mut Writer, c: &Counters) {
    for n in c.executions {
        w.varint(n);
    }
    for n in [
        c.bytes_processed,
        c.bytes_written,
        c.records,
        c.put_failures,
    ] {
        w.varint(n);
    }
    let (buckets, sum, count) = c.duration.parts();
    for n in buckets {
        w.varint(n);
    }
    w.f64(sum);
    w.varint(count);
    w.varint(c.registrations.len() as u64);
    for ((kind, status), n) in &c.registrations {
        w.u8(u8::from(*kind == "partition"));
        w.str(status);
        w.varint(*n);
    }
}

fn encode_status(w: &mut Writer, status: &Status) {
    match status {
        Status::Known(i) => w.u8(*i),
        Status::Other(code) => {
            w.u8(OTHER);
            w.str(code.as_str().unwrap_or_default());
        }
    }
}

fn encode_id(w: &mut Writer, id: &ExecId) {
    match id {
        ExecId::Uuid(bytes) => {
            w.u8(UUID);
            w.fixed(u64::from_be_bytes(bytes[..8].try_into().expect("8")));
            w.fixed(u64::from_be_bytes(bytes[8..].try_into().expect("8")));
        }
        ExecId::Text(text) => {
            w.u8(TEXT);
            w.str(text);
        }
    }
}

fn decode(bytes: &[u8]) -> Result<State, String> {
    let mut r = Reader::new(bytes);
    if r.fixed()? != bounds_hash() {
        return Err(r.error("saved with other duration buckets"));
    }
    let baselined = r.bool()?;
    let n = r.count()?;
    let mut flows = BTreeMap::new();
    let mut previous = String::new();
    for _ in 0..n {
        let shared = r.varint()? as usize;
        if shared > previous.len() || !previous.is_char_boundary(shared) {
            return Err(r.error(format!("a name sharing {shared} bytes with {previous:?}")));
        }
        let mut name = previous[..shared].to_string();
        name.push_str(r.str()?);
        let flow = decode_flow(&mut r)?;
        if flows.insert(name.clone(), Box::new(flow)).is_some() {
            return Err(r.error(format!("flow {name:?} twice")));
        }
        previous = name;
    }
    r.end()?;
    Ok(State { baselined, flows })
}

fn decode_flow(r: &mut Reader) -> Result<Flow, String> {
    let created_at = r.opt_f64()?;
    let last_run = if r.bool()? {
        let status = if r.bool()? {
            Some(Interned::new(decode_status(r)?.as_str()))
        } else {
            None
        };
        Some((status, r.opt_f64()?))
    } else {
        None
    };
    let summary = FlowSummary {
        name: String::new(),
        created_at,
        last_run,
        ..FlowSummary::default()
    };
    let sap = if r.bool()? {
        Some(Box::new(SapODataLimits {
            max_parallelism: r.opt_signed()?,
            max_page_size: r.opt_signed()?,
        }))
    } else {
        None
    };
    let tag = r.u8()?;
    let described = match tag {
        0 => None,
        1 | 3 => Some(None),
        2 | 4 => Some(Some(r.f64()?)),
        other => return Err(r.error(format!("described tag {other}"))),
    };
    let schedule = if tag >= 3 {
        let expression = if r.bool()? {
            Some(Interned::new(r.str()?))
        } else {
            None
        };
        let config = ScheduleConfig {
            expression,
            start: r.opt_f64()?.into(),
            end: r.opt_f64()?.into(),
            offset: r.opt_signed()?.into(),
            threshold: r.opt_signed()?.into(),
        };
        Some(Box::new(Scheduled::new(config, r.opt_f64()?.into())))
    } else {
        None
    };
    let n = r.count()?;
    let mut seen = Vec::with_capacity(n);
    let mut before = None;
    for _ in 0..n {
        let id = r.fixed()?;
        let bits = match before {
            None => r.fixed()?,
            Some(before) => {
                let delta = r.varint()?;
                u64::checked_sub(before, delta).ok_or_else(|| r.error("a start before 0 bits"))?
            }
        };
        before = Some(bits);
        let status = decode_status(r)?;
        seen.push(Seen {
            id,
            started_at: f64::from_bits(bits),
            status,
        });
    }
    let newest = if r.bool()? {
        let at = r.f64()?;
        Some((at, decode_id(r)?))
    } else {
        None
    };
    let newest_finished = if r.bool()? {
        Some(LastRun {
            id: decode_id(r)?,
            started_at: r.f64()?,
            duration: r.opt_f64()?.into(),
            bytes_processed: r.opt_signed()?.into(),
            bytes_written: r.opt_signed()?.into(),
            records_processed: r.opt_signed()?.into(),
            put_failures: r.opt_signed()?.into(),
            parallel_processes: r.opt_signed()?.into(),
            max_page_size: r.opt_signed()?.into(),
        })
    } else {
        None
    };
    Ok(Flow {
        summary,
        sap,
        described,
        schedule,
        seen,
        newest,
        newest_finished,
        last_success: r.opt_f64()?.into(),
        last_failure: r.opt_f64()?.into(),
        counters: decode_counters(r)?,
    })
}

fn decode_counters(r: &mut Reader) -> Result<Counters, String> {
    let executions = [r.varint()?, r.varint()?, r.varint()?];
    let (bytes_processed, bytes_written, records, put_failures) =
        (r.varint()?, r.varint()?, r.varint()?, r.varint()?);
    let buckets = (0..DURATION_BUCKETS.len())
        .map(|_| r.varint())
        .collect::<Result<Vec<u64>, String>>()?;
    let (sum, count) = (r.f64()?, r.varint()?);
    let duration =
        Histogram::from_parts(&DURATION_BUCKETS, buckets, sum, count).map_err(|e| r.error(e))?;
    let n = r.count()?;
    let mut registrations = Vec::with_capacity(n);
    for _ in 0..n {
        let kind = match r.u8()? {
            0 => "table",
            1 => "partition",
            other => return Err(r.error(format!("registration kind {other}"))),
        };
        let status = r.str()?.to_string();
        registrations.push(((kind, status), r.varint()?));
    }
    registrations.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Counters {
        executions,
        bytes_processed,
        bytes_written,
        records,
        put_failures,
        duration,
        registrations,
    })
}

fn decode_status(r: &mut Reader) -> Result<Status, String> {
    match r.u8()? {
        OTHER => Ok(Status::Other(Code::new(Some(r.str()?)))),
        i if usize::from(i) < EXECUTION_STATUSES.len() => Ok(Status::Known(i)),
        other => Err(r.error(format!("status code {other}"))),
    }
}

fn decode_id(r: &mut Reader) -> Result<ExecId, String> {
    match r.u8()? {
        UUID => {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&r.fixed()?.to_be_bytes());
            bytes[8..].copy_from_slice(&r.fixed()?.to_be_bytes());
            Ok(ExecId::Uuid(bytes))
        }
        TEXT => Ok(ExecId::new(r.str()?)),
        other => Err(r.error(format!("execution id tag {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::{uuid_bytes, uuid_text};

    #[test]
    fn ids_are_packed_only_when_they_read_back_the_same() {
        let uuid = "f5a7e652-5fd2-4fb9-8242-3b3df2167d2a";
        assert_eq!(&uuid_text(uuid_bytes(uuid).unwrap()), uuid.as_bytes());
        for text in [
            "F5A7E652-5FD2-4FB9-8242-3B3DF2167D2A",
            "f5a7e6525fd24fb982423b3df2167d2a",
            "f5a7e652-5fd2-4fb9-8242-3b3df2167d2g",
            "x",
            "",
        ] {
            assert_eq!(uuid_bytes(text), None, "{text}");
        }
    }

    #[test]
    fn names_share_prefixes_on_character_boundaries() {
        assert_eq!(shared_prefix("scale-00001-a", "scale-00002-a"), 10);
        assert_eq!(shared_prefix("", "a"), 0);
        // "é" and "è" share their first byte, not a character.
        assert_eq!(shared_prefix("flow-é", "flow-è"), 5);
    }
}
