//! hako as a library: the runtime's modules, used by the `hako` binary (src/main.rs), the
//! image helper's modules (`image`, used by `hako-bundle`, src/bin/hako-bundle/main.rs), and
//! the fuzz targets (fuzz/), which drive the parsers and validators directly.

mod apparmor;
mod cgroups;
pub mod cli;
pub mod commands;
pub mod config;
mod console;
mod events;
mod exeseal;
mod features;
mod hooks;
pub mod image;
pub mod logging;
mod notify;
mod process;
mod procfs;
mod rootfs;
pub mod seccomp;
mod seccomp_cache;
mod signals;
mod spec;
pub mod state;
mod sys;
mod tty_proxy;
mod update;
