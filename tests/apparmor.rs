//! AppArmor: the default profile parses, and where the kernel runs AppArmor (the test guest,
//! integration/guest) containers really run confined. Trials that need AppArmor are
//! reported as ignored, with the reason, on hosts without it: never as passed.

mod common;
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::json;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// Tests that use hako-default take this: one of them unloads it to see hako load it.
static DEFAULT_PROFILE: Mutex<()> = Mutex::new(());

fn default_profile_lock() -> MutexGuard<'static, ()> {
    DEFAULT_PROFILE.lock().unwrap_or_else(|e| e.into_inner())
}

const PROFILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/apparmor/hako-default");

fn main() {
    let args = Arguments::from_args();
    let aa = host::Needs::AppArmor.present();
    let needs_aa = |name: &'static str, f: fn() -> Result<(), Failed>| {
        let t = Trial::test(name, f);
        if aa {
            t
        } else {
            t.with_kind(host::Needs::AppArmor.label())
                .with_ignored_flag(true)
        }
    };
    let needs_no_aa = |name: &'static str, f: fn() -> Result<(), Failed>| {
        let t = Trial::test(name, f);
        if aa {
            t.with_kind("needs a host without AppArmor")
                .with_ignored_flag(true)
        } else {
            t
        }
    };
    let trials = vec![
        Trial::test("default_profile_parses", default_profile_parses),
        needs_no_aa(
            "exec_apparmor_without_apparmor_is_an_error",
            exec_without_apparmor,
        ),
        needs_aa(
            "default_profile_is_loaded_and_applied",
            default_profile_applied,
        ),
        needs_aa("default_profile_denies_mount", default_profile_denies_mount),
        needs_aa("exec_gets_the_profile_and_apparmor_flag", exec_gets_profile),
        needs_aa("profile_applies_in_a_user_namespace", profile_in_userns),
        needs_aa(
            "unloaded_profile_is_refused_cleanly",
            unloaded_profile_refused,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(what().into()) }
}

/// apparmor_parser (Debian's apparmor package) compiles the shipped profile; a broken copy
/// fails, so the check is not vacuous.
fn default_profile_parses() -> Result<(), Failed> {
    let parse = |path: &str| {
        Command::new("apparmor_parser")
            .args(["-Q", "-K", path])
            .output()
            .map_err(|e| Failed::from(format!("apparmor_parser: {e} (install apparmor)")))
    };
    let out = parse(PROFILE)?;
    check(out.status.success(), || stderr(&out))?;
    let broken = std::env::temp_dir().join(format!("hako-aa-broken-{}", std::process::id()));
    let text = std::fs::read_to_string(PROFILE)?.replace("deny mount,", "deny mount");
    std::fs::write(&broken, text)?;
    let out = parse(broken.to_str().unwrap_or_default())?;
    let _ = std::fs::remove_file(&broken);
    check(!out.status.success(), || "a broken profile parsed".into())
}

fn running(
    rt: &Runtime,
    prefix: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (Bundle, String) {
    let id = unique_id(prefix);
    let mut b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(edit);
    let out = rt.create(&b, &id);
    assert!(out.status.success(), "create: {}", stderr(&out));
    rt.ok(&["start", &id]);
    (b, id)
}

fn exec_without_apparmor() -> Result<(), Failed> {
    let rt = Runtime::new("aa-exec-none");
    let (_b, id) = running(&rt, "aaexecnone", |_| {});
    let out = rt.hako(&["exec", "--apparmor", "hako-default", &id, "true"]);
    let err = stderr(&out);
    check(out.status.code() == Some(255), || {
        format!("{:?} {err}", out.status)
    })?;
    check(
        err.contains("hako-default") && err.contains("AppArmor is not enabled"),
        || err.clone(),
    )?;
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
    Ok(())
}

fn with_profile(profile: &str) -> impl FnOnce(&mut serde_json::Value) + '_ {
    move |c| c["process"]["apparmorProfile"] = json!(profile)
}

fn default_profile_applied() -> Result<(), Failed> {
    let _lock = default_profile_lock();
    // Unloaded first (if an earlier test or run loaded it), so this run shows hako loading it.
    let profiles = "/sys/kernel/security/apparmor/profiles";
    if std::fs::read_to_string(profiles)?.contains("hako-default (") {
        std::fs::write("/sys/kernel/security/apparmor/.remove", "hako-default")?;
    }
    let before = std::fs::read_to_string(profiles)?;
    check(!before.contains("hako-default ("), || before.clone())?;
    let rt = Runtime::new("aa-default");
    let id = unique_id("aadefault");
    let mut b = Bundle::new(&id, &["cat", "/proc/self/attr/current"]);
    b.edit(with_profile("hako-default"));
    let out = rt.run_ok(&b, &id);
    check(out.trim() == "hako-default (enforce)", || out.clone())?;
    let loaded = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")?;
    check(loaded.contains("hako-default (enforce)"), || loaded.clone())?;
    assert_clean(&rt, &id);
    Ok(())
}

/// With CAP_SYS_ADMIN a container could mount; the profile's `deny mount` stops it. The
/// same config without the profile mounts fine, so the denial is the profile's doing.
fn default_profile_denies_mount() -> Result<(), Failed> {
    let _lock = default_profile_lock();
    let rt = Runtime::new("aa-mount");
    let mut results = Vec::new();
    for profile in ["", "hako-default"] {
        let id = unique_id("aamount");
        let mut b = Bundle::new(
            &id,
            &["sh", "-c", "mount -t tmpfs none /tmp && echo mounted"],
        );
        b.edit(|c| {
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .expect("caps")
                    .push(json!("CAP_SYS_ADMIN"));
            }
            if !profile.is_empty() {
                c["process"]["apparmorProfile"] = json!(profile);
            }
        });
        let (code, out, err) = rt.run(&b, &id);
        results.push((code, out, err));
        assert_clean(&rt, &id);
    }
    check(
        results[0].0 == 0 && results[0].1.contains("mounted"),
        || format!("unconfined: {:?}", results[0]),
    )?;
    check(
        results[1].0 != 0 && results[1].2.contains("Permission denied"),
        || format!("hako-default: {:?}", results[1]),
    )
}

fn exec_gets_profile() -> Result<(), Failed> {
    let _lock = default_profile_lock();
    let rt = Runtime::new("aa-exec");
    let (_b, id) = running(&rt, "aaexec", with_profile("hako-default"));
    let out = rt.ok(&["exec", &id, "cat", "/proc/self/attr/current"]);
    check(stdout(&out).trim() == "hako-default (enforce)", || {
        stdout(&out)
    })?;
    let out = rt.ok(&[
        "exec",
        "--apparmor",
        "unconfined",
        &id,
        "cat",
        "/proc/self/attr/current",
    ]);
    check(stdout(&out).trim() == "unconfined", || stdout(&out))?;
    rt.ok(&["delete", "-f", &id]);
    assert_clean(&rt, &id);
    Ok(())
}

/// In a user namespace the init is non-dumpable root-of-the-namespace: the write still
/// reaches its own attr file through the host procfs handle.
fn profile_in_userns() -> Result<(), Failed> {
    let _lock = default_profile_lock();
    let rt = Runtime::new("aa-userns");
    let id = unique_id("aauserns");
    let mut b = Bundle::new(&id, &["cat", "/proc/self/attr/current"]);
    b.edit(|c| {
        c["process"]["apparmorProfile"] = json!("hako-default");
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    });
    let out = rt.run_ok(&b, &id);
    check(out.trim() == "hako-default (enforce)", || out.clone())?;
    assert_clean(&rt, &id);
    Ok(())
}

fn unloaded_profile_refused() -> Result<(), Failed> {
    let rt = Runtime::new("aa-unloaded");
    let id = unique_id("aaunloaded");
    let mut b = Bundle::new(&id, &["true"]);
    b.edit(with_profile("hako-no-such-profile"));
    let out = rt.create(&b, &id);
    let err = stderr(&out);
    check(!out.status.success(), || "create succeeded".into())?;
    check(
        err.contains("hako-no-such-profile") && err.contains("not loaded"),
        || err.clone(),
    )?;
    assert_clean(&rt, &id);
    Ok(())
}
