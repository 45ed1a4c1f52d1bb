//! hako: an OCI container runtime with runc's command line.
//!
//! `no_main`: every hako call is a fresh exec (two for `create` and `run`, see exeseal.rs), and
//! Rust's runtime start-up (stdio poll, reading /proc/self/maps for the main thread's stack
//! guard, a sigaltstack and SIGSEGV/SIGBUS handlers) costs ~15 syscalls per exec for nothing
//! hako uses. The C `main` below does what hako needs of it: SIGPIPE ignored, so that a write to
//! a closed pipe or socket is an EPIPE error, not a silent death (the container process gets
//! SIGPIPE's default back before execve).
#![no_main]

use hako::{cli, commands, logging};

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let cli = match cli::parse() {
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
        std::process::exit(0);
    }
    // Before the log file is opened: it could otherwise fill a hole in the passed fds.
    let passed_fds = commands::check_passed_fds(&cli);
    if let Err(e) = logging::init(cli.log.as_deref(), &cli.log_format, cli.debug) {
        eprintln!("hako: {e}");
        std::process::exit(1);
    }
    if let Err((e, code)) = passed_fds {
        logging::error(&e);
        std::process::exit(code);
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
