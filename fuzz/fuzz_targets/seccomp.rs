//! linux.seccomp translation (libseccomp) and the compiled-program cache format: errors,
//! never panics; a decoded cache entry re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sc) = serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>(data) {
        let _ = hako::seccomp::compile(&sc);
    }
    if let Some(p) = hako::seccomp::Program::decode(data) {
        assert_eq!(p.encode(), data);
    }
});
