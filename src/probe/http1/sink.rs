//! Where an answer's body goes as it arrives: kept as it is, or inflated on the fly when it is
//! gzip, so that a bomb is caught by its first kilobytes (however slowly the rest trickles in)
//! and its bytes on the wire are never kept. Either way the body never grows past its cap.

use std::io::Write;

use flate2::write::MultiGzDecoder;

use super::ProbeError;

/// Inflated bytes past which a gzip body is also judged by its ratio: a small body may compress
/// as well as it likes.
const RATIO_FLOOR: usize = 1 << 20;
/// Largest inflated-to-wire ratio of a body past [`RATIO_FLOOR`]: text pages compress five- to
/// twenty-fold, while deflate tops out at 1032-fold (its longest match, 258 bytes, in a 2-bit
/// code), which is what a bomb does. Stopping there costs a MiB of inflating, not the whole cap.
const MAX_RATIO: usize = 100;
/// Wire bytes inflated at a time, so the ratio is checked every few kilobytes of input.
const PIECE: usize = 4 << 10;

/// A body being received.
pub(super) enum Sink {
    Plain(Vec<u8>),
    Gzip(Box<MultiGzDecoder<Inflated>>),
}

/// What a gzip body inflated to so far, and what it took on the wire.
pub(super) struct Inflated {
    out: Vec<u8>,
    wire: usize,
    limit: usize,
    /// Set when a write was refused for the cap or the ratio (the decoder's error is then ours).
    refused: bool,
}

impl Write for Inflated {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let len = self.out.len() + buf.len();
        if len > self.limit || (len > RATIO_FLOOR && len / MAX_RATIO > self.wire) {
            self.refused = true;
            return Err(std::io::Error::other("gzip body inflates too much"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// A sink for a body of at most `limit` bytes (after inflating, when `gzip`).
    pub(super) fn new(gzip: bool, limit: usize) -> Sink {
        if gzip {
            let inflated = Inflated {
                out: Vec::new(),
                wire: 0,
                limit,
                refused: false,
            };
            Sink::Gzip(Box::new(MultiGzDecoder::new(inflated)))
        } else {
            Sink::Plain(Vec::new())
        }
    }

    /// Bytes one more piece of the body (as framed on the wire) may have: what is left under
    /// the cap for a plain body; the cap itself for a gzip one, whose pieces are not kept.
    pub(super) fn room(&self, limit: usize) -> usize {
        match self {
            Sink::Plain(body) => limit.saturating_sub(body.len()),
            Sink::Gzip(_) => limit,
        }
    }

    /// Takes the next bytes of the body.
    pub(super) fn push(&mut self, bytes: &[u8], limit: usize) -> Result<(), ProbeError> {
        match self {
            Sink::Plain(body) => {
                if bytes.len() > limit.saturating_sub(body.len()) {
                    return Err(ProbeError::BodyTooLarge(limit));
                }
                body.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Gzip(decoder) => {
                for piece in bytes.chunks(PIECE) {
                    decoder.get_mut().wire += piece.len();
                    if decoder.write_all(piece).is_err() {
                        return Err(refusal(decoder.get_ref()));
                    }
                }
                Ok(())
            }
        }
    }

    /// The whole body, once the framing says it ended.
    pub(super) fn finish(self) -> Result<Vec<u8>, ProbeError> {
        match self {
            Sink::Plain(body) => Ok(body),
            // No body at all (a 204, a HEAD) is no gzip stream to check.
            Sink::Gzip(decoder) if decoder.get_ref().wire == 0 => Ok(Vec::new()),
            Sink::Gzip(mut decoder) => match decoder.try_finish() {
                Ok(()) => decoder.finish().map(|i| i.out).map_err(|_| invalid()),
                Err(_) => Err(refusal(decoder.get_ref())),
            },
        }
    }

    /// Bytes of (inflated) body so far.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        match self {
            Sink::Plain(body) => body.len(),
            Sink::Gzip(decoder) => decoder.get_ref().out.len(),
        }
    }
}

/// Why the decoder stopped: our cap or ratio, or a stream that is not gzip.
fn refusal(inflated: &Inflated) -> ProbeError {
    if inflated.refused {
        ProbeError::InflatesTooLarge {
            inflated: inflated.out.len(),
            wire: inflated.wire,
        }
    } else {
        invalid()
    }
}

fn invalid() -> ProbeError {
    ProbeError::Body("invalid gzip body".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Feeds `wire` in pieces of `step` bytes, as reads would bring it.
    fn inflate(wire: &[u8], step: usize, limit: usize) -> Result<Vec<u8>, ProbeError> {
        let mut sink = Sink::new(true, limit);
        for piece in wire.chunks(step) {
            sink.push(piece, limit)?;
        }
        sink.finish()
    }

    #[test]
    fn gzip_is_inflated_whatever_the_pieces_and_capped_after_inflating() {
        let gz = gzip(&[b'a'; 10_000]);
        for step in [1, 7, 4096] {
            assert_eq!(inflate(&gz, step, 10_000).unwrap().len(), 10_000);
        }
        assert!(matches!(
            inflate(&gz, 4096, 9_999),
            Err(ProbeError::InflatesTooLarge { .. })
        ));
        // Two members are one body.
        let two = [gzip(b"ab"), gzip(b"cd")].concat();
        assert_eq!(inflate(&two, 3, 100).unwrap(), b"abcd");
        assert_eq!(inflate(b"not gzip", 100, 100), Err(invalid()));
        // Cut short: the checksum is missing.
        assert_eq!(inflate(&gz[..gz.len() - 4], 100, 100_000), Err(invalid()));
    }

    #[test]
    fn a_bomb_is_stopped_at_its_ratio_by_its_first_kilobytes() {
        let bomb = gzip(&vec![0u8; 8 << 20]);
        match inflate(&bomb, 1024, 16 << 20) {
            Err(ProbeError::InflatesTooLarge { inflated, wire }) => {
                assert!(inflated <= RATIO_FLOOR, "{inflated}");
                assert!(wire <= 2048, "{wire} bytes taken off the wire");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_text_page_that_compresses_as_text_does_is_read_whole() {
        let page: String = (0..60_000)
            .map(|i| format!("m{{i=\"{i}\",k=\"{}\"}} {}\n", i % 7, i * 3))
            .collect();
        assert!(page.len() > RATIO_FLOOR);
        assert_eq!(
            inflate(&gzip(page.as_bytes()), 4096, 16 << 20).unwrap(),
            page.as_bytes()
        );
    }

    #[test]
    fn a_plain_body_is_capped() {
        let mut sink = Sink::new(false, 5);
        sink.push(b"abc", 5).unwrap();
        assert_eq!(sink.room(5), 2);
        assert_eq!(sink.push(b"def", 5), Err(ProbeError::BodyTooLarge(5)));
        assert_eq!(sink.len(), 3);
    }
}
