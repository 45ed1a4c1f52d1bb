//! Who the container process is: rlimits, uid/gid/groups, the five capability sets,
//! no_new_privs. Inheritable capabilities are only ever what the config lists (CVE-2022-27650).

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{LinuxCapabilities, Process};
use std::io;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("unable to set {what}: {source}")]
    Sys { what: String, source: io::Error },
    #[error("unable to set capabilities ({set}): {source}")]
    Caps {
        set: &'static str,
        source: caps::errors::CapsError,
    },
    #[error("unknown capability {0:?}")]
    UnknownCap(String),
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> IdentityError {
    let what = what.into();
    move |source| IdentityError::Sys { what, source }
}

/// The highest capability number this kernel knows, asked of the kernel (PR_CAPBSET_READ
/// is EINVAL past it). Not /proc/sys/kernel/cap_last_cap: by now that is the container's
/// /proc, which an image or a process with CAP_SYS_ADMIN can fake, and a low value there
/// would leave the upper bounding capabilities undropped.
fn last_cap() -> u8 {
    let known = |n: u8| crate::sys::prctl(libc::PR_CAPBSET_READ, n.into()).is_ok();
    // 40 (CAP_CHECKPOINT_RESTORE) is the last one since Linux 5.9: usually two probes.
    let mut n: u8 = 40;
    if known(n) {
        while n < 63 && known(n + 1) {
            n += 1;
        }
    } else {
        while n > 0 && !known(n) {
            n -= 1;
        }
    }
    n
}

/// Converts config capability names; names the kernel does not know are skipped, as runc
/// does, so one config works across kernels.
fn to_set(
    caps: Option<&oci_spec::runtime::Capabilities>,
    last: u8,
) -> Result<CapsHashSet, IdentityError> {
    let mut out = CapsHashSet::new();
    for c in caps.into_iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{name}")
        };
        let cap =
            Capability::from_str(&name).map_err(|_| IdentityError::UnknownCap(name.clone()))?;
        if cap.index() <= last {
            out.insert(cap);
        } else {
            crate::logging::debug(|| {
                format!("capability {name} is unknown to this kernel: skipped")
            });
        }
    }
    Ok(out)
}

pub fn apply_rlimits(p: &Process) -> Result<(), IdentityError> {
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        let name = format!("{:?}", r.typ());
        let res = rlimit_resource(&name).ok_or_else(|| IdentityError::Sys {
            what: format!("rlimit {name}"),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        })?;
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            return Err(sys_err(format!(
                "rlimit {name} (soft {}, hard {})",
                r.soft(),
                r.hard()
            ))(io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn rlimit_resource(debug_name: &str) -> Option<libc::__rlimit_resource_t> {
    // oci-spec's Debug names: RlimitNofile, …
    let n = debug_name.to_ascii_uppercase();
    let n = n.trim_start_matches("RLIMIT").trim_start_matches('_');
    Some(match n {
        "AS" => libc::RLIMIT_AS,
        "CORE" => libc::RLIMIT_CORE,
        "CPU" => libc::RLIMIT_CPU,
        "DATA" => libc::RLIMIT_DATA,
        "FSIZE" => libc::RLIMIT_FSIZE,
        "LOCKS" => libc::RLIMIT_LOCKS,
        "MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "NICE" => libc::RLIMIT_NICE,
        "NOFILE" => libc::RLIMIT_NOFILE,
        "NPROC" => libc::RLIMIT_NPROC,
        "RSS" => libc::RLIMIT_RSS,
        "RTPRIO" => libc::RLIMIT_RTPRIO,
        "RTTIME" => libc::RLIMIT_RTTIME,
        "SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "STACK" => libc::RLIMIT_STACK,
        _ => return None,
    })
}

/// Drops to the configured user and capability sets. `setgroups_allowed` is false inside a
/// user namespace whose setgroups file says deny.
pub fn apply_user_and_caps(p: &Process, setgroups_allowed: bool) -> Result<(), IdentityError> {
    let last = last_cap();
    let none = LinuxCapabilities::default();
    let c = p.capabilities().as_ref().unwrap_or(&none);
    let bounding = to_set(c.bounding().as_ref(), last)?;
    let effective = to_set(c.effective().as_ref(), last)?;
    let permitted = to_set(c.permitted().as_ref(), last)?;
    let inheritable = to_set(c.inheritable().as_ref(), last)?;
    let ambient = to_set(c.ambient().as_ref(), last)?;

    // Keep the permitted set across setuid(non-zero); dropped again below.
    crate::sys::prctl(libc::PR_SET_KEEPCAPS, 1).map_err(sys_err("keepcaps"))?;
    for cap in caps::all() {
        if cap.index() <= last && !bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|source| IdentityError::Caps {
                set: "bounding",
                source,
            })?;
        }
    }
    let user = p.user();
    if setgroups_allowed {
        let groups: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
        // SAFETY: the pointer/length pair describes `groups`.
        if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
            return Err(sys_err("additional groups")(io::Error::last_os_error()));
        }
    } else if user
        .additional_gids()
        .as_ref()
        .is_some_and(|g| !g.is_empty())
    {
        return Err(sys_err("additional groups")(io::Error::from_raw_os_error(
            libc::EPERM,
        )));
    }
    let (uid, gid) = (user.uid(), user.gid());
    // SAFETY: plain id syscalls.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(sys_err(format!("gid {gid}"))(io::Error::last_os_error()));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        return Err(sys_err(format!("uid {uid}"))(io::Error::last_os_error()));
    }
    let set = |cs: CapSet, v: &CapsHashSet, name| {
        caps::set(None, cs, v).map_err(|source| IdentityError::Caps { set: name, source })
    };
    // capset checks each set against the others: inheritable while permitted is still full,
    // then effective shrinks before permitted does.
    set(CapSet::Inheritable, &inheritable, "inheritable")?;
    set(CapSet::Effective, &effective, "effective")?;
    set(CapSet::Permitted, &permitted, "permitted")?;
    for cap in ambient {
        // Like runc: ambient raising fails (EPERM) unless the cap is also inheritable and
        // permitted; that is a config matter, not fatal.
        if let Err(e) = caps::raise(None, CapSet::Ambient, cap) {
            crate::logging::debug(|| format!("ambient capability {cap} not raised: {e}"));
        }
    }
    crate::sys::prctl(libc::PR_SET_KEEPCAPS, 0).map_err(sys_err("keepcaps"))?;
    if p.no_new_privileges() == Some(true) {
        crate::sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(sys_err("no_new_privs"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_names_map() {
        assert_eq!(rlimit_resource("RlimitNofile"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(rlimit_resource("RLIMIT_NPROC"), Some(libc::RLIMIT_NPROC));
        assert_eq!(rlimit_resource("RlimitBogus"), None);
    }
}
