//! The command line, flag for flag runc's (engines pass these verbatim).

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Parses the process's arguments. runc (urfave/cli) also takes `--flag=true` and
/// `--flag=false` for its boolean flags, which clap's presence flags refuse; those spellings
/// are rewritten first (only when one is present, so the common path pays nothing).
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let spelt = |a: &OsString| {
        a.to_str()
            .is_some_and(|s| s.starts_with("--") && (s.ends_with("=true") || s.ends_with("=false")))
    };
    if args.iter().any(spelt) {
        Cli::try_parse_from(normalize_bool_flags(args))
    } else {
        Cli::try_parse_from(args)
    }
}

/// `--b=true` → `--b`, `--b=false` → nothing, for the boolean flags of the global options
/// and of the subcommand. Stops at `--` and, for `exec`, at the container id: what follows
/// is the container's command line, never ours to change.
fn normalize_bool_flags(args: Vec<OsString>) -> Vec<OsString> {
    let root = Cli::command();
    let mut cmd = &root;
    let mut sub: Option<String> = None;
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    out.extend(it.next());
    let mut verbatim = false;
    while let Some(a) = it.next() {
        let Some(s) = a.to_str().map(str::to_owned).filter(|_| !verbatim) else {
            out.push(a);
            continue;
        };
        if s == "--" {
            verbatim = true;
            out.push(a);
            continue;
        }
        if let Some(flag) = s.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (flag, None),
            };
            let arg = cmd.get_arguments().find(|x| x.get_long() == Some(name));
            let is_bool = arg.is_some_and(|x| matches!(x.get_action(), ArgAction::SetTrue));
            match (is_bool, value) {
                (true, Some("true")) => out.push(format!("--{name}").into()),
                (true, Some("false")) => {}
                (false, None) if arg.is_some_and(|x| x.get_action().takes_values()) => {
                    out.push(a);
                    out.extend(it.next());
                }
                _ => out.push(a),
            }
            continue;
        }
        if s.starts_with('-') && s.len() > 1 {
            // A short flag (or a cluster); its value, if it takes one, may be the next arg.
            let last = s.chars().last().unwrap_or('-');
            let takes = cmd
                .get_arguments()
                .find(|x| x.get_short() == Some(last))
                .is_some_and(|x| x.get_action().takes_values());
            out.push(a);
            if takes && s.len() == 2 {
                out.extend(it.next());
            }
            continue;
        }
        match &sub {
            None => {
                if let Some(c) = root.find_subcommand(&s) {
                    cmd = c;
                    sub = Some(s);
                }
            }
            // exec's first positional is the id; the container's command follows.
            Some(name) if name == "exec" => verbatim = true,
            Some(_) => {}
        }
        out.push(a);
    }
    out
}

#[derive(Parser, Debug)]
#[command(
    name = "hako",
    about = "Open Container Initiative runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// root directory for storage of container state (this should be located in tmpfs)
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// set the log file to write hako logs to (default is '/dev/stderr')
    #[arg(long)]
    pub log: Option<String>,
    /// set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", default_value = "text")]
    pub log_format: String,
    /// enable debug logging
    #[arg(long)]
    pub debug: bool,
    /// enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name"
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, default_value = "auto")]
    pub rootless: String,
    /// path to the criu binary used for checkpoint and restore (accepted for runc compatibility)
    #[arg(long, hide = true)]
    pub criu: Option<String>,
    /// print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a container
    Create(CreateArgs),
    /// executes the user defined process in a created container
    Start(IdArg),
    /// create and run a container
    Run(RunArgs),
    /// output the state of a container
    State(IdArg),
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(KillArgs),
    /// delete any resources held by the container often used with detached container
    Delete(DeleteArgs),
    /// lists containers started by hako with the given root
    List(ListArgs),
    /// create a new specification file
    Spec(SpecArgs),
    /// execute new process inside the container
    Exec(Box<ExecArgs>),
    /// ps displays the processes running inside a container
    Ps(PsArgs),
    /// pause suspends all processes inside the container
    Pause(IdArg),
    /// resumes all processes that have been previously paused
    Resume(IdArg),
    /// update container resource constraints
    Update(Box<crate::update::UpdateArgs>),
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(crate::events::EventsArgs),
    /// show the enabled features
    Features,
    /// checkpoint a running container
    Checkpoint(Unimplemented),
    /// restore a container from a previous checkpoint
    Restore(Unimplemented),
}

#[derive(Args, Debug)]
pub struct IdArg {
    /// the container id
    pub id: String,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// path to the root of the bundle directory, defaults to the current directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the init process
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// disable the use of the subreaper used to reap reparented processes (accepted for compatibility)
    #[arg(long = "no-subreaper", hide = true)]
    pub no_subreaper: bool,
    /// the container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// send the specified signal to all processes inside the container
    #[arg(short = 'a', long)]
    pub all: bool,
    /// the container id
    pub id: String,
    /// the signal (name with or without SIG, or number)
    pub signal: Option<String>,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Forcibly deletes the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// the container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// select one of: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// display only container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the exec process
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// path to the process.json
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// set the no new privileges value for the process
    // An Option, as runc: only an explicit `--no-new-privs[=true|false]` overrides the config.
    #[arg(long = "no-new-privs", num_args = 0..=1, require_equals = true,
          default_missing_value = "true")]
    pub no_new_privs: Option<bool>,
    /// add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.
    #[arg(long = "cgroup")]
    pub cgroup: Vec<String>,
    /// allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// the container id
    pub id: String,
    /// the command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// select one of: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// the container id
    pub id: String,
    /// options passed to ps(1) (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
    /// confine the container with hako's default seccomp profile (seccomp-profiles/default.json)
    #[arg(long)]
    pub seccomp: bool,
    /// confine the container with hako's default AppArmor profile (hako-default)
    #[arg(long)]
    pub apparmor: bool,
}

/// Subcommands that belong to later milestones: they take any arguments and fail clearly.
#[derive(Args, Debug)]
pub struct Unimplemented {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_bool_flags(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().expect("utf8"))
            .collect()
    }

    #[test]
    fn boolean_flags_take_runc_spellings() {
        assert_eq!(
            norm(&[
                "hako",
                "--debug=true",
                "--root=/r",
                "exec",
                "--tty=false",
                "--no-new-privs=false"
            ]),
            // --no-new-privs is tri-state: clap parses its value itself.
            [
                "hako",
                "--debug",
                "--root=/r",
                "exec",
                "--no-new-privs=false"
            ]
        );
        // Values of flags are skipped, the container's command is left alone.
        assert_eq!(
            norm(&[
                "hako",
                "exec",
                "--cwd",
                "--tty=true",
                "-e",
                "--x=false",
                "-t=true",
                "id",
                "cmd",
                "--tty=false"
            ]),
            [
                "hako",
                "exec",
                "--cwd",
                "--tty=true",
                "-e",
                "--x=false",
                "-t=true",
                "id",
                "cmd",
                "--tty=false"
            ]
        );
        assert_eq!(
            norm(&["hako", "run", "--detach=true", "--keep=false", "id"]),
            ["hako", "run", "--detach", "id"]
        );
        assert_eq!(
            norm(&["hako", "delete", "--", "--force=true"]),
            ["hako", "delete", "--", "--force=true"]
        );
        // Non-boolean flags keep their value.
        assert_eq!(
            norm(&["hako", "--rootless=false", "list"]),
            ["hako", "--rootless=false", "list"]
        );
    }
}
