//! Gzipped request bodies and stream envelopes, unzipped within a limit: the
//! official SDKs gzip every binary Connect request and every worker stream
//! envelope (`shared/spec/connect-rpc.md` §1.2).

use std::io::Read;

/// Why a gzipped payload could not be taken.
#[derive(Debug)]
pub(crate) enum Gunzip {
    /// It is not gzip.
    Corrupt(std::io::Error),
    /// It unzips to more than the limit.
    TooLarge,
}

/// `bytes` unzipped, refused once past `max` bytes (read no further).
pub(crate) fn gunzip(bytes: &[u8], max: usize) -> Result<Vec<u8>, Gunzip> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Gunzip::Corrupt)?;
    if out.len() > max {
        return Err(Gunzip::TooLarge);
    }
    Ok(out)
}
