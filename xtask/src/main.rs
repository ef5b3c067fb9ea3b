//! `cargo xtask`: Keel's developer tasks.

use clap::{Parser, Subcommand};
use xtask::{bench, new_adapter};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Keel's developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Writes a compiling adapter crate for a system API under system-apis/adapters/, with
    /// its conformance test wired in and a README, and adds it to the workspace.
    NewAdapter {
        /// The system: crm, psa, erp, hris, documents, collaboration or support.
        system: String,
        /// The product's short name, lower case (e.g. "acme").
        name: String,
        /// Print the files instead of writing them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Measures Keel against baselines in the same run (gateway, memory, start-up, and the
    /// store-level bench targets) and writes the table to docs/performance.md. Needs `oha`
    /// (`cargo install oha --locked`), `taskset`, `psql` and `pgbench` on PATH.
    Bench {
        /// Tiny durations on the debug build, to prove the benchmarks work; writes to
        /// `--out` or a temporary file, never to docs/.
        #[arg(long)]
        smoke: bool,
        /// Where to write the table (default: docs/performance.md; with --smoke, a
        /// temporary file).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// PostgreSQL for the figures on PostgreSQL.
        #[arg(
            long,
            env = "KEEL_BENCH_DATABASE_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/test"
        )]
        database_url: String,
        /// Re-measure only these figures (gateway, which brings memory and start-up with it,
        /// system-api-read, time-capture, workflow; comma-separated or repeated) and merge
        /// their rows into the page at --out, keeping its other rows. The page must have been
        /// written on this machine.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Where a running process spends its CPU: samples it with perf and prints the share of
    /// each crate and the top symbols, as Markdown (how docs/performance-profiles.md is made).
    Profile {
        /// The process to sample (e.g. `pgrep -n keel`).
        #[arg(long)]
        pid: u32,
        /// How long to sample, in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// How many symbols to list.
        #[arg(long, default_value_t = 15)]
        top: usize,
        /// Only the threads of this name (a runtime's threads, e.g. `keel-server`).
        #[arg(long)]
        comm: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Bench {
            smoke,
            out,
            database_url,
            only,
        } => bench::run(
            &xtask::workspace_root(),
            &bench::Options {
                smoke,
                out,
                database_url,
                only,
            },
        ),
        Task::Profile {
            pid,
            seconds,
            top,
            comm,
        } => {
            let data = std::env::temp_dir().join(format!("keel-profile-{pid}.data"));
            let perf = bench::profile::start_recording(pid, seconds, &data)?;
            let samples = bench::profile::finish_recording(perf, &data, comm.as_deref())?;
            println!(
                "{} samples: the sampled threads were on CPU {:.2} cores' worth of the {seconds} s\n",
                samples.iter().map(|s| s.count).sum::<u64>(),
                bench::profile::cores_busy(&samples, seconds as f64)
            );
            println!("{}", bench::profile::markdown(&samples, 1.0, top));
            Ok(())
        }
        Task::NewAdapter { system, name, dry_run } => {
            let root = xtask::workspace_root();
            let generated = new_adapter::generate(&root, &system, &name)?;
            if dry_run {
                for file in &generated.files {
                    println!("==> {}", generated.dir.join(&file.path).display());
                    println!("{}", file.contents);
                }
                return Ok(());
            }
            new_adapter::write(&root, &generated)?;
            println!(
                "wrote {} ({}), {} operations stubbed, and added it to the workspace",
                generated.dir.display(),
                generated.package,
                generated.stubbed.len()
            );
            println!(
                "next: cargo test -p {}   # the conformance kit lists what is left",
                generated.package
            );
            println!(
                "then register it: one line in src/adapters.rs, \"{}\" => Arc::new({}::{}::new()),",
                generated.name,
                generated.package.replace('-', "_"),
                generated.type_name
            );
            Ok(())
        }
    }
}
