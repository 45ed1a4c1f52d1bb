//! state.json: a damaged state file is an error, never a panic; a parsed one renders.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(st) = serde_json::from_slice::<hako::state::State>(data) {
        let _ = st.to_spec_json(hako::state::Status::Running).to_string();
    }
    if let Ok(id) = std::str::from_utf8(data) {
        let _ = hako::state::validate_id(id);
    }
});
