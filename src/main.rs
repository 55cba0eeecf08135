//! `gatehouse`: the proxy binary. Parses the command line and hands over to the library.

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};
use gatehouse::config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc rather than glibc malloc: the request path allocates and frees many small, short-lived
/// buffers across threads, where glibc's arena locking and consolidation showed up as ~10% of
/// CPU in the profile (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hands memory freed by closed connections back to the OS. mimalloc returns freed pages
/// lazily, when the thread that owns them allocates again; after a burst of connections closes
/// an idle worker would keep them resident indefinitely. Once a second costs nothing.
fn return_freed_memory() {
    let collect = || loop {
        std::thread::park_timeout(Duration::from_secs(1)); // this thread's only job: a tick
        #[allow(unsafe_code)]
        // SAFETY: `mi_collect` only walks mimalloc's own bookkeeping and may be called from
        // any thread at any time; it takes no pointers.
        unsafe {
            libmimalloc_sys::mi_collect(false)
        };
    };
    if let Err(e) = std::thread::Builder::new()
        .name("mem-collect".into())
        .spawn(collect)
    {
        tracing::warn!(error = %e, "cannot start the memory collector thread");
    }
}

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
    let logging = match &cli.command {
        Command::Run { config, .. } => config::load_initial(config).ok().map(|v| v.config.logging),
        _ => None,
    };
    init_logging(logging.as_ref());
    let result = match cli.command {
        Command::Run { config, upgrade } => run(&config, upgrade),
        Command::Check {
            config,
            against_running,
        } => check(&config, against_running),
        Command::Reload { config } => reload(&config),
        Command::Upgrade { config } => upgrade(&config),
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
        } => rollout(
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
        Command::DemoCerts { out, names } => demo_certs(&out, &names).map(|()| ExitCode::SUCCESS),
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

/// Diagnostic logs to stderr (the access log owns stdout), at the config's level unless
/// `RUST_LOG` says otherwise, as text or JSON lines.
fn init_logging(settings: Option<&gatehouse::config::model::LoggingSettings>) {
    let level = settings.map_or("info", |s| s.level.as_str());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.is_some_and(|s| s.json) {
        let _ = builder.json().flatten_event(true).try_init();
    } else {
        let _ = builder.try_init();
    }
}

fn run(path: &Path, upgrade: bool) -> anyhow::Result<ExitCode> {
    use gatehouse::upgrade::report_to_predecessor;
    let _ = gatehouse::upgrade::executable();
    gatehouse::reload::signal::install_early().context("installing the SIGHUP handler")?;
    let validated = match config::load_initial(path) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            report_to_predecessor(&format!("ERROR {}", e.to_string().replace('\n', "; ")));
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in &validated.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    let run_as = (
        validated.config.server.user.clone(),
        validated.config.server.group.clone(),
    );
    let options = gatehouse::server::Options {
        upgrade,
        handle_signals: true,
        exit_when_drained: true,
        ..Default::default()
    };
    let gatehouse = match gatehouse::server::Gatehouse::new(path, validated, options) {
        Ok(g) => g,
        Err(e) => {
            report_to_predecessor(&format!("ERROR {e}"));
            return Err(e.into());
        }
    };
    tracing::info!(config = %path.display(), pid = std::process::id(), upgrade, "gatehouse starting");
    return_freed_memory();
    // Root is needed until the sockets are bound, which Pingora does as it starts; until the
    // switch, no connection is processed (the kernel still accepts them into the backlog).
    let drop_pending = gatehouse::privileges::drop_pending(run_as.0.as_deref());
    if drop_pending {
        gatehouse::privileges::GATE.close();
    } else if gatehouse::privileges::running_as_root() {
        tracing::warn!(
            "running as root with no server.user: every connection is served as root; set server.user (and server.group) to drop privileges once the listeners are bound"
        );
    }
    let readiness = gatehouse.readiness();
    let status = gatehouse::notify::serving_status(&gatehouse);
    let ready = move || match test_hook("GATEHOUSE_TEST_FAIL_READINESS") {
        Some(_) => Err("failed on purpose (GATEHOUSE_TEST_FAIL_READINESS)".to_string()),
        None => readiness.wait(READY_LIMIT),
    };
    std::thread::spawn(move || match ready() {
        Ok(()) => {
            // Sockets are bound: root is no longer needed.
            let delay = test_hook("GATEHOUSE_TEST_PRIVILEGE_DROP_DELAY_MS")
                .and_then(|ms| ms.parse().ok())
                .map(Duration::from_millis);
            if let Some(delay) = delay {
                #[allow(clippy::disallowed_methods)] // a debug-build test hook, off the runtime
                std::thread::sleep(delay);
            }
            match gatehouse::privileges::drop_to(run_as.0.as_deref(), run_as.1.as_deref()) {
                Ok(true) => tracing::info!(user = ?run_as.0, "dropped root privileges"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "refusing to keep running as root");
                    std::process::exit(1);
                }
            }
            gatehouse::privileges::GATE.open();
            let pid = std::process::id();
            tracing::info!(pid, "gatehouse ready");
            report_to_predecessor(&format!("READY {pid}"));
            gatehouse::notify::ready(&status);
        }
        Err(reason) => {
            tracing::error!(%reason, "gatehouse did not become ready");
            report_to_predecessor(&format!("ERROR {reason}"));
            gatehouse::notify::status(&format!("not ready: {reason}"));
            if drop_pending {
                // Never serve as root, nor sit there holding connections: fail, so a
                // supervisor sees it.
                tracing::error!("refusing to keep running as root: privileges were not dropped");
                std::process::exit(1);
            }
        }
    });
    gatehouse.run();
    Ok(ExitCode::SUCCESS)
}

/// How long a starting process may take to serve before it reports failure.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// The environment variable `name`, in debug builds only (the integration tests run the debug
/// binary): test hooks that widen a timing window or force an outcome, so a test can check an
/// ordering deterministically. Release builds never read them.
#[cfg(debug_assertions)]
fn test_hook(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(not(debug_assertions))]
fn test_hook(_name: &str) -> Option<String> {
    None
}

fn check(path: &Path, against_running: bool) -> anyhow::Result<ExitCode> {
    match config::load_initial(path) {
        Ok(v) => {
            for w in &v.warnings {
                eprintln!("warning: {w}");
            }
            let c = &v.config;
            let backends: usize = c.pools.iter().map(|p| p.backends.len()).sum();
            println!(
                "{}: OK: {} listeners, {} routes, {} pools, {} backends, {} certificates{}",
                path.display(),
                c.listeners.len(),
                c.routes.len(),
                c.pools.len(),
                backends,
                c.listeners
                    .iter()
                    .map(|l| l.certificates.len())
                    .sum::<usize>(),
                if v.warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} warnings", v.warnings.len())
                }
            );
            if against_running {
                preview(path, v.config)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Replays the running instance's recent requests through `config` and prints what moves.
fn preview(path: &Path, config: config::model::Config) -> anyhow::Result<()> {
    let endpoint = gatehouse::ctl::admin_endpoint(path)?;
    let (status, body) = gatehouse::ctl::call(
        &endpoint,
        "GET",
        "/preview/samples",
        Duration::from_secs(30),
    )?;
    if status != 200 {
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        anyhow::bail!(
            "the running instance refused the samples ({status}): {}",
            doc["error"].as_str().unwrap_or(body.trim())
        );
    }
    let export: gatehouse::preview::Export = serde_json::from_str(&body)
        .context("the running instance sent samples this version cannot read")?;
    for line in export.replay(config).lines() {
        println!("{line}");
    }
    Ok(())
}

fn reload(path: &Path) -> anyhow::Result<ExitCode> {
    let endpoint = gatehouse::ctl::admin_endpoint(path)?;
    let (status, body) =
        gatehouse::ctl::call(&endpoint, "POST", "/reload", Duration::from_secs(60))?;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    match status {
        200 => {
            let outcome = &doc["outcome"];
            if outcome["applied"].as_bool() == Some(true) {
                println!("reloaded: now serving generation {}", outcome["generation"]);
            } else {
                println!(
                    "no change: still serving generation {}",
                    outcome["generation"]
                );
            }
            for w in outcome["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            for r in outcome["restart_required"].as_array().into_iter().flatten() {
                eprintln!(
                    "needs `gatehouse upgrade`: {}",
                    r.as_str().unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        422 => {
            eprintln!(
                "reload refused; still serving generation {}:",
                doc["generation"]
            );
            for e in doc["errors"].as_array().into_iter().flatten() {
                eprintln!("  - {}", e.as_str().unwrap_or_default());
            }
            Ok(ExitCode::FAILURE)
        }
        _ => {
            eprintln!(
                "admin API answered {status}: {}",
                doc["error"].as_str().unwrap_or(body.trim())
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn upgrade(path: &Path) -> anyhow::Result<ExitCode> {
    let endpoint = gatehouse::ctl::admin_endpoint(path)?;
    let (status, body) =
        gatehouse::ctl::call(&endpoint, "POST", "/upgrade", Duration::from_secs(90))?;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    if status == 200 {
        let u = &doc["upgrade"];
        println!(
            "upgraded: pid {} now serving; pid {} is draining and will exit",
            u["new_pid"], u["old_pid"]
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("upgrade failed; the running instance keeps serving:");
    for e in doc["errors"].as_array().into_iter().flatten() {
        eprintln!("  {}", e.as_str().unwrap_or_default());
    }
    if doc["errors"].as_array().is_none() {
        eprintln!(
            "  admin API answered {status}: {}",
            doc["error"].as_str().unwrap_or(body.trim())
        );
    }
    Ok(ExitCode::FAILURE)
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    gatehouse::config::duration::parse_duration(s)
}

fn ratio_arg(s: &str) -> Result<f64, String> {
    let value = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|e| format!("{s:?}: {e}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{s:?}: a ratio is between 0 and 1 (or 0% and 100%)"
        ))
    }
}

fn rollout(
    path: &Path,
    backend: Option<String>,
    all: bool,
    mut opts: gatehouse::rollout::driver::Options,
) -> anyhow::Result<ExitCode> {
    use gatehouse::rollout::driver;
    let endpoint = gatehouse::ctl::admin_endpoint(path)?;
    opts.backends = match (backend, all) {
        (Some(b), false) => vec![b],
        (None, true) => driver::pool_backends(&endpoint, &opts.pool)?,
        _ => anyhow::bail!("name a backend, or pass --all"),
    };
    let print = |line: &str| println!("{line}");
    match driver::run(&endpoint, &opts, &print) {
        Ok(()) => {
            println!("rollout of pool {} succeeded", opts.pool);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("rollout of pool {} FAILED: {e}", opts.pool);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn demo_certs(out: &Path, names: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).context("certificate names")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gatehouse demo (self-signed)");
    let cert = params.self_signed(&key).context("signing")?;
    let cert_path = out.join("demo.crt");
    let key_path = out.join("demo.key");
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    println!("wrote {} and {}", cert_path.display(), key_path.display());
    Ok(())
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

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}
