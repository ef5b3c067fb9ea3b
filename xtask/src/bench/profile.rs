//! `cargo xtask profile --pid PID`: where a running Keel process spends its CPU, from `perf`.
//! It samples the process for a while (`perf record -F 499`, no call graphs), reads
//! `perf report --no-children --sort sym`, and rolls the samples up by crate (the first path
//! segment of each symbol; `[k]` symbols are the kernel, C symbols the C library), so a
//! profile says "a third in the PostgreSQL driver" rather than listing a thousand symbols.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// One symbol of a `perf report --no-children --sort sym --stdio` listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub percent: f64,
    /// Samples of the symbol (`perf report -n`); 0 when the listing has no count column.
    pub count: u64,
    pub kernel: bool,
    pub symbol: String,
}

/// The symbol lines of a `perf report --stdio` listing: `  12.34%  [.] symbol`, or with `-n`
/// `  12.34%  1234  [.] symbol`. Comments, blank lines and anything else are skipped.
pub fn parse_report(text: &str) -> Vec<Sample> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (percent, rest) = line.split_once('%')?;
            let percent: f64 = percent.trim().parse().ok()?;
            let rest = rest.trim_start();
            let (count, rest) = match rest.split_once(char::is_whitespace) {
                Some((n, after)) if n.chars().all(|c| c.is_ascii_digit()) => (n.parse().ok()?, after.trim_start()),
                _ => (0, rest),
            };
            let (kernel, symbol) = if let Some(symbol) = rest.strip_prefix("[k]") {
                (true, symbol)
            } else {
                (false, rest.strip_prefix("[.]")?)
            };
            Some(Sample {
                percent,
                count,
                kernel,
                symbol: symbol.trim().to_string(),
            })
        })
        .collect()
}

/// The crate a demangled Rust symbol belongs to: its first path segment, past any leading
/// `<`, `&`, `mut ` or `dyn ` of a trait impl (`<tokio::task::X as Future>::poll` is tokio's).
/// A symbol without a path is C: the C library (memcpy, malloc) or an unresolved address.
pub fn crate_of(sample: &Sample) -> String {
    if sample.kernel {
        return "kernel".into();
    }
    let mut symbol = sample.symbol.as_str();
    loop {
        let trimmed = symbol
            .trim_start_matches(['<', '&', '('])
            .trim_start_matches("mut ")
            .trim_start_matches("dyn ")
            .trim_start_matches("impl ");
        if trimmed.len() == symbol.len() {
            break;
        }
        symbol = trimmed;
    }
    if symbol.starts_with("0x") {
        return "unresolved".into();
    }
    match symbol.split_once("::") {
        Some((head, _)) if !head.is_empty() && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            head.to_string()
        }
        _ => "C library".into(),
    }
}

/// Percent of samples per crate, largest first.
pub fn rollup(samples: &[Sample]) -> Vec<(String, f64)> {
    let mut by_crate: BTreeMap<String, f64> = BTreeMap::new();
    for sample in samples {
        *by_crate.entry(crate_of(sample)).or_default() += sample.percent;
    }
    let mut rows: Vec<(String, f64)> = by_crate.into_iter().collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

/// How busy the sampled threads were: samples ÷ (499 Hz × `seconds`), as a share of one core.
pub fn cores_busy(samples: &[Sample], seconds: f64) -> f64 {
    samples.iter().map(|s| s.count).sum::<u64>() as f64 / (FREQUENCY as f64 * seconds.max(f64::EPSILON))
}

/// Samples per second per thread `perf record` takes.
pub const FREQUENCY: u32 = 499;

/// The profile as Markdown: crates over `min_percent`, then the `top` symbols.
pub fn markdown(samples: &[Sample], min_percent: f64, top: usize) -> String {
    let mut out = String::from("| Crate | CPU % |\n| --- | ---: |\n");
    let rows = rollup(samples);
    let mut rest = 0.0;
    for (name, percent) in &rows {
        if *percent >= min_percent {
            out.push_str(&format!("| {name} | {percent:.1} |\n"));
        } else {
            rest += percent;
        }
    }
    if rest > 0.0 {
        out.push_str(&format!("| (others, each under {min_percent}%) | {rest:.1} |\n"));
    }
    out.push_str("\nTop symbols:\n\n");
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by(|a, b| b.percent.total_cmp(&a.percent));
    for sample in sorted.into_iter().take(top) {
        let mut symbol = sample.symbol.clone();
        if symbol.len() > 140 {
            let mut cut = 140;
            while !symbol.is_char_boundary(cut) {
                cut -= 1;
            }
            symbol.truncate(cut);
            symbol.push('…');
        }
        out.push_str(&format!(
            "- {:.1}% `{}`{}\n",
            sample.percent,
            symbol.replace('`', "'"),
            if sample.kernel { " (kernel)" } else { "" }
        ));
    }
    out
}

/// The crates over `min_percent`, largest first, on one line: `sqlx_postgres 31.2%, kernel 20.1%`.
pub fn summary(samples: &[Sample], min_percent: f64) -> String {
    rollup(samples)
        .into_iter()
        .filter(|(_, percent)| *percent >= min_percent)
        .map(|(name, percent)| format!("{name} {percent:.1}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `perf record` of process `pid` for `seconds` into `data`, started (call `wait` on it).
pub fn start_recording(pid: u32, seconds: u64, data: &Path) -> anyhow::Result<std::process::Child> {
    Command::new("perf")
        .args([
            "record",
            "-q",
            "-F",
            &FREQUENCY.to_string(),
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(data)
        .args(["--", "sleep", &seconds.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running perf record (Debian package linux-perf)")
}

/// Waits for a recording started by [`start_recording`] and reads it back: the samples of the
/// threads named `comm` only, when given (e.g. `keel-server`, a runtime's thread name).
pub fn finish_recording(perf: std::process::Child, data: &Path, comm: Option<&str>) -> anyhow::Result<Vec<Sample>> {
    let output = perf.wait_with_output().context("waiting for perf record")?;
    if !output.status.success() {
        bail!(
            "perf record failed ({}): {}; is perf_event_paranoid low enough?",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut report = Command::new("perf");
    report
        .args(["report", "-n", "--no-children", "--sort", "sym", "--stdio", "-q", "-i"])
        .arg(data);
    if let Some(comm) = comm {
        // Shares of the kept threads' samples, not of the whole process's.
        report.args(["--comms", comm, "--percentage", "relative"]);
    }
    let output = report.output().context("running perf report")?;
    std::fs::remove_file(data).ok();
    if !output.status.success() {
        bail!("perf report failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let samples = parse_report(&String::from_utf8_lossy(&output.stdout));
    if samples.is_empty() {
        bail!("perf recorded no samples: was the process busy?");
    }
    Ok(samples)
}
