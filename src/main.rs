//! hako: an OCI container runtime with runc's command line.

mod apparmor;
mod cgroups;
mod cli;
mod commands;
mod config;
mod console;
mod events;
mod exeseal;
mod features;
mod hooks;
mod logging;
mod notify;
mod process;
mod procfs;
mod rootfs;
mod seccomp;
mod seccomp_cache;
mod signals;
mod spec;
mod state;
mod sys;
mod tty_proxy;
mod update;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if cli.version {
        print!("{}", commands::version_text());
        return;
    }
    if let Err(e) = logging::init(cli.log.as_deref(), &cli.log_format, cli.debug) {
        eprintln!("hako: {e}");
        std::process::exit(1);
    }
    let code = match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&e.to_string());
            1
        }
    };
    std::process::exit(code);
}
