//! hako-bundle: turns a container image on disk (OCI layout, oci-archive or docker-archive)
//! into a bundle hako can run (config.json + rootfs).
//!
//! Everything is built in a private temporary directory next to the target and moved into
//! place with one rename at the end; on any error that directory is removed, so a failed
//! run leaves nothing behind.

use clap::Parser;
use hako::image::{apply, convert, layer, resolve, source};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "hako-bundle",
    version,
    about = "Unpack an OCI image (layout dir, oci-archive or docker-archive) into a runnable OCI bundle",
    after_help = "SOURCE is an OCI image layout directory, a tar of one (oci-archive, optionally \
                  written as oci-archive:FILE), or a docker-archive tar (docker save); the kind \
                  is detected from the content. Arguments after `--` replace the image's Cmd."
)]
struct Cli {
    /// Image to use: ref.name annotation (tag), containerd image name, manifest digest, or a
    /// docker-archive RepoTag.
    #[arg(long = "ref", value_name = "NAME")]
    reference: Option<String>,
    /// Platform to pick from a multi-platform index.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64")]
    platform: String,
    /// Replace BUNDLE_DIR even if it is not empty.
    #[arg(long)]
    force: bool,
    /// Unpack as a non-root user: no device nodes, ownership mapped with --uid-map/--gid-map,
    /// and a config.json with a user namespace.
    #[arg(long)]
    rootless: bool,
    /// container:host[:size] uid range (repeatable); default as rootless: 0:<euid>:1.
    #[arg(long = "uid-map", value_name = "C:H[:N]")]
    uid_map: Vec<String>,
    /// container:host[:size] gid range (repeatable); default as rootless: 0:<egid>:1.
    #[arg(long = "gid-map", value_name = "C:H[:N]")]
    gid_map: Vec<String>,
    /// Turn the image's Volumes into bind mounts from BUNDLE_DIR/volumes/.
    #[arg(long)]
    volumes: bool,
    /// Give the process a terminal (process.terminal = true).
    #[arg(long)]
    tty: bool,
    /// Print what was done.
    #[arg(short, long)]
    verbose: bool,
    /// The image source.
    #[arg(value_name = "SOURCE")]
    source: String,
    /// Where to write config.json and rootfs/.
    #[arg(value_name = "BUNDLE_DIR")]
    bundle: PathBuf,
    /// Command and arguments replacing the image's Cmd.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error(transparent)]
    Convert(#[from] convert::ConvertError),
    #[error("layer {blob}: {source}")]
    LayerApply {
        blob: String,
        source: apply::ApplyError,
    },
    #[error("bundle directory {0} is not empty (use --force to replace it)")]
    NotEmpty(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

fn main() {
    let cli = Cli::parse();
    // SIGINT/SIGTERM/SIGHUP are blocked in every thread (set before any is spawned) and
    // taken by one thread that only raises a flag: the unpacker then fails like on any
    // other error, and the temporary bundle is removed.
    let mut set = nix::sys::signal::SigSet::empty();
    for s in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        set.add(s);
    }
    if set.thread_block().is_ok() {
        std::thread::spawn(move || {
            if set.wait().is_ok() {
                apply::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    if let Err(e) = run(&cli) {
        eprintln!("hako-bundle: {e}");
        std::process::exit(1);
    }
}

/// Removes the temporary directory unless disarmed.
struct TempDir {
    path: PathBuf,
    rootless: bool,
    armed: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = resolve::remove_tree(&self.path, self.rootless)
        {
            eprintln!(
                "hako-bundle: warning: could not remove {}: {e}",
                self.path.display()
            );
        }
    }
}

fn parse_maps(v: &[String], default_host: u32, rootless: bool) -> Result<Vec<apply::IdMap>, Error> {
    let mut maps = Vec::new();
    for s in v {
        maps.push(apply::IdMap::parse(s).map_err(Error::Usage)?);
    }
    if maps.is_empty() && rootless {
        maps.push(apply::IdMap {
            container: 0,
            host: default_host,
            size: 1,
        });
    }
    Ok(maps)
}

fn run(cli: &Cli) -> Result<(), Error> {
    let platform = source::WantPlatform::parse(&cli.platform).map_err(Error::Usage)?;
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    let rootless = cli.rootless || euid != 0;
    let uid_map = parse_maps(&cli.uid_map, euid, rootless)?;
    let gid_map = parse_maps(&cli.gid_map, egid, rootless)?;

    // Files are created with exactly the modes the image gives.
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe { libc::umask(0) };

    let src_path = cli
        .source
        .strip_prefix("oci-archive:")
        .or_else(|| cli.source.strip_prefix("docker-archive:"))
        .or_else(|| cli.source.strip_prefix("oci:"))
        .unwrap_or(&cli.source);
    let store = source::Store::open(Path::new(src_path))?;
    let image = source::select(&store, cli.reference.as_deref(), &platform)?;

    // The target: absent, or an empty directory, unless --force.
    let bundle = absolute(&cli.bundle)?;
    let target_exists = match std::fs::symlink_metadata(&bundle) {
        Ok(m) => {
            let empty = m.is_dir()
                && std::fs::read_dir(&bundle)
                    .map_err(io_err("cannot read", &bundle))?
                    .next()
                    .is_none();
            if !empty && !cli.force {
                return Err(Error::NotEmpty(bundle.display().to_string()));
            }
            Some(empty)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("cannot inspect", &bundle)(e)),
    };
    let parent = bundle.parent().unwrap_or(Path::new("/")).to_path_buf();
    let base = bundle
        .file_name()
        .ok_or_else(|| Error::Usage(format!("invalid bundle directory {}", bundle.display())))?;
    let tmp_path = parent.join(format!(
        ".{}.hako-bundle-{}",
        base.to_string_lossy(),
        std::process::id()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp_path)
        .map_err(io_err("cannot create", &tmp_path))?;
    let mut tmp = TempDir {
        path: tmp_path.clone(),
        rootless,
        armed: true,
    };
    let rootfs = tmp_path.join("rootfs");
    // 0755 unless the image's own "./" entry says otherwise.
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&rootfs)
        .map_err(io_err("cannot create", &rootfs))?;

    let mut applier = apply::Applier::new(
        &rootfs,
        apply::Options {
            rootless,
            uid_map: uid_map.clone(),
            gid_map: gid_map.clone(),
        },
    )?;
    let started = std::time::Instant::now();
    for l in &image.layers {
        if apply::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(apply::ApplyError::Interrupted.into());
        }
        let blob = store.open_member(&l.member)?;
        let mut pipe = layer::spawn(
            blob,
            layer::LayerSpec {
                name: l.name.clone(),
                blob: l.blob.clone(),
                diff_id: l.diff_id.clone(),
            },
        );
        let applied = applier.apply_layer(&mut pipe.reader);
        // Verification comes first: a blob that does not match its digest is the error to
        // report, whatever the unpacker made of it.
        pipe.finish()?;
        applied.map_err(|source| Error::LayerApply {
            blob: l.name.clone(),
            source,
        })?;
    }
    applier.finish()?;

    let (config, volume_dirs) = convert::convert(
        &image.config,
        applier.root_fd(),
        &convert::Options {
            args: if cli.args.is_empty() {
                None
            } else {
                Some(&cli.args)
            },
            tty: cli.tty,
            volumes: cli.volumes,
            rootless,
            uid_map: &uid_map,
            gid_map: &gid_map,
            bundle: &bundle,
        },
    )?;
    for v in &volume_dirs {
        let d = tmp_path.join("volumes").join(v);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&d)
            .map_err(io_err("cannot create", &d))?;
    }
    let mut text =
        serde_json::to_string_pretty(&config).map_err(|e| Error::Usage(e.to_string()))?;
    text.push('\n');
    let cfg_path = tmp_path.join("config.json");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&cfg_path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(io_err("cannot write", &cfg_path))?;
    // Private while being built; a normal bundle directory once done.
    std::fs::set_permissions(
        &tmp_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .map_err(io_err("cannot chmod", &tmp_path))?;

    // Move into place: a plain rename onto a missing or empty target, an exchange with a
    // non-empty one (--force), whose old content is then removed.
    match target_exists {
        None | Some(true) => {
            std::fs::rename(&tmp_path, &bundle)
                .map_err(io_err("cannot move bundle to", &bundle))?;
            tmp.armed = false;
        }
        Some(false) => {
            exchange(&tmp_path, &bundle)?;
            // `tmp` now holds the old content and is removed on drop.
        }
    }
    drop(tmp);
    if cli.verbose {
        let s = &applier.stats;
        eprintln!(
            "hako-bundle: {} → {}: {} layers, {} entries, {} bytes in {:.2?}{}{}{}",
            image.what,
            bundle.display(),
            image.layers.len(),
            s.entries,
            s.bytes,
            started.elapsed(),
            if s.skipped_devices > 0 {
                format!(", {} device nodes skipped (rootless)", s.skipped_devices)
            } else {
                String::new()
            },
            if s.ignored_chown > 0 {
                format!(", {} ownerships not settable (rootless)", s.ignored_chown)
            } else {
                String::new()
            },
            if s.ignored_xattrs > 0 {
                format!(", {} xattrs not settable", s.ignored_xattrs)
            } else {
                String::new()
            },
        );
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, Error> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(io_err("cannot get cwd for", p))?;
    let joined = cwd.join(p);
    // Drop trailing `.` / `/` so file_name() is the real last component.
    Ok(joined.components().collect())
}

fn exchange(a: &Path, b: &Path) -> Result<(), Error> {
    let ca =
        CString::new(a.as_os_str().as_bytes()).map_err(|_| Error::Usage("NUL in path".into()))?;
    let cb =
        CString::new(b.as_os_str().as_bytes()).map_err(|_| Error::Usage("NUL in path".into()))?;
    // SAFETY: both paths are NUL-terminated; renameat2 keeps no pointer.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r != 0 {
        return Err(io_err("cannot replace", b)(std::io::Error::last_os_error()));
    }
    Ok(())
}
