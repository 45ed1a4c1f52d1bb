//! Where the image comes from: an OCI image layout directory, a tar of one (oci-archive), or
//! a docker-archive (`docker save`: manifest.json + layer tars), told apart by content.
//! Archives are indexed once (member name → offset, size) and blobs are read in place with
//! positioned reads; nothing is extracted to disk first.
//!
//! Also picks the image: by `--ref` (ref.name annotation, containerd image name, digest or
//! docker RepoTags), following nested indexes to the wanted platform.

use crate::image::digest::{Digest, DigestError, descriptor_size, read_verified};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open image source {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("reading archive {path}: {source}")]
    Archive { path: String, source: io::Error },
    #[error(
        "{0} is neither an OCI image layout (oci-layout + index.json) nor a docker-archive (manifest.json)"
    )]
    Unknown(String),
    #[error("missing {name} in the image source")]
    Missing { name: String },
    #[error("reading {name}: {source}")]
    Read { name: String, source: io::Error },
    #[error("{name} is not valid JSON of the expected shape: {source}")]
    Json {
        name: String,
        source: serde_json::Error,
    },
    #[error("unsupported image layout version {0:?} (want 1.0.0)")]
    LayoutVersion(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("no image matches --ref {wanted:?} (available: {available})")]
    NoRef { wanted: String, available: String },
    #[error("the source holds several images; choose one with --ref (available: {0})")]
    Ambiguous(String),
    #[error("the source holds no image")]
    Empty,
    #[error("no manifest for platform {wanted} (available: {available})")]
    NoPlatform { wanted: String, available: String },
    #[error("unsupported manifest media type {0}")]
    ManifestType(String),
    #[error("unsupported layer media type {media_type} for {digest}")]
    LayerType { media_type: String, digest: String },
    #[error("image config has {diff_ids} diff_ids but the manifest lists {layers} layers")]
    LayerCount { diff_ids: usize, layers: usize },
    #[error("unsafe path {0:?} in docker-archive manifest")]
    UnsafePath(String),
    #[error("image nesting is too deep (more than 8 levels of indexes)")]
    TooDeep,
}

const META_LIMIT: u64 = 8 << 20;

/// A file-like store of named members.
pub enum Store {
    Dir(PathBuf),
    Tar {
        file: Arc<File>,
        members: HashMap<String, (u64, u64)>,
    },
}

/// Reads one archive member in place.
struct MemberReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for MemberReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Normalises a member name: no leading `./` or `/`, no `..`.
fn normal(name: &str) -> Option<String> {
    let mut out = Vec::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(s) => out.push(s.to_str()?.to_string()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("/"))
    }
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, SourceError> {
        let meta = std::fs::metadata(path).map_err(|source| SourceError::Open {
            path: path.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            return Ok(Store::Dir(path.to_path_buf()));
        }
        let file = File::open(path).map_err(|source| SourceError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let aerr = |source| SourceError::Archive {
            path: path.display().to_string(),
            source,
        };
        let mut members = HashMap::new();
        let mut ar = tar::Archive::new(&file);
        for e in ar.entries_with_seek().map_err(aerr)? {
            let e = e.map_err(aerr)?;
            if !matches!(
                e.header().entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            ) {
                continue;
            }
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            if let Some(n) = normal(&raw) {
                members.insert(n, (e.raw_file_position(), e.size()));
            }
        }
        Ok(Store::Tar {
            file: Arc::new(file),
            members,
        })
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        match self {
            Store::Dir(d) => d.join(name).is_file(),
            Store::Tar { members, .. } => members.contains_key(name),
        }
    }

    /// Opens a member; `name` must be a safe relative path.
    pub fn open_member(&self, name: &str) -> Result<Box<dyn Read + Send>, SourceError> {
        let n = normal(name).ok_or_else(|| SourceError::UnsafePath(name.to_string()))?;
        let missing = || SourceError::Missing { name: n.clone() };
        match self {
            Store::Dir(d) => match File::open(d.join(&n)) {
                Ok(f) => Ok(Box::new(f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing()),
                Err(source) => Err(SourceError::Read { name: n, source }),
            },
            Store::Tar { file, members } => {
                let (off, size) = *members.get(&n).ok_or_else(missing)?;
                Ok(Box::new(MemberReader {
                    file: file.clone(),
                    pos: off,
                    end: off.saturating_add(size),
                }))
            }
        }
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        let r = self.open_member(name)?;
        let mut buf = Vec::new();
        r.take(META_LIMIT + 1)
            .read_to_end(&mut buf)
            .map_err(|source| SourceError::Read {
                name: name.to_string(),
                source,
            })?;
        if buf.len() as u64 > META_LIMIT {
            return Err(SourceError::Read {
                name: name.to_string(),
                source: io::Error::other("larger than 8 MiB"),
            });
        }
        Ok(buf)
    }

    fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>, SourceError> {
        let digest = Digest::parse(&d.digest)?;
        let size = descriptor_size(&digest, d.size)?;
        let r = self.open_member(&digest.blob_path())?;
        read_verified(r, &digest, size, META_LIMIT)
            .map_err(|source| SourceError::Read {
                name: digest.to_string(),
                source,
            })?
            .map_err(SourceError::from)
    }
}

fn parse<T: for<'de> Deserialize<'de>>(name: &str, data: &[u8]) -> Result<T, SourceError> {
    serde_json::from_slice(data).map_err(|source| SourceError::Json {
        name: name.to_string(),
        source,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: String,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Debug, Deserialize)]
struct OciLayout {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What `--platform` asks for.
#[derive(Debug, Clone)]
pub struct WantPlatform {
    pub(crate) os: String,
    pub(crate) arch: String,
    pub(crate) variant: Option<String>,
}

impl WantPlatform {
    pub fn parse(s: &str) -> Result<WantPlatform, String> {
        let p: Vec<&str> = s.split('/').collect();
        match p.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(WantPlatform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
                Ok(WantPlatform {
                    os: os.to_string(),
                    arch: arch.to_string(),
                    variant: Some(v.to_string()),
                })
            }
            _ => Err(format!("invalid platform {s:?}: want os/arch[/variant]")),
        }
    }

    fn matches(&self, p: &Platform) -> bool {
        p.os == self.os
            && p.architecture == self.arch
            && (self.variant.is_none() || self.variant == p.variant)
    }
}

impl std::fmt::Display for WantPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One layer to apply.
pub struct LayerRef {
    /// Member name in the store.
    pub member: String,
    /// Digest and size of the stored blob, when known (OCI).
    pub blob: Option<(Digest, u64)>,
    pub diff_id: Option<Digest>,
    /// For messages.
    pub name: String,
}

/// The chosen image: its verified config JSON and its layers.
pub struct Image {
    pub config: Vec<u8>,
    pub layers: Vec<LayerRef>,
    /// Short description for messages: "<digest> (ref)".
    pub what: String,
}

const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, Deserialize)]
struct RootfsOnly {
    #[serde(default)]
    rootfs: Option<RootfsIds>,
}

#[derive(Debug, Deserialize)]
struct RootfsIds {
    #[serde(default)]
    diff_ids: Vec<String>,
}

fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, SourceError> {
    let r: RootfsOnly = parse("image config", config)?;
    r.rootfs
        .map(|r| r.diff_ids)
        .unwrap_or_default()
        .iter()
        .map(|d| Digest::parse(d).map_err(SourceError::from))
        .collect()
}

pub fn select(
    store: &Store,
    want_ref: Option<&str>,
    platform: &WantPlatform,
) -> Result<Image, SourceError> {
    if store.has("index.json") {
        return select_oci(store, want_ref, platform);
    }
    if store.has("manifest.json") {
        return select_docker(store, want_ref);
    }
    Err(SourceError::Unknown(match store {
        Store::Dir(d) => d.display().to_string(),
        Store::Tar { .. } => "the archive".to_string(),
    }))
}

fn ref_names(d: &Descriptor) -> Vec<&str> {
    let mut v = Vec::new();
    for k in [
        "org.opencontainers.image.ref.name",
        "io.containerd.image.name",
    ] {
        if let Some(n) = d.annotations.get(k) {
            v.push(n.as_str());
        }
    }
    v
}

fn describe(ds: &[Descriptor]) -> String {
    let v: Vec<String> = ds
        .iter()
        .map(|d| {
            let names = ref_names(d);
            if names.is_empty() {
                d.digest.clone()
            } else {
                format!("{} ({})", names.join(", "), d.digest)
            }
        })
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join("; ")
    }
}

fn select_oci(
    store: &Store,
    want_ref: Option<&str>,
    platform: &WantPlatform,
) -> Result<Image, SourceError> {
    if store.has("oci-layout") {
        let l: OciLayout = parse("oci-layout", &store.read_small("oci-layout")?)?;
        if l.version != "1.0.0" {
            return Err(SourceError::LayoutVersion(l.version));
        }
    }
    let index: Index = parse("index.json", &store.read_small("index.json")?)?;
    let candidates: Vec<&Descriptor> = match want_ref {
        Some(r) => {
            let m: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|d| d.digest == r || ref_names(d).contains(&r))
                .collect();
            if m.is_empty() {
                return Err(SourceError::NoRef {
                    wanted: r.to_string(),
                    available: describe(&index.manifests),
                });
            }
            m
        }
        None => index.manifests.iter().collect(),
    };
    let chosen = pick_platform(&candidates, platform, true)?;
    let what = match want_ref {
        Some(r) => format!("{} ({r})", chosen.digest),
        None => chosen.digest.clone(),
    };
    resolve_manifest(store, chosen, platform, what, 0)
}

/// Among candidates, the one for the platform; descriptors without a platform are taken
/// when they are the only candidate.
fn pick_platform<'a>(
    ds: &[&'a Descriptor],
    platform: &WantPlatform,
    top: bool,
) -> Result<&'a Descriptor, SourceError> {
    match ds {
        [] => Err(SourceError::Empty),
        [one] => Ok(one),
        _ => {
            let m: Vec<&&Descriptor> = ds
                .iter()
                .filter(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
                .collect();
            match m.as_slice() {
                [one] => Ok(one),
                [first, ..] if !top => Ok(first),
                _ => {
                    let owned: Vec<Descriptor> = ds.iter().map(|d| (*d).clone()).collect();
                    if top && ds.iter().all(|d| d.platform.is_none()) {
                        Err(SourceError::Ambiguous(describe(&owned)))
                    } else {
                        Err(SourceError::NoPlatform {
                            wanted: platform.to_string(),
                            available: ds
                                .iter()
                                .filter_map(|d| d.platform.as_ref())
                                .map(|p| format!("{}/{}", p.os, p.architecture))
                                .collect::<Vec<_>>()
                                .join(", "),
                        })
                    }
                }
            }
        }
    }
}

fn resolve_manifest(
    store: &Store,
    d: &Descriptor,
    platform: &WantPlatform,
    what: String,
    depth: usize,
) -> Result<Image, SourceError> {
    if depth > 8 {
        return Err(SourceError::TooDeep);
    }
    let data = store.read_blob(d)?;
    if INDEX_TYPES.contains(&d.media_type.as_str()) {
        let idx: Index = parse(&d.digest, &data)?;
        let cands: Vec<&Descriptor> = idx.manifests.iter().collect();
        let next = pick_platform(&cands, platform, false)?;
        return resolve_manifest(store, next, platform, what, depth + 1);
    }
    let m: Manifest = parse(&d.digest, &data)?;
    if let Some(ms) = &m.manifests {
        // An index without a media type on its descriptor.
        let cands: Vec<&Descriptor> = ms.iter().collect();
        let next = pick_platform(&cands, platform, false)?;
        return resolve_manifest(store, next, platform, what, depth + 1);
    }
    let mt = if m.media_type.is_empty() {
        d.media_type.clone()
    } else {
        m.media_type.clone()
    };
    if !mt.is_empty() && !MANIFEST_TYPES.contains(&mt.as_str()) {
        return Err(SourceError::ManifestType(mt));
    }
    let config = store.read_blob(&m.config)?;
    let ids = diff_ids(&config)?;
    if ids.len() != m.layers.len() {
        return Err(SourceError::LayerCount {
            diff_ids: ids.len(),
            layers: m.layers.len(),
        });
    }
    let mut layers = Vec::new();
    for (l, id) in m.layers.iter().zip(ids) {
        if !LAYER_TYPES.contains(&l.media_type.as_str()) {
            return Err(SourceError::LayerType {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
            });
        }
        let digest = Digest::parse(&l.digest)?;
        let size = descriptor_size(&digest, l.size)?;
        layers.push(LayerRef {
            member: digest.blob_path(),
            name: digest.to_string(),
            blob: Some((digest, size)),
            diff_id: Some(id),
        });
    }
    Ok(Image {
        config,
        layers,
        what,
    })
}

/// The sha256 a docker-archive member name carries (`<hex>.json`, `blobs/sha256/<hex>`).
fn digest_in_name(name: &str) -> Option<Digest> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn select_docker(store: &Store, want_ref: Option<&str>) -> Result<Image, SourceError> {
    let entries: Vec<DockerEntry> = parse("manifest.json", &store.read_small("manifest.json")?)?;
    let tags = |e: &DockerEntry| e.repo_tags.clone().unwrap_or_default();
    let available = || {
        let v: Vec<String> = entries
            .iter()
            .map(|e| {
                let t = tags(e);
                if t.is_empty() {
                    e.config.clone()
                } else {
                    t.join(", ")
                }
            })
            .collect();
        v.join("; ")
    };
    let chosen = match want_ref {
        Some(r) => entries
            .iter()
            .find(|e| {
                tags(e)
                    .iter()
                    .any(|t| t == r || *t == format!("{r}:latest") || t.ends_with(&format!("/{r}")))
            })
            .ok_or_else(|| SourceError::NoRef {
                wanted: r.to_string(),
                available: available(),
            })?,
        None => match entries.as_slice() {
            [] => return Err(SourceError::Empty),
            [one] => one,
            _ => return Err(SourceError::Ambiguous(available())),
        },
    };
    let config_raw = store.read_small(&chosen.config)?;
    let config = match digest_in_name(&chosen.config) {
        Some(d) => read_verified(&config_raw[..], &d, config_raw.len() as u64, META_LIMIT)
            .map_err(|source| SourceError::Read {
                name: chosen.config.clone(),
                source,
            })??,
        None => config_raw,
    };
    let ids = diff_ids(&config)?;
    if ids.len() != chosen.layers.len() {
        return Err(SourceError::LayerCount {
            diff_ids: ids.len(),
            layers: chosen.layers.len(),
        });
    }
    let mut layers = Vec::new();
    for (l, id) in chosen.layers.iter().zip(ids) {
        let member = normal(l).ok_or_else(|| SourceError::UnsafePath(l.clone()))?;
        layers.push(LayerRef {
            member,
            name: l.clone(),
            blob: None,
            diff_id: Some(id),
        });
    }
    let what = want_ref.map_or_else(|| chosen.config.clone(), str::to_string);
    Ok(Image {
        config,
        layers,
        what,
    })
}
