//! The `keel` command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::platform::Target;

/// Keel: governed client delivery for professional-services firms, from a won deal to an
/// invoice-ready milestone.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: ./keel.toml when it exists). Environment variables
    /// KEEL__SECTION__KEY override it; flags override both.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in one process: all gRPC APIs on one address, GraphQL on another,
    /// SQLite files under the data directory, the event bus in process.
    Up(UpArgs),
    /// Run one service alone (distributed mode), through the same wiring as `up`.
    Run(RunArgs),
    /// Print a JWT for a role, signed with the embedded key (embedded mode only).
    Token(TokenArgs),
    /// Run the database migrations and exit.
    Migrate(MigrateArgs),
    /// Copy each embedded (SQLite) store and the local signing key into a directory that
    /// `keel up --data-dir` can start from. Safe while Keel runs; stop it first for one point
    /// in time across every store.
    Backup(BackupArgs),
    /// Seed the demo firm (delivery templates, employees, accounts and opportunities) into
    /// running services: the PSA, HRIS and CRM at `services.*`, or the embedded server's gRPC
    /// address. Safe to run again: it changes nothing the second time.
    Seed(SeedArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

/// Where to listen and keep data; each overrides the configuration.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerArgs {
    /// Data directory for SQLite files and the local signing key [default: ./keel-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// GraphQL and health endpoints [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// gRPC services [default: 127.0.0.1:50051]
    #[arg(long, value_name = "ADDR")]
    pub grpc_addr: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Seed a small demo firm: accounts, opportunities, delivery templates.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The service to run.
    #[arg(long, value_enum)]
    pub target: Target,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The role the token grants: project_manager, resource_manager, finance, executive,
    /// consultant, operations or admin.
    #[arg(long)]
    pub role: String,
    /// The subject (who the token is for).
    #[arg(long, value_name = "NAME")]
    pub sub: String,
    /// Lifetime in minutes.
    #[arg(long, default_value_t = 60, value_name = "MINUTES")]
    pub ttl_minutes: u64,
    /// Data directory holding the embedded key [default: ./keel-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Data directory holding the embedded signing key [default: ./keel-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Migrate one service's store only (default: every service).
    #[arg(long, value_enum, default_value_t = Target::All)]
    pub target: Target,
    /// Data directory for SQLite files [default: ./keel-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Directory to copy into; created if missing, and must not hold a store of the same name.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Copy one service's store only (default: every service).
    #[arg(long, value_enum, default_value_t = Target::All)]
    pub target: Target,
    /// Data directory holding the SQLite files [default: ./keel-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}
