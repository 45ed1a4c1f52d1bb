//! hako-bundle: images built locally (umoci, skopeo, and layers crafted here), unpacked and
//! compared with `umoci unpack` as the oracle, then run under hako; hostile layers and bad
//! inputs must fail cleanly and leave nothing behind.

mod bundle_support;
mod common;

use bundle_support::*;
use common::{Runtime, unique_id};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir()
            .join("hako-bundle-tests")
            .join(unique_id(name));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch");
        Scratch(d)
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
    fn s(&self, rel: &str) -> String {
        self.p(rel).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn config(bundle: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(bundle.join("config.json")).expect("config.json"))
        .expect("json")
}

/// Runs a bundle made by hako-bundle under hako with the test rig's cgroup placement.
fn run_under_hako(bundle: &Path, name: &str) -> (i32, String, String) {
    let id = unique_id(name);
    let mut c = config(bundle);
    c["linux"]["cgroupsPath"] = json!(format!("{}/{id}", common::CGROUP_PREFIX));
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&c).expect("json"),
    )
    .expect("write config");
    let rt = Runtime::new(name);
    let out = rt
        .cmd()
        .args(["run", "-b"])
        .arg(bundle)
        .arg(&id)
        .output()
        .expect("hako run");
    let r = (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    drop(rt);
    r
}

/// A busybox image made with umoci (init/new/insert/config) at `s/img:t`.
fn umoci_busybox(s: &Scratch) -> String {
    need("umoci");
    let rfs = s.p("rfs");
    common::make_rootfs(&rfs);
    std::fs::write(
        rfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:web:/var/www:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(
        rfs.join("etc/group"),
        "root:x:0:\nweb:x:33:\nstaff:x:50:web\nnogroup:x:65534:\n",
    )
    .expect("group");
    std::fs::create_dir_all(rfs.join("var/www")).expect("www");
    std::fs::write(rfs.join("var/www/index.html"), "hello\n").expect("index");
    let img = s.s("img");
    ok(Command::new("umoci").args(["init", "--layout", &img]));
    let it = format!("{img}:t");
    ok(Command::new("umoci").args(["new", "--image", &it]));
    ok(Command::new("umoci").args(["insert", "--image", &it, &rfs.display().to_string(), "/"]));
    // A second layer on top: a whiteout and a new file.
    let extra = s.p("extra");
    std::fs::create_dir_all(&extra).expect("extra");
    std::fs::write(extra.join("motd"), "layer two\n").expect("motd");
    ok(Command::new("umoci").args([
        "insert",
        "--image",
        &it,
        &extra.display().to_string(),
        "/etc/extra",
    ]));
    ok(Command::new("umoci").args([
        "insert",
        "--image",
        &it,
        "--whiteout",
        "/var/www/index.html",
    ]));
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &it,
        "--config.entrypoint",
        "sh",
        "--config.cmd",
        "-c",
        "--config.cmd",
        "echo hi from $GREETING; id; pwd; cat /etc/extra/motd",
        "--config.env",
        "GREETING=image",
        "--config.workingdir",
        "/var/www",
        "--config.user",
        "web",
        "--config.label",
        "org.opencontainers.image.os=label-wins",
        "--config.label",
        "com.example.x=1",
        "--config.exposedports",
        "80/tcp",
        "--config.stopsignal",
        "SIGQUIT",
        "--config.volume",
        "/data",
    ]));
    img
}

#[test]
fn umoci_image_matches_umoci_unpack_and_runs_under_hako() {
    let s = Scratch::new("umoci");
    let img = umoci_busybox(&s);
    let ours = s.p("ours");
    let o = hb(&["--ref", "t", &img, &ours.display().to_string()]);
    assert!(o.status.success(), "hako-bundle failed: {}", stderr(&o));
    let theirs = s.p("theirs");
    ok(Command::new("umoci").args([
        "unpack",
        "--image",
        &format!("{img}:t"),
        &theirs.display().to_string(),
    ]));
    assert_same_tree(
        &tree(&ours.join("rootfs")),
        &tree(&theirs.join("rootfs")),
        "umoci oracle",
    );
    assert!(
        !ours.join("rootfs/var/www/index.html").exists(),
        "whiteout not applied"
    );

    let c = config(&ours);
    let p = &c["process"];
    assert_eq!(
        p["args"],
        json!([
            "sh",
            "-c",
            "echo hi from $GREETING; id; pwd; cat /etc/extra/motd"
        ])
    );
    assert_eq!(p["cwd"], "/var/www");
    assert_eq!(
        p["user"],
        json!({"uid": 33, "gid": 33, "additionalGids": [50]})
    );
    assert_eq!(p["terminal"], false);
    let env: Vec<String> = serde_json::from_value(p["env"].clone()).expect("env");
    assert!(env.contains(&"GREETING=image".to_string()), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    let a = &c["annotations"];
    assert_eq!(a["org.opencontainers.image.os"], "label-wins");
    assert_eq!(a["org.opencontainers.image.architecture"], "amd64");
    assert_eq!(a["org.opencontainers.image.stopSignal"], "SIGQUIT");
    assert_eq!(a["org.opencontainers.image.exposedPorts"], "80/tcp");
    assert_eq!(a["com.example.x"], "1");
    assert_eq!(c["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(c["root"], json!({"path": "rootfs", "readonly": true}));
    // Volumes only with --volumes.
    assert!(
        !c["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(|m| m["destination"] == "/data")
    );

    let (code, out, err) = run_under_hako(&ours, "hb-umoci");
    assert_eq!(code, 0, "run failed: {out} {err}");
    assert!(out.contains("hi from image"), "{out}");
    assert!(
        out.contains("uid=33(web) gid=33(web) groups=50(staff)"),
        "{out}"
    );
    assert!(out.contains("/var/www"), "{out}");
    assert!(out.contains("layer two"), "{out}");
    no_leftovers(&s.0, "ours");
}

#[test]
fn skopeo_archives_and_args_override() {
    need("skopeo");
    let s = Scratch::new("skopeo");
    let img = umoci_busybox(&s);
    let da = s.s("image-docker.tar");
    let oa = s.s("image-oci.tar");
    ok(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("oci:{img}:t"),
        &format!("docker-archive:{da}:example/bb:v1"),
    ]));
    ok(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("oci:{img}:t"),
        &format!("oci-archive:{oa}:t"),
    ]));

    let base = s.p("base");
    let o = hb(&["--ref", "t", &img, &base.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = tree(&base.join("rootfs"));

    // docker-archive, detected by content, chosen by RepoTag; args after `--` replace Cmd.
    let d = s.p("from-docker");
    let o = hb(&[
        "--ref",
        "example/bb:v1",
        &da,
        &d.display().to_string(),
        "--",
        "-c",
        "echo override",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_tree(&want, &tree(&d.join("rootfs")), "docker-archive");
    assert_eq!(
        config(&d)["process"]["args"],
        json!(["sh", "-c", "echo override"])
    );

    // oci-archive with the prefix skopeo uses, and without --ref (one image).
    let d2 = s.p("from-oci-archive");
    let o = hb(&[
        &format!("oci-archive:{oa}"),
        &d2.display().to_string(),
        "--tty",
        "--volumes",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_tree(&want, &tree(&d2.join("rootfs")), "oci-archive");
    let c = config(&d2);
    assert_eq!(c["process"]["terminal"], true);
    let vol = c["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["destination"] == "/data")
        .expect("volume mount")
        .clone();
    assert_eq!(vol["type"], "bind");
    assert!(Path::new(vol["source"].as_str().expect("source")).is_dir());

    let (code, out, err) = run_under_hako(&d, "hb-docker");
    assert_eq!(code, 0, "run failed: {out} {err}");
    assert_eq!(out.trim(), "override");
}

fn layer_one() -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("etc", 0o755)
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        .dir("gone", 0o755)
        .file("gone/a", 0o644, b"a")
        .file("wh-me", 0o644, b"delete me")
        .dir_owned("opq", 0o750, 1000, 1000)
        .file("opq/lower", 0o644, b"lower")
        .dir("opq/sub", 0o755)
        .file("opq/sub/deep", 0o644, b"deep")
        .file("to-dir", 0o644, b"becomes a dir")
        .dir("to-file", 0o755)
        .file("to-file/x", 0o644, b"x")
        .file("suid", 0o4755, b"#!/bin/sh\n")
        .file("sgid", 0o2750, b"g")
        .dir("sticky", 0o1777)
        .file_x(
            E {
                name: "owned",
                mode: 0o640,
                uid: 1234,
                gid: 5678,
                xattrs: &[("user.hako", b"value"), ("trusted.hako", b"t")],
            },
            b"owned content",
        )
        .hardlink("owned-link", "owned")
        .symlink("rel-link", "etc/passwd")
        .symlink("abs-link", "/etc/passwd")
        .device("null", false, 1, 3, 0o666)
        .device("loop9", true, 7, 9, 0o660)
        .fifo("pipe", 0o600)
        .dir("merge", 0o700)
        .file("merge/lower", 0o644, b"kept");
    t.finish()
}

fn layer_two() -> Vec<u8> {
    let mut t = Tar::new();
    t.file(".wh.wh-me", 0, b"")
        .file(".wh.gone", 0, b"")
        .file("opq/upper", 0o644, b"upper")
        .file("opq/.wh..wh..opq", 0, b"")
        .dir("to-dir", 0o711)
        .file("to-dir/inside", 0o600, b"in")
        .file("to-file", 0o444, b"now a file")
        .dir("merge", 0o755)
        .file("merge/upper", 0o644, b"added")
        .hardlink("link-to-lower", "etc/passwd");
    t.finish()
}

#[test]
fn crafted_layers_match_umoci_with_whiteouts_links_devices_xattrs() {
    need("umoci");
    let s = Scratch::new("crafted");
    for (name, c2) in [("gzip", Compression::Gzip), ("plain", Compression::None)] {
        let mut lay = Layout::new(&s.p(&format!("img-{name}")));
        let m = lay.image(
            &[(layer_one(), Compression::Gzip), (layer_two(), c2)],
            json!({"config": {"Cmd": ["/bin/true"]}}),
        );
        lay.add(m, Some("t"));
        let ours = s.p(&format!("ours-{name}"));
        let o = hb(&[&lay.dir.display().to_string(), &ours.display().to_string()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let theirs = s.p(&format!("theirs-{name}"));
        ok(Command::new("umoci").args([
            "unpack",
            "--image",
            &format!("{}:t", lay.dir.display()),
            &theirs.display().to_string(),
        ]));
        let t = tree(&ours.join("rootfs"));
        assert_same_tree(&t, &tree(&theirs.join("rootfs")), "umoci oracle");

        let get = |k: &str| {
            t.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("{k} missing: {t:#?}"))
        };
        assert!(
            !t.contains_key("/wh-me") && !t.contains_key("/gone") && !t.contains_key("/gone/a")
        );
        assert!(
            !t.keys().any(|k| k.contains(".wh.")),
            "whiteout files leaked: {t:#?}"
        );
        assert!(
            !t.contains_key("/opq/lower") && !t.contains_key("/opq/sub"),
            "opaque dir: {t:#?}"
        );
        assert!(get("/opq/upper").starts_with("file"));
        assert!(get("/to-dir").starts_with("dir") && get("/to-dir").contains("mode=711"));
        assert!(get("/to-file").starts_with("file") && get("/to-file").contains("mode=444"));
        assert!(get("/merge/lower").starts_with("file") && get("/merge/upper").starts_with("file"));
        assert!(get("/merge").contains("mode=755"));
        assert!(get("/suid").contains("mode=4755"), "{}", get("/suid"));
        assert!(get("/sgid").contains("mode=2750"));
        assert!(get("/sticky").contains("mode=1777"));
        assert!(get("/owned").contains("owner=1234:5678") && get("/owned").contains("mode=640"));
        assert_eq!(get("/rel-link"), "symlink -> etc/passwd mode=0 owner=0:0");
        assert_eq!(get("/abs-link"), "symlink -> /etc/passwd mode=0 owner=0:0");
        assert!(get("/null").starts_with("char 1:3"));
        assert!(get("/loop9").starts_with("block 7:9"));
        assert!(get("/pipe").starts_with("fifo"));
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &str| {
            std::fs::symlink_metadata(ours.join("rootfs").join(p))
                .expect("lstat")
                .ino()
        };
        assert_eq!(ino("owned"), ino("owned-link"), "hard link");
        assert_eq!(
            ino("etc/passwd"),
            ino("link-to-lower"),
            "hard link to a lower layer"
        );
        let x = xattr(&ours.join("rootfs/owned"), "user.hako");
        assert_eq!(x.as_deref(), Some(&b"value"[..]));
        assert_eq!(
            xattr(&ours.join("rootfs/owned"), "trusted.hako").as_deref(),
            Some(&b"t"[..])
        );
    }
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let cp = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("path");
    let cn = std::ffi::CString::new(name).expect("name");
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated strings; buf is writable for its length.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[test]
fn zstd_layers_give_the_same_tree_as_gzip() {
    let s = Scratch::new("zstd");
    let mut trees = Vec::new();
    for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let mut lay = Layout::new(&s.p(&format!("img-{c:?}")));
        let m = lay.image(
            &[(layer_one(), c), (layer_two(), c)],
            json!({"config": {"Cmd": ["x"]}}),
        );
        lay.add(m, None);
        let out = s.p(&format!("b-{c:?}"));
        let o = hb(&[&lay.dir.display().to_string(), &out.display().to_string()]);
        assert!(o.status.success(), "{c:?}: {}", stderr(&o));
        trees.push(tree(&out.join("rootfs")));
    }
    assert_same_tree(&trees[0], &trees[1], "gzip vs zstd");
    assert_same_tree(&trees[0], &trees[2], "gzip vs plain");
}

/// An image of hostile layers must unpack entirely inside the rootfs.
#[test]
fn hostile_paths_and_symlink_tricks_stay_inside_the_rootfs() {
    let s = Scratch::new("hostile");
    let outside = s.p("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("victim"), "original").expect("victim");
    std::fs::write(outside.join("target-file"), "host file").expect("target");
    let out_s = outside.display().to_string();
    let depth = "../".repeat(12);

    let mut l1 = Tar::new();
    l1.file(&format!("{depth}escape-dotdot"), 0o644, b"x")
        .file("/abs-name", 0o644, b"x")
        .symlink("planted", &out_s)
        .symlink("up", &depth)
        .symlink("overwrite-me", &format!("{out_s}/target-file"))
        .symlink("wh-dir", &out_s)
        // Same layer: a symlink and then a write through it.
        .symlink("same-layer", &out_s)
        .file("same-layer/via-same-layer", 0o644, b"x");
    let mut l2 = Tar::new();
    l2.file("planted/via-lower-symlink", 0o644, b"x")
        .file(
            &format!("up/{}/via-dotdot-symlink", out_s.trim_start_matches('/')),
            0o644,
            b"x",
        )
        .file("overwrite-me", 0o644, b"replaced the link")
        .file("wh-dir/.wh.victim", 0, b"")
        .file("sub/../../../../escape-mixed", 0o644, b"x");
    let mut lay = Layout::new(&s.p("img"));
    let m = lay.image(
        &[
            (l1.finish(), Compression::Gzip),
            (l2.finish(), Compression::Gzip),
        ],
        json!({"config": {"Cmd": ["x"]}}),
    );
    lay.add(m, None);
    let b = s.p("bundle");
    let o = hb(&[&lay.dir.display().to_string(), &b.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The host side is untouched.
    let names: Vec<String> = std::fs::read_dir(&outside)
        .expect("outside")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        vec!["target-file", "victim"],
        "something was written outside"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("victim")).expect("victim"),
        "original"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("target-file")).expect("t"),
        "host file"
    );
    assert!(!Path::new("/escape-dotdot").exists() && !Path::new("/abs-name").exists());
    assert!(!s.0.join("escape-dotdot").exists() && !s.0.join("escape-mixed").exists());

    // Everything landed inside, where in-root resolution puts it.
    let r = b.join("rootfs");
    let inside = r.join(out_s.trim_start_matches('/'));
    for p in ["escape-dotdot", "abs-name", "escape-mixed"] {
        assert!(r.join(p).is_file(), "{p} not contained at the rootfs top");
    }
    for p in ["via-lower-symlink", "via-dotdot-symlink", "via-same-layer"] {
        assert!(
            inside.join(p).is_file(),
            "{p} should be inside the rootfs at {}",
            inside.display()
        );
    }
    let ow = std::fs::symlink_metadata(r.join("overwrite-me")).expect("lstat");
    assert!(
        ow.file_type().is_file(),
        "the symlink was written through instead of replaced"
    );
}

fn assert_fails_cleanly(o: &std::process::Output, bundle: &Path, needle: &str) {
    assert!(!o.status.success(), "hako-bundle should have failed");
    let e = stderr(o);
    assert!(e.contains(needle), "error should mention {needle:?}: {e}");
    assert!(
        !bundle.exists() || std::fs::read_dir(bundle).expect("dir").next().is_none(),
        "bundle left behind"
    );
    let base = bundle
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    no_leftovers(bundle.parent().expect("parent"), &base);
}

#[test]
fn hostile_layers_that_must_fail() {
    let s = Scratch::new("hostile-fail");
    let outside = s.p("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret"), "s").expect("secret");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bare-whiteout",
            {
                let mut t = Tar::new();
                t.dir("d", 0o755).file("d/.wh.", 0, b"");
                t.finish()
            },
            "bare \".wh.\"",
        ),
        (
            "dotdot-whiteout",
            {
                let mut t = Tar::new();
                t.dir("d", 0o755).file("d/.wh...", 0, b"");
                t.finish()
            },
            "whiteout of",
        ),
        (
            "hardlink-outside",
            {
                let mut t = Tar::new();
                t.hardlink(
                    "stolen",
                    &format!("../../../../../../../../{}/secret", outside.display()),
                );
                t.finish()
            },
            "hard link target",
        ),
        (
            "hardlink-through-symlink",
            {
                let mut t = Tar::new();
                t.symlink("out", &outside.display().to_string())
                    .hardlink("stolen", "out/secret");
                t.finish()
            },
            "hard link target",
        ),
        (
            "truncated",
            {
                let mut v = {
                    let mut t = Tar::new();
                    t.file("big", 0o644, &[7u8; 4096]);
                    t.finish()
                };
                v.truncate(512 + 1000);
                v
            },
            "ends inside",
        ),
    ];
    for (name, layer, needle) in cases {
        let mut lay = Layout::new(&s.p(&format!("img-{name}")));
        let m = lay.image(
            &[(layer, Compression::Gzip)],
            json!({"config": {"Cmd": ["x"]}}),
        );
        lay.add(m, None);
        let b = s.p(&format!("bundle-{name}"));
        let o = hb(&[&lay.dir.display().to_string(), &b.display().to_string()]);
        assert_fails_cleanly(&o, &b, needle);
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).expect("secret"),
        "s"
    );
}

fn simple_layout(s: &Scratch, name: &str, config: Value) -> Layout {
    let mut lay = Layout::new(&s.p(name));
    let mut t = Tar::new();
    t.dir("etc", 0o755)
        .file(
            "etc/passwd",
            0o644,
            b"root:x:0:0::/root:/bin/sh\nweb:x:33:33::/:/bin/sh\n",
        )
        .file(
            "etc/group",
            0o644,
            b"root:x:0:\nweb:x:33:\nstaff:x:50:web\n",
        )
        .file("hello", 0o644, b"hello");
    let m = lay.image(&[(t.finish(), Compression::Gzip)], config);
    lay.add(m, Some("t"));
    lay
}

#[test]
fn bad_inputs_fail_with_clear_errors_and_leave_nothing() {
    let s = Scratch::new("bad");
    let lay = simple_layout(&s, "img", json!({"config": {"Cmd": ["x"]}}));
    let src = lay.dir.display().to_string();
    let m: Value = serde_json::from_slice(
        &std::fs::read(lay.blob_path(lay.index[0]["digest"].as_str().expect("d"))).expect("m"),
    )
    .expect("json");
    let layer_digest = m["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_string();

    // Bad ref.
    let b = s.p("b1");
    let o = hb(&["--ref", "nope", &src, &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "no image matches --ref \"nope\"");

    // Unknown platform.
    let o = hb(&["--platform", "nonsense", &src, &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "invalid platform");

    // Digest mismatch: same size, one byte changed.
    let img2 = s.p("img-corrupt");
    ok(Command::new("cp").args(["-a", &src, &img2.display().to_string()]));
    let lp = img2
        .join("blobs/sha256")
        .join(layer_digest.trim_start_matches("sha256:"));
    let mut data = std::fs::read(&lp).expect("layer");
    let last = data.len() - 5;
    data[last] ^= 0xff;
    std::fs::write(&lp, &data).expect("corrupt");
    let o = hb(&[&img2.display().to_string(), &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, &layer_digest);

    // Size mismatch (appended byte).
    data[last] ^= 0xff;
    data.push(0);
    std::fs::write(&lp, &data).expect("grow");
    let o = hb(&[&img2.display().to_string(), &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "size");

    // Missing blob.
    std::fs::remove_file(&lp).expect("rm");
    let o = hb(&[&img2.display().to_string(), &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "missing");

    // Not an image at all.
    let o = hb(&[&s.s("nothing-here"), &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "cannot open image source");

    // Unknown user.
    let lay3 = simple_layout(
        &s,
        "img-user",
        json!({"config": {"Cmd": ["x"], "User": "ghost"}}),
    );
    let o = hb(&[&lay3.dir.display().to_string(), &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "no such user");

    // No command at all.
    let lay4 = simple_layout(&s, "img-nocmd", json!({"config": {}}));
    let o = hb(&[&lay4.dir.display().to_string(), &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "neither Entrypoint nor Cmd");
}

#[test]
fn target_must_be_empty_unless_force() {
    let s = Scratch::new("target");
    let lay = simple_layout(
        &s,
        "img",
        json!({"config": {"Cmd": ["x"], "User": "web:staff"}}),
    );
    let src = lay.dir.display().to_string();
    let b = s.p("bundle");
    std::fs::create_dir_all(&b).expect("dir");
    std::fs::write(b.join("keep"), "mine").expect("keep");
    let o = hb(&[&src, &b.display().to_string()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(b.join("keep")).expect("keep"),
        "mine"
    );
    no_leftovers(&s.0, "bundle");

    let o = hb(&["--force", &src, &b.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!b.join("keep").exists() && b.join("rootfs/hello").is_file());
    assert_eq!(config(&b)["process"]["user"], json!({"uid": 33, "gid": 50}));
    no_leftovers(&s.0, "bundle");

    // An existing empty directory is fine without --force.
    let e = s.p("empty");
    std::fs::create_dir(&e).expect("empty");
    let o = hb(&[&src, &e.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn multi_platform_index_picks_the_platform() {
    let s = Scratch::new("platform");
    let mut lay = Layout::new(&s.p("img"));
    let mk = |name: &str, arch: &str| {
        let mut t = Tar::new();
        t.file(name, 0o644, arch.as_bytes());
        t.finish()
    };
    let amd = lay.image(
        &[(mk("amd64", "amd64"), Compression::Gzip)],
        json!({"architecture": "amd64", "config": {"Cmd": ["x"]}}),
    );
    let arm = lay.image(
        &[(mk("arm64", "arm64"), Compression::Gzip)],
        json!({"architecture": "arm64", "variant": "v8", "config": {"Cmd": ["x"]}}),
    );
    let mut a = amd.clone();
    a["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut r = arm.clone();
    r["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    let nested = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [r, a]});
    let (d, n) = lay.blob(&serde_json::to_vec(&nested).expect("json"));
    lay.add(
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": n}),
        Some("multi"),
    );
    let src = lay.dir.display().to_string();

    let b = s.p("default");
    let o = hb(&["--ref", "multi", &src, &b.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(b.join("rootfs/amd64").exists() && !b.join("rootfs/arm64").exists());

    let b = s.p("arm");
    let o = hb(&["--platform", "linux/arm64", &src, &b.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(b.join("rootfs/arm64").exists());
    assert_eq!(
        config(&b)["annotations"]["org.opencontainers.image.variant"],
        "v8"
    );

    let b = s.p("none");
    let o = hb(&["--platform", "linux/s390x", &src, &b.display().to_string()]);
    assert_fails_cleanly(&o, &b, "no manifest for platform linux/s390x");
}

#[test]
fn rootless_unpack_as_an_unprivileged_user() {
    need("setpriv");
    let s = Scratch::new("rootless");
    // The whole scratch tree must be reachable by the unprivileged user.
    let mut p = s.0.clone();
    loop {
        let _ = Command::new("chmod")
            .args(["o+rx", &p.display().to_string()])
            .status();
        if !p.pop() || p.as_os_str().is_empty() || p == Path::new("/") {
            break;
        }
    }
    let mut lay = Layout::new(&s.p("img"));
    let mut t = Tar::new();
    t.dir("ro", 0o555)
        .file("ro/file", 0o444, b"read only")
        .file_x(
            E {
                name: "owned",
                mode: 0o644,
                uid: 1,
                gid: 1,
                xattrs: &[],
            },
            b"o",
        )
        .device("null", false, 1, 3, 0o666)
        .fifo("pipe", 0o600);
    let mut t2 = Tar::new();
    t2.file("ro/.wh.file", 0, b"").file("ro/new", 0o400, b"n");
    let m = lay.image(
        &[
            (t.finish(), Compression::Gzip),
            (t2.finish(), Compression::Zstd),
        ],
        json!({"config": {"Cmd": ["x"]}}),
    );
    lay.add(m, None);
    ok(Command::new("chmod").args(["-R", "a+rX", &lay.dir.display().to_string()]));
    let out_parent = s.p("out");
    std::fs::create_dir(&out_parent).expect("out");
    ok(Command::new("chown").args(["65534:65534", &out_parent.display().to_string()]));
    let b = out_parent.join("bundle");
    let o = run(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        HAKO_BUNDLE,
        "--rootless",
        &lay.dir.display().to_string(),
        &b.display().to_string(),
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let t = tree(&b.join("rootfs"));
    assert_eq!(t["/ro"], "dir mode=555 owner=65534:65534");
    assert!(!t.contains_key("/ro/file"));
    assert!(t["/ro/new"].contains("mode=400"));
    assert!(t["/owned"].contains("owner=65534:65534"));
    assert!(!t.contains_key("/null"), "no device nodes as non-root");
    assert!(t["/pipe"].starts_with("fifo"));
    let c = config(&b);
    assert_eq!(
        c["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": 65534, "size": 1}])
    );
    assert!(
        c["linux"]["namespaces"]
            .as_array()
            .expect("ns")
            .iter()
            .any(|n| n["type"] == "user")
    );
    assert!(
        !c["linux"]["namespaces"]
            .as_array()
            .expect("ns")
            .iter()
            .any(|n| n["type"] == "network")
    );
}

#[test]
fn large_layers_stream_with_flat_memory() {
    let s = Scratch::new("large");
    // 256 MiB of file data in one layer, gzip-compressed (quick to make: mostly zeros).
    let mut lay = Layout::new(&s.p("img"));
    let mut chunk = vec![0u8; 64 << 20];
    for (i, b) in chunk.iter_mut().enumerate().step_by(4096) {
        *b = (i / 4096) as u8;
    }
    let mut t = Tar::new();
    for i in 0..4 {
        t.file(&format!("big{i}"), 0o644, &chunk);
    }
    let data = t.finish();
    drop(chunk);
    let m = lay.image(
        &[(data, Compression::Gzip)],
        json!({"config": {"Cmd": ["x"]}}),
    );
    lay.add(m, None);
    let b = s.p("bundle");
    // Measured from a small python parent: a child spawned straight from this test process
    // would inherit the test's own peak RSS (the 256 MiB it just built) in ru_maxrss.
    let o = ok(Command::new("python3").args([
        "-c",
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); \
         print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
        HAKO_BUNDLE,
        &lay.dir.display().to_string(),
        &b.display().to_string(),
    ]));
    let max_rss_kib: u64 = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .expect("maxrss");
    assert_eq!(
        std::fs::metadata(b.join("rootfs/big3"))
            .expect("big3")
            .len(),
        64 << 20
    );
    let max_rss_mib = max_rss_kib / 1024;

    // Interrupted half-way: nothing is left behind.
    let b2 = s.p("interrupted");
    let child = Command::new(HAKO_BUNDLE)
        .args([&lay.dir.display().to_string(), &b2.display().to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Signal once the unpack is under way (its temporary bundle exists): a fixed delay was
    // too short under the guest's software emulation, where the child was killed before
    // it had set up its signal thread.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(60)
        && !std::fs::read_dir(&s.0)
            .expect("scratch dir")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".interrupted."))
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let o = child.wait_with_output().expect("wait");
    if o.status.success() {
        eprintln!("unpack finished before SIGTERM arrived; interruption not exercised");
    } else {
        assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
        assert!(!b2.exists(), "half-made bundle left behind");
        no_leftovers(&s.0, "interrupted");
    }
    assert!(
        max_rss_mib < 48,
        "peak RSS {max_rss_mib} MiB for a 256 MiB layer"
    );
}
