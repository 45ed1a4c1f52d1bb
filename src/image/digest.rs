//! Content digests: parsing `algorithm:hex` strings, and a reader that hashes and counts what
//! passes through it so a blob is checked against its descriptor (digest and size).

use sha2::{Digest as _, Sha256, Sha512};
use std::io::{self, Read};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?} (want sha256:<64 hex> or sha512:<128 hex>)")]
    Invalid(String),
    #[error("blob {digest}: size is {actual} bytes, the descriptor says {expected}")]
    Size {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest}: content digest is {actual}")]
    Mismatch { digest: String, actual: String },
    #[error("blob {digest}: descriptor has a negative size {size}")]
    NegativeSize { digest: String, size: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

/// A validated digest. The hex part is lowercase hex of the algorithm's length, so it is
/// safe to use as a file name (`blobs/<alg>/<hex>`): no `/`, no `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let bad = || DigestError::Invalid(s.to_string());
        let (alg, hex) = s.split_once(':').ok_or_else(bad)?;
        let (algorithm, len) = match alg {
            "sha256" => (Algorithm::Sha256, 64),
            "sha512" => (Algorithm::Sha512, 128),
            _ => return Err(bad()),
        };
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    pub fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The blob's path inside an OCI image layout.
    pub fn blob_path(&self) -> String {
        format!("blobs/{}/{}", self.algorithm_name(), self.hex)
    }

    pub(crate) fn hasher(&self) -> Hasher {
        Hasher::new(self.algorithm)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm_name(), self.hex)
    }
}

pub(crate) enum Hasher {
    Sha256(Box<Sha256>),
    Sha512(Box<Sha512>),
}

impl Hasher {
    pub fn new(alg: Algorithm) -> Hasher {
        match alg {
            Algorithm::Sha256 => Hasher::Sha256(Box::default()),
            Algorithm::Sha512 => Hasher::Sha512(Box::default()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Converts a descriptor's signed size, refusing negative values.
pub(crate) fn descriptor_size(digest: &Digest, size: i64) -> Result<u64, DigestError> {
    u64::try_from(size).map_err(|_| DigestError::NegativeSize {
        digest: digest.to_string(),
        size,
    })
}

/// Hashes and counts everything read through it; reads at most `expected + 1` bytes so an
/// oversized blob is caught without reading all of it.
pub(crate) struct VerifyingReader<R> {
    inner: io::Take<R>,
    hasher: Option<Hasher>,
    digest: Digest,
    expected: u64,
    count: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, digest: Digest, expected: u64) -> VerifyingReader<R> {
        VerifyingReader {
            inner: inner.take(expected.saturating_add(1)),
            hasher: Some(digest.hasher()),
            digest,
            expected,
            count: 0,
        }
    }

    /// Reads whatever is left and checks size and digest.
    pub fn finish(mut self) -> io::Result<Result<(), DigestError>> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.check())
    }

    fn check(&mut self) -> Result<(), DigestError> {
        if self.count != self.expected {
            return Err(DigestError::Size {
                digest: self.digest.to_string(),
                expected: self.expected,
                actual: self.count,
            });
        }
        let actual = self
            .hasher
            .take()
            .map(Hasher::finish_hex)
            .unwrap_or_default();
        if actual != self.digest.hex {
            return Err(DigestError::Mismatch {
                digest: self.digest.to_string(),
                actual: format!("{}:{actual}", self.digest.algorithm_name()),
            });
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Reads a whole (small) blob and verifies it before returning it.
pub(crate) fn read_verified<R: Read>(
    r: R,
    digest: &Digest,
    size: u64,
    limit: u64,
) -> Result<Result<Vec<u8>, DigestError>, io::Error> {
    if size > limit {
        return Err(io::Error::other(format!(
            "blob {digest} is {size} bytes, more than the {limit} allowed for metadata"
        )));
    }
    let mut v = VerifyingReader::new(r, digest.clone(), size);
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    v.read_to_end(&mut buf)?;
    Ok(v.check().map(|()| buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_path_tricks() {
        assert!(Digest::parse("sha256:../../etc/passwd").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("md5:{}", "a".repeat(32))).is_err());
        let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).expect("valid");
        assert_eq!(d.blob_path(), format!("blobs/sha256/{}", "a".repeat(64)));
    }

    #[test]
    fn verifies_size_and_digest() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d = Digest::parse(&format!("sha256:{empty}")).expect("digest");
        assert!(read_verified(&b""[..], &d, 0, 10).expect("io").is_ok());
        assert!(matches!(
            read_verified(&b"x"[..], &d, 0, 10).expect("io"),
            Err(DigestError::Size { .. })
        ));
        assert!(matches!(
            read_verified(&b"x"[..], &d, 1, 10).expect("io"),
            Err(DigestError::Mismatch { .. })
        ));
    }
}
