//! The `keel` binary: the composition root. `keel up` runs every service in one process;
//! `keel run --target <service>` runs one; `keel token`, `keel migrate`, `keel backup` and
//! `keel schema` are the operator's tools.

#![forbid(unsafe_code)]

mod adapters;
mod backup;
mod cli;
mod demo;
mod platform;
mod process_apis;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use keel_auth::Role;
use keel_config::{AuthMode, KeelConfig, Overrides, ServiceName};

use cli::{Cli, Command, ServerArgs};
use platform::Target;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("keel: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn overrides(server: &ServerArgs) -> Overrides {
    Overrides::new()
        .set_if_some(
            "server.data_dir",
            server.data_dir.as_ref().map(|d| d.display().to_string()),
        )
        .set_if_some("server.http_addr", server.http_addr.map(|a| a.to_string()))
        .set_if_some("server.grpc_addr", server.grpc_addr.map(|a| a.to_string()))
}

/// Loads `--config`, or `./keel.toml` when it exists, then the environment, then the flags.
fn load_config(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<KeelConfig> {
    let default_file = PathBuf::from(keel_config::DEFAULT_FILE_NAME);
    let file = match file {
        Some(path) => Some(path.to_path_buf()),
        None if default_file.exists() => Some(default_file),
        None => None,
    };
    Ok(KeelConfig::load_from_process_env(file.as_deref(), overrides)?)
}

fn telemetry(config: &KeelConfig) -> anyhow::Result<keel_telemetry::Guard> {
    let format = match config.telemetry.format {
        keel_config::LogFormat::Json => keel_telemetry::LogFormat::Json,
        _ => keel_telemetry::LogFormat::Pretty,
    };
    keel_telemetry::init(&keel_telemetry::TelemetryInit {
        format,
        filter: config.telemetry.filter.clone(),
        otlp_endpoint: config.telemetry.otlp_endpoint.clone(),
        service_name: config.telemetry.service_name.clone(),
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => {
            let config = load_config(cli.config.as_deref(), &overrides(&args.server))?;
            let _telemetry = telemetry(&config)?;
            serve(config, Target::All, args.demo).await
        }
        Command::Run(args) => {
            let config = load_config(cli.config.as_deref(), &overrides(&args.server))?;
            let _telemetry = telemetry(&config)?;
            serve(config, args.target, false).await
        }
        Command::Token(args) => {
            let overrides = Overrides::new().set_if_some(
                "server.data_dir",
                args.data_dir.as_ref().map(|d| d.display().to_string()),
            );
            let config = load_config(cli.config.as_deref(), &overrides)?;
            print_token(&config, &args.role, &args.sub, args.ttl_minutes)
        }
        Command::Migrate(args) => {
            let overrides = Overrides::new().set_if_some(
                "server.data_dir",
                args.data_dir.as_ref().map(|d| d.display().to_string()),
            );
            let config = load_config(cli.config.as_deref(), &overrides)?;
            let _telemetry = telemetry(&config)?;
            for service in args.target.stores() {
                platform::open_store(&config, service).await?;
                println!(
                    "migrated {} ({})",
                    service.as_str(),
                    platform::store_options(&config, service).describe()
                );
            }
            Ok(())
        }
        Command::Backup(args) => {
            let overrides = Overrides::new().set_if_some(
                "server.data_dir",
                args.data_dir.as_ref().map(|d| d.display().to_string()),
            );
            let config = load_config(cli.config.as_deref(), &overrides)?;
            let done = backup::run(&config, args.target, &args.to).await?;
            for copied in &done.copied {
                println!(
                    "backed up {} ({}) to {} ({} KiB)",
                    copied.service.as_str(),
                    copied.from.display(),
                    copied.to.display(),
                    copied.bytes.div_ceil(1024)
                );
            }
            for (service, path) in &done.absent {
                println!("no {} store at {}: nothing to copy", service.as_str(), path.display());
            }
            if let Some(key) = &done.key {
                println!("backed up the local signing key to {}", key.display());
            }
            Ok(())
        }
        Command::Seed(args) => {
            let overrides = Overrides::new().set_if_some(
                "server.data_dir",
                args.data_dir.as_ref().map(|d| d.display().to_string()),
            );
            let config = load_config(cli.config.as_deref(), &overrides)?;
            seed_running(&config).await
        }
        Command::Schema => {
            print!("{}", keel_gateway::export_sdl());
            Ok(())
        }
    }
}

fn print_token(config: &KeelConfig, role: &str, subject: &str, ttl_minutes: u64) -> anyhow::Result<()> {
    if config.auth.mode != AuthMode::Local {
        bail!(
            "auth.mode is {}: tokens come from your identity provider, and keel token signs only with the embedded key",
            config.auth.mode
        );
    }
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    if role == Role::Service {
        bail!("--role: service tokens are minted by Keel's services for themselves");
    }
    if subject.trim().is_empty() {
        bail!("--sub: must not be empty");
    }
    if ttl_minutes == 0 || ttl_minutes > 24 * 60 {
        bail!("--ttl-minutes: must be between 1 and 1440");
    }
    let key = platform::local_key(config)?;
    let token = key.issue(
        &config.auth.issuer,
        &config.auth.audience,
        subject.trim(),
        &[role],
        Duration::from_secs(ttl_minutes * 60),
    );
    println!("{token}");
    Ok(())
}

/// `keel seed`: the demo firm into the PSA, HRIS and CRM at `services.*` (or the embedded
/// server), signed with the embedded key.
async fn seed_running(config: &KeelConfig) -> anyhow::Result<()> {
    if config.auth.mode != AuthMode::Local {
        bail!(
            "auth.mode is {}: keel seed signs its calls with the embedded key (auth.local_key); seed with auth.mode = \"local\"",
            config.auth.mode
        );
    }
    let templates = demo::load_templates(config).context("loading the delivery templates")?;
    let token = platform::admin_token(config)?;
    let targets = demo::SeedTargets {
        psa: platform::channel(config, ServiceName::Psa)?,
        hris: platform::channel(config, ServiceName::Hris)?,
        crm: platform::channel(config, ServiceName::Crm)?,
    };
    let seeded = demo::seed(targets, &token, &templates)
        .await
        .context("seeding the demo firm")?;
    println!(
        "seeded the demo firm: {} delivery templates, {} employees, {} accounts, {} opportunities",
        seeded.templates,
        seeded.employees,
        seeded.accounts,
        seeded.opportunities.len()
    );
    Ok(())
}

async fn serve(config: KeelConfig, target: Target, demo: bool) -> anyhow::Result<()> {
    let data_dir = config.server.data_dir.clone();
    let local_auth = config.auth.mode == AuthMode::Local;
    // The delivery templates are checked before anything starts: a bad file stops Keel,
    // naming the file and the key.
    let templates = demo::load_templates(&config).context("loading the delivery templates")?;
    // `keel up` upserts them into its PSA (signed with the embedded key), so PSA holds what
    // the files say, a new version for each file whose content changed.
    let push_token = if demo || (local_auth && target == Target::All) {
        Some(platform::admin_token(&config)?)
    } else {
        None
    };
    let platform = platform::start(config, target).await?;

    let seeded = match (push_token, platform.grpc_addr) {
        (Some(token), Some(addr)) => {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await
                .context("connecting to gRPC")?;
            if demo {
                let targets = demo::SeedTargets {
                    psa: channel.clone(),
                    hris: channel.clone(),
                    crm: channel,
                };
                Some(
                    demo::seed(targets, &token, &templates)
                        .await
                        .context("seeding the demo firm")?,
                )
            } else {
                demo::push_templates(channel, &token, &templates)
                    .await
                    .context("upserting the delivery templates")?;
                None
            }
        }
        _ => None,
    };
    print_banner(&platform, &data_dir, local_auth, seeded.as_ref());

    wait_for_signal().await;
    eprintln!("keel: shutting down; in-flight requests finish, unrelayed events stay in the outbox");
    platform.shutdown().await;
    Ok(())
}

fn print_banner(platform: &platform::Platform, data_dir: &Path, local_auth: bool, seeded: Option<&demo::Seeded>) {
    // The first line is for scripts and tests; the rest for people.
    println!(
        "keel ready: grpc={} http={}",
        platform
            .grpc_addr
            .map(|a| format!("http://{a}"))
            .unwrap_or_else(|| "-".into()),
        platform
            .http_addr
            .map(|a| format!("http://{a}"))
            .unwrap_or_else(|| "-".into()),
    );
    println!();
    if let Some(addr) = platform.grpc_addr {
        println!("  gRPC       {addr}   (health, reflection: grpcurl -plaintext {addr} list)");
    }
    if let Some(addr) = platform.http_addr {
        println!("  GraphQL    http://{addr}/graphql   (GraphiQL in a browser)");
        println!("  health     http://{addr}/healthz  http://{addr}/readyz   metrics http://{addr}/metrics");
    }
    println!("  data       {}", data_dir.display());
    if local_auth {
        println!();
        println!(
            "  a token:   cargo run --release -- token --role project_manager --sub pat --data-dir {}",
            data_dir.display()
        );
    }
    if let Some(seeded) = seeded {
        println!();
        println!(
            "  demo firm: {} delivery templates, {} employees, {} accounts, {} open opportunities",
            seeded.templates,
            seeded.employees,
            seeded.accounts,
            seeded.opportunities.len()
        );
        for (name, id) in &seeded.opportunities {
            println!("    {id}  {name}");
        }
    }
    println!();
    println!("  Ctrl-C stops Keel.");
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
