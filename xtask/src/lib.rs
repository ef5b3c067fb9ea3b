//! Keel's developer tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).

pub mod bench;
pub mod new_adapter;

/// The workspace root: the parent of this crate's directory.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}
