//! A compact binary encoding for states too large for JSON (AppFlow's: a
//! quarter of a million executions at 10,000 flows). Integers are LEB128
//! varints, floats their 8 IEEE-754 bytes (exact), strings a varint length
//! and their UTF-8 bytes. A [`Reader`] error says what was wrong and where.

use std::io::{self, Write};

/// Writes values to a sink through a small buffer: a state is never held
/// whole in memory. The first error of the sink is kept and returned by
/// [`Writer::finish`]; what follows it is dropped.
pub struct Writer<'a> {
    buf: Vec<u8>,
    out: &'a mut dyn Write,
    error: Option<io::Error>,
}

/// How much is buffered before it goes to the sink.
const CHUNK: usize = 64 * 1024;

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut dyn Write) -> Writer<'a> {
        Writer {
            buf: Vec::with_capacity(CHUNK + 64),
            out,
            error: None,
        }
    }

    /// Writes what is buffered; the first error of the sink, if any.
    pub fn finish(mut self) -> io::Result<()> {
        self.drain();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn drain(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.error = Some(e);
            }
        }
        self.buf.clear();
    }

    fn room(&mut self) {
        if self.buf.len() >= CHUNK {
            self.drain();
        }
    }

    pub fn u8(&mut self, v: u8) {
        self.room();
        self.buf.push(v);
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// LEB128: 7 bits a byte, low bits first; 1 byte below 128, 10 at most.
    pub fn varint(&mut self, mut v: u64) {
        self.room();
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A signed integer, zigzag-encoded so that small magnitudes stay short.
    pub fn signed(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Eight bytes, little-endian: for hashes, which are as long as they can be.
    pub fn fixed(&mut self, v: u64) {
        self.room();
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// The exact value, every bit.
    pub fn f64(&mut self, v: f64) {
        self.fixed(v.to_bits());
    }

    pub fn bytes(&mut self, v: &[u8]) {
        self.varint(v.len() as u64);
        self.room();
        self.buf.extend_from_slice(v);
    }

    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    pub fn opt_f64(&mut self, v: Option<f64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.f64(v);
        }
    }

    pub fn opt_signed(&mut self, v: Option<i64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.signed(v);
        }
    }

    #[cfg(test)]
    pub fn opt_str(&mut self, v: Option<&str>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.str(v);
        }
    }
}

/// Reads what a [`Writer`] wrote, in the same order.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// What went wrong, and at which byte.
pub type Error = String;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// An error at the current position.
    pub fn error(&self, what: impl std::fmt::Display) -> Error {
        format!("at byte {}: {what}", self.pos)
    }

    /// Everything was read: trailing bytes are corruption.
    pub fn end(&self) -> Result<(), Error> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(self.error(format!("{n} bytes after the end of the state"))),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| self.error("unexpected end of the state"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    pub fn bool(&mut self) -> Result<bool, Error> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.error(format!("{other} is not a boolean"))),
        }
    }

    pub fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.error("an integer longer than 64 bits"))
    }

    /// A varint that counts items to come: never more than bytes are left,
    /// so a corrupt count cannot make a huge allocation.
    pub fn count(&mut self) -> Result<usize, Error> {
        let n = self.varint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(self.error(format!("a count of {n} with {left} bytes left")));
        }
        Ok(n as usize)
    }

    pub fn signed(&mut self) -> Result<i64, Error> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub fn fixed(&mut self) -> Result<u64, Error> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("eight bytes")))
    }

    pub fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_bits(self.fixed()?))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.count()?;
        self.take(n)
    }

    pub fn str(&mut self) -> Result<&'a str, Error> {
        let at = self.pos;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map_err(|e| format!("at byte {at}: a string that is not UTF-8: {e}"))
    }

    pub fn opt_f64(&mut self) -> Result<Option<f64>, Error> {
        Ok(if self.bool()? {
            Some(self.f64()?)
        } else {
            None
        })
    }

    pub fn opt_signed(&mut self) -> Result<Option<i64>, Error> {
        Ok(if self.bool()? {
            Some(self.signed()?)
        } else {
            None
        })
    }

    #[cfg(test)]
    pub fn opt_str(&mut self) -> Result<Option<&'a str>, Error> {
        Ok(if self.bool()? {
            Some(self.str()?)
        } else {
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_exactly() {
        let mut bytes = Vec::new();
        let mut w = Writer::new(&mut bytes);
        let ints = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        for v in ints {
            w.varint(v);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX, -300] {
            w.signed(v);
        }
        w.fixed(0xdead_beef_0123_4567);
        let times = [
            1_733_512_345.123_f64,
            1_733_505_145.435_f64.next_down(),
            -0.0,
            f64::MIN,
        ];
        for t in times {
            w.f64(t);
        }
        w.str("flow-é");
        w.opt_f64(None);
        w.opt_signed(Some(-5));
        w.opt_str(Some(""));
        w.bool(true);
        // Past a chunk: written to the sink as it goes.
        let long = "x".repeat(200_000);
        w.str(&long);
        w.finish().unwrap();
        let mut r = Reader::new(&bytes);
        for v in ints {
            assert_eq!(r.varint().unwrap(), v);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX, -300] {
            assert_eq!(r.signed().unwrap(), v);
        }
        assert_eq!(r.fixed().unwrap(), 0xdead_beef_0123_4567);
        for t in times {
            assert_eq!(r.f64().unwrap().to_bits(), t.to_bits());
        }
        assert_eq!(r.str().unwrap(), "flow-é");
        assert_eq!(r.opt_f64().unwrap(), None);
        assert_eq!(r.opt_signed().unwrap(), Some(-5));
        assert_eq!(r.opt_str().unwrap(), Some(""));
        assert!(r.bool().unwrap());
        assert_eq!(r.str().unwrap(), long);
        r.end().unwrap();
    }

    #[test]
    fn corruption_is_an_error_never_a_panic() {
        let mut bytes = Vec::new();
        let mut w = Writer::new(&mut bytes);
        w.str("abc");
        w.varint(u64::MAX);
        w.finish().unwrap();
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let read = r.str().and_then(|_| r.varint());
            assert!(read.is_err(), "{cut}");
        }
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.varint().unwrap_err().contains("64 bits"));
        let mut r = Reader::new(&[200, 1, b'a']);
        assert!(r.str().unwrap_err().contains("count of 200"));
        let mut r = Reader::new(&[1, 0xff]);
        assert!(r.str().unwrap_err().contains("UTF-8"));
        let mut r = Reader::new(&[1, 2]);
        r.u8().unwrap();
        assert!(r.end().unwrap_err().contains("1 bytes after"));
    }

    #[test]
    fn the_first_error_of_the_sink_is_returned() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut full = Full;
        let mut w = Writer::new(&mut full);
        w.str(&"x".repeat(100_000));
        w.varint(1);
        assert_eq!(w.finish().unwrap_err().to_string(), "disk full");
    }
}
