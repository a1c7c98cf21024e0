//! The text exposition of the AWS-derived series.
//!
//! Collectors render their committed state into an [`Exposition`] once per
//! successful collection; the [`Hub`](crate::scheduler::Hub) merges those
//! into the body scrapes are served from. Families are kept apart so that the
//! same metric from several targets is written under one `# HELP`/`# TYPE`
//! header, as the text format requires. A family's text is deflated in chunks
//! as it grows: 10,000 flows make some 60 MB of text, which must not sit in
//! memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

/// Text beyond this many bytes in one family is deflated into a chunk.
const CHUNK: usize = 64 * 1024;

/// The three metric types the exporter emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metric family: declared once as a `static` next to the code that fills it.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

/// Samples of one (target, service), grouped by family, in the order first written.
#[derive(Debug, Default)]
pub struct Exposition {
    /// `region="…",account="…"`: written after each sample's own labels.
    base: String,
    families: Vec<(&'static Family, Body)>,
    text_len: usize,
}

/// One family's samples: complete raw-deflate chunks, then the latest text.
#[derive(Debug, Default)]
struct Body {
    chunks: Vec<Box<[u8]>>,
    text: String,
}

impl Body {
    /// Deflates the text once it is large; each chunk is a complete stream.
    fn spill_if_large(&mut self) {
        if self.text.len() < CHUNK {
            return;
        }
        let mut encoder =
            DeflateEncoder::new(Vec::with_capacity(self.text.len() / 8), Compression::fast());
        // Writing into a Vec cannot fail.
        if encoder.write_all(self.text.as_bytes()).is_ok() {
            if let Ok(chunk) = encoder.finish() {
                self.chunks.push(chunk.into_boxed_slice());
                // A fresh string: the spilled one's capacity would outlive it.
                self.text = String::with_capacity(CHUNK + 1024);
            }
        }
    }

    /// Copies the family's text to `out`, inflating chunk by chunk.
    fn write_to(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        for chunk in &self.chunks {
            io::copy(&mut DeflateDecoder::new(&chunk[..]), out)?;
        }
        out.write_all(self.text.as_bytes())
    }
}

impl Exposition {
    /// `base` are the labels every series of this target carries (region first).
    pub fn new(base: &[(String, String)]) -> Self {
        let mut rendered = String::new();
        for (name, value) in base {
            push_label(&mut rendered, name, value);
        }
        Exposition {
            base: rendered,
            families: Vec::new(),
            text_len: 0,
        }
    }

    fn body(&mut self, family: &'static Family) -> &mut Body {
        let index = match self
            .families
            .iter()
            .position(|(f, _)| std::ptr::eq(*f, family))
        {
            Some(i) => i,
            None => {
                self.families.push((family, Body::default()));
                self.families.len() - 1
            }
        };
        &mut self.families[index].1
    }

    /// Bytes of text written so far (the exposition without its headers).
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    /// Gives back the spare capacity of the text buffers, before the
    /// exposition is kept until the next collection.
    pub fn shrink_to_fit(&mut self) {
        for (_, body) in &mut self.families {
            body.text.shrink_to_fit();
        }
        self.families.shrink_to_fit();
    }

    /// One gauge or counter sample.
    pub fn sample(&mut self, family: &'static Family, labels: &[(&str, &str)], value: f64) {
        debug_assert!(family.kind != Kind::Histogram);
        let base = std::mem::take(&mut self.base);
        let body = self.body(family);
        let before = body.text.len();
        write_sample(&mut body.text, family.name, "", labels, None, &base, value);
        let added = body.text.len() - before;
        body.spill_if_large();
        self.text_len += added;
        self.base = base;
    }

    /// A state set: one series per state, 1 for `current` and 0 for the others.
    /// A current value outside `states` (AWS added a state) gets its own series.
    pub fn state_set(
        &mut self,
        family: &'static Family,
        labels: &[(&str, &str)],
        states: &[&str],
        current: Option<&str>,
    ) {
        let mut with_status: Vec<(&str, &str)> = labels.to_vec();
        with_status.push(("status", ""));
        let last = with_status.len() - 1;
        for state in states {
            with_status[last].1 = state;
            let value = if current == Some(*state) { 1.0 } else { 0.0 };
            self.sample(family, &with_status, value);
        }
        if let Some(current) = current.filter(|c| !states.contains(c)) {
            with_status[last].1 = current;
            self.sample(family, &with_status, 1.0);
        }
    }

    /// A histogram's `_bucket`, `_sum` and `_count` series.
    pub fn histogram(&mut self, family: &'static Family, labels: &[(&str, &str)], h: &Histogram) {
        debug_assert!(family.kind == Kind::Histogram);
        let base = std::mem::take(&mut self.base);
        let body = self.body(family);
        let before = body.text.len();
        let out = &mut body.text;
        let mut cumulative = 0;
        for (bound, count) in h.bounds.iter().zip(&h.counts) {
            cumulative += count;
            let le = format_value(*bound);
            write_sample(
                out,
                family.name,
                "_bucket",
                labels,
                Some(&le),
                &base,
                cumulative as f64,
            );
        }
        write_sample(
            out,
            family.name,
            "_bucket",
            labels,
            Some("+Inf"),
            &base,
            h.count as f64,
        );
        write_sample(out, family.name, "_sum", labels, None, &base, h.sum);
        write_sample(
            out,
            family.name,
            "_count",
            labels,
            None,
            &base,
            h.count as f64,
        );
        let added = body.text.len() - before;
        body.spill_if_large();
        self.text_len += added;
        self.base = base;
    }
}

/// Writes the families of several expositions, merged by name, sorted by name.
pub fn write<'a>(
    parts: impl IntoIterator<Item = &'a Exposition>,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let mut merged: BTreeMap<&'static str, (&'static Family, Vec<&'a Body>)> = BTreeMap::new();
    for part in parts {
        for (family, body) in &part.families {
            merged
                .entry(family.name)
                .or_insert_with(|| (family, Vec::new()))
                .1
                .push(body);
        }
    }
    for (family, bodies) in merged.values() {
        let mut header = String::new();
        let _ = writeln!(
            header,
            "# HELP {} {}",
            family.name,
            escape_help(family.help)
        );
        let _ = writeln!(header, "# TYPE {} {}", family.name, family.kind.as_str());
        out.write_all(header.as_bytes())?;
        for body in bodies {
            body.write_to(out)?;
        }
    }
    Ok(())
}

/// [`write`] into a string, for `--once` and tests.
pub fn render<'a>(parts: impl IntoIterator<Item = &'a Exposition>, out: &mut String) {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail, and the text is UTF-8 by construction.
    let _ = write(parts, &mut bytes);
    out.push_str(&String::from_utf8_lossy(&bytes));
}

fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
    base: &str,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    out.push('{');
    let start = out.len();
    for (label, value) in labels {
        push_label(out, label, value);
    }
    if let Some(le) = le {
        push_label(out, "le", le);
    }
    if !base.is_empty() {
        if out.len() > start {
            out.push(',');
        }
        out.push_str(base);
    }
    out.push_str("} ");
    out.push_str(&format_value(value));
    out.push('\n');
}

fn push_label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() && !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Prometheus float syntax: `+Inf`, `-Inf`, `NaN`, else Rust's shortest form.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// A histogram's running state: bucket counts (not cumulative), sum and count.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static G: Family = Family {
        name: "x_status",
        help: "A state.",
        kind: Kind::Gauge,
    };
    static H: Family = Family {
        name: "x_seconds",
        help: "Durations.",
        kind: Kind::Histogram,
    };

    fn base() -> Vec<(String, String)> {
        vec![
            ("region".into(), "eu-west-1".into()),
            ("account".into(), "a\"b".into()),
        ]
    }

    #[test]
    fn state_set_emits_every_state_and_an_unknown_current_one() {
        let mut e = Exposition::new(&base());
        e.state_set(&G, &[("flow_name", "f")], &["A", "B"], Some("Paused"));
        let mut out = String::new();
        render([&e], &mut out);
        assert_eq!(
            out,
            "# HELP x_status A state.\n# TYPE x_status gauge\n\
             x_status{flow_name=\"f\",status=\"A\",region=\"eu-west-1\",account=\"a\\\"b\"} 0\n\
             x_status{flow_name=\"f\",status=\"B\",region=\"eu-west-1\",account=\"a\\\"b\"} 0\n\
             x_status{flow_name=\"f\",status=\"Paused\",region=\"eu-west-1\",account=\"a\\\"b\"} 1\n"
        );
    }

    #[test]
    fn families_of_several_parts_share_one_header() {
        let mut a = Exposition::new(&[("region".into(), "r1".into())]);
        let mut b = Exposition::new(&[("region".into(), "r2".into())]);
        a.sample(&G, &[], 1.0);
        b.sample(&G, &[], 2.5);
        let mut out = String::new();
        render([&a, &b], &mut out);
        assert_eq!(out.matches("# TYPE x_status").count(), 1);
        assert!(out.contains("x_status{region=\"r1\"} 1\n"));
        assert!(out.contains("x_status{region=\"r2\"} 2.5\n"));
    }

    #[test]
    fn histogram_is_cumulative() {
        static BOUNDS: [f64; 2] = [1.0, 10.0];
        let mut h = Histogram::new(&BOUNDS);
        h.observe(0.5);
        h.observe(5.0);
        h.observe(50.0);
        let mut e = Exposition::new(&[]);
        e.histogram(&H, &[("flow_name", "f")], &h);
        let mut out = String::new();
        render([&e], &mut out);
        assert!(out.contains("x_seconds_bucket{flow_name=\"f\",le=\"1\"} 1\n"));
        assert!(out.contains("x_seconds_bucket{flow_name=\"f\",le=\"10\"} 2\n"));
        assert!(out.contains("x_seconds_bucket{flow_name=\"f\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("x_seconds_sum{flow_name=\"f\"} 55.5\n"));
        assert!(out.contains("x_seconds_count{flow_name=\"f\"} 3\n"));
    }

    #[test]
    fn large_families_are_deflated_and_read_back_whole() {
        let mut e = Exposition::new(&[("region".into(), "r".into())]);
        let mut expected = String::new();
        for i in 0..20_000 {
            let flow = format!("flow-{i}");
            e.sample(&G, &[("flow_name", &flow)], i as f64);
            expected.push_str(&format!(
                "x_status{{flow_name=\"{flow}\",region=\"r\"}} {i}\n"
            ));
        }
        let body = &e.families[0].1;
        assert!(body.chunks.len() > 1, "text was not deflated");
        assert!(body.chunks.iter().map(|c| c.len()).sum::<usize>() < expected.len() / 4);
        let mut out = String::new();
        render([&e], &mut out);
        assert_eq!(
            out,
            format!("# HELP x_status A state.\n# TYPE x_status gauge\n{expected}")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::new(&[]);
        e.sample(&G, &[("flow_name", "a\\b\nc")], 1.0);
        let mut out = String::new();
        render([&e], &mut out);
        assert!(out.contains("x_status{flow_name=\"a\\\\b\\nc\"} 1\n"));
    }
}
