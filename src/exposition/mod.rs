//! The text exposition of the AWS-derived series.
//!
//! Collectors render their committed state into an [`Exposition`] once per
//! successful collection; the store merges those
//! into the body scrapes are served from. Families are kept apart so that the
//! same metric from several targets is written under one `# HELP`/`# TYPE`
//! header, as the text format requires. A family's text is compressed into
//! [`Piece`]s as it grows: 10,000 flows make some 50 MB of text, which must
//! not sit in memory, and the pieces are joined as they are into the gzip body
//! scrapes get, so the text is compressed once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};

pub(crate) mod body;

use bytes::Bytes;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

/// Text beyond this many bytes in one family is compressed into a piece.
const CHUNK: usize = 64 * 1024;
/// An empty final fixed-Huffman block: ends a run of pieces for inflating.
pub const FINAL_BLOCK: &[u8] = &[0x03, 0x00];

/// Deflated text ending on a byte boundary with no final block (a sync
/// flush). Pieces compressed apart join into one valid deflate stream, since
/// none refers back into another; the CRC and length combine the same way.
#[derive(Clone, Debug)]
pub struct Piece {
    pub deflate: Bytes,
    pub crc: u32,
    pub len: u64,
}

impl Piece {
    pub fn compress(text: &[u8]) -> Piece {
        let mut encoder =
            DeflateEncoder::new(Vec::with_capacity(text.len() / 8), Compression::default());
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(text);
        let _ = encoder.flush();
        // Taken before the encoder is dropped, which would end the stream.
        let deflate = std::mem::take(encoder.get_mut()).into_boxed_slice();
        Piece {
            deflate: Bytes::from(deflate),
            crc: crc32fast::hash(text),
            len: text.len() as u64,
        }
    }

    /// The text back, inflated into `out`.
    fn inflate_to(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        io::copy(
            &mut DeflateDecoder::new((&self.deflate[..]).chain(FINAL_BLOCK)),
            out,
        )?;
        Ok(())
    }
}

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

/// A metric family: declared once as a `static` next to the code that fills
/// it (see [`family!`](crate::family)), and listed in its service's registry
/// entry, from which the documentation and the dashboards' contract are checked.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// The labels of its series, in order, before the target's (`region` and
    /// the target's `labels`); a histogram's `le` is implied.
    pub labels: &'static [&'static str],
}

impl Family {
    /// Whether `labels` are exactly this family's label names, in order.
    /// Every sample is checked in debug builds, so each collector's unit
    /// tests catch a series rendered with the wrong labels.
    fn fits(&self, labels: &[(&str, &str)]) -> bool {
        labels.len() == self.labels.len()
            && labels.iter().zip(self.labels).all(|((l, _), n)| l == n)
    }
}

/// Declares a metric family as a `static`:
/// `family!(IDENT, "name", Gauge, ["label", ...], "help")`.
#[macro_export]
macro_rules! family {
    ($ident:ident, $name:literal, $kind:ident, [$($label:literal),* $(,)?], $help:literal $(,)?) => {
        pub(crate) static $ident: $crate::exposition::Family = $crate::exposition::Family {
            name: $name,
            help: $help,
            kind: $crate::exposition::Kind::$kind,
            labels: &[$($label),*],
        };
    };
}

/// Samples of one (target, service), grouped by family, in the order first written.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    /// `region="…",account="…"`: written after each sample's own labels.
    base: String,
    families: Vec<(&'static Family, Body)>,
    /// The pieces are slices of a joined body ([`join_shared`]), which they keep whole.
    shares_body: bool,
}

/// One family's samples: compressed pieces, then the latest text.
#[derive(Clone, Debug, Default)]
struct Body {
    pieces: Vec<Piece>,
    text: String,
    /// Series written (a histogram is one), for the first collection's log line.
    series: usize,
}

impl Body {
    /// Compresses the text once it is large.
    fn spill_if_large(&mut self) {
        if self.text.len() >= CHUNK {
            self.spill();
        }
    }

    fn spill(&mut self) {
        if !self.text.is_empty() {
            self.pieces.push(Piece::compress(self.text.as_bytes()));
            // A fresh string: the spilled one's capacity would outlive it.
            self.text = String::new();
        }
    }

    /// Copies the family's text to `out`, inflating piece by piece.
    fn write_to(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        for piece in &self.pieces {
            piece.inflate_to(out)?;
        }
        out.write_all(self.text.as_bytes())
    }

    /// The family's pieces, its text compressed too.
    fn all_pieces(&self) -> impl Iterator<Item = Piece> + '_ {
        let rest = (!self.text.is_empty()).then(|| Piece::compress(self.text.as_bytes()));
        self.pieces.iter().cloned().chain(rest)
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
            shares_body: false,
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

    /// How many series of `family` were written.
    pub fn series(&self, family: &Family) -> usize {
        self.families
            .iter()
            .find(|(f, _)| std::ptr::eq(*f, family))
            .map_or(0, |(_, body)| body.series)
    }

    /// Compresses what text is left, before the exposition is kept until the
    /// next collection.
    pub fn finish(&mut self) {
        for (_, body) in &mut self.families {
            body.spill();
            body.pieces.shrink_to_fit();
        }
        self.families.shrink_to_fit();
        self.pack();
    }

    /// A copy with pieces of its own, if its pieces are slices of a joined body: once the
    /// body is no longer joined (it grew beyond the join limit), each part still holding
    /// a slice keeps the whole of that body, until its own next collection.
    pub fn unshared(&self) -> Option<Exposition> {
        if !self.shares_body {
            return None;
        }
        let mut own = Exposition {
            shares_body: false,
            ..self.clone()
        };
        own.pack();
        Some(own)
    }

    /// Moves every piece's bytes into one buffer. The pieces (a few hundred
    /// bytes each, tens of them a target) live until the next collection,
    /// and were allocated among that collection's short-lived allocations;
    /// one buffer per exposition is one allocation freed whole when replaced.
    fn pack(&mut self) {
        let total = self
            .families
            .iter()
            .flat_map(|(_, body)| &body.pieces)
            .map(|piece| piece.deflate.len())
            .sum();
        let mut packed = Vec::with_capacity(total);
        for (_, body) in &self.families {
            for piece in &body.pieces {
                packed.extend_from_slice(&piece.deflate);
            }
        }
        let packed = Bytes::from(packed);
        let mut at = 0;
        for (_, body) in &mut self.families {
            for piece in &mut body.pieces {
                let end = at + piece.deflate.len();
                piece.deflate = packed.slice(at..end);
                at = end;
            }
        }
    }

    /// One gauge or counter sample.
    pub fn sample(&mut self, family: &'static Family, labels: &[(&str, &str)], value: f64) {
        debug_assert!(family.kind != Kind::Histogram);
        debug_assert!(family.fits(labels), "{}: labels {labels:?}", family.name);
        let base = std::mem::take(&mut self.base);
        let body = self.body(family);
        write_sample(&mut body.text, family.name, "", labels, None, &base, value);
        body.series += 1;
        body.spill_if_large();
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
        debug_assert!(family.fits(labels), "{}: labels {labels:?}", family.name);
        let base = std::mem::take(&mut self.base);
        let body = self.body(family);
        let out = &mut body.text;
        let mut cumulative = 0;
        for (bound, count) in h.bounds.iter().zip(h.counts()) {
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
        body.series += 1;
        body.spill_if_large();
        self.base = base;
    }
}

/// The families of several expositions, merged by name, sorted by name.
fn merged<'a>(
    parts: impl IntoIterator<Item = &'a Exposition>,
) -> BTreeMap<&'static str, (&'static Family, Vec<&'a Body>)> {
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
    merged
}

fn header(family: &Family) -> String {
    let mut header = String::new();
    let _ = writeln!(
        header,
        "# HELP {} {}",
        family.name,
        escape_help(family.help)
    );
    let _ = writeln!(header, "# TYPE {} {}", family.name, family.kind.as_str());
    header
}

/// The text of several expositions, merged by family, written to `out`.
pub fn write<'a>(
    parts: impl IntoIterator<Item = &'a Exposition>,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    for (family, bodies) in merged(parts).values() {
        out.write_all(header(family).as_bytes())?;
        for body in bodies {
            body.write_to(out)?;
        }
    }
    Ok(())
}

/// The same text as [`write()`], as compressed pieces to be joined: the
/// samples' pieces are shared, only the families' headers are compressed here.
pub fn pieces<'a>(parts: impl IntoIterator<Item = &'a Exposition>) -> Vec<Piece> {
    let mut out = Vec::new();
    for (family, bodies) in merged(parts).values() {
        out.push(Piece::compress(header(family).as_bytes()));
        for body in bodies {
            out.extend(body.all_pieces());
        }
    }
    out
}

/// [`pieces()`], and the same parts whose pieces are slices of `joined` instead of buffers of
/// their own. `join` makes one stream of the pieces (the gzip body scrapes get) and returns
/// that stream's raw deflate, the pieces one after the other, when it copied them into one
/// buffer: once the parts share it, the samples are held once, not once in their parts and
/// again in the body. None: the body holds the parts' pieces themselves.
pub fn join_shared<T>(
    parts: &[&Exposition],
    join: impl FnOnce(&[Piece]) -> io::Result<(T, Option<Bytes>)>,
) -> io::Result<(T, Option<Vec<Exposition>>)> {
    let mut pieces = Vec::new();
    // For each piece of `pieces`: the part, family and piece it is, None for a header.
    let mut origins = Vec::new();
    // Each family once, with where its bodies are: (part, family within the part).
    type Where = Vec<(usize, usize)>;
    let mut merged: BTreeMap<&'static str, (&'static Family, Where)> = BTreeMap::new();
    for (p, part) in parts.iter().enumerate() {
        for (f, (family, _)) in part.families.iter().enumerate() {
            merged
                .entry(family.name)
                .or_insert_with(|| (family, Vec::new()))
                .1
                .push((p, f));
        }
    }
    for (family, bodies) in merged.values() {
        pieces.push(Piece::compress(header(family).as_bytes()));
        origins.push(None);
        for &(p, f) in bodies {
            let body = &parts[p].families[f].1;
            for (k, piece) in body.pieces.iter().enumerate() {
                pieces.push(piece.clone());
                origins.push(Some((p, f, k)));
            }
            if !body.text.is_empty() {
                pieces.push(Piece::compress(body.text.as_bytes()));
                origins.push(None);
            }
        }
    }
    let (joined, deflate) = join(&pieces)?;
    let Some(deflate) = deflate else {
        return Ok((joined, None));
    };
    let mut shared: Vec<Exposition> = parts
        .iter()
        .map(|p| Exposition {
            shares_body: true,
            ..(*p).clone()
        })
        .collect();
    let mut offset = 0;
    for (piece, origin) in pieces.iter().zip(origins) {
        let end = offset + piece.deflate.len();
        if let Some((p, f, k)) = origin {
            shared[p].families[f].1.pieces[k].deflate = deflate.slice(offset..end);
        }
        offset = end;
    }
    Ok((joined, Some(shared)))
}

/// [`write()`] into a string, for `--once` and tests.
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
    if out.len() == start {
        // No label at all (discovery's own series): no braces.
        out.pop();
        out.push(' ');
    } else {
        out.push_str("} ");
    }
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
    /// 32-bit counts in a boxed slice (not a vector): every flow holds one, 52 bytes
    /// where 64-bit counts in a vector took 128. A bucket counts at most 4,294,967,295
    /// observations (a flow run every minute fills it in 8,000 years); beyond, it stays
    /// there, while the sum and the count go on.
    counts: Box<[u32]>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()].into(),
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] = self.counts[i].saturating_add(1);
        }
        self.sum += v;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Per bucket, not cumulative.
    pub fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().map(|c| u64::from(*c))
    }

    /// A saved histogram (see [`Histogram`]'s `Serialize`) with these bounds, which must
    /// be the ones it was saved with: for `#[serde(deserialize_with)]`.
    pub fn deserialize_with_bounds<'de, D: serde::Deserializer<'de>>(
        bounds: &'static [f64],
        deserializer: D,
    ) -> Result<Histogram, D::Error> {
        use serde::de::Error;
        let saved = <SavedHistogram as serde::Deserialize>::deserialize(deserializer)?;
        if saved.bounds != bounds {
            return Err(D::Error::custom(format!(
                "histogram bounds {:?}, expected {bounds:?}",
                saved.bounds
            )));
        }
        Histogram::from_parts(bounds, saved.counts, saved.sum, saved.count)
            .map_err(D::Error::custom)
    }

    /// Bucket counts (not cumulative, one per bound), sum and count: what a
    /// saved state keeps of it.
    pub fn parts(&self) -> (impl Iterator<Item = u64> + '_, f64, u64) {
        (self.counts(), self.sum, self.count)
    }

    /// A histogram from [`Histogram::parts`] saved with these bounds.
    pub fn from_parts(
        bounds: &'static [f64],
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    ) -> Result<Histogram, String> {
        if counts.len() != bounds.len() {
            return Err(format!(
                "histogram with {} buckets, expected {}",
                counts.len(),
                bounds.len()
            ));
        }
        let held = counts.iter().try_fold(0u64, |a, c| a.checked_add(*c));
        if held.is_none_or(|held| held > count) {
            return Err("histogram buckets hold more than its count".into());
        }
        let counts: Box<[u32]> = counts
            .iter()
            .map(|c| u32::try_from(*c))
            .collect::<Result<_, _>>()
            .map_err(|_| "a histogram bucket beyond 4,294,967,295".to_string())?;
        Ok(Histogram {
            bounds,
            counts,
            sum,
            count,
        })
    }
}

/// How a [`Histogram`] is saved: its bounds too, so that a state saved with
/// other buckets is refused rather than misread.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedHistogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl serde::Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("SavedHistogram", 4)?;
        s.serialize_field("bounds", self.bounds)?;
        s.serialize_field("counts", &self.counts)?;
        s.serialize_field("sum", &self.sum)?;
        s.serialize_field("count", &self.count)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static G: Family = Family {
        name: "x_status",
        help: "A state.",
        kind: Kind::Gauge,
        labels: &["flow_name", "status"],
    };
    static H: Family = Family {
        name: "x_seconds",
        help: "Durations.",
        kind: Kind::Histogram,
        labels: &["flow_name"],
    };
    // The same families as written with fewer labels (merged by name).
    static G0: Family = Family { labels: &[], ..G };
    static G1: Family = Family {
        labels: &["flow_name"],
        ..G
    };
    static H0: Family = Family { labels: &[], ..H };

    fn base() -> Vec<(String, String)> {
        vec![
            ("region".into(), "eu-west-1".into()),
            ("account".into(), "a\"b".into()),
        ]
    }

    #[test]
    fn finish_packs_the_pieces_into_one_buffer_and_keeps_the_text() {
        let mut e = Exposition::new(&base());
        for i in 0..5000 {
            let name = format!("flow-{i}");
            e.state_set(&G, &[("flow_name", &name)], &["A", "B"], Some("A"));
            e.histogram(&H, &[("flow_name", &name)], &Histogram::new(&[1.0, 10.0]));
        }
        let mut before = String::new();
        render([&e], &mut before);
        e.finish();
        let mut after = String::new();
        render([&e], &mut after);
        assert_eq!(before, after);
        let pieces: Vec<&Piece> = e.families.iter().flat_map(|(_, b)| &b.pieces).collect();
        assert!(pieces.len() > 2, "{} pieces", pieces.len());
        // Each piece follows the one before in the same buffer.
        for pair in pieces.windows(2) {
            let end = pair[0].deflate.as_ptr().wrapping_add(pair[0].deflate.len());
            assert_eq!(end, pair[1].deflate.as_ptr());
        }
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
        a.sample(&G0, &[], 1.0);
        b.sample(&G0, &[], 2.5);
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
    fn saved_histograms_read_back_and_bucket_counts_are_bounded() {
        static BOUNDS: [f64; 2] = [1.0, 10.0];
        let h = Histogram::from_parts(&BOUNDS, vec![3, u64::from(u32::MAX)], 1.0, 1 << 40).unwrap();
        let (counts, sum, count) = h.parts();
        assert_eq!(counts.collect::<Vec<_>>(), [3, u64::from(u32::MAX)]);
        assert_eq!((sum, count), (1.0, 1 << 40));
        let error = Histogram::from_parts(&BOUNDS, vec![0, 1 << 32], 1.0, 1 << 40).unwrap_err();
        assert!(error.contains("4,294,967,295"), "{error}");
        assert!(Histogram::from_parts(&BOUNDS, vec![2, 0], 1.0, 1).is_err());
    }

    #[test]
    fn large_families_are_deflated_and_read_back_whole() {
        let mut e = Exposition::new(&[("region".into(), "r".into())]);
        let mut expected = String::new();
        for i in 0..20_000 {
            let flow = format!("flow-{i}");
            e.sample(&G1, &[("flow_name", &flow)], i as f64);
            expected.push_str(&format!(
                "x_status{{flow_name=\"{flow}\",region=\"r\"}} {i}\n"
            ));
        }
        let body = &e.families[0].1;
        assert!(body.pieces.len() > 1, "text was not compressed");
        let compressed: usize = body.pieces.iter().map(|p| p.deflate.len()).sum();
        assert!(compressed < expected.len() / 4);
        let mut out = String::new();
        render([&e], &mut out);
        assert_eq!(
            out,
            format!("# HELP x_status A state.\n# TYPE x_status gauge\n{expected}")
        );
    }

    #[test]
    fn pieces_join_into_one_stream_of_the_merged_text() {
        let mut a = Exposition::new(&[("region".into(), "r1".into())]);
        let mut b = Exposition::new(&[("region".into(), "r2".into())]);
        for i in 0..5_000 {
            a.sample(&G1, &[("flow_name", &format!("flow-{i}"))], i as f64);
        }
        b.sample(&G0, &[], 1.0);
        b.histogram(&H0, &[], &Histogram::new(&[1.0]));
        // b keeps its text: pieces() compresses it on the way.
        a.finish();
        let mut expected = String::new();
        render([&a, &b], &mut expected);
        let pieces = pieces([&a, &b]);
        assert!(pieces.len() > 4);
        let mut joined = Vec::new();
        let mut crc = crc32fast::Hasher::new();
        for p in &pieces {
            joined.extend_from_slice(&p.deflate);
            crc.combine(&crc32fast::Hasher::new_with_initial_len(p.crc, p.len));
        }
        joined.extend_from_slice(FINAL_BLOCK);
        let mut text = String::new();
        DeflateDecoder::new(&joined[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, expected);
        assert_eq!(crc.finalize(), crc32fast::hash(expected.as_bytes()));
        assert_eq!(
            pieces.iter().map(|p| p.len).sum::<u64>(),
            expected.len() as u64
        );
    }

    #[test]
    fn joined_parts_share_the_joined_stream() {
        let mut a = Exposition::new(&[("region".into(), "r1".into())]);
        let mut b = Exposition::new(&[("region".into(), "r2".into())]);
        for i in 0..5_000 {
            a.sample(&G1, &[("flow_name", &format!("flow-{i}"))], i as f64);
            b.sample(&G1, &[("flow_name", &format!("flow-{i}"))], 1.0);
        }
        b.histogram(&H0, &[], &Histogram::new(&[1.0]));
        a.finish();
        b.finish();
        let mut expected = String::new();
        render([&a, &b], &mut expected);
        let (joined, shared) = join_shared(&[&a, &b], |pieces| {
            let joined: Vec<u8> = pieces.iter().flat_map(|p| p.deflate.to_vec()).collect();
            let joined = Bytes::from(joined);
            Ok((joined.clone(), Some(joined)))
        })
        .unwrap();
        let shared = shared.expect("parts re-pointed");
        let range = joined.as_ptr() as usize..joined.as_ptr() as usize + joined.len();
        for part in &shared {
            for (_, body) in &part.families {
                for piece in &body.pieces {
                    assert!(range.contains(&(piece.deflate.as_ptr() as usize)));
                }
            }
        }
        let mut again = String::new();
        render(shared.iter(), &mut again);
        assert_eq!(again, expected);
        // Unshared, the parts hold pieces of their own, and render the same.
        assert!(a.unshared().is_none(), "a part of its own stays as it is");
        let own: Vec<Exposition> = shared.iter().map(|p| p.unshared().unwrap()).collect();
        for part in &own {
            assert!(part.unshared().is_none());
            for (_, body) in &part.families {
                for piece in &body.pieces {
                    assert!(!range.contains(&(piece.deflate.as_ptr() as usize)));
                }
            }
        }
        let mut apart = String::new();
        render(own.iter(), &mut apart);
        assert_eq!(apart, expected);
        let mut whole = String::new();
        DeflateDecoder::new(joined.chain(FINAL_BLOCK))
            .read_to_string(&mut whole)
            .unwrap();
        assert_eq!(whole, expected);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::new(&[]);
        e.sample(&G1, &[("flow_name", "a\\b\nc")], 1.0);
        let mut out = String::new();
        render([&e], &mut out);
        assert!(out.contains("x_status{flow_name=\"a\\\\b\\nc\"} 1\n"));
    }
}
