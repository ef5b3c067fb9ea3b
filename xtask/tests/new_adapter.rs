//! `cargo xtask new-adapter`: what it writes for every system, and (with `--ignored`, as
//! `.ci/run` does) that a generated crate compiles inside a copy of the workspace and runs its
//! conformance kit, failing honestly on every operation it has not implemented.

use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::new_adapter::{self, SYSTEMS};

#[test]
fn every_system_gets_a_crate_whose_rust_parses_and_stubs_each_required_method() {
    let root = xtask::workspace_root();
    for system in SYSTEMS {
        let generated = new_adapter::generate(&root, system, "acme").unwrap();
        assert_eq!(generated.package, format!("keel-adapter-{system}-acme"));
        let lib = generated
            .files
            .iter()
            .find(|f| f.path.ends_with("lib.rs"))
            .expect("src/lib.rs");
        let parsed = syn::parse_file(&lib.contents).unwrap_or_else(|e| panic!("{system}: {e}\n{}", lib.contents));
        assert!(
            !lib.contents.contains("crate ::"),
            "{system}: imports must name the system crate"
        );
        assert!(
            !lib.contents.contains("crate::"),
            "{system}: imports must name the system crate"
        );
        let impl_block = parsed
            .items
            .iter()
            .find_map(|i| match i {
                syn::Item::Impl(b) if b.trait_.is_some() => Some(b),
                _ => None,
            })
            .expect("the adapter impl");
        assert_eq!(impl_block.items.len(), generated.stubbed.len(), "{system}");
        for method in &generated.stubbed {
            assert!(lib.contents.contains("not_supported"), "{system}: {method}");
        }
        let test = generated
            .files
            .iter()
            .find(|f| f.path.ends_with("conformance.rs"))
            .unwrap();
        assert!(
            test.contents.contains(&format!("keel_conformance::{system}::run")),
            "{system}"
        );
    }
}

#[test]
fn bad_systems_and_names_are_refused_by_name() {
    let root = xtask::workspace_root();
    let error = new_adapter::generate(&root, "billing", "acme").unwrap_err().to_string();
    assert!(error.starts_with("system:"), "{error}");
    let error = new_adapter::generate(&root, "crm", "Acme Cloud")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("name:"), "{error}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == ".git" || name == "target" || name.starts_with("target-") {
            continue;
        }
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&path, &to.join(&*name));
        } else {
            std::fs::copy(&path, to.join(&*name)).unwrap();
        }
    }
}

/// Builds into its own target directory beside the one in use, kept between runs.
fn check_target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(format!("{}-adapter-check", PathBuf::from(dir).display())),
        None => root.join("target").join("adapter-check"),
    }
}

#[test]
#[ignore = "builds a generated crate in a copy of the workspace (minutes on a cold cache); .ci/run runs it"]
fn a_generated_adapter_compiles_and_its_conformance_kit_fails_honestly() {
    let root = xtask::workspace_root();
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&root, copy.path());
    let generated = new_adapter::generate(copy.path(), "crm", "acme").unwrap();
    new_adapter::write(copy.path(), &generated).unwrap();
    let manifest = std::fs::read_to_string(copy.path().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("\"system-apis/adapters/crm-acme\""),
        "added to the workspace"
    );

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = check_target_dir(&root);
    let build = Command::new(&cargo)
        .current_dir(copy.path())
        .env("CARGO_TARGET_DIR", &target)
        .args(["test", "--offline", "-p", "keel-adapter-crm-acme", "--no-run"])
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the generated crate does not compile:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let run = Command::new(&cargo)
        .current_dir(copy.path())
        .env("CARGO_TARGET_DIR", &target)
        .args(["test", "--offline", "-p", "keel-adapter-crm-acme"])
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!run.status.success(), "a stub adapter cannot pass the kit:\n{output}");
    assert!(output.contains("conformance kit for crm:"), "{output}");
    let failures: Vec<&str> = output.lines().filter(|l| l.trim_start().starts_with("FAIL")).collect();
    assert!(!failures.is_empty(), "{output}");
    for line in &failures {
        assert!(
            line.contains("Unimplemented") && line.contains("not supported"),
            "every failure is an honest UNIMPLEMENTED, not a panic or a wrong answer: {line}"
        );
    }
}
