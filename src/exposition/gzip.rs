//! The gzip framing of the exposition: one gzip member built from two raw deflate streams.
//!
//! The per-build part is deflated once per build and ends on a sync flush (byte-aligned, not
//! final); the small `process_*` part is deflated on its own as the last stream, and the
//! trailer's CRC-32 and length combine both ([`Crc::combine`]). Decoders see an ordinary gzip
//! file; `pigz` joins its parallel pieces the same way. Compression itself is `flate2`'s.

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};
use tracing::error;

use super::build::Built;

/// The gzip member header (RFC 1952): deflate, no flags, no time stamp, unknown OS.
pub(super) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// The gzip level: the fastest, because the exposition is compressed on every build and a
/// higher level buys little on repetitive text (docs/design.md#scrapes-copy-nothing).
pub(super) const GZIP_LEVEL: Compression = Compression::fast();
/// How every sync flush ends: an empty stored block's length and its complement (RFC 1951).
const SYNC_MARKER: [u8; 4] = [0, 0, 0xff, 0xff];
/// Room reserved beyond the expected deflate output: block headers and the flush marker.
pub(super) const DEFLATE_SLACK: usize = 1024;
/// Output buffers are first sized for a quarter of the text, more than deflate at the fastest
/// level makes of exposition text.
pub(super) const EXPECTED_RATIO: usize = 4;

/// The end of a gzip member whose start is `built.gzip_head`: `process` deflated as the
/// last stream, then the CRC-32 and length of both texts together.
pub(super) fn gzip_tail(built: &Built, process: &[u8]) -> Bytes {
    let mut deflater = Deflater::new(&[], process.len() / EXPECTED_RATIO);
    deflater.write(process);
    let (mut tail, process_crc) = deflater.finish(FlushCompress::Finish);
    let mut crc = Crc::new();
    crc.combine(&built.crc);
    crc.combine(&process_crc);
    tail.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952); `Crc::amount` counts exactly that.
    tail.extend_from_slice(&crc.amount().to_le_bytes());
    tail.into()
}

/// The text of `built`, inflated from its gzip head, for the first plain scrape after a
/// change (Prometheus always asks for gzip, so most changes are never inflated).
pub(super) fn inflate(built: &Built) -> Bytes {
    let mut text = vec![0; built.len];
    let written = inflate_into(built, &mut text);
    text.truncate(written);
    Bytes::from(text)
}

/// Inflates `built`'s text into `text`, sized for it; returns the bytes written, fewer only
/// if the stream is damaged (never, unless memory is).
fn inflate_into(built: &Built, text: &mut [u8]) -> usize {
    let deflated = built.gzip_head.get(GZIP_HEADER.len()..).unwrap_or_default();
    let mut decompress = Decompress::new(false);
    loop {
        let (read, written) = (decompress.total_in(), decompress.total_out());
        let (Ok(read), Ok(written)) = (usize::try_from(read), usize::try_from(written)) else {
            return 0;
        };
        if written >= text.len() {
            return written;
        }
        let rest = deflated.get(read..).unwrap_or_default();
        let out = text.get_mut(written..).unwrap_or_default();
        if let Err(e) = decompress.decompress(rest, out, FlushDecompress::Sync) {
            error!(error = %e, "cannot inflate the exposition; serving what was inflated");
            return written;
        }
        if decompress.total_out() == written as u64 {
            error!(
                inflated = written,
                expected = built.len,
                "the exposition inflated short"
            );
            return written;
        }
    }
}

/// A raw deflate stream being written, with the CRC-32 and length of what went in.
pub(super) struct Deflater {
    /// The compressor, at [`GZIP_LEVEL`].
    compress: Compress,
    /// What it produced so far, after the prefix it was created with.
    out: Vec<u8>,
    /// CRC-32 and length of the input so far.
    crc: Crc,
}

impl Deflater {
    /// A stream whose output starts with `prefix`, with room for `expected` bytes after it.
    pub(super) fn new(prefix: &[u8], expected: usize) -> Self {
        let mut out = Vec::with_capacity(prefix.len() + expected + DEFLATE_SLACK);
        out.extend_from_slice(prefix);
        Self {
            compress: Compress::new(GZIP_LEVEL, false),
            out,
            crc: Crc::new(),
        }
    }

    /// Compresses `input` (the compressor may hold some of it back until the end).
    pub(super) fn write(&mut self, input: &[u8]) {
        self.crc.update(input);
        self.run(input, FlushCompress::None);
    }

    /// Ends the stream: `Sync` on a byte boundary so that another stream can follow,
    /// `Finish` with the last block. Returns the output and the input's CRC-32 and length.
    pub(super) fn finish(mut self, flush: FlushCompress) -> (Vec<u8>, Crc) {
        self.run(&[], flush);
        (self.out, self.crc)
    }

    /// Feeds `input` to the compressor with `flush`, until it took all of it and, with a
    /// flush, wrote everything out.
    ///
    /// The output goes into a zeroed window of the buffer sized for this input, not into the
    /// buffer's whole spare capacity: `miniz_oxide` zeroes whatever space it is given on every
    /// call, which at 100,000 categories cost more than the compression itself.
    fn run(&mut self, input: &[u8], flush: FlushCompress) {
        let start = self.compress.total_in();
        loop {
            let consumed = usize::try_from(self.compress.total_in() - start).unwrap_or(input.len());
            let rest = input.get(consumed..).unwrap_or_default();
            let len = self.out.len();
            let room = rest.len() / EXPECTED_RATIO + DEFLATE_SLACK;
            self.out.resize(len + room, 0);
            let before = (self.compress.total_in(), self.compress.total_out());
            let window = self.out.get_mut(len..).unwrap_or_default();
            let result = self.compress.compress(rest, window, flush);
            let written = usize::try_from(self.compress.total_out() - before.1).unwrap_or(0);
            self.out.truncate(len + written.min(room));
            match result {
                Ok(Status::StreamEnd) => return,
                Ok(_) => {}
                Err(e) => {
                    // In-memory deflate fails only on misuse; serve what was compressed.
                    error!(error = %e, "cannot compress the exposition");
                    return;
                }
            }
            let all_in = self.compress.total_in() - start == input.len() as u64;
            let room_left = written < room;
            // Done once all input is in and the output stopped short of filling the window,
            // so that the compressor holds no output back; a sync flush also needs its marker
            // at the end. `miniz_oxide` answers a call that finds output held back by handing
            // that over and nothing else, even when asked to flush: the flush happens on a
            // later call, which the marker shows. (`Finish` ends on `StreamEnd` above.)
            let flushed = flush != FlushCompress::Sync || self.out.ends_with(&SYNC_MARKER);
            if all_in && room_left && flushed && flush != FlushCompress::Finish {
                return;
            }
            if before == (self.compress.total_in(), self.compress.total_out()) && room_left {
                error!("the exposition compressor stopped making progress");
                return;
            }
        }
    }
}
