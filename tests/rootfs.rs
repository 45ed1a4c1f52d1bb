//! The container's root filesystem as the container sees it: default and configured mounts
//! (read back from /proc/self/mountinfo inside), masked and read-only paths, devices, the
//! cgroup mount, hostname, --no-pivot, and regressions for known rootfs attacks.

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Helpers local to this file.
// ---------------------------------------------------------------------------------------------

/// One line of /proc/<pid>/mountinfo.
#[derive(Debug, Clone)]
struct MountLine {
    root: String,
    mount_point: String,
    /// Per-mount options (ro, nosuid, …).
    opts: Vec<String>,
    /// Optional fields (shared:N, master:N, …).
    optional: Vec<String>,
    fstype: String,
    source: String,
    /// Superblock options (size=, mode=, …).
    super_opts: Vec<String>,
}

impl MountLine {
    fn has_opt(&self, o: &str) -> bool {
        self.opts.iter().any(|x| x == o)
    }
    fn has_super(&self, o: &str) -> bool {
        self.super_opts.iter().any(|x| x == o)
    }
    fn optional_with(&self, prefix: &str) -> Option<String> {
        self.optional
            .iter()
            .find(|f| f.starts_with(prefix))
            .map(|f| f[prefix.len()..].to_string())
    }
}

fn parse_mountinfo(text: &str) -> Vec<MountLine> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let lf: Vec<&str> = left.split(' ').collect();
            let rf: Vec<&str> = right.split(' ').collect();
            if lf.len() < 6 || rf.len() < 3 {
                return None;
            }
            Some(MountLine {
                root: lf[3].to_string(),
                mount_point: lf[4].to_string(),
                opts: lf[5].split(',').map(str::to_string).collect(),
                optional: lf[6..].iter().map(|s| s.to_string()).collect(),
                fstype: rf[0].to_string(),
                source: rf[1].to_string(),
                super_opts: rf[2].split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// The topmost mount at `mp` (the last line naming it).
fn mount_at<'a>(mounts: &'a [MountLine], mp: &str) -> &'a MountLine {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mp)
        .unwrap_or_else(|| panic!("no mount at {mp} in {mounts:#?}"))
}

fn host_mounts() -> Vec<MountLine> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").expect("host mountinfo"))
}

fn sh_bundle(id: &str, script: &str) -> Bundle {
    Bundle::new(id, &["sh", "-c", script])
}

fn add_mount(b: &mut Bundle, m: Value) {
    b.edit(|c| c["mounts"].as_array_mut().expect("mounts").push(m));
}

/// A host directory for one test, with tmpfs mounts the test makes under it; everything is
/// unmounted and removed on drop.
struct HostDir {
    path: PathBuf,
    mounts: Vec<PathBuf>,
}

impl HostDir {
    fn new(tag: &str) -> HostDir {
        let path = std::env::temp_dir()
            .join("hako-tests-host")
            .join(unique_id(tag));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("host dir");
        HostDir {
            path,
            mounts: Vec::new(),
        }
    }

    fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }

    /// Mounts a small tmpfs at `rel` (created) and returns its path.
    fn mount_tmpfs(&mut self, rel: &str) -> PathBuf {
        let p = self.path.join(rel);
        std::fs::create_dir_all(&p).expect("mkdir mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "hako-test-tmpfs"])
            .arg(&p)
            .output()
            .expect("mount");
        assert!(out.status.success(), "mount tmpfs: {out:?}");
        self.mounts.push(p.clone());
        p
    }

    fn make_shared(&self, p: &Path) {
        let out = Command::new("mount")
            .arg("--make-shared")
            .arg(p)
            .output()
            .expect("mount --make-shared");
        assert!(out.status.success(), "make-shared: {out:?}");
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Names of the entries of `dir`, sorted.
fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Default and configured mounts.
// ---------------------------------------------------------------------------------------------

#[test]
fn default_mounts_are_set_up_with_their_flags() {
    let rt = Runtime::new("rootfs-defaults");
    let id = unique_id("defmounts");
    let b = sh_bundle(
        &id,
        "echo $$; cat /proc/1/comm; echo ---; cat /proc/self/mountinfo",
    );
    let out = rt.run_ok(&b, &id);
    let (head, info) = out.split_once("---\n").expect("separator");
    // The shell is pid 1 of a new pid namespace and /proc is that namespace's proc.
    assert_eq!(head, "1\nsh\n", "{out}");
    let mounts = parse_mountinfo(info);

    let root = mount_at(&mounts, "/");
    assert!(root.has_opt("ro"), "root.readonly: {root:?}");
    assert!(
        root.root.ends_with(&format!("/{id}/rootfs")),
        "the root is the bundle's rootfs: {root:?}"
    );

    let proc_ = mount_at(&mounts, "/proc");
    assert_eq!(proc_.fstype, "proc");

    let dev = mount_at(&mounts, "/dev");
    assert_eq!(dev.fstype, "tmpfs");
    assert!(dev.has_opt("nosuid"), "{dev:?}");
    assert!(dev.has_super("mode=755"), "{dev:?}");
    assert!(dev.has_super("size=65536k"), "{dev:?}");

    let pts = mount_at(&mounts, "/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert!(pts.has_opt("nosuid") && pts.has_opt("noexec"), "{pts:?}");
    assert!(pts.has_super("ptmxmode=666"), "{pts:?}");
    assert!(pts.has_super("mode=620"), "{pts:?}");
    assert!(pts.has_super("gid=5"), "{pts:?}");

    let shm = mount_at(&mounts, "/dev/shm");
    assert_eq!(shm.fstype, "tmpfs");
    assert_eq!(shm.source, "shm");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(shm.has_opt(o), "/dev/shm lacks {o}: {shm:?}");
    }

    let mq = mount_at(&mounts, "/dev/mqueue");
    assert_eq!(mq.fstype, "mqueue");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(mq.has_opt(o), "/dev/mqueue lacks {o}: {mq:?}");
    }

    let sys = mount_at(&mounts, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    assert!(sys.has_opt("ro"), "{sys:?}");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(sys.has_opt(o), "/sys lacks {o}: {sys:?}");
    }

    let cg = mount_at(&mounts, "/sys/fs/cgroup");
    assert!(cg.has_opt("ro"), "{cg:?}");
    if common::host::cgroup_v2() {
        // A unified host: the container's own cgroup2 directory, read-only.
        assert_eq!(cg.fstype, "cgroup2");
        assert_eq!(cg.root, format!("{CGROUP_PREFIX}/{id}"), "{cg:?}");
        assert_clean(&rt, &id);
        return;
    }
    // Below it: the container's own cgroup (hybrid host: at least the memory hierarchy).
    let mem = mount_at(&mounts, "/sys/fs/cgroup/memory");
    assert_eq!(mem.fstype, "cgroup");
    assert_eq!(mem.root, format!("{CGROUP_PREFIX}/{id}"), "{mem:?}");
    assert!(mem.has_opt("ro"), "{mem:?}");
    assert_clean(&rt, &id);
}

#[test]
fn tmpfs_mount_options_are_applied() {
    let rt = Runtime::new("rootfs-tmpfs");
    let id = unique_id("tmpfsopts");
    let mut b = sh_bundle(
        &id,
        "grep ' /mnt/t ' /proc/self/mountinfo; stat -c '%a' /mnt/t; \
         cp /bin/busybox /mnt/t/bb; /mnt/t/bb true; echo exec=$?",
    );
    add_mount(
        &mut b,
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "size=2m", "mode=1750"]}),
    );
    let out = rt.run_ok(&b, &id);
    let mut lines = out.lines();
    let m = parse_mountinfo(lines.next().expect("mountinfo line"));
    let m = mount_at(&m, "/mnt/t");
    assert_eq!(m.fstype, "tmpfs");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(m.has_opt(o), "lacks {o}: {m:?}");
    }
    assert!(m.has_super("size=2048k"), "{m:?}");
    assert!(m.has_super("mode=1750"), "{m:?}");
    assert_eq!(lines.next(), Some("1750"), "{out}");
    // noexec is enforced, not just displayed.
    assert!(out.contains("exec=126"), "{out}");
    assert_clean(&rt, &id);
}

#[test]
fn bind_mount_of_host_dir_ro_and_rw() {
    let rt = Runtime::new("rootfs-bind");
    let id = unique_id("bind");
    let host = HostDir::new("bindsrc");
    std::fs::write(host.join("data"), "hello-bind\n").expect("write");
    let rw = HostDir::new("bindrw");
    let mut b = sh_bundle(
        &id,
        "cat /data/data; touch /data/new 2>&1; echo ro-touch=$?; \
         touch /rw/from-container; echo rw-touch=$?",
    );
    add_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": host.path,
               "options": ["bind", "ro"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/rw", "type": "bind", "source": rw.path, "options": ["bind"]}),
    );
    let out = rt.run_ok(&b, &id);
    assert!(out.starts_with("hello-bind\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("ro-touch=1"), "{out}");
    assert!(out.contains("rw-touch=0"), "{out}");
    assert_eq!(dir_entries(&host.path), ["data"]);
    assert_eq!(dir_entries(&rw.path), ["from-container"]);
    assert_clean(&rt, &id);
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let rt = Runtime::new("rootfs-rbind");
    let id = unique_id("rbind");
    let mut host = HostDir::new("rbindsrc");
    std::fs::write(host.join("top"), "top\n").expect("write");
    let sub = host.mount_tmpfs("sub");
    std::fs::write(sub.join("inner"), "inner-file\n").expect("write");
    let mut b = sh_bundle(
        &id,
        "echo bind:$(ls /b/sub); echo rbind:$(cat /r/sub/inner); cat /r/top",
    );
    add_mount(
        &mut b,
        json!({"destination": "/b", "type": "bind", "source": host.path, "options": ["bind"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/r", "type": "bind", "source": host.path, "options": ["rbind"]}),
    );
    let out = rt.run_ok(&b, &id);
    assert_eq!(out, "bind:\nrbind:inner-file\ntop\n");
    assert_clean(&rt, &id);
}

#[test]
fn bind_of_a_single_file() {
    let rt = Runtime::new("rootfs-filebind");
    let id = unique_id("filebind");
    let host = HostDir::new("filebind");
    let f = host.join("app.conf");
    std::fs::write(&f, "file-content\n").expect("write");
    let mut b = sh_bundle(
        &id,
        "cat /opt/conf/app.conf; stat -c %F /opt/conf/app.conf; \
         grep -c ' /opt/conf/app.conf ' /proc/self/mountinfo",
    );
    add_mount(
        &mut b,
        json!({"destination": "/opt/conf/app.conf", "type": "bind", "source": f,
               "options": ["bind", "ro"]}),
    );
    let out = rt.run_ok(&b, &id);
    assert_eq!(out, "file-content\nregular file\n1\n");
    assert_eq!(
        std::fs::read_to_string(&f).expect("read"),
        "file-content\n",
        "host file unchanged"
    );
    assert_clean(&rt, &id);
}

#[test]
fn rro_makes_submounts_read_only_but_ro_does_not() {
    let rt = Runtime::new("rootfs-rro");
    let id = unique_id("rro");
    let mut host = HostDir::new("rrosrc");
    let sub = host.mount_tmpfs("sub");
    let mut b = sh_bundle(
        &id,
        "touch /ro/x 2>/dev/null; echo ro-top=$?; touch /ro/sub/a; echo ro-sub=$?; \
         touch /rro/y 2>/dev/null; echo rro-top=$?; touch /rro/sub/b 2>&1; echo rro-sub=$?; \
         grep ' /rro/sub ' /proc/self/mountinfo",
    );
    add_mount(
        &mut b,
        json!({"destination": "/ro", "type": "bind", "source": host.path,
               "options": ["rbind", "ro"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/rro", "type": "bind", "source": host.path,
               "options": ["rbind", "rro"]}),
    );
    let out = rt.run_ok(&b, &id);
    assert!(out.contains("ro-top=1\n"), "{out}");
    // Plain ro only covers the top mount (runc does the same): the submount stays writable.
    assert!(out.contains("ro-sub=0\n"), "{out}");
    assert!(out.contains("rro-top=1\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rro-sub=1\n"), "{out}");
    let info = out
        .lines()
        .find(|l| l.contains(" /rro/sub "))
        .unwrap_or_else(|| panic!("no /rro/sub mount: {out}"));
    let m = parse_mountinfo(info);
    assert!(mount_at(&m, "/rro/sub").has_opt("ro"), "{info}");
    assert_eq!(dir_entries(&sub), ["a"]);
    assert_clean(&rt, &id);
}

/// Propagation of bind mounts and linux.rootfsPropagation, read from the optional fields.
/// The host's mounts are all private here, so the test makes its own shared tmpfs.
#[test]
fn mount_propagation_options_and_rootfs_propagation() {
    let rt = Runtime::new("rootfs-prop");
    let mut host = HostDir::new("propsrc");
    let shared = host.mount_tmpfs("shared");
    host.make_shared(&shared);
    // The private source is a mount of its own, so the result does not depend on how the
    // host's / propagates.
    let mut private_dir = HostDir::new("propprivate");
    let private_src = private_dir.mount_tmpfs("p");
    let out = Command::new("mount")
        .arg("--make-private")
        .arg(&private_src)
        .output()
        .expect("make-private");
    assert!(out.status.success(), "{out:?}");
    let group = host_mounts()
        .iter()
        .rev()
        .find(|m| Path::new(&m.mount_point) == shared)
        .and_then(|m| m.optional_with("shared:"))
        .expect("our tmpfs is shared");

    let script = "grep ' /mnt/' /proc/self/mountinfo";
    let run = |rootfs_prop: Option<&str>| -> Vec<MountLine> {
        let id = unique_id("prop");
        let mut b = sh_bundle(&id, script);
        b.edit(|c| {
            if let Some(p) = rootfs_prop {
                c["linux"]["rootfsPropagation"] = json!(p);
            }
            let m = c["mounts"].as_array_mut().expect("mounts");
            m.push(
                json!({"destination": "/mnt/s", "type": "bind", "source": shared,
                          "options": ["rbind"]}),
            );
            m.push(
                json!({"destination": "/mnt/sl", "type": "bind", "source": shared,
                          "options": ["rbind", "rslave"]}),
            );
            m.push(
                json!({"destination": "/mnt/p", "type": "bind", "source": private_src,
                          "options": ["rbind", "rshared"]}),
            );
            m.push(
                json!({"destination": "/mnt/n", "type": "bind", "source": private_src,
                          "options": ["rbind"]}),
            );
        });
        let out = rt.run_ok(&b, &id);
        assert_clean(&rt, &id);
        parse_mountinfo(&out)
    };

    // Default (rslave): the container receives the host's mounts but sends nothing back.
    let m = run(None);
    let s = mount_at(&m, "/mnt/s");
    assert_eq!(s.optional_with("master:"), Some(group.clone()), "{s:?}");
    assert_eq!(s.optional_with("shared:"), None, "{s:?}");
    // A bind with rshared gets a peer group of its own; without it, a private source stays
    // private.
    let p = mount_at(&m, "/mnt/p");
    assert!(
        p.optional_with("shared:").is_some(),
        "rshared ignored: {p:?}"
    );
    let n = mount_at(&m, "/mnt/n");
    assert!(n.optional.is_empty(), "{n:?}");

    // rootfsPropagation rshared: the bind is a peer of the host's mount; rslave on the
    // mount turns it into a slave of that same group.
    let m = run(Some("rshared"));
    let s = mount_at(&m, "/mnt/s");
    assert_eq!(s.optional_with("shared:"), Some(group.clone()), "{s:?}");
    let sl = mount_at(&m, "/mnt/sl");
    assert_eq!(sl.optional_with("master:"), Some(group.clone()), "{sl:?}");
    assert_eq!(sl.optional_with("shared:"), None, "rslave ignored: {sl:?}");

    // rootfsPropagation rprivate: no propagation at all.
    let m = run(Some("rprivate"));
    let s = mount_at(&m, "/mnt/s");
    assert!(s.optional.is_empty(), "{s:?}");
}

#[test]
fn relative_mount_destination_is_relative_to_root() {
    let rt = Runtime::new("rootfs-reldest");
    let id = unique_id("reldest");
    let mut b = sh_bundle(
        &id,
        "grep ' /mnt/rel ' /proc/self/mountinfo; stat -f -c %T /mnt/rel",
    );
    add_mount(
        &mut b,
        json!({"destination": "mnt/rel", "type": "tmpfs", "source": "reltmp"}),
    );
    let out = rt.run_ok(&b, &id);
    let m = parse_mountinfo(&out);
    let m = mount_at(&m, "/mnt/rel");
    assert_eq!(m.fstype, "tmpfs");
    assert_eq!(m.source, "reltmp");
    assert!(out.ends_with("tmpfs\n"), "{out}");
    assert_clean(&rt, &id);
}

// ---------------------------------------------------------------------------------------------
// Masked paths, read-only paths, read-only root.
// ---------------------------------------------------------------------------------------------

#[test]
fn masked_paths_hide_files_and_dirs() {
    let rt = Runtime::new("rootfs-masked");
    let id = unique_id("masked");
    let mut b = sh_bundle(
        &id,
        "echo file:$(cat /etc/secret); stat -c '%F %t:%T' /etc/secret; \
         echo dir:$(ls -A /etc/secretdir); touch /etc/secretdir/x 2>&1; echo touch=$?; \
         grep ' /etc/secretdir ' /proc/self/mountinfo; echo timer_list:$(cat /proc/timer_list | wc -c)",
    );
    let r = b.rootfs();
    std::fs::write(r.join("etc/secret"), "s3cret\n").expect("write");
    std::fs::create_dir_all(r.join("etc/secretdir")).expect("mkdir");
    std::fs::write(r.join("etc/secretdir/key"), "k\n").expect("write");
    b.edit(|c| {
        let mp = c["linux"]["maskedPaths"]
            .as_array_mut()
            .expect("maskedPaths");
        mp.push(json!("/etc/secret"));
        mp.push(json!("/etc/secretdir"));
        // Paths that do not exist are skipped, as runc does.
        mp.push(json!("/does/not/exist"));
    });
    let out = rt.run_ok(&b, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "file:", "{out}");
    assert_eq!(lines[1], "character special file 1:3", "{out}");
    assert_eq!(lines[2], "dir:", "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("touch=1"), "{out}");
    let info = lines
        .iter()
        .find(|l| l.contains(" /etc/secretdir "))
        .unwrap_or_else(|| panic!("{out}"));
    let m = parse_mountinfo(info);
    let m = mount_at(&m, "/etc/secretdir");
    assert_eq!(m.fstype, "tmpfs");
    assert!(m.has_opt("ro"), "{m:?}");
    // The default maskedPaths include /proc/timer_list: it reads empty.
    assert!(out.contains("timer_list:0\n"), "{out}");
    // The image itself is untouched.
    assert_eq!(
        std::fs::read_to_string(r.join("etc/secret")).expect("read"),
        "s3cret\n"
    );
    assert_clean(&rt, &id);
}

#[test]
fn readonly_paths_refuse_writes() {
    let rt = Runtime::new("rootfs-ropaths");
    let id = unique_id("ropaths");
    let mut b = sh_bundle(
        &id,
        "touch /var/x 2>&1; echo var=$?; touch /x; echo root=$?",
    );
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["readonlyPaths"]
            .as_array_mut()
            .expect("readonlyPaths")
            .push(json!("/var"));
    });
    let out = rt.run_ok(&b, &id);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("var=1\n"), "{out}");
    assert!(out.contains("root=0\n"), "{out}");
    assert!(!b.rootfs().join("var/x").exists());
    assert!(b.rootfs().join("x").exists());
    assert_clean(&rt, &id);
}

#[test]
fn root_readonly_true_and_false() {
    let rt = Runtime::new("rootfs-rootro");
    let id = unique_id("rootro");
    let b = sh_bundle(&id, "touch /x 2>&1; echo touch=$?");
    let out = rt.run_ok(&b, &id);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("touch=1"), "{out}");
    assert!(!b.rootfs().join("x").exists());
    assert_clean(&rt, &id);

    let id = unique_id("rootrw");
    let mut b = sh_bundle(&id, "touch /x 2>&1; echo touch=$?");
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let out = rt.run_ok(&b, &id);
    assert_eq!(out, "touch=0\n");
    assert!(b.rootfs().join("x").exists());
    assert_clean(&rt, &id);
}

// ---------------------------------------------------------------------------------------------
// Devices, cgroup mount, hostname, --no-pivot.
// ---------------------------------------------------------------------------------------------

#[test]
fn default_devices_and_dev_symlinks() {
    let rt = Runtime::new("rootfs-devices");
    let id = unique_id("devices");
    let b = sh_bundle(
        &id,
        "stat -c '%n %F %t:%T %a %u:%g' /dev/null /dev/zero /dev/full /dev/random \
         /dev/urandom /dev/tty; \
         for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done; \
         echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c",
    );
    let out = rt.run_ok(&b, &id);
    let expected = "/dev/null character special file 1:3 666 0:0\n\
                    /dev/zero character special file 1:5 666 0:0\n\
                    /dev/full character special file 1:7 666 0:0\n\
                    /dev/random character special file 1:8 666 0:0\n\
                    /dev/urandom character special file 1:9 666 0:0\n\
                    /dev/tty character special file 5:0 666 0:0\n\
                    fd=/proc/self/fd\n\
                    stdin=/proc/self/fd/0\n\
                    stdout=/proc/self/fd/1\n\
                    stderr=/proc/self/fd/2\n\
                    ptmx=pts/ptmx\n\
                    null-ok\n\
                    4\n";
    assert_eq!(out, expected);
    assert_clean(&rt, &id);
}

#[test]
fn configured_device_has_its_mode_and_owner() {
    let rt = Runtime::new("rootfs-confdev");
    let id = unique_id("confdev");
    let mut b = sh_bundle(
        &id,
        "stat -c '%F %t:%T %a %u:%g' /dev/fuse /dev/sub/mynull; echo x > /dev/sub/mynull; \
         echo write=$?",
    );
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
             "fileMode": 0o600, "uid": 1000, "gid": 1000},
            {"path": "/dev/sub/mynull", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o640, "uid": 0, "gid": 5}
        ]);
    });
    let out = rt.run_ok(&b, &id);
    assert_eq!(
        out,
        "character special file a:e5 600 1000:1000\n\
         character special file 1:3 640 0:5\n\
         write=0\n"
    );
    assert_clean(&rt, &id);
}

#[test]
fn cgroup_mount_shows_the_containers_own_cgroup() {
    let rt = Runtime::new("rootfs-cgmount");
    let id = unique_id("cgmount");
    // v1: the memory hierarchy's directory; v2: the one directory, with memory.max.
    let (dir, limit) = if common::host::cgroup_v2() {
        ("/sys/fs/cgroup", "memory.max")
    } else {
        ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
    };
    let mut b = sh_bundle(
        &id,
        &format!(
            "cat {dir}/{limit}; grep -c . {dir}/cgroup.procs; \
             if echo 1 > {dir}/{limit}; then echo write=ok; else echo write=refused; fi"
        ),
    );
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024}));
    let out = rt.run_ok(&b, &id);
    // The host's root memory cgroup is unlimited: this is the container's own directory.
    // Only the shell and grep are in it, and the mount is read-only.
    assert_eq!(out, "67108864\n2\nwrite=refused\n");
    assert_clean(&rt, &id);
}

#[test]
fn hostname_and_domainname() {
    let rt = Runtime::new("rootfs-hostname");
    let id = unique_id("hostname");
    let mut b = sh_bundle(&id, "hostname; cat /proc/sys/kernel/domainname");
    b.edit(|c| {
        c["hostname"] = json!("box-under-test");
        c["domainname"] = json!("example.test");
    });
    let out = rt.run_ok(&b, &id);
    assert_eq!(out, "box-under-test\nexample.test\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_ne!(host.trim(), "box-under-test");
    assert_clean(&rt, &id);
}

#[test]
fn no_pivot_runs_in_the_rootfs() {
    let rt = Runtime::new("rootfs-nopivot");
    let id = unique_id("nopivot");
    let b = sh_bundle(
        &id,
        "echo $$; cat /marker; awk '$5 == \"/\" { print $4 }' /proc/self/mountinfo; ls /",
    );
    std::fs::write(b.rootfs().join("marker"), "in-the-rootfs\n").expect("marker");
    let out = rt
        .cmd()
        .args(["run", "--no-pivot", "-b"])
        .arg(&b.dir)
        .arg(&id)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1"));
    assert_eq!(lines.next(), Some("in-the-rootfs"));
    // The mount at / (as the container sees it) is the bundle's rootfs.
    let root = lines.next().expect("root mount");
    assert!(root.ends_with(&format!("/{id}/rootfs")), "{text}");
    let listing: Vec<&str> = lines.collect();
    assert!(
        listing.contains(&"marker") && listing.contains(&"bin"),
        "{text}"
    );
    // Host directories that the busybox rootfs lacks must not be visible.
    assert!(
        !listing.contains(&"usr") && !listing.contains(&"home"),
        "{text}"
    );
    assert_clean(&rt, &id);
}

// ---------------------------------------------------------------------------------------------
// Security regressions.
// ---------------------------------------------------------------------------------------------

/// A mount destination through a symlink in the image that points outside the rootfs
/// (absolute, and `../..` relative) must resolve inside the rootfs: nothing is created or
/// mounted on the host path (CVE-2021-30465 and kin).
#[test]
fn symlinked_mount_destination_stays_in_rootfs() {
    let rt = Runtime::new("rootfs-symlink-dest");
    let target = HostDir::new("symtarget");
    let host_path = target.path.clone();
    let rel_host = host_path.strip_prefix("/").expect("absolute").to_path_buf();

    for (name, link) in [
        ("abs", host_path.clone()),
        (
            "rel",
            PathBuf::from("../../../../../../../../../..").join(&rel_host),
        ),
    ] {
        let id = unique_id(&format!("symdest-{name}"));
        // Inside, the mount shows at the link's target resolved in the container's root.
        let script = format!(
            "grep ' {}/sub ' /proc/self/mountinfo | grep -c tmpfs; \
             stat -f -c %T /evil/sub; touch /evil/sub/inside && echo wrote",
            host_path.display()
        );
        let mut b = sh_bundle(&id, &script);
        let r = b.rootfs();
        std::os::unix::fs::symlink(&link, r.join("evil")).expect("symlink");
        // The link's target, resolved inside the rootfs, exists there.
        std::fs::create_dir_all(r.join(&rel_host)).expect("in-rootfs target");
        add_mount(
            &mut b,
            json!({"destination": "/evil/sub", "type": "tmpfs", "source": "evil",
                   "options": ["size=1m"]}),
        );
        let out = rt.run_ok(&b, &id);
        assert_eq!(out, "1\ntmpfs\nwrote\n", "{name}");
        // The mount point was created inside the rootfs, not on the host.
        assert!(r.join(&rel_host).join("sub").is_dir(), "{name}");
        assert!(
            dir_entries(&host_path).is_empty(),
            "{name}: host dir changed: {:?}",
            dir_entries(&host_path)
        );
        assert!(
            !host_mounts()
                .iter()
                .any(|m| Path::new(&m.mount_point).starts_with(&host_path)),
            "{name}: something is mounted on the host path"
        );
        assert_clean(&rt, &id);
    }

    // Dangling variant: the target does not exist inside the rootfs either. hako may create
    // it inside the rootfs or refuse; either way the host path is never created.
    let gone = std::env::temp_dir()
        .join("hako-tests-host")
        .join(unique_id("symgone"));
    let id = unique_id("symdest-dangling");
    let mut b = sh_bundle(&id, "stat -f -c %T /evil/sub");
    std::os::unix::fs::symlink(&gone, b.rootfs().join("evil")).expect("symlink");
    add_mount(
        &mut b,
        json!({"destination": "/evil/sub", "type": "tmpfs", "source": "evil"}),
    );
    let (code, out, err) = rt.run(&b, &id);
    if code == 0 {
        assert_eq!(out, "tmpfs\n");
        let inside = b
            .rootfs()
            .join(gone.strip_prefix("/").expect("abs"))
            .join("sub");
        assert!(inside.is_dir(), "created inside the rootfs");
    } else {
        assert!(err.contains("evil"), "error names the destination: {err}");
    }
    assert!(!gone.exists(), "the host path was created");
    assert_clean(&rt, &id);
}

/// An image whose /proc, /sys or /dev is a symlink (or not a directory) would get proc,
/// sysfs or the /dev tmpfs mounted over whatever the link points at (e.g. proc over /etc):
/// refused with a message naming the destination, nothing left behind, host untouched.
#[test]
fn rootfs_with_symlinked_proc_sys_or_dev_is_refused() {
    let rt = Runtime::new("rootfs-symlinked-kernelfs");
    let host = HostDir::new("kfs-target");
    let cases: [(&str, &str, Option<PathBuf>); 4] = [
        ("proc", "proc", Some(PathBuf::from("/etc"))),
        (
            "sys",
            "sysfs",
            Some(
                PathBuf::from("../../../../..")
                    .join(host.path.strip_prefix("/").expect("absolute")),
            ),
        ),
        ("dev", "tmpfs", Some(host.path.clone())),
        ("dev", "is not a directory", None),
    ];
    for (dir, what, link) in cases {
        let id = unique_id(&format!("kfs-{dir}"));
        let b = sh_bundle(&id, "echo ran");
        let p = b.rootfs().join(dir);
        std::fs::remove_dir_all(&p).expect("rm");
        match &link {
            Some(l) => std::os::unix::fs::symlink(l, &p).expect("symlink"),
            None => std::fs::write(&p, b"").expect("file"),
        }
        let (code, out, err) = rt.run(&b, &id);
        assert_ne!(code, 0, "{dir}: ran: {out}");
        assert!(
            err.contains(&format!("mount destination /{dir}")) && err.contains(what),
            "{dir}: {err}"
        );
        assert!(dir_entries(&host.path).is_empty(), "host dir changed");
        assert_clean(&rt, &id);
    }
}

/// Swaps two paths with RENAME_EXCHANGE in a loop on a thread, until stopped.
struct Swapper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Swapper {
    fn start(a: &Path, z: &Path) -> Swapper {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("c");
        let (a, z, flag) = (c(a), c(z), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !flag.load(Ordering::Relaxed) {
                // SAFETY: two valid C strings; renameat2 only reads them.
                unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        z.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                swaps += 1;
            }
            swaps
        });
        Swapper { stop, thread }
    }

    /// Stops the loop; how many swaps it made.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("swapper")
    }
}

/// A mount destination swapped between a directory and a symlink to a host directory
/// while containers start (CVE-2021-30465's race): every mount lands inside the rootfs.
#[test]
fn mount_destination_swapped_during_setup_stays_in_rootfs() {
    let rt = Runtime::new("rootfs-swap-race");
    let host = HostDir::new("swap-target");
    let id0 = unique_id("swap");
    let mut b = sh_bundle(&id0, "stat -f -c %T /race/sub");
    add_mount(
        &mut b,
        json!({"destination": "/race/sub", "type": "tmpfs", "source": "race"}),
    );
    let r = b.rootfs();
    std::fs::create_dir_all(r.join("race/sub")).expect("dir");
    std::fs::create_dir_all(
        r.join(host.path.strip_prefix("/").expect("abs"))
            .join("sub"),
    )
    .expect("in-rootfs twin of the host path");
    std::os::unix::fs::symlink(&host.path, r.join("race-link")).expect("symlink");
    let swapper = Swapper::start(&r.join("race"), &r.join("race-link"));
    let mut ran = 0;
    for i in 0..40 {
        let id = format!("{id0}-{i}");
        // The swap goes on while the container runs, so what `stat` sees inside varies;
        // what matters is where the mount landed, checked from the host.
        let (code, _out, _err) = rt.run(&b, &id);
        if code == 0 {
            ran += 1;
        }
        assert!(
            !host_mounts()
                .iter()
                .any(|m| Path::new(&m.mount_point).starts_with(&host.path)),
            "a mount landed on the host path"
        );
        assert!(dir_entries(&host.path).is_empty(), "host dir changed");
        assert_clean(&rt, &id);
    }
    let swaps = swapper.stop();
    assert!(swaps > 40, "the race was not exercised ({swaps} swaps)");
    assert!(ran > 0, "no container ran at all");
}

/// tmpcopyup copies the image's tree by fd: a directory in it swapped with a symlink to a host
/// directory while containers start (two containers sharing a rootfs, CVE-2021-30465's
/// setting) never gets the host directory's files copied into a container.
#[test]
fn tmpcopyup_source_swapped_during_setup_never_copies_host_files() {
    let rt = Runtime::new("rootfs-copyup-race");
    let host = HostDir::new("copyup-secret");
    std::fs::write(host.join("secret"), "host secret\n").expect("secret");
    let id0 = unique_id("copyup-race");
    let mut b = sh_bundle(&id0, "cat /data/sub/* 2>/dev/null; true");
    add_mount(
        &mut b,
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
               "options": ["tmpcopyup"]}),
    );
    let r = b.rootfs();
    std::fs::create_dir_all(r.join("data/sub")).expect("dir");
    std::fs::write(r.join("data/sub/image"), "image file\n").expect("file");
    std::os::unix::fs::symlink(&host.path, r.join("data/sub-link")).expect("symlink");
    let swapper = Swapper::start(&r.join("data/sub"), &r.join("data/sub-link"));
    let mut copied = 0;
    for i in 0..60 {
        let id = format!("{id0}-{i}");
        let (code, out, _err) = rt.run(&b, &id);
        if code == 0 && out.contains("image file") {
            copied += 1;
        }
        assert!(
            !out.contains("host secret"),
            "a host file was copied in: {out}"
        );
        assert_clean(&rt, &id);
    }
    let swaps = swapper.stop();
    assert!(swaps > 60, "the race was not exercised ({swaps} swaps)");
    assert!(copied > 0, "no copy ever succeeded");
}

/// CVE-2025-31133: a /dev/null in the image that is a regular file or a symlink to a host
/// file must never be used to mask paths.
#[test]
fn fake_dev_null_is_never_used_for_masking() {
    let rt = Runtime::new("rootfs-fakenull");
    let host = HostDir::new("fakenull");
    let host_file = host.join("precious");
    std::fs::write(&host_file, "host-data\n").expect("write");

    // With the default /dev tmpfs the image's /dev/null is hidden: hako makes the real one.
    let id = unique_id("fakenull-tmpfs");
    let mut b = sh_bundle(
        &id,
        "echo masked:$(cat /etc/secret); stat -c '%F %t:%T' /dev/null",
    );
    std::fs::write(b.rootfs().join("dev/null"), "not-null\n").expect("fake");
    std::fs::write(b.rootfs().join("etc/secret"), "s3cret\n").expect("write");
    b.edit(|c| {
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .expect("maskedPaths")
            .push(json!("/etc/secret"))
    });
    let out = rt.run_ok(&b, &id);
    assert_eq!(out, "masked:\ncharacter special file 1:3\n");
    assert_clean(&rt, &id);

    // Without a /dev mount the image's own /dev/null is what the container gets: a regular
    // file, then a symlink to a host file. hako refuses to mask with either.
    for kind in ["file", "symlink"] {
        let id = unique_id(&format!("fakenull-{kind}"));
        let mut b = sh_bundle(&id, "echo RAN; cat /etc/secret");
        let r = b.rootfs();
        std::fs::write(r.join("etc/secret"), "s3cret\n").expect("write");
        if kind == "file" {
            std::fs::write(r.join("dev/null"), "not-null\n").expect("fake");
        } else {
            std::os::unix::fs::symlink(&host_file, r.join("dev/null")).expect("symlink");
        }
        b.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .expect("mounts")
                .retain(|m| m["destination"] != "/dev");
            c["linux"]["maskedPaths"]
                .as_array_mut()
                .expect("maskedPaths")
                .push(json!("/etc/secret"));
        });
        let (code, out, err) = rt.run(&b, &id);
        assert_ne!(code, 0, "{kind}: ran with a fake /dev/null: {out}");
        assert!(!out.contains("RAN"), "{kind}: {out}");
        assert!(err.contains("/dev/null"), "{kind}: {err}");
        assert!(err.contains("not the real /dev/null"), "{kind}: {err}");
        assert_eq!(
            std::fs::read_to_string(&host_file).expect("read"),
            "host-data\n"
        );
        if kind == "file" {
            assert_eq!(
                std::fs::read_to_string(r.join("dev/null")).expect("read"),
                "not-null\n"
            );
        }
        assert!(
            !host_mounts()
                .iter()
                .any(|m| Path::new(&m.mount_point) == host_file),
            "{kind}: host file mounted over"
        );
        assert_clean(&rt, &id);
    }
}

/// CVE-2025-52565: with process.terminal, the pty comes from the container's devpts. An
/// image without a devpts mount that plants /dev/pts/ptmx as a regular file, or as a symlink
/// to another character device, gets a clear refusal: nothing else becomes its console.
#[test]
fn planted_ptmx_is_refused_as_a_terminal() {
    let rt = Runtime::new("rootfs-fakeptmx");
    for kind in ["file", "symlink"] {
        let id = unique_id(&format!("fakeptmx-{kind}"));
        let mut b = sh_bundle(&id, "echo RAN");
        let pts = b.rootfs().join("dev/pts");
        std::fs::create_dir_all(&pts).expect("mkdir");
        if kind == "file" {
            std::fs::write(pts.join("ptmx"), "not-a-pty\n").expect("fake");
        } else {
            std::os::unix::fs::symlink("/dev/null", pts.join("ptmx")).expect("symlink");
        }
        b.edit(|c| {
            c["process"]["terminal"] = json!(true);
            c["root"]["readonly"] = json!(false);
            c["mounts"]
                .as_array_mut()
                .expect("mounts")
                .retain(|m| m["destination"] != "/dev" && m["destination"] != "/dev/pts");
        });
        let (code, out, err) = rt.run(&b, &id);
        assert_ne!(code, 0, "{kind}: ran with a fake ptmx: {out}");
        assert!(!out.contains("RAN"), "{kind}: {out}");
        assert!(
            err.contains("/dev/pts/ptmx is not a pty on a devpts filesystem"),
            "{kind}: {err}"
        );
        if kind == "file" {
            assert_eq!(
                std::fs::read_to_string(pts.join("ptmx")).expect("read"),
                "not-a-pty\n"
            );
        }
        assert_clean(&rt, &id);
    }
}

/// CVE-2024-21626: process.cwd through /proc/self/fd/N (a runtime fd leaked into the init)
/// must be refused, whatever N is.
#[test]
fn cwd_through_proc_self_fd_is_refused() {
    let rt = Runtime::new("rootfs-cwdfd");
    for fd in 3..=9 {
        let id = unique_id(&format!("cwdfd{fd}"));
        let mut b = sh_bundle(&id, "echo RAN; pwd");
        b.edit(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}")));
        let (code, out, err) = rt.run(&b, &id);
        assert_ne!(code, 0, "fd {fd}: ran in {out}");
        assert!(!out.contains("RAN"), "fd {fd}: {out}");
        assert!(
            err.contains("cwd") || err.contains("chdir") || err.contains("working directory"),
            "fd {fd}: {err}"
        );
        assert_clean(&rt, &id);
    }

    // A host directory handed in on purpose as a preserved fd is still outside the root.
    let host = HostDir::new("cwdfd-host");
    let id = unique_id("cwdfd-preserved");
    let mut b = sh_bundle(&id, "echo RAN; pwd; ls");
    b.edit(|c| c["process"]["cwd"] = json!("/proc/self/fd/3"));
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<"$1"; exec "$2" --root "$3" run --preserve-fds 1 -b "$4" "$5""#)
        .arg("sh")
        .arg(&host.path)
        .arg(HAKO)
        .arg(&rt.root)
        .arg(&b.dir)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    assert!(!out.status.success(), "ran: {}", stdout(&out));
    assert!(!stdout(&out).contains("RAN"));
    let err = stderr(&out);
    assert!(
        err.contains("cwd") || err.contains("chdir") || err.contains("working directory"),
        "{err}"
    );
    assert_clean(&rt, &id);
}

/// No runtime fd reaches the container; --preserve-fds passes exactly the fds asked for.
#[test]
fn no_fd_leaks_and_preserve_fds() {
    let rt = Runtime::new("rootfs-fds");
    let id = unique_id("fds");
    // ls is pid 1 here; it opens /proc/self/fd itself as the lowest free fd, which is 3
    // when only stdio is open.
    let b = Bundle::new(&id, &["ls", "/proc/self/fd"]);
    let out = rt.run_ok(&b, &id);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"]
    );
    assert_clean(&rt, &id);

    // The same through create/start: nothing of `create` lingers in the init either.
    let id = unique_id("fds-created");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&b, &id).status.success());
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let fds = dir_entries(Path::new(&format!("/proc/{pid}/fd")));
    // While waiting for `start` the init holds stdio, its sync socket and the exec
    // listener, and nothing else of the runtime's (state dir locks, pidfds, …).
    for f in &fds {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{f}")).unwrap_or_default();
        let t = target.to_string_lossy();
        assert!(
            f.parse::<u32>().expect("fd") <= 2 || t.starts_with("socket:"),
            "init of a created container holds fd {f} -> {t}"
        );
    }
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);

    // --preserve-fds 1: the container gets fd 3 and can read it.
    let host = HostDir::new("preserve");
    let f = host.join("passed");
    std::fs::write(&f, "through-fd-3\n").expect("write");
    let id = unique_id("preserve");
    let b = Bundle::new(
        &id,
        &["sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"],
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<"$1"; exec "$2" --root "$3" run --preserve-fds 1 -b "$4" "$5""#)
        .arg("sh")
        .arg(&f)
        .arg(HAKO)
        .arg(&rt.root)
        .arg(&b.dir)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}", stderr(&out));
    // cat reads the preserved file; ls (a child of sh) sees 0-3 plus its own directory fd 4.
    assert_eq!(stdout(&out), "through-fd-3\n0 1 2 3 4 ");
    assert_clean(&rt, &id);

    // Without --preserve-fds the same fd is closed before the container runs.
    let id = unique_id("nopreserve");
    let b = Bundle::new(&id, &["ls", "/proc/self/fd"]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<"$1"; exec "$2" --root "$3" run -b "$4" "$5""#)
        .arg("sh")
        .arg(&f)
        .arg(HAKO)
        .arg(&rt.root)
        .arg(&b.dir)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"]
    );
    assert_clean(&rt, &id);

    // --preserve-fds 2 with only fd 3 open: fd 4 would be filled by one of hako's own fds
    // (the log file here, opened first) and reach the container, so it is refused up front.
    let id = unique_id("preserve-hole");
    let b = Bundle::new(&id, &["ls", "/proc/self/fd"]);
    let log = host.join("hole.log");
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<"$1"; exec "$2" --root "$3" --log "$6" run --preserve-fds 2 -b "$4" "$5""#)
        .arg("sh")
        .arg(&f)
        .arg(HAKO)
        .arg(&rt.root)
        .arg(&b.dir)
        .arg(&id)
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("fd 4 is not open: LISTEN_FDS=0 and --preserve-fds=2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "", "the container never ran");
    assert_clean(&rt, &id);
}

#[test]
fn no_new_privileges_is_visible_in_status() {
    let rt = Runtime::new("rootfs-nnp");
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let id = unique_id("nnp");
        let mut b = sh_bundle(&id, "grep NoNewPrivs /proc/1/status");
        b.edit(|c| c["process"]["noNewPrivileges"] = json!(nnp));
        let out = rt.run_ok(&b, &id);
        assert_eq!(
            out,
            format!("NoNewPrivs:\t{want}\n"),
            "noNewPrivileges {nnp}"
        );
        assert_clean(&rt, &id);
    }
}

#[test]
fn tmpcopyup_starts_the_tmpfs_with_the_images_content() {
    // Podman's --read-only (tmpfs on /run, /tmp, …) and --tmpfs ask for runc's tmpcopyup.
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new("rootfs-tmpcopyup");
    let id = unique_id("tmpcopyup");
    let mut b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "cat /data/f /data/sub/g; readlink /data/link; stat -c '%a %u' /data/f /data/sub; \
             grep -c ' /data tmpfs' /proc/self/mounts; echo new > /data/f",
        ],
    );
    let data = b.rootfs().join("data");
    std::fs::create_dir_all(data.join("sub")).expect("mkdir");
    std::fs::write(data.join("f"), "image f\n").expect("f");
    std::fs::write(data.join("sub/g"), "image g\n").expect("g");
    std::fs::set_permissions(data.join("f"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    std::fs::set_permissions(data.join("sub"), std::fs::Permissions::from_mode(0o711))
        .expect("chmod");
    std::os::unix::fs::lchown(data.join("sub"), Some(65534), Some(65534)).expect("chown");
    std::os::unix::fs::symlink("../etc/passwd", data.join("link")).expect("symlink");
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/data", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "tmpcopyup", "mode=755"]}));
    });
    let out = rt.run_ok(&b, &id);
    assert_eq!(
        out, "image f\nimage g\n../etc/passwd\n640 0\n711 65534\n1\n",
        "the tmpfs did not start with the image's content"
    );
    // Writes went to the tmpfs, not to the image.
    assert_eq!(
        std::fs::read_to_string(data.join("f")).expect("f"),
        "image f\n"
    );
    assert_clean(&rt, &id);
}
