//! hako: an OCI container runtime with runc's command line.

use clap::Parser;
use hako::{cli, commands, logging};

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
