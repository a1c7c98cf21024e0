//! What a scrape serves, prepared once per collection so that a scrape only
//! sends bytes.
//!
//! The AWS series are rendered into [`Prepared`] whenever a collection
//! publishes: a raw deflate stream left open with a sync flush (so another
//! stream can follow it), its CRC and length, and the plain text too while it
//! is small. The exporter's own series (a few kilobytes, and process metrics
//! that should be fresh) are rendered per scrape and appended: as a second
//! deflate stream for gzip, which with the combined CRC makes one ordinary
//! single-member gzip file, or as text. At 10,000 flows the plain text is
//! some 60 MB, more than the memory budget, so beyond [`PLAIN_LIMIT`] only
//! the gzip form is kept and a plain scrape is inflated while it is sent:
//! Prometheus asks for gzip.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use hyper::body::{Frame, SizeHint};

/// The plain text is kept beside the gzip form up to this size.
pub const PLAIN_LIMIT: usize = 8 * 1024 * 1024;
/// Inflated plain bodies are sent in pieces of this size.
const PIECE: usize = 64 * 1024;
/// gzip header: deflate, no name, no mtime, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final fixed-Huffman block: ends the sync-flushed stream for inflating.
const FINAL_BLOCK: &[u8] = &[0x03, 0x00];

/// The AWS part of the exposition, ready to serve.
pub struct Prepared {
    /// Raw deflate, sync-flushed but not final.
    deflate: Bytes,
    crc: crc32fast::Hasher,
    len: u64,
    plain: Option<Bytes>,
}

impl Default for Prepared {
    fn default() -> Self {
        Prepared::build(0, |_| Ok(())).unwrap_or(Prepared {
            deflate: Bytes::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
            plain: Some(Bytes::new()),
        })
    }
}

impl Prepared {
    /// Runs `render`, which writes about `expected` bytes of text, and keeps
    /// its compressed form. Knowing the size up front spares building a plain
    /// copy only to drop it at the limit, and regrowing the one kept.
    pub fn build(
        expected: usize,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<Prepared> {
        let mut sink = Sink {
            encoder: DeflateEncoder::new(Vec::new(), Compression::default()),
            crc: crc32fast::Hasher::new(),
            len: 0,
            plain: (expected <= PLAIN_LIMIT).then(|| Vec::with_capacity(expected)),
        };
        render(&mut sink)?;
        // A sync flush ends on a byte boundary with no final block, so the
        // exporter's own stream can follow it.
        sink.encoder.flush()?;
        // Boxed slices: a Vec's spare capacity would be kept until the next collection.
        let deflate = std::mem::take(sink.encoder.get_mut()).into_boxed_slice();
        Ok(Prepared {
            deflate: Bytes::from(deflate),
            crc: sink.crc,
            len: sink.len,
            plain: sink.plain.map(|p| Bytes::from(p.into_boxed_slice())),
        })
    }

    /// Bytes held (for tests and the memory benchmark).
    pub fn held_bytes(&self) -> usize {
        self.deflate.len() + self.plain.as_ref().map_or(0, Bytes::len)
    }

    /// The whole exposition as one gzip file: this part, then `tail`.
    pub fn gzip(&self, tail: &[u8]) -> io::Result<ScrapeBody> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(tail)?;
        let tail_deflate = encoder.finish()?;
        let mut crc = self.crc.clone();
        let mut tail_crc = crc32fast::Hasher::new();
        tail_crc.update(tail);
        crc.combine(&tail_crc);
        let mut trailer = Vec::with_capacity(8);
        trailer.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32, by definition.
        trailer.extend_from_slice(&((self.len + tail.len() as u64) as u32).to_le_bytes());
        Ok(ScrapeBody::from_parts([
            Part::Bytes(Bytes::from_static(&GZIP_HEADER)),
            Part::Bytes(self.deflate.clone()),
            Part::Bytes(Bytes::from(tail_deflate)),
            Part::Bytes(Bytes::from(trailer)),
        ]))
    }

    /// The whole exposition as text: this part, then `tail`.
    pub fn plain(&self, tail: Vec<u8>) -> ScrapeBody {
        let head = match &self.plain {
            Some(text) => Part::Bytes(text.clone()),
            None => Part::Inflate(Box::new(DeflateDecoder::new(
                io::Cursor::new(self.deflate.clone()).chain(FINAL_BLOCK),
            ))),
        };
        ScrapeBody::from_parts([head, Part::Bytes(Bytes::from(tail))])
    }
}

/// Where the AWS text is written: compressed, checksummed, and kept as text
/// while it stays under [`PLAIN_LIMIT`].
struct Sink {
    encoder: DeflateEncoder<Vec<u8>>,
    crc: crc32fast::Hasher,
    len: u64,
    plain: Option<Vec<u8>>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.encoder.write_all(buf)?;
        self.crc.update(buf);
        self.len += buf.len() as u64;
        if let Some(plain) = &mut self.plain {
            if plain.len() + buf.len() > PLAIN_LIMIT {
                self.plain = None;
            } else {
                plain.extend_from_slice(buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Part {
    Bytes(Bytes),
    Inflate(Box<DeflateDecoder<io::Chain<io::Cursor<Bytes>, &'static [u8]>>>),
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
                Part::Inflate(mut d) => {
                    d.read_to_end(&mut out)?;
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
                Part::Inflate(decoder) => {
                    // Inflating 64 KiB takes well under a millisecond: done inline.
                    let mut piece = vec![0; PIECE];
                    let n = match decoder.read(&mut piece) {
                        Ok(n) => n,
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    };
                    if n == 0 {
                        this.parts.pop_front();
                        continue;
                    }
                    piece.truncate(n);
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
            match part {
                Part::Bytes(b) => exact += b.len() as u64,
                Part::Inflate(_) => return SizeHint::default(),
            }
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

    fn prepared(aws: &[u8]) -> Prepared {
        Prepared::build(aws.len(), |w| w.write_all(aws)).unwrap()
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
        let body = large.plain(b"tail\n".to_vec()).collect().unwrap();
        assert_eq!(body, [large_text.as_slice(), b"tail\n"].concat());
    }
}
