//! `gatehouse`: the proxy binary. Parses the command line and hands over to the library:
//! `run` to [`gatehouse::lifecycle::run`], the other subcommands to [`gatehouse::commands`].
//! Completions and man pages are rendered here, from the clap definitions themselves.

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};
use gatehouse::commands::{self, duration_arg, ratio_arg};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc rather than glibc malloc: the request path allocates and frees many small, short-lived
/// buffers across threads, where glibc's arena locking and consolidation showed up as ~10% of
/// CPU in the profile (see README, Performance). Called through gatehouse's own entry points,
/// which keep mimalloc's fast paths for large blocks (see `memory::allocator`).
#[global_allocator]
static ALLOCATOR: gatehouse::memory::allocator::MiMalloc = gatehouse::memory::allocator::MiMalloc;

/// A layer-7 load balancer and TLS terminator.
#[derive(Parser, Debug)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the proxy in the foreground.
    Run {
        /// Config file.
        #[arg(short, long, default_value = "conf/gatehouse.toml")]
        config: PathBuf,
        /// Take the listening sockets over from the running instance (used by `upgrade`).
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a config file and exit (0 = valid), like `nginx -t`.
    Check {
        /// Config file.
        #[arg(short, long, default_value = "conf/gatehouse.toml")]
        config: PathBuf,
        /// Also replay the running instance's recent requests (found through this file's
        /// `[admin]` section) through this file and report what would move.
        #[arg(long)]
        against_running: bool,
    },
    /// Replace the running instance with a new process (new binary and/or config) without
    /// dropping a connection; prints the outcome.
    Upgrade {
        /// Config file (to find the admin listener and token).
        #[arg(short, long, default_value = "conf/gatehouse.toml")]
        config: PathBuf,
    },
    /// Ask the running instance to reload its config; prints the outcome.
    Reload {
        /// Config file (to find the admin listener and token).
        #[arg(short, long, default_value = "conf/gatehouse.toml")]
        config: PathBuf,
    },
    /// Roll a new version out to a backend (or a whole pool) and verify it: drain, wait for
    /// in-flight requests, run the deploy command here, wait for passing checks, re-enable,
    /// watch its error ratio; on failure drain it again and exit 1.
    Rollout {
        /// Pool.
        pool: String,
        /// Backend address (`IP:port` or as configured); omit with `--all`.
        backend: Option<String>,
        /// Every backend of the pool, in configured order, stopping at the first failure.
        #[arg(long, conflicts_with = "backend")]
        all: bool,
        /// Deploy command, run with `sh -c` on this machine; `GATEHOUSE_ROLLOUT_POOL` and
        /// `GATEHOUSE_ROLLOUT_BACKEND` name the backend.
        #[arg(long)]
        exec: String,
        /// Longest wait for in-flight requests (open tunnels are reported, not waited for).
        #[arg(long, default_value = "30s", value_parser = duration_arg)]
        drain_timeout: Duration,
        /// Longest wait for `rise` passing checks after the command.
        #[arg(long, default_value = "60s", value_parser = duration_arg)]
        check_timeout: Duration,
        /// How long the re-enabled backend is watched.
        #[arg(long, default_value = "30s", value_parser = duration_arg)]
        verify: Duration,
        /// Error ratio (5xx, timeouts, failed connects over its requests) above which — and
        /// above twice the pool's other backends' — the backend fails: `5%` or `0.05`.
        #[arg(long, default_value = "5%", value_parser = ratio_arg)]
        max_error_ratio: f64,
        /// Requests needed in the verify window before the ratio is judged.
        #[arg(long, default_value_t = 20)]
        min_requests: u64,
        /// With `--all`: backends out of service at once.
        #[arg(long, default_value_t = 1)]
        max_unavailable: usize,
        /// Config file (to find the admin listener and token).
        #[arg(short, long, default_value = "conf/gatehouse.toml")]
        config: PathBuf,
    },
    /// Write a self-signed certificate and key for the demo (never for production).
    DemoCerts {
        /// Directory to write `demo.crt` and `demo.key` into.
        #[arg(long)]
        out: PathBuf,
        /// Names the certificate covers.
        #[arg(long, num_args = 1.., default_values_t = ["www.example.test".to_string(), "admin.example.test".to_string(), "*.example.test".to_string(), "localhost".to_string()])]
        names: Vec<String>,
    },
    /// Print the JSON Schema of the config file (shipped as conf/gatehouse.schema.json; a
    /// `#:schema` line at the top of a config points editors at it).
    Schema,
    /// Print a shell completion script (e.g. `gatehouse completions bash >
    /// /etc/bash_completion.d/gatehouse`).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; `gatehouse man | man -l -`), or write every page to a directory.
    Man {
        /// Write gatehouse.1 and one gatehouse-SUBCOMMAND.1 per subcommand here instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` sets up logging itself once its config is loaded: loading the file here too took as
    // long as the load itself (a second at 100,000 routes).
    if !matches!(cli.command, Command::Run { .. }) {
        commands::init_logging(None);
    }
    let result = match cli.command {
        Command::Run { config, upgrade } => {
            gatehouse::memory::prefer_small_pages();
            gatehouse::lifecycle::run(&config, upgrade).map_err(anyhow::Error::from)
        }
        Command::Check {
            config,
            against_running,
        } => commands::check(&config, against_running),
        Command::Reload { config } => commands::reload(&config),
        Command::Upgrade { config } => commands::upgrade(&config),
        Command::Rollout {
            pool,
            backend,
            all,
            exec,
            drain_timeout,
            check_timeout,
            verify,
            max_error_ratio,
            min_requests,
            max_unavailable,
            config,
        } => commands::rollout(
            &config,
            backend,
            all,
            gatehouse::rollout::driver::Options {
                pool,
                backends: Vec::new(),
                exec,
                drain_timeout,
                check_timeout,
                verify,
                max_error_ratio,
                min_requests,
                max_unavailable: if all { max_unavailable.max(1) } else { 1 },
                poll: Duration::from_millis(100),
            },
        ),
        Command::DemoCerts { out, names } => {
            commands::demo_certs(&out, &names).map(|()| ExitCode::SUCCESS)
        }
        Command::Schema => print(&gatehouse::config::schema::render()),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a failed write (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gatehouse", &mut script);
            print(&String::from_utf8_lossy(&script))
        }
        Command::Man { out } => man(out.as_deref()),
    };
    result.unwrap_or_else(|e| {
        eprintln!("gatehouse: {e:#}");
        ExitCode::FAILURE
    })
}

/// Writes `text` to standard output; a closed pipe (`| head`) is an error, not a panic.
fn print(text: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// The man pages: gatehouse(1) on standard output, or with `--out DIR` that page and one per
/// subcommand (gatehouse-check(1), …), git-style, as packages install them.
fn man(out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("writing man pages to {}", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    print(&String::from_utf8_lossy(&page))
}
