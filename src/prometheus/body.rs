//! Reading an answer of the HTTP API: gzip on the wire (every call asks for it), decoded as it
//! streams.
//!
//! A small answer (the usual query result) is collected and decoded in place. Once an answer
//! passes [`INLINE_WIRE_BYTES`] on the wire, the bytes read so far and every later chunk go
//! through a bounded channel to a blocking thread that inflates and decodes them as they come,
//! so a relist over hundreds of thousands of series never holds the body whole, compressed or
//! not: only what the decoder keeps (distinct names and label names) grows.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, Bytes};
use flate2::read::GzDecoder;
use http::HeaderMap;
use http::header::CONTENT_ENCODING;
use tokio::sync::mpsc;

use super::Error;
use super::response::{self, Decode};
use super::transport::{Exchange, TransportError};

/// An answer's body as it arrives.
pub(crate) trait Wire {
    /// The response headers.
    fn headers(&self) -> &HeaderMap;
    /// The next piece of the body, `None` at its end.
    fn chunk(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<Bytes>, TransportError>> + Send;
}

impl Wire for Exchange<'_> {
    fn headers(&self) -> &HeaderMap {
        Exchange::headers(self)
    }

    fn chunk(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<Bytes>, TransportError>> + Send {
        Exchange::chunk(self)
    }
}

/// Answers up to this many bytes on the wire are decoded in place; larger ones stream.
pub(crate) const INLINE_WIRE_BYTES: usize = 64 << 10;

/// Chunks in flight between the connection and the decoding thread.
const CHANNEL_CHUNKS: usize = 8;

/// Calls made and bytes received on the wire (compressed), added up over a relist.
#[derive(Debug, Default)]
pub struct Transfer {
    calls: AtomicU64,
    bytes: AtomicU64,
}

impl Transfer {
    /// Nothing counted yet.
    pub fn new() -> Transfer {
        Transfer::default()
    }

    /// Calls answered (successfully or not) so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Bytes received on the wire so far (response bodies, before inflating).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn record(&self, bytes: u64) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Whether the body is gzipped; any encoding but gzip and identity is refused.
fn is_gzip(headers: &HeaderMap) -> Result<bool, Error> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.eq_ignore_ascii_case("gzip") || text.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else if text.is_empty() || text.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(Error::Decode(format!(
            "unsupported content encoding {value:?}"
        )))
    }
}

/// Read and decode the body of `response`: decoded bytes are limited to `limit`, transport
/// failures mapped by `transport`. Returns the answer and the bytes received on the wire.
pub(crate) async fn read<T: Decode>(
    response: &mut impl Wire,
    limit: usize,
    transport: impl Fn(TransportError) -> Error,
) -> Result<(T, u64), Error> {
    let gzip = is_gzip(response.headers())?;
    let mut wire: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await.map_err(&transport)? {
            None => {
                let received = wire.len() as u64;
                return decode_in_place(&wire, gzip, limit).map(|t| (t, received));
            }
            Some(chunk) => {
                wire.extend_from_slice(&chunk);
                if wire.len() > INLINE_WIRE_BYTES {
                    break;
                }
            }
        }
    }
    // Large: decode on a blocking thread as the rest arrives.
    let mut received = wire.len() as u64;
    let (sender, receiver) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let decoder = tokio::task::spawn_blocking(move || {
        decode_stream::<T>(
            ChannelReader {
                current: Bytes::from(wire),
                receiver,
            },
            gzip,
            limit,
        )
    });
    let mut failure = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if !gzip && received > limit as u64 {
                    failure = Some(Error::TooLarge(limit));
                    break;
                }
                if sender.send(chunk).await.is_err() {
                    // The decoder stopped early: its result says why.
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                failure = Some(transport(e));
                break;
            }
        }
    }
    // End of input for the decoder (also when we stopped because of a failure).
    drop(sender);
    let decoded = decoder
        .await
        .map_err(|e| Error::Decode(format!("the decoding thread failed: {e}")))?;
    match failure {
        Some(e) => Err(e),
        None => decoded.map(|t| (t, received)),
    }
}

fn decode_in_place<T: Decode>(wire: &[u8], gzip: bool, limit: usize) -> Result<T, Error> {
    if !gzip {
        if wire.len() > limit {
            return Err(Error::TooLarge(limit));
        }
        return response::decode_slice(wire);
    }
    let mut inflated = Vec::with_capacity(wire.len() * 4);
    GzDecoder::new(wire)
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| Error::Decode(format!("gzip: {e}")))?;
    if inflated.len() > limit {
        return Err(Error::TooLarge(limit));
    }
    response::decode_slice(&inflated)
}

fn decode_stream<T: Decode>(wire: ChannelReader, gzip: bool, limit: usize) -> Result<T, Error> {
    let inner: Box<dyn Read> = if gzip {
        Box::new(GzDecoder::new(wire))
    } else {
        Box::new(wire)
    };
    let mut limited = Limited {
        inner,
        left: limit,
        exceeded: false,
    };
    let decoded = response::decode_reader(io::BufReader::with_capacity(64 << 10, &mut limited));
    if limited.exceeded {
        return Err(Error::TooLarge(limit));
    }
    decoded
}

/// The chunks sent by the connection side, as a `Read`; end of input when the sender is gone.
struct ChannelReader {
    current: Bytes,
    receiver: mpsc::Receiver<Bytes>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), self.current.get(..n)) {
            to.copy_from_slice(from);
        }
        self.current.advance(n);
        Ok(n)
    }
}

/// A reader that fails once more than `left` bytes have been read through it.
struct Limited<R> {
    inner: R,
    left: usize,
    exceeded: bool,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > self.left {
            self.exceeded = true;
            return Err(io::Error::other("response body too large"));
        }
        self.left -= n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
