//! Streaming a layer blob: a reader thread verifies the compressed blob (digest and size),
//! decompresses it (gzip, zstd or plain tar, sniffed from the magic bytes), hashes the
//! uncompressed stream against the config's diff_id, and hands fixed-size chunks to the
//! unpacker through a bounded channel. Decompression and writing overlap; memory stays at a
//! few chunks whatever the layer size.

use crate::image::digest::{Digest, DigestError, Hasher, VerifyingReader};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {blob}: reading: {source}")]
    Read { blob: String, source: io::Error },
    #[error("layer {blob}: decompressing ({codec}): {source}")]
    Decompress {
        blob: String,
        codec: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(
        "layer {blob}: uncompressed content is {actual}, the image config's diff_id says {expected}"
    )]
    DiffId {
        blob: String,
        expected: String,
        actual: String,
    },
    #[error("layer {blob}: the unpacker stopped reading")]
    Cancelled { blob: String },
    #[error("layer {blob}: reader thread panicked")]
    Panicked { blob: String },
}

/// What to check about one layer blob.
pub struct LayerSpec {
    /// Shown in errors (digest or archive path).
    pub name: String,
    /// Digest and size of the blob as stored (OCI layouts); docker-archive layers have none.
    pub blob: Option<(Digest, u64)>,
    /// Digest of the uncompressed tar (the config's rootfs.diff_ids entry).
    pub diff_id: Option<Digest>,
}

const CHUNK: usize = 256 * 1024;
const DEPTH: usize = 16;

/// The unpacker's end of the pipeline.
pub struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    back: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            let Ok(next) = self.rx.recv() else {
                return Ok(0);
            };
            let old = std::mem::replace(&mut self.cur, next);
            // Recycle the buffer; if the producer is gone or the pool full, just drop it.
            let _ = self.back.try_send(old);
            self.pos = 0;
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

pub struct Pipeline {
    pub reader: ChunkReader,
    handle: JoinHandle<Result<(), LayerError>>,
    name: String,
}

impl Pipeline {
    /// Drains what the unpacker did not read (tar padding after the end marker) and
    /// returns the verification result.
    pub fn finish(mut self) -> Result<(), LayerError> {
        let _ = io::copy(&mut self.reader, &mut io::sink());
        drop(self.reader);
        self.handle
            .join()
            .unwrap_or(Err(LayerError::Panicked { blob: self.name }))
    }
}

pub fn spawn(blob: Box<dyn Read + Send>, spec: LayerSpec) -> Pipeline {
    let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
    let (back_tx, back_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    let name = spec.name.clone();
    let handle = std::thread::spawn(move || produce(blob, spec, tx, back_rx));
    Pipeline {
        reader: ChunkReader {
            rx,
            back: back_tx,
            cur: Vec::new(),
            pos: 0,
        },
        handle,
        name,
    }
}

/// The raw blob, verified when it has a descriptor.
enum Raw {
    Verified(VerifyingReader<Box<dyn Read + Send>>),
    Plain(Box<dyn Read + Send>),
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Raw::Verified(r) => r.read(buf),
            Raw::Plain(r) => r.read(buf),
        }
    }
}

fn produce(
    blob: Box<dyn Read + Send>,
    spec: LayerSpec,
    tx: SyncSender<Vec<u8>>,
    back: Receiver<Vec<u8>>,
) -> Result<(), LayerError> {
    let name = spec.name.clone();
    let raw = match &spec.blob {
        Some((d, size)) => Raw::Verified(VerifyingReader::new(blob, d.clone(), *size)),
        None => Raw::Plain(blob),
    };
    let mut input = BufReader::with_capacity(1 << 20, raw);
    let magic = input
        .fill_buf()
        .map_err(|source| LayerError::Read {
            blob: name.clone(),
            source,
        })?
        .to_vec();
    let mut diff = spec.diff_id.as_ref().map(Digest::hasher);

    let (codec, result, input) = if magic.starts_with(&[0x1f, 0x8b]) {
        let mut dec = flate2::bufread::MultiGzDecoder::new(input);
        let r = pump(&mut dec, &mut diff, &tx, &back, &name);
        ("gzip", r, dec.into_inner())
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let r = zstd_frames(&mut input, &mut diff, &tx, &back, &name);
        ("zstd", r, input)
    } else {
        let r = pump(&mut input, &mut diff, &tx, &back, &name);
        ("tar", r, input)
    };
    // A decompression error is reported after the digest check: corrupt input should say
    // which blob does not match rather than how it failed to decode.
    let raw = input.into_inner();
    let verify = match raw {
        Raw::Verified(v) => v.finish().map_err(|source| LayerError::Read {
            blob: name.clone(),
            source,
        })?,
        Raw::Plain(_) => Ok(()),
    };
    verify?;
    match result {
        Err(PumpError::Cancelled) => return Err(LayerError::Cancelled { blob: name }),
        Err(PumpError::Io(source)) => {
            return Err(LayerError::Decompress {
                blob: name,
                codec,
                source,
            });
        }
        Ok(()) => {}
    }
    if let (Some(h), Some(expected)) = (diff, spec.diff_id) {
        let actual = h.finish_hex();
        if actual != expected.hex {
            return Err(LayerError::DiffId {
                blob: name,
                expected: expected.to_string(),
                actual: format!("{}:{actual}", expected.algorithm_name()),
            });
        }
    }
    Ok(())
}

enum PumpError {
    Io(io::Error),
    Cancelled,
}

fn pump<R: Read>(
    r: &mut R,
    diff: &mut Option<Hasher>,
    tx: &SyncSender<Vec<u8>>,
    back: &Receiver<Vec<u8>>,
    _name: &str,
) -> Result<(), PumpError> {
    loop {
        let mut buf = back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(PumpError::Io(e)),
            }
        }
        if filled == 0 {
            return Ok(());
        }
        buf.truncate(filled);
        if let Some(h) = diff.as_mut() {
            h.update(&buf);
        }
        tx.send(buf).map_err(|_| PumpError::Cancelled)?;
    }
}

/// zstd streams may hold several frames back to back; decode them all.
fn zstd_frames<R: BufRead>(
    input: &mut R,
    diff: &mut Option<Hasher>,
    tx: &SyncSender<Vec<u8>>,
    back: &Receiver<Vec<u8>>,
    name: &str,
) -> Result<(), PumpError> {
    loop {
        if input.fill_buf().map_err(PumpError::Io)?.is_empty() {
            return Ok(());
        }
        let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut *input).map_err(|e| {
            PumpError::Io(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
        })?;
        pump(&mut dec, diff, tx, back, name)?;
    }
}
