//! Writes `docs/performance.md`: the machine, the date, the table of rows, how to reproduce
//! them, and the notes of every row whose goal is missed.

use serde::{Deserialize, Serialize};

use super::row::Row;

/// The machine a run measured, as `lscpu`, `/proc/meminfo` and `uname -r` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: String,
    pub ram: String,
    pub kernel: String,
}

impl Machine {
    /// Reads the machine this runs on; anything that cannot be read says `unknown`.
    pub fn detect() -> Machine {
        let lscpu = command_output("lscpu", &[]);
        let field = |name: &str| {
            lscpu
                .lines()
                .find_map(|line| line.strip_prefix(name).map(|rest| rest.trim().to_string()))
                .unwrap_or_else(|| "unknown".into())
        };
        let ram = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let kernel = command_output("uname", &["-r"]).trim().to_string();
        Machine {
            cpu: field("Model name:"),
            cores: field("CPU(s):"),
            ram,
            kernel: if kernel.is_empty() { "unknown".into() } else { kernel },
        }
    }
}

impl Machine {
    /// Whether `other` is the same hardware: CPU, CPU count and memory. The kernel may have
    /// been updated between two runs on one machine.
    pub fn same_hardware(&self, other: &Machine) -> bool {
        (&self.cpu, &self.cores, &self.ram) == (&other.cpu, &other.cores, &other.ram)
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A number as the table shows it: four significant figures at most, no float noise.
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 1000.0 {
        0
    } else if magnitude >= 100.0 {
        1
    } else if magnitude >= 10.0 {
        2
    } else {
        3
    };
    format!("{value:.decimals$}")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The table in Markdown, one line per row, in the order given.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Figure | Mode | Metric | Keel | Baseline | Ratio | Goal | Met | Runs |\n| --- | --- | --- | ---: | --- | ---: | --- | --- | ---: |\n",
    );
    for row in rows {
        let keel = row.keel.map(number).unwrap_or_else(|| "not run".into());
        let baseline = match (row.baseline, row.baseline_name.is_empty()) {
            (Some(b), false) => format!("{} ({})", number(b), row.baseline_name),
            (Some(b), true) => number(b),
            (None, false) => format!("— ({})", row.baseline_name),
            (None, true) => "—".into(),
        };
        let ratio = row.ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "—".into());
        let goal = if row.goal.is_empty() {
            "reported"
        } else {
            row.goal.as_str()
        };
        let met = match (row.keel, row.met) {
            (None, _) => "not run",
            (_, Some(true)) => "yes",
            (_, Some(false)) => "**no**",
            (_, None) => "—",
        };
        let runs = row.runs.map(|n| n.to_string()).unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&row.figure),
            cell(&row.mode),
            cell(&row.metric),
            keel,
            cell(&baseline),
            ratio,
            cell(goal),
            met,
            runs
        ));
    }
    out
}

/// What a page was measured from, kept at its end (an HTML comment) so that `cargo xtask
/// bench --only` can re-measure some figures and write the page again with the others as
/// they were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// When the run the page is dated by ended, e.g. `2026-11-27 13:21 UTC`.
    pub date: String,
    pub machine: Machine,
    /// The `KEEL_BENCH_*` settings of that run, as `NAME=value` words.
    #[serde(default)]
    pub environment: Vec<String>,
    pub rows: Vec<Row>,
    #[serde(default)]
    pub smoke: bool,
}

/// Opens the comment that keeps a page's [`Page`].
const KEPT: &str = "<!-- cargo xtask bench: the rows of this page, for `cargo xtask bench --only` to merge into";

impl Page {
    /// The page kept at the end of a written `docs/performance.md`; `None` for a page that
    /// keeps none (written before `--only` existed, or by hand).
    pub fn read(document: &str) -> Result<Option<Page>, String> {
        let Some(start) = document.rfind(KEPT) else {
            return Ok(None);
        };
        let body = &document[start + KEPT.len()..];
        let end = body.find("-->").ok_or("the kept rows' comment is not closed")?;
        serde_json::from_str(body[..end].trim())
            .map(Some)
            .map_err(|e| format!("the kept rows cannot be read: {e}"))
    }
}

/// The whole of `docs/performance.md`: the page's rows with the machine and the date, how to
/// reproduce them, the notes of every row whose goal is missed, and the page itself kept in a
/// closing comment.
pub fn document(page: &Page, reproduce: &str) -> String {
    let (rows, machine, date, smoke) = (&page.rows, &page.machine, &page.date, page.smoke);
    let mut out = String::from("# Performance\n\n");
    if smoke {
        out.push_str(
            "**Smoke run**: tiny durations and counts, debug build. These numbers prove the \
             benchmarks work; they measure nothing.\n\n",
        );
    }
    out.push_str(
        "Each figure of Keel beside a baseline measured in the same run on the same machine, \
         written by `cargo xtask bench`. A ratio is Keel ÷ baseline: for a rate, higher is \
         better; for a latency, lower is. A goal without a baseline is checked against Keel's \
         figure. Runs says how many measured runs, each after a warm-up, a figure is taken \
         from: their median, unless its notes say otherwise (the highest reading, for memory \
         under load). The suite takes 3 runs where it can; a figure taken from fewer says so \
         here, and its notes say why.\n\n",
    );
    out.push_str(&format!(
        "- Date: {date}\n- CPU: {} ({} CPUs)\n- RAM: {}\n- Kernel: {}\n",
        machine.cpu, machine.cores, machine.ram, machine.kernel
    ));
    // Rows re-measured since, each group with its own baselines measured beside it.
    let mut later: Vec<(&str, Vec<String>)> = Vec::new();
    for row in rows.iter().filter(|r| !r.measured.is_empty()) {
        let name = format!("{} / {} / {}", row.figure, row.mode, row.metric);
        match later.iter_mut().find(|(when, _)| *when == row.measured) {
            Some((_, names)) => names.push(name),
            None => later.push((row.measured.as_str(), vec![name])),
        }
    }
    for (when, names) in &later {
        out.push_str(&format!(
            "- Re-measured {when}, each beside a baseline of that run, on this machine: {}\n",
            names.join(", ")
        ));
    }
    out.push('\n');
    out.push_str(&table(rows));
    out.push_str("\n## How each figure is measured\n\n");
    for row in rows.iter().filter(|r| !r.notes.is_empty()) {
        out.push_str(&format!(
            "- **{} / {} / {}**: {}\n",
            row.figure,
            row.mode,
            row.metric,
            row.notes.trim()
        ));
    }
    out.push_str("\n## How to reproduce\n\n");
    out.push_str(reproduce);
    out.push_str("\n## Where a goal is missed\n\n");
    let missed: Vec<&Row> = rows.iter().filter(|r| r.met == Some(false)).collect();
    let not_run: Vec<&Row> = rows.iter().filter(|r| r.keel.is_none()).collect();
    if missed.is_empty() {
        out.push_str("Every measured figure meets its goal.\n");
    } else {
        out.push_str(
            "Each row's own measurements say where its time or memory went; the CPU profiles of the \
             missed figures, taken with `perf` under the same loads, are in \
             [performance-profiles.md](performance-profiles.md).\n\n",
        );
    }
    for row in &missed {
        out.push_str(&format!(
            "- **{} / {} / {}**: {} against a goal of {}. {}\n",
            row.figure,
            row.mode,
            row.metric,
            row.ratio
                .map(|r| format!("ratio {r:.2}"))
                .or(row.keel.map(number))
                .unwrap_or_default(),
            row.goal,
            row.notes.trim()
        ));
    }
    if !not_run.is_empty() {
        out.push_str("\nNot measured in this run:\n\n");
        for row in &not_run {
            out.push_str(&format!(
                "- **{} / {} / {}**: {}\n",
                row.figure,
                row.mode,
                row.metric,
                row.notes.trim()
            ));
        }
    }
    // `-->` cannot close the comment early: inside a JSON string `>` may be escaped.
    let kept = serde_json::to_string(page)
        .unwrap_or_default()
        .replace("-->", "--\\u003e");
    out.push_str(&format!("\n{KEPT}\n{kept}\n-->\n"));
    out
}
