//! Image metadata as hako-bundle reads it: oci-layout, index.json, (nested) indexes,
//! manifests, the image config and docker-archive manifest.json; `--ref` / `--platform`
//! selection; digest strings, platforms and id maps; the image config → config.json
//! conversion. Errors, never panics; a parsed digest is a safe blob path; selected layer
//! members are safe relative names; volume directories stay inside BUNDLE/volumes;
//! config.json has the runtime-spec's shape.
//!
//! Input: parts separated by 0xFF bytes (never inside UTF-8 text, so never inside JSON):
//!   part 0   header lines: --ref (empty: none), --platform (empty or invalid: linux/amd64),
//!            option words (rootless tty volumes args), oci-layout content (default: 1.0.0)
//!   part 1   the top-level JSON: index.json if it starts with `{`, else manifest.json
//!   part 2.. blobs 0, 1, …, stored as blobs/sha256/<hex>
//! In part 1 and in blob i, `$Dn` `$Hn` `$Sn` (n a digit, blob n, n > i) are replaced by blob
//! n's digest, hex and size, so inputs chain index → manifest → config without the fuzzer
//! having to compute hashes. An input without 0xFF is the archive file itself (a tar).
//! Everything is packed into an archive (tar) and read through `Store::open` like a file
//! given on hako-bundle's command line.
#![no_main]

mod common;

use hako::image::{apply::IdMap, convert, digest::Digest, source};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Scratch {
    archive: PathBuf,
    /// An empty rootfs: user names resolve to "unknown user", never to a host file.
    root: std::fs::File,
}

fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let dir = common::private_dir("image_manifest");
        let root = dir.join("rootfs");
        std::fs::create_dir(&root).expect("rootfs");
        Scratch {
            archive: dir.join("image.tar"),
            root: std::fs::File::open(&root).expect("open rootfs"),
        }
    })
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Replaces `$Dn`/`$Hn`/`$Sn` for blobs n >= `from` that are already known.
fn substitute(text: &[u8], from: usize, known: &[Option<(String, usize)>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'$' && i + 2 < text.len() && text[i + 2].is_ascii_digit() {
            let n = usize::from(text[i + 2] - b'0');
            if n >= from
                && let Some(Some((hex, size))) = known.get(n)
            {
                let rep = match text[i + 1] {
                    b'D' => Some(format!("sha256:{hex}")),
                    b'H' => Some(hex.clone()),
                    b'S' => Some(size.to_string()),
                    _ => None,
                };
                if let Some(r) = rep {
                    out.extend_from_slice(r.as_bytes());
                    i += 3;
                    continue;
                }
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data).expect("tar");
}

/// A parsed digest names a blob file directly below blobs/<algorithm>/ and prints back as
/// the text it came from.
fn check_digest(s: &str) {
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.to_string(), s);
        let p = d.blob_path();
        let comps: Vec<&str> = p.split('/').collect();
        assert_eq!(comps.len(), 3, "{p}");
        assert!(
            comps
                .iter()
                .all(|c| !c.is_empty() && *c != "." && *c != "..")
        );
    }
}

fn run(store_file: &Path, header: &str) {
    let mut lines = header.split('\n');
    let want_ref = lines.next().filter(|l| !l.is_empty());
    let platform = lines.next().unwrap_or("");
    let options = lines.next().unwrap_or("");
    let platform = source::WantPlatform::parse(platform)
        .or_else(|_| source::WantPlatform::parse("linux/amd64"))
        .expect("default platform");
    if let Some(r) = want_ref {
        check_digest(r);
    }

    let Ok(store) = source::Store::open(store_file) else {
        return;
    };
    let Ok(image) = source::select(&store, want_ref, &platform) else {
        return;
    };
    for l in &image.layers {
        let m = &l.member;
        assert!(
            !m.is_empty()
                && !m.starts_with('/')
                && m.split('/').all(|c| !c.is_empty() && c != "." && c != ".."),
            "unsafe layer member {m:?}"
        );
    }

    let has = |w: &str| options.split_whitespace().any(|o| o == w);
    let rootless = has("rootless");
    let maps = [IdMap {
        container: 0,
        host: 1000,
        size: 1,
    }];
    let args = ["/bin/true".to_string()];
    let bundle = Path::new("/nonexistent/bundle");
    let Ok((config, volumes)) = convert::convert(
        &image.config,
        scratch().root.as_fd(),
        &convert::Options {
            args: has("args").then_some(&args[..]),
            tty: has("tty"),
            volumes: has("volumes"),
            rootless,
            uid_map: if rootless { &maps } else { &[] },
            gid_map: if rootless { &maps } else { &[] },
            bundle,
        },
    ) else {
        return;
    };
    for v in &volumes {
        // hako-bundle creates BUNDLE/volumes/<v> and binds it: one plain name inside volumes/.
        assert!(
            !v.is_empty() && v != "." && v != ".." && !v.contains('/'),
            "volume directory {v:?} is not a plain name inside BUNDLE/volumes"
        );
    }
    if let Err(e) = serde_json::from_value::<oci_spec::runtime::Spec>(config.clone()) {
        panic!("config.json does not have the runtime-spec's shape: {e}\n{config:#}");
    }
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    let parts = common::parts(data);
    if parts.len() == 1 {
        // The archive itself.
        std::fs::write(&s.archive, data).expect("write archive");
        run(&s.archive, "");
        return;
    }
    let header = String::from_utf8_lossy(parts[0]);
    for l in header.split('\n') {
        check_digest(l);
        if let Ok(p) = source::WantPlatform::parse(l) {
            assert_eq!(p.to_string(), l);
        }
        if let Ok(m) = IdMap::parse(l) {
            // The whole range is representable on both sides.
            assert!(m.size > 0);
            assert!(m.container.checked_add(m.size - 1).is_some());
            assert!(m.host.checked_add(m.size - 1).is_some());
        }
    }

    let blobs = &parts[2.min(parts.len())..];
    let blobs = &blobs[..blobs.len().min(10)];
    let mut known: Vec<Option<(String, usize)>> = vec![None; blobs.len()];
    let mut texts: Vec<Vec<u8>> = vec![Vec::new(); blobs.len()];
    for i in (0..blobs.len()).rev() {
        let t = substitute(blobs[i], i + 1, &known);
        known[i] = Some((sha256_hex(&t), t.len()));
        texts[i] = t;
    }
    let top = substitute(parts[1], 0, &known);

    let mut b = tar::Builder::new(Vec::new());
    let oci = top.trim_ascii_start().starts_with(b"{");
    if oci {
        let layout = header
            .split('\n')
            .nth(3)
            .unwrap_or(r#"{"imageLayoutVersion":"1.0.0"}"#);
        add(&mut b, "oci-layout", layout.as_bytes());
        add(&mut b, "index.json", &top);
    } else {
        add(&mut b, "manifest.json", &top);
    }
    for (i, t) in texts.iter().enumerate() {
        let hex = &known[i].as_ref().expect("known").0;
        add(&mut b, &format!("blobs/sha256/{hex}"), t);
    }
    let archive = b.into_inner().expect("tar");
    std::fs::write(&s.archive, archive).expect("write archive");
    run(&s.archive, &header);
});
