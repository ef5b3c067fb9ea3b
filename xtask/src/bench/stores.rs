//! The store-level figures: bench targets of the system and process APIs that print their
//! rows as `BENCH {json}` lines. A target that does not exist is a "not run" row; one that
//! exists and fails, or prints no row, is a failure.

use std::path::Path;

use super::row::{Row, parse_rows};

/// A bench target: its package, its name, and the figure it measures.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub package: &'static str,
    pub bench: &'static str,
    pub figure: &'static str,
}

pub const TARGETS: [Target; 3] = [
    Target {
        package: "keel-psa",
        bench: "get_project",
        figure: "system-api-read",
    },
    Target {
        package: "keel-time-capture",
        bench: "capture",
        figure: "time-capture",
    },
    Target {
        package: "keel-workflow",
        bench: "engine",
        figure: "workflow",
    },
];

/// The targets `--only` names, by figure (`time-capture`, `workflow`, …) or bench target
/// (`capture`, `engine`, …), in the suite's order; a name that is neither is an error
/// listing every figure `--only` takes (the gateway's too: `super::select` takes those out
/// before asking here).
pub fn named(names: &[String]) -> Result<Vec<Target>, String> {
    for name in names {
        if !TARGETS.iter().any(|t| t.figure == name || t.bench == name) {
            let known: Vec<&str> = TARGETS.iter().map(|t| t.figure).collect();
            return Err(format!(
                "--only: no figure {name:?}; the figures are gateway (with memory and start-up, measured together), {}",
                known.join(", ")
            ));
        }
    }
    Ok(TARGETS
        .into_iter()
        .filter(|t| names.iter().any(|n| t.figure == n || t.bench == n))
        .collect())
}

/// Whether a row of `figure` is one of `target`'s: its figure, or a figure named after it
/// (`time-capture-memory` is the capture target's, `workflow-latency` the engine's).
pub fn measures(target: &Target, figure: &str) -> bool {
    super::row::of_family(figure, target.figure)
}

/// The command that runs a target: `cargo bench` (release), or in smoke mode
/// `KEEL_BENCH_SMOKE=1 cargo test --bench` (debug; the targets are `harness = false`, so
/// their stdout is not captured).
pub fn command_line(target: &Target, smoke: bool) -> String {
    if smoke {
        format!(
            "KEEL_BENCH_SMOKE=1 cargo test -p {} --bench {}",
            target.package, target.bench
        )
    } else {
        format!("cargo bench -p {} --bench {}", target.package, target.bench)
    }
}

/// What running a target gave.
#[derive(Debug)]
pub struct Collected {
    pub rows: Vec<Row>,
    /// Why the target failed, if it did (it existed and could not be measured).
    pub failure: Option<String>,
}

/// Reads what a target printed and how it ended into rows: its `BENCH` rows, a "not run" row
/// if cargo has no such target, and a failure if it ran and failed or printed no row.
pub fn collect(target: &Target, stdout: &str, stderr: &str, success: bool) -> Collected {
    let (rows, bad) = parse_rows(stdout);
    let missing = stderr.contains("no bench target named")
        || stderr.contains("did not match any packages")
        || stderr.contains("package(s) `") && stderr.contains("not found");
    if !success && missing && rows.is_empty() {
        return Collected {
            rows: vec![Row::not_run(
                target.figure,
                "-",
                "-",
                "",
                format!(
                    "not run: `{}` has no bench target `{}` in this tree",
                    target.package, target.bench
                ),
            )],
            failure: None,
        };
    }
    let mut problems: Vec<String> = bad.iter().map(|b| format!("bad BENCH {b}")).collect();
    if !success {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        problems.push(format!("exited with failure: {}", tail.join(" / ")));
    }
    if rows.is_empty() {
        problems.push("printed no BENCH row".into());
    }
    let failure =
        (!problems.is_empty()).then(|| format!("{} --bench {}: {}", target.package, target.bench, problems.join("; ")));
    let mut rows = rows;
    if rows.is_empty() {
        rows.push(Row::not_run(
            target.figure,
            "-",
            "-",
            "",
            format!("failed: {}", failure.clone().unwrap_or_default()),
        ));
    }
    Collected { rows, failure }
}

/// Runs a target from the workspace root and collects its rows.
pub fn run(root: &Path, target: &Target, smoke: bool) -> Collected {
    let mut command = super::cargo(root);
    if smoke {
        command
            .env("KEEL_BENCH_SMOKE", "1")
            .args(["test", "-p", target.package, "--bench", target.bench]);
    } else {
        command.args(["bench", "-p", target.package, "--bench", target.bench]);
    }
    eprintln!("bench: {}", command_line(target, smoke));
    match command.output() {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            collect(target, &stdout, &stderr, output.status.success())
        }
        Err(e) => Collected {
            rows: vec![Row::not_run(
                target.figure,
                "-",
                "-",
                "",
                format!("could not run cargo: {e}"),
            )],
            failure: Some(format!("{}: could not run cargo: {e}", target.package)),
        },
    }
}
