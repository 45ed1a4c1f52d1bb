//! Helpers for tests/bundle.rs: crafting tar layers byte by byte (hostile names included),
//! writing OCI image layouts, and describing unpacked trees for oracle comparisons.
#![allow(dead_code)]

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const HAKO_BUNDLE: &str = env!("CARGO_BIN_EXE_hako-bundle");

pub fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar stream built entry by entry; names are written raw (no validation), so tests
/// can make `..`, absolute and whiteout names.
pub struct Tar {
    b: tar::Builder<Vec<u8>>,
}

pub struct E<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub xattrs: &'a [(&'a str, &'a [u8])],
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        Tar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(name: &str, kind: tar::EntryType, mode: u32, uid: u64, gid: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let bytes = name.as_bytes();
        assert!(bytes.len() < 100, "test names must be short");
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h
    }

    fn set_link(h: &mut tar::Header, target: &str) {
        let t = target.as_bytes();
        assert!(t.len() < 100);
        h.as_old_mut().linkname = [0; 100];
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
    }

    fn xattrs(&mut self, x: &[(&str, &[u8])]) {
        if x.is_empty() {
            return;
        }
        let v: Vec<(String, &[u8])> = x
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        self.b
            .append_pax_extensions(v.iter().map(|(k, v)| (k.as_str(), *v)))
            .expect("pax");
    }

    fn push(&mut self, mut h: tar::Header, data: &[u8]) {
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).expect("append");
    }

    pub fn file_x(&mut self, e: E<'_>, data: &[u8]) -> &mut Self {
        self.xattrs(e.xattrs);
        let h = Self::header(e.name, tar::EntryType::Regular, e.mode, e.uid, e.gid);
        self.push(h, data);
        self
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.file_x(
            E {
                name,
                mode,
                uid: 0,
                gid: 0,
                xattrs: &[],
            },
            data,
        )
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        let h = Self::header(name, tar::EntryType::Directory, mode, 0, 0);
        self.push(h, b"");
        self
    }

    pub fn dir_owned(&mut self, name: &str, mode: u32, uid: u64, gid: u64) -> &mut Self {
        let h = Self::header(name, tar::EntryType::Directory, mode, uid, gid);
        self.push(h, b"");
        self
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(name, tar::EntryType::Symlink, 0o777, 0, 0);
        Self::set_link(&mut h, target);
        self.push(h, b"");
        self
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(name, tar::EntryType::Link, 0o644, 0, 0);
        Self::set_link(&mut h, target);
        self.push(h, b"");
        self
    }

    pub fn device(
        &mut self,
        name: &str,
        block: bool,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> &mut Self {
        let kind = if block {
            tar::EntryType::Block
        } else {
            tar::EntryType::Char
        };
        let mut h = Self::header(name, kind, mode, 0, 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.push(h, b"");
        self
    }

    pub fn fifo(&mut self, name: &str, mode: u32) -> &mut Self {
        let h = Self::header(name, tar::EntryType::Fifo, mode, 0, 0);
        self.push(h, b"");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().expect("tar finish")
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("gzip");
            e.finish().expect("gzip")
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// An OCI image layout written by the tests themselves.
pub struct Layout {
    pub dir: PathBuf,
    pub index: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        Layout {
            dir: dir.to_path_buf(),
            index: Vec::new(),
        }
    }

    pub fn blob(&self, data: &[u8]) -> (String, usize) {
        let hex = sha256_hex(data);
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), data).expect("blob");
        (format!("sha256:{hex}"), data.len())
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Writes layers, config and manifest; returns the manifest descriptor (not yet in the
    /// index).
    pub fn image(&self, layers: &[(Vec<u8>, Compression)], config: Value) -> Value {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        for (tar, c) in layers {
            diff_ids.push(format!("sha256:{}", sha256_hex(tar)));
            let (d, n) = self.blob(&compress(tar, *c));
            descs.push(json!({"mediaType": layer_media_type(*c), "digest": d, "size": n}));
        }
        let mut cfg = config;
        if cfg.get("architecture").is_none() {
            cfg["architecture"] = json!("amd64");
        }
        if cfg.get("os").is_none() {
            cfg["os"] = json!("linux");
        }
        cfg["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        let (cd, cn) = self.blob(&serde_json::to_vec(&cfg).expect("config"));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": descs,
        });
        let (md, mn) = self.blob(&serde_json::to_vec(&manifest).expect("manifest"));
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn})
    }

    pub fn add(&mut self, mut desc: Value, ref_name: Option<&str>) -> &mut Self {
        if let Some(r) = ref_name {
            desc["annotations"] = json!({"org.opencontainers.image.ref.name": r});
        }
        self.index.push(desc);
        self.write_index();
        self
    }

    pub fn write_index(&self) {
        let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.index});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&idx).expect("index"),
        )
        .expect("index.json");
    }
}

/// One line per path: type, mode, owner, and link target / content hash / device numbers.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
    let md = std::fs::symlink_metadata(p).expect("lstat");
    let ft = md.file_type();
    let rel = format!("/{}", p.strip_prefix(root).expect("prefix").display());
    let rel = if rel == "/" {
        rel
    } else {
        rel.trim_end_matches('/').to_string()
    };
    let what = if ft.is_dir() {
        "dir".to_string()
    } else if ft.is_symlink() {
        format!(
            "symlink -> {}",
            std::fs::read_link(p).expect("readlink").display()
        )
    } else if ft.is_file() {
        format!(
            "file sha256={}",
            sha256_hex(&std::fs::read(p).expect("read"))
        )
    } else if ft.is_char_device() {
        format!("char {}:{}", libc::major(md.rdev()), libc::minor(md.rdev()))
    } else if ft.is_block_device() {
        format!(
            "block {}:{}",
            libc::major(md.rdev()),
            libc::minor(md.rdev())
        )
    } else if ft.is_fifo() {
        "fifo".to_string()
    } else {
        "other".to_string()
    };
    let mode = if ft.is_symlink() {
        0
    } else {
        md.mode() & 0o7777
    };
    out.insert(
        rel,
        format!("{what} mode={mode:o} owner={}:{}", md.uid(), md.gid()),
    );
    if ft.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .expect("readdir")
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        for n in names {
            walk(root, &n, out);
        }
    }
}

/// Asserts two trees are equal, printing the differing lines.
pub fn assert_same_tree(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, what: &str) {
    let mut diffs = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("only in first: {k} {v}")),
            Some(w) if w != v => diffs.push(format!("differs: {k}: {v} vs {w}")),
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            diffs.push(format!("only in second: {k} {v}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: trees differ:\n{}",
        diffs.join("\n")
    );
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

pub fn ok(cmd: &mut Command) -> Output {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// hako-bundle with arguments.
pub fn hb(args: &[&str]) -> Output {
    run(Command::new(HAKO_BUNDLE).args(args))
}

pub fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed (integration/setup.sh installs it)"
    );
}

/// Nothing named after `base` is left in `parent` (the temp dirs hako-bundle makes).
pub fn no_leftovers(parent: &Path, base: &str) {
    for e in std::fs::read_dir(parent).expect("readdir").flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(
            !n.starts_with(&format!(".{base}.hako-bundle-")),
            "temporary directory {n} left behind"
        );
    }
}
