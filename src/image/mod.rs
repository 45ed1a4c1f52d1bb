//! Container images on disk → OCI bundles: the library side of `hako-bundle`
//! (src/bin/hako-bundle/main.rs is its command line). Also driven directly by the fuzz
//! targets (fuzz/), which feed the manifest, layer and passwd/group parsers arbitrary bytes.
//!
//! The flow: `source` opens the image and picks the manifest (digest-verified JSON),
//! `layer` streams each layer blob (verify, decompress, diff_id), `apply` writes its entries
//! into the rootfs through `resolve`'s in-root fds, `convert` (with `users`) writes
//! config.json.

pub mod apply;
pub mod convert;
pub mod digest;
pub mod layer;
pub mod resolve;
pub mod source;
pub mod users;
