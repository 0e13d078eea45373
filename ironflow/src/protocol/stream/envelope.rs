//! Connect streaming envelopes (`shared/spec/connect-rpc.md` §1.5): one
//! flag byte (bit 0 compressed, bit 1 end of stream), the payload's length
//! as four big-endian bytes, the payload.

use std::convert::Infallible;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;

/// Flag bit: the payload is compressed (with the stream's
/// `Connect-Content-Encoding`).
pub const COMPRESSED: u8 = 0x01;
/// Flag bit: the last envelope, whose payload is a JSON object (`{}`, or
/// `{"error": {code, message}}`).
pub const END_STREAM: u8 = 0x02;

/// `payload` framed with `flags`.
pub fn frame(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// `message` encoded and framed, uncompressed.
pub fn message(message: &impl prost::Message) -> Vec<u8> {
    let len = message.encoded_len();
    let mut out = Vec::with_capacity(5 + len);
    out.push(0);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    message.encode(&mut out).expect("a Vec grows to any length");
    out
}

/// `message` in Connect JSON, framed, uncompressed.
pub fn json_message(message: &impl serde::Serialize) -> Vec<u8> {
    let payload = serde_json::to_vec(message).expect("stream messages always serialize");
    frame(0, &payload)
}

/// One half of a stream as an HTTP body: the envelopes sent to `rx`'s
/// sender, in order; the body ends when every sender is dropped.
pub fn body(rx: mpsc::Receiver<Bytes>) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frames| (Ok(frames), rx))
    })
}

/// The end-of-stream envelope: `{}`, or the error `{code, message}` in
/// Connect's form.
pub fn end_stream(error: Option<(&str, &str)>) -> Vec<u8> {
    let body = match error {
        None => serde_json::json!({}),
        Some((code, message)) => {
            serde_json::json!({ "error": { "code": code, "message": message } })
        }
    };
    frame(END_STREAM, body.to_string().as_bytes())
}

/// One envelope read off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Its flag byte.
    pub flags: u8,
    /// Its payload, as sent (still compressed if [`COMPRESSED`] is set).
    pub payload: Vec<u8>,
}

impl Envelope {
    /// Whether the payload is compressed.
    pub fn compressed(&self) -> bool {
        self.flags & COMPRESSED != 0
    }

    /// Whether this is the end-of-stream envelope.
    pub fn end_stream(&self) -> bool {
        self.flags & END_STREAM != 0
    }
}

/// An envelope longer than the reader accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stream message of {len} bytes is over the limit of {max} bytes")]
pub struct TooLarge {
    /// Its declared length.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

/// Splits the bytes of a stream, as they arrive in chunks, into envelopes.
#[derive(Debug)]
pub struct Reader {
    buffer: BytesMut,
    max: usize,
}

impl Reader {
    /// A reader that refuses envelopes over `max` bytes.
    pub fn new(max: usize) -> Reader {
        Reader {
            buffer: BytesMut::new(),
            max,
        }
    }

    /// Adds a chunk read off the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete envelope, if the bytes so far hold one.
    pub fn next_envelope(&mut self) -> Result<Option<Envelope>, TooLarge> {
        if self.buffer.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if len > self.max {
            return Err(TooLarge { len, max: self.max });
        }
        if self.buffer.len() < 5 + len {
            return Ok(None);
        }
        let flags = self.buffer[0];
        self.buffer.advance(5);
        let payload = self.buffer.split_to(len).to_vec();
        Ok(Some(Envelope { flags, payload }))
    }

    /// Bytes received that do not make a whole envelope yet.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_split_across_chunks_are_reassembled() {
        let mut bytes = frame(0, b"hello");
        bytes.extend(frame(COMPRESSED, b"xy"));
        bytes.extend(end_stream(None));
        let mut reader = Reader::new(1024);
        let mut seen = Vec::new();
        for chunk in bytes.chunks(3) {
            reader.push(chunk);
            while let Some(envelope) = reader.next_envelope().unwrap() {
                seen.push(envelope);
            }
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].payload, b"hello");
        assert!(!seen[0].compressed());
        assert!(seen[1].compressed() && !seen[1].end_stream());
        assert!(seen[2].end_stream());
        assert_eq!(seen[2].payload, b"{}");
        assert_eq!(reader.pending(), 0);
    }

    #[test]
    fn an_envelope_over_the_limit_is_refused_before_it_is_buffered() {
        let mut reader = Reader::new(4);
        reader.push(&[0, 0, 0, 0, 5]);
        assert_eq!(reader.next_envelope(), Err(TooLarge { len: 5, max: 4 }));
    }

    #[test]
    fn an_error_ends_the_stream_in_connects_form() {
        let end = end_stream(Some(("unauthenticated", "no key")));
        assert_eq!(end[0], END_STREAM);
        let body: serde_json::Value = serde_json::from_slice(&end[5..]).unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
}
