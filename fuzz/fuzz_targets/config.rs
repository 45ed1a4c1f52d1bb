//! config.json: any bytes either fail to parse or parse and validate to Ok/Err, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = serde_json::from_slice::<oci_spec::runtime::Spec>(data) {
        let _ = hako::config::validate(&spec);
        if let Some(p) = spec.process() {
            let _ = hako::config::validate_process(p);
        }
    }
});
