//! `cargo xtask`: Keel's developer tasks.

use clap::{Parser, Subcommand};
use xtask::new_adapter;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
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
