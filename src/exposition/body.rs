//! What a scrape serves, prepared once per collection so that a scrape only
//! sends bytes.
//!
//! Whenever a collection publishes, the compressed pieces of every (target,
//! service) exposition are joined into [`Prepared`]: the gzip header and one
//! raw deflate stream left open (so another stream can follow it), its CRC
//! and length, and the plain text too while it is small. Up to
//! [`JOIN_LIMIT`] the pieces are copied into one buffer, sent in one write,
//! and the snapshots then hold slices of it; beyond (many targets), the body
//! is the pieces where they are, so a publish never holds two bodies. The text is never
//! compressed twice. The exporter's own series (a few kilobytes, and process
//! metrics that should be fresh) follow: as a second deflate stream ending
//! with the gzip trailer, which with the combined CRC makes one ordinary
//! single-member gzip file, or as text. That [`Tail`] is made once per
//! rendering of the exporter's own series and kept with the [`Prepared`] it
//! follows, so a scrape sends two shared buffers and computes nothing. At
//! 10,000 flows the plain text is some 50 MB, more than the memory budget, so
//! beyond [`PLAIN_LIMIT`] only the gzip form is kept and a plain scrape is
//! inflated while it is sent: Prometheus asks for gzip. Inflating is the
//! slow part of such a scrape (some 100 ms for 50 MB), so the first plain
//! scrape of a part also keeps what it inflated as LZ4 blocks (about a tenth
//! of the text, and several times faster to decode): the plain scrapes that
//! follow, until the next publish, decode those. Nothing is kept for a part
//! no client asks as text.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use hyper::body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Piece, FINAL_BLOCK};
use crate::sync::lock;

/// The plain text is kept beside the gzip form up to this size. Beyond, the
/// first plain scrape after a publish inflates and keeps an LZ4 copy. Kept
/// small: while a body is prepared the old one and its text are still held,
/// and with many targets the body passes through every size on the way.
pub const PLAIN_LIMIT: usize = 1024 * 1024;
/// Up to this much deflate, the pieces are copied into one buffer, sent in
/// one write. Beyond it (many targets: some 9 MB at 100) they are served
/// where they are, in the snapshots, so that preparing a body never holds
/// the samples twice (the old body and the new one).
pub const JOIN_LIMIT: usize = 4 * 1024 * 1024;
/// Pieces served where they are: those smaller than this are copied
/// together into frames of up to [`FRAME`] bytes, so that a body of 40,000
/// small pieces is not 40,000 writes.
const SMALL: usize = 16 * 1024;
const FRAME: usize = 64 * 1024;
/// Inflated plain bodies are sent in pieces of this size.
const PIECE: usize = 128 * 1024;
/// Plain scrapes inflating at once; more wait their turn. Each holds an
/// inflater and a piece in flight, and two cores gain nothing from more.
pub const INFLATING: usize = 4;
/// gzip header: deflate, no name, no mtime, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
const GZIP_HEADER_LEN: usize = GZIP_HEADER.len();

/// How long a plain scrape waits for its turn to inflate.
const PERMIT_WAIT: Duration = Duration::from_secs(2);

/// Plain scrapes that decode (inflate, or the LZ4 copy) take turns, at most [`INFLATING`] at once. One
/// that waited [`PERMIT_WAIT`] goes ahead anyway, so clients that stop
/// reading cannot hold up the rest.
pub struct Turns {
    inflating: Arc<Semaphore>,
}

impl Default for Turns {
    fn default() -> Self {
        Turns {
            inflating: Arc::new(Semaphore::new(INFLATING)),
        }
    }
}

impl Turns {
    /// The whole exposition as text: `prepared`, then `tail`.
    #[cfg(test)]
    pub async fn plain(&self, prepared: &Prepared, tail: Vec<u8>) -> ScrapeBody {
        self.plain_with(prepared, &[Arc::new(Own::new(&tail))])
            .await
    }

    /// [`Turns::plain`] with the exporter's own series, in parts.
    pub async fn plain_with(&self, prepared: &Prepared, own: &[Arc<Own>]) -> ScrapeBody {
        let mut permit = None;
        if prepared.inflates() {
            let wait = self.inflating.clone().acquire_owned();
            permit = tokio::time::timeout(PERMIT_WAIT, wait)
                .await
                .ok()
                .and_then(Result::ok);
        }
        prepared.plain_with(own, permit)
    }
}

/// The exporter's own series (or a part of them), compressed once per
/// rendering: a deflate stream, sync-flushed but not final, so that parts
/// rendered apart follow each other (and the AWS part) in gzip scrapes; its CRC and length,
/// and the text itself up to [`OWN_TEXT_LIMIT`]. At 100 targets the text is
/// some 6 MB, and a tenth of that compressed.
pub struct Own {
    deflate: Bytes,
    crc: u32,
    len: u64,
    text: Option<Bytes>,
}

impl Default for Own {
    /// No text: an empty stream.
    fn default() -> Self {
        Own {
            deflate: Bytes::new(),
            crc: 0,
            len: 0,
            text: Some(Bytes::new()),
        }
    }
}

/// The exporter's own text is kept as text up to this size; beyond, plain
/// scrapes inflate it.
pub const OWN_TEXT_LIMIT: usize = 1024 * 1024;

impl Own {
    /// `text`, compressed.
    #[cfg(test)]
    pub fn new(text: &[u8]) -> Own {
        let mut writer = OwnWriter::default();
        // Writing into memory cannot fail.
        let _ = writer.write_all(text);
        writer.finish()
    }

    /// The text, inflated if it was not kept.
    #[cfg(test)]
    pub fn text(&self) -> io::Result<Bytes> {
        match &self.text {
            Some(text) => Ok(text.clone()),
            None => {
                let mut text = Vec::with_capacity(self.len as usize);
                DeflateDecoder::new((&self.deflate[..]).chain(FINAL_BLOCK))
                    .read_to_end(&mut text)?;
                Ok(Bytes::from(text))
            }
        }
    }

    /// The text as a body part: as is, or inflating.
    fn plain_part(&self) -> Part {
        match &self.text {
            Some(text) => Part::Bytes(text.clone()),
            None => Part::Inflate {
                decoder: Box::new(inflater(vec![self.deflate.clone()].into(), 0)),
                keep: None,
                left: self.len,
                _permit: None,
            },
        }
    }
}

/// Makes an [`Own`] from text written in any number of pieces: the text
/// is compressed as it comes, never held whole once beyond [`OWN_TEXT_LIMIT`].
pub struct OwnWriter {
    encoder: DeflateEncoder<Vec<u8>>,
    crc: crc32fast::Hasher,
    len: u64,
    text: Option<Vec<u8>>,
}

impl Default for OwnWriter {
    fn default() -> Self {
        OwnWriter {
            encoder: DeflateEncoder::new(Vec::new(), Compression::fast()),
            crc: crc32fast::Hasher::new(),
            len: 0,
            text: Some(Vec::new()),
        }
    }
}

impl Write for OwnWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.encoder.write_all(buf)?;
        self.crc.update(buf);
        self.len += buf.len() as u64;
        if self.len > OWN_TEXT_LIMIT as u64 {
            self.text = None;
        } else if let Some(text) = &mut self.text {
            text.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl OwnWriter {
    /// A writer for the rendering after `last`: room for its stream at once, and no text
    /// kept if its text went beyond [`OWN_TEXT_LIMIT`] (at 100 targets the own series are
    /// 3 MiB of text: a text kept up to the limit was a megabyte grown and dropped at
    /// every rendering, once a second).
    pub fn after(last: Option<&Own>) -> OwnWriter {
        let Some(last) = last else {
            return OwnWriter::default();
        };
        let room = last.deflate.len() + last.deflate.len() / 16;
        OwnWriter {
            encoder: DeflateEncoder::new(Vec::with_capacity(room), Compression::fast()),
            crc: crc32fast::Hasher::new(),
            len: 0,
            text: (last.len <= OWN_TEXT_LIMIT as u64).then(Vec::new),
        }
    }

    /// The stream, sync-flushed and left open (see [`Own`]).
    pub fn finish(mut self) -> Own {
        // Compressing into memory cannot fail.
        let _ = self.encoder.flush();
        // Taken before the encoder is dropped, which would end the stream.
        let deflate = std::mem::take(self.encoder.get_mut());
        Own {
            deflate: Bytes::from(deflate),
            crc: self.crc.finalize(),
            len: self.len,
            text: self.text.map(Bytes::from),
        }
    }
}

/// The AWS part of the exposition, ready to serve.
pub struct Prepared {
    /// The gzip header, then the raw deflate, sync-flushed but not final: in
    /// one buffer, or beyond [`JOIN_LIMIT`] the header and each piece.
    segments: Arc<[Bytes]>,
    /// Bytes in `segments`.
    size: u64,
    crc: crc32fast::Hasher,
    len: u64,
    plain: Option<Bytes>,
    /// A large part's text as LZ4 blocks, kept by its first plain scrape.
    quick: Arc<OnceLock<Quick>>,
    /// The tail made last for this part (see [`Prepared::tail`]).
    tail: Mutex<Option<Arc<Tail>>>,
}

/// The text as LZ4 blocks of at most [`PIECE`] bytes, each with its size in front.
type Quick = Arc<[Bytes]>;

/// The exporter's own series as they follow one [`Prepared`]: the deflate
/// streams of their parts, the final block, then the gzip trailer of the
/// whole body; one buffer when the streams are small.
pub struct Tail {
    /// Held, so that no other rendering takes their address while the tail is kept.
    own: Vec<Arc<Own>>,
    gzip: Vec<Bytes>,
}

/// Own streams up to this size are copied in front of their trailer, so that
/// a scrape of a small exposition is two buffers.
const TAIL_COPY: usize = 64 * 1024;

impl Default for Prepared {
    fn default() -> Self {
        Prepared::join(&[]).unwrap_or_else(|_| {
            Prepared::new(
                vec![Bytes::from_static(&GZIP_HEADER)],
                crc32fast::Hasher::new(),
                0,
                Some(Bytes::new()),
            )
        })
    }
}

impl Prepared {
    fn new(segments: Vec<Bytes>, crc: crc32fast::Hasher, len: u64, plain: Option<Bytes>) -> Self {
        Prepared {
            size: segments.iter().map(|s| s.len() as u64).sum(),
            segments: segments.into(),
            crc,
            len,
            plain,
            quick: Arc::default(),
            tail: Mutex::new(None),
        }
    }

    /// Joins compressed pieces, in order, into one stream (one buffer up to
    /// [`JOIN_LIMIT`], else the pieces themselves, shared); inflates it back
    /// to keep the text when that is small.
    pub fn join(pieces: &[Piece]) -> io::Result<Prepared> {
        Prepared::join_up_to(pieces, JOIN_LIMIT)
    }

    /// [`Prepared::join`] with another limit than [`JOIN_LIMIT`].
    pub fn join_up_to(pieces: &[Piece], join_limit: usize) -> io::Result<Prepared> {
        let size = pieces.iter().map(|p| p.deflate.len()).sum::<usize>();
        let mut crc = crc32fast::Hasher::new();
        let mut len = 0;
        for piece in pieces {
            crc.combine(&crc32fast::Hasher::new_with_initial_len(
                piece.crc, piece.len,
            ));
            len += piece.len;
        }
        let segments = if size <= join_limit {
            let mut head = Vec::with_capacity(GZIP_HEADER_LEN + size);
            head.extend_from_slice(&GZIP_HEADER);
            for piece in pieces {
                head.extend_from_slice(&piece.deflate);
            }
            vec![Bytes::from(head)]
        } else {
            std::iter::once(Bytes::from_static(&GZIP_HEADER))
                .chain(pieces.iter().map(|p| p.deflate.clone()))
                .collect()
        };
        let segments: Arc<[Bytes]> = segments.into();
        let plain = if len <= PLAIN_LIMIT as u64 {
            let mut text = Vec::with_capacity(len as usize);
            inflater(segments.clone(), GZIP_HEADER_LEN).read_to_end(&mut text)?;
            Some(Bytes::from(text))
        } else {
            None
        };
        Ok(Prepared {
            size: GZIP_HEADER_LEN as u64 + size as u64,
            segments,
            crc,
            len,
            plain,
            quick: Arc::default(),
            tail: Mutex::new(None),
        })
    }

    /// The raw deflate stream (not final) when it is one buffer: the
    /// snapshots can then hold slices of it instead of their own pieces.
    pub fn deflate(&self) -> Option<Bytes> {
        match &*self.segments {
            [head] => Some(head.slice(GZIP_HEADER_LEN..)),
            _ => None,
        }
    }

    /// Bytes held.
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.size as usize + self.plain.as_ref().map_or(0, Bytes::len)
    }

    /// Whether a plain scrape decodes (inflates, or decodes the LZ4 copy), and
    /// so should wait for a permit: 32 scrapes decoding at once on two cores
    /// serve fewer bytes a second than 4 do.
    pub fn inflates(&self) -> bool {
        self.plain.is_none()
    }

    /// The tail that follows this part: `own`, the parts of the exporter's
    /// own series. Made once per rendering: later scrapes share it. Making
    /// one copies at most [`TAIL_COPY`] bytes, so the lock is held briefly.
    pub fn tail(&self, own: &[Arc<Own>]) -> Arc<Tail> {
        let mut kept = lock(&self.tail);
        let same = |t: &&Arc<Tail>| {
            t.own.len() == own.len() && t.own.iter().zip(own).all(|(a, b)| Arc::ptr_eq(a, b))
        };
        if let Some(tail) = kept.as_ref().filter(same) {
            return tail.clone();
        }
        let tail = Arc::new(self.make_tail(own.to_vec()));
        *kept = Some(tail.clone());
        tail
    }

    fn make_tail(&self, own: Vec<Arc<Own>>) -> Tail {
        let mut crc = self.crc.clone();
        let mut len = self.len;
        for part in &own {
            crc.combine(&crc32fast::Hasher::new_with_initial_len(part.crc, part.len));
            len += part.len;
        }
        let mut end = Vec::with_capacity(FINAL_BLOCK.len() + 8);
        end.extend_from_slice(FINAL_BLOCK);
        end.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32, by definition.
        end.extend_from_slice(&(len as u32).to_le_bytes());
        let deflate: usize = own.iter().map(|p| p.deflate.len()).sum();
        let gzip = if deflate <= TAIL_COPY {
            let mut copy = Vec::with_capacity(deflate + end.len());
            for part in &own {
                copy.extend_from_slice(&part.deflate);
            }
            copy.extend_from_slice(&end);
            vec![Bytes::from(copy)]
        } else {
            let streams = own.iter().map(|p| p.deflate.clone());
            streams.chain(std::iter::once(Bytes::from(end))).collect()
        };
        Tail { own, gzip }
    }

    /// The whole exposition as one gzip file: this part, then `tail`.
    #[cfg(test)]
    pub fn gzip(&self, tail: &[u8]) -> io::Result<ScrapeBody> {
        let tail = self.make_tail(vec![Arc::new(Own::new(tail))]);
        Ok(self.gzip_with(&tail))
    }

    /// The whole exposition as one gzip file: this part, then `tail` (made
    /// by [`Prepared::tail`] of this part): shared buffers only.
    pub fn gzip_with(&self, tail: &Tail) -> ScrapeBody {
        let head = Part::Segments {
            segments: self.segments.clone(),
            next: 0,
            left: self.size,
        };
        ScrapeBody::from_parts(
            std::iter::once(head).chain(tail.gzip.iter().cloned().map(Part::Bytes)),
        )
    }

    /// The whole exposition as text: this part, then `tail`. `permit` is
    /// held while the body inflates (see [`INFLATING`]).
    pub fn plain(&self, tail: Vec<u8>, permit: Option<OwnedSemaphorePermit>) -> ScrapeBody {
        self.plain_then([Part::Bytes(Bytes::from(tail))], permit)
    }

    /// [`Prepared::plain`] with the exporter's own series, in parts.
    pub fn plain_with(&self, own: &[Arc<Own>], permit: Option<OwnedSemaphorePermit>) -> ScrapeBody {
        self.plain_then(own.iter().map(|p| p.plain_part()), permit)
    }

    fn plain_then(
        &self,
        tail: impl IntoIterator<Item = Part>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> ScrapeBody {
        let head = match (&self.plain, self.quick.get()) {
            (Some(text), _) => Part::Bytes(text.clone()),
            (None, Some(blocks)) => Part::Quick {
                blocks: blocks.clone(),
                next: 0,
                left: self.len,
                _permit: permit,
            },
            (None, None) => Part::Inflate {
                decoder: Box::new(inflater(self.segments.clone(), GZIP_HEADER_LEN)),
                keep: Some((Vec::new(), self.quick.clone())),
                left: self.len,
                _permit: permit,
            },
        };
        ScrapeBody::from_parts(std::iter::once(head).chain(tail))
    }
}

type Inflater = DeflateDecoder<io::Chain<Reader, &'static [u8]>>;

/// The text of `segments`, deflate from `at` in the first (after a prepared
/// part's gzip header).
fn inflater(segments: Arc<[Bytes]>, at: usize) -> Inflater {
    let reader = Reader {
        segments,
        next: 0,
        at,
    };
    DeflateDecoder::new(reader.chain(FINAL_BLOCK))
}

/// Reads the bytes of segments one after the other, from `at` in the first.
struct Reader {
    segments: Arc<[Bytes]>,
    next: usize,
    at: usize,
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(segment) = self.segments.get(self.next) {
            let rest = segment.get(self.at..).unwrap_or_default();
            if rest.is_empty() {
                self.next += 1;
                self.at = 0;
                continue;
            }
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.at += n;
            return Ok(n);
        }
        Ok(0)
    }
}

/// Reads until `buf` is full or the text ends: each piece but the last is
/// exactly `buf.len()`, so the LZ4 blocks made from them are few and even.
fn read_full(decoder: &mut Inflater, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match decoder.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// One LZ4 block back to text.
fn unlz4(block: &[u8]) -> io::Result<Vec<u8>> {
    lz4_flex::block::decompress_size_prepended(block)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

enum Part {
    Bytes(Bytes),
    /// Sent as they are; small ones copied together into frames.
    Segments {
        segments: Arc<[Bytes]>,
        next: usize,
        /// Bytes still to come.
        left: u64,
    },
    Inflate {
        decoder: Box<Inflater>,
        /// The LZ4 blocks made so far, and where the whole goes once inflated.
        keep: Option<(Vec<Bytes>, Arc<OnceLock<Quick>>)>,
        /// Text bytes still to come.
        left: u64,
        /// Given back when the part is done.
        _permit: Option<OwnedSemaphorePermit>,
    },
    Quick {
        blocks: Quick,
        next: usize,
        left: u64,
        _permit: Option<OwnedSemaphorePermit>,
    },
}

/// A response body sent from shared bytes, inflating where needed.
pub struct ScrapeBody {
    parts: VecDeque<Part>,
}

impl ScrapeBody {
    fn from_parts(parts: impl IntoIterator<Item = Part>) -> Self {
        ScrapeBody {
            parts: parts.into_iter().collect(),
        }
    }

    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        ScrapeBody::from_parts([Part::Bytes(bytes.into())])
    }

    /// The whole body in memory, for `--once` and tests.
    pub fn collect(self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for part in self.parts {
            match part {
                Part::Bytes(b) => out.extend_from_slice(&b),
                Part::Segments { segments, next, .. } => {
                    for segment in &segments[next..] {
                        out.extend_from_slice(segment);
                    }
                }
                Part::Inflate { mut decoder, .. } => {
                    decoder.read_to_end(&mut out)?;
                }
                Part::Quick { blocks, .. } => {
                    for block in blocks.iter() {
                        out.extend_from_slice(&unlz4(block)?);
                    }
                }
            }
        }
        Ok(out)
    }
}

impl hyper::body::Body for ScrapeBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        while let Some(part) = this.parts.front_mut() {
            match part {
                Part::Bytes(bytes) => {
                    let bytes = std::mem::take(bytes);
                    this.parts.pop_front();
                    if !bytes.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                }
                Part::Segments {
                    segments,
                    next,
                    left,
                } => {
                    let Some(first) = segments.get(*next) else {
                        this.parts.pop_front();
                        continue;
                    };
                    *next += 1;
                    let frame = if first.len() >= SMALL {
                        first.clone()
                    } else {
                        let mut frame = Vec::with_capacity(FRAME);
                        frame.extend_from_slice(first);
                        while let Some(s) = segments.get(*next) {
                            if s.len() >= SMALL || frame.len() + s.len() > FRAME {
                                break;
                            }
                            frame.extend_from_slice(s);
                            *next += 1;
                        }
                        Bytes::from(frame)
                    };
                    *left = left.saturating_sub(frame.len() as u64);
                    if !frame.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(frame))));
                    }
                }
                Part::Inflate {
                    decoder,
                    keep,
                    left,
                    ..
                } => {
                    // Inflating 128 KiB takes well under a millisecond: done inline.
                    let mut piece = vec![0; PIECE];
                    let n = match read_full(decoder, &mut piece) {
                        Ok(n) => n,
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    };
                    if n == 0 {
                        if let Some((blocks, cell)) = keep.take() {
                            // Another scrape may have kept it first: either is the same text.
                            let _ = cell.set(blocks.into());
                        }
                        this.parts.pop_front();
                        continue;
                    }
                    piece.truncate(n);
                    *left = left.saturating_sub(n as u64);
                    if let Some((blocks, _)) = keep {
                        blocks.push(Bytes::from(lz4_flex::block::compress_prepend_size(&piece)));
                    }
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(piece)))));
                }
                Part::Quick {
                    blocks, next, left, ..
                } => {
                    let Some(block) = blocks.get(*next) else {
                        this.parts.pop_front();
                        continue;
                    };
                    *next += 1;
                    let piece = match unlz4(block) {
                        Ok(piece) => piece,
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    };
                    *left = left.saturating_sub(piece.len() as u64);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(piece)))));
                }
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        let mut exact = 0u64;
        for part in &self.parts {
            exact += match part {
                Part::Bytes(b) => b.len() as u64,
                Part::Segments { left, .. }
                | Part::Inflate { left, .. }
                | Part::Quick { left, .. } => *left,
            };
        }
        SizeHint::with_exact(exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    fn text(lines: usize) -> Vec<u8> {
        (0..lines)
            .map(|i| format!("x_metric{{flow_name=\"flow-{i}\"}} {i}\n"))
            .collect::<String>()
            .into_bytes()
    }

    /// `aws` compressed in pieces of 7,000 bytes, then joined.
    fn prepared(aws: &[u8]) -> Prepared {
        let pieces: Vec<Piece> = aws.chunks(7_000).map(Piece::compress).collect();
        Prepared::join(&pieces).unwrap()
    }

    #[test]
    fn gzip_is_one_valid_member_of_both_parts() {
        let aws = text(1000);
        let p = prepared(&aws);
        let body = p.gzip(b"tail 1\n").unwrap().collect().unwrap();
        let mut out = Vec::new();
        let mut decoder = GzDecoder::new(&body[..]);
        decoder.read_to_end(&mut out).unwrap();
        assert_eq!(out, [aws.as_slice(), b"tail 1\n"].concat());
        // Nothing after the first member: ordinary decoders read it all.
        assert!(decoder.into_inner().is_empty());
    }

    fn gunzip(body: ScrapeBody) -> Vec<u8> {
        let body = body.collect().unwrap();
        let mut out = Vec::new();
        let mut decoder = GzDecoder::new(&body[..]);
        decoder.read_to_end(&mut out).unwrap();
        assert!(decoder.into_inner().is_empty());
        out
    }

    #[test]
    fn a_shared_tail_is_made_once_per_rendering_and_decodes_to_exactly_the_text() {
        let aws = text(1000);
        let p = prepared(&aws);
        let first = Arc::new(Own::new(b"own_series 1\n"));
        let tail = p.tail(std::slice::from_ref(&first));
        // The same rendering: the same tail, nothing made again.
        assert!(Arc::ptr_eq(&tail, &p.tail(std::slice::from_ref(&first))));
        assert_eq!(
            gunzip(p.gzip_with(&tail)),
            [aws.as_slice(), b"own_series 1\n"].concat()
        );
        // Two buffers: the prepared part (header and deflate), and the tail with the trailer.
        assert_eq!(p.gzip_with(&tail).parts.len(), 2);
        // A new rendering, even of equal text, is a new tail; the body follows it.
        let second = Arc::new(Own::new(b"own_series 2\n"));
        let newer = p.tail(std::slice::from_ref(&second));
        assert!(!Arc::ptr_eq(&tail, &newer));
        assert_eq!(
            gunzip(p.gzip_with(&newer)),
            [aws.as_slice(), b"own_series 2\n"].concat()
        );
        // Another prepared part (a publish) makes its own tail, with its own CRC and length.
        let other_aws = text(10);
        let other = prepared(&other_aws);
        let theirs = other.tail(std::slice::from_ref(&second));
        assert_eq!(
            gunzip(other.gzip_with(&theirs)),
            [other_aws.as_slice(), b"own_series 2\n"].concat()
        );
        // Plain, from the same rendering.
        let plain = p
            .plain_with(std::slice::from_ref(&second), None)
            .collect()
            .unwrap();
        assert_eq!(plain, [aws.as_slice(), b"own_series 2\n"].concat());
        // Parts rendered apart follow each other, in both forms.
        let parts = [first, second];
        let both = [aws.as_slice(), b"own_series 1\nown_series 2\n"].concat();
        assert_eq!(gunzip(p.gzip_with(&p.tail(&parts))), both);
        assert_eq!(p.plain_with(&parts, None).collect().unwrap(), both);
    }

    #[test]
    fn large_own_series_are_kept_compressed_only_and_sent_in_both_forms() {
        let aws = text(1000);
        let p = prepared(&aws);
        let own_text = text(OWN_TEXT_LIMIT / 20);
        assert!(own_text.len() > OWN_TEXT_LIMIT);
        let mut writer = OwnWriter::default();
        for piece in own_text.chunks(10_000) {
            writer.write_all(piece).unwrap();
        }
        let own = Arc::new(writer.finish());
        assert!(own.text.is_none());
        assert!(own.deflate.len() < own_text.len() / 4);
        assert_eq!(own.text().unwrap(), own_text);
        let want = [aws.as_slice(), &own_text].concat();
        let tail = p.tail(std::slice::from_ref(&own));
        assert_eq!(tail.gzip.len(), 2, "the stream shared, then the trailer");
        assert_eq!(gunzip(p.gzip_with(&tail)), want);
        assert_eq!(send(p.gzip_with(&tail)).len() as u64, {
            let body = p.gzip_with(&tail);
            use hyper::body::Body;
            body.size_hint().exact().unwrap()
        });
        assert_eq!(send(p.plain_with(&[own], None)), want);
    }

    #[test]
    fn a_large_prepared_part_with_a_tail_decodes_to_exactly_the_text() {
        let large_text = text(PLAIN_LIMIT / 20);
        let large = prepared(&large_text);
        let own = Arc::new(Own::new(&text(300)));
        let tail = large.tail(std::slice::from_ref(&own));
        assert_eq!(
            gunzip(large.gzip_with(&tail)),
            [large_text.as_slice(), &own.text().unwrap()[..]].concat()
        );
    }

    #[test]
    fn empty_parts_make_a_valid_gzip() {
        let body = Prepared::default().gzip(b"").unwrap().collect().unwrap();
        let mut out = Vec::new();
        GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn plain_is_kept_small_and_inflated_when_large() {
        let small = prepared(&text(10));
        assert!(small.plain.is_some());
        let large_text = text(PLAIN_LIMIT / 20);
        assert!(large_text.len() > PLAIN_LIMIT);
        let large = prepared(&large_text);
        assert!(large.plain.is_none());
        assert!(large.held_bytes() < large_text.len() / 4);
        let body = large.plain(b"tail\n".to_vec(), None).collect().unwrap();
        assert_eq!(body, [large_text.as_slice(), b"tail\n"].concat());
    }

    /// Sends a body as hyper would, frame by frame, checking the size it announced.
    fn send(mut body: ScrapeBody) -> Vec<u8> {
        use hyper::body::Body;
        let announced = body.size_hint().exact();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            out.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(announced, Some(out.len() as u64));
        out
    }

    #[test]
    fn a_large_part_keeps_its_first_plain_scrape_as_lz4_for_the_next() {
        let large_text = text(PLAIN_LIMIT / 20);
        let large = prepared(&large_text);
        let want = [large_text.as_slice(), b"tail\n"].concat();
        use hyper::body::Body;
        // A scrape that stops half way keeps nothing.
        let mut partial = large.plain(b"tail\n".to_vec(), None);
        let waker = std::task::Waker::noop();
        let _ = Pin::new(&mut partial).poll_frame(&mut Context::from_waker(waker));
        drop(partial);
        assert!(large.quick.get().is_none());
        // The first whole one inflates and keeps LZ4 blocks, far smaller than the text.
        assert_eq!(send(large.plain(b"tail\n".to_vec(), None)), want);
        let kept: usize = large.quick.get().unwrap().iter().map(Bytes::len).sum();
        assert!(kept < large_text.len() / 4, "{kept}");
        // The next ones decode them: the same bytes, the same announced length.
        let body = large.plain(b"tail\n".to_vec(), None);
        assert!(matches!(body.parts[0], Part::Quick { .. }));
        assert_eq!(send(body), want);
        assert_eq!(
            large.plain(b"tail\n".to_vec(), None).collect().unwrap(),
            want
        );
    }

    #[test]
    fn a_body_beyond_the_join_limit_is_served_from_the_pieces_themselves() {
        let aws = text(20_000);
        // Pieces of various sizes: small ones are sent together, large ones alone.
        let mut pieces: Vec<Piece> = aws.chunks(3_000).map(Piece::compress).collect();
        pieces.push(Piece::compress(&text(40_000)));
        let want_text = [aws.as_slice(), &text(40_000)].concat();
        let joined = Prepared::join_up_to(&pieces, usize::MAX);
        let joined = joined.unwrap();
        let rope = Prepared::join_up_to(&pieces, 0).unwrap();
        assert!(joined.deflate().is_some());
        assert!(rope.deflate().is_none(), "nothing to re-point the parts to");
        // The pieces are shared, not copied.
        assert!(std::ptr::eq(
            rope.segments[1].as_ptr(),
            pieces[0].deflate.as_ptr()
        ));
        let (a, b) = (
            joined.gzip(b"own 1\n").unwrap(),
            rope.gzip(b"own 1\n").unwrap(),
        );
        assert_eq!(
            send(a),
            send(b),
            "the same bytes, the same announced length"
        );
        let body = rope.gzip(b"own 1\n").unwrap();
        let frames = count_frames(body);
        assert!(
            frames < pieces.len() / 2,
            "{frames} frames for {} pieces",
            pieces.len()
        );
        assert_eq!(
            gunzip(rope.gzip(b"own 1\n").unwrap()),
            [want_text.as_slice(), b"own 1\n"].concat()
        );
        assert_eq!(
            rope.plain(b"t\n".to_vec(), None).collect().unwrap(),
            [want_text.as_slice(), b"t\n"].concat()
        );
    }

    fn count_frames(mut body: ScrapeBody) -> usize {
        use hyper::body::Body;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut frames = 0;
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            assert!(!frame.unwrap().into_data().unwrap().is_empty());
            frames += 1;
        }
        frames
    }

    #[test]
    fn a_large_body_beyond_the_join_limit_inflates_plain_scrapes_from_its_pieces() {
        let large_text = text(PLAIN_LIMIT / 20);
        let pieces: Vec<Piece> = large_text.chunks(100_000).map(Piece::compress).collect();
        let rope = Prepared::join_up_to(&pieces, 0).unwrap();
        assert!(rope.plain.is_none());
        let want = [large_text.as_slice(), b"tail\n"].concat();
        assert_eq!(send(rope.plain(b"tail\n".to_vec(), None)), want);
        // Then from its LZ4 copy.
        assert!(rope.quick.get().is_some());
        assert_eq!(send(rope.plain(b"tail\n".to_vec(), None)), want);
    }

    fn large() -> Prepared {
        let pieces: Vec<Piece> = vec![b'#'; PLAIN_LIMIT + 1]
            .chunks(1 << 20)
            .map(Piece::compress)
            .collect();
        Prepared::join(&pieces).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn plain_scrapes_that_inflate_take_turns_but_never_wait_forever() {
        let (turns, prepared) = (Turns::default(), large());
        let mut bodies = Vec::new();
        for _ in 0..INFLATING {
            bodies.push(turns.plain(&prepared, Vec::new()).await);
        }
        assert_eq!(turns.inflating.available_permits(), 0);
        // The next one waits its turn, up to PERMIT_WAIT (virtual time here).
        let waited = tokio::time::Instant::now();
        let late = turns.plain(&prepared, b"tail\n".to_vec()).await;
        assert_eq!(waited.elapsed(), PERMIT_WAIT);
        assert_eq!(late.collect().unwrap().len(), PLAIN_LIMIT + 1 + 5);
        // A finished body gives its turn back.
        drop(bodies.pop());
        let waited = tokio::time::Instant::now();
        let _next = turns.plain(&prepared, Vec::new()).await;
        assert_eq!(waited.elapsed(), Duration::ZERO);
        assert_eq!(turns.inflating.available_permits(), 0);
    }

    #[tokio::test]
    async fn small_plain_scrapes_are_kept_text_and_take_no_turn() {
        let turns = Turns::default();
        let _body = turns.plain(&prepared(b"x 1\n"), Vec::new()).await;
        assert_eq!(turns.inflating.available_permits(), INFLATING);
    }
}
