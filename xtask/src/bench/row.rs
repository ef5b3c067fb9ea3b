//! One row of the performance table, as every benchmark reports it, and the reader of the
//! `BENCH {json}` lines the store-level bench targets print.

use serde::{Deserialize, Serialize};

/// One measured figure beside its baseline. Store-level bench targets print it as
/// `BENCH {json}` on one line; `cargo xtask bench` builds its own rows the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Which figure: `gateway`, `system-api-read`, `time-capture`, `workflow`, `memory`, …
    pub figure: String,
    /// `sqlite` (embedded) or `postgres`.
    pub mode: String,
    /// The unit and what was measured: `requests/s`, `p99 ms`, `RSS MiB`, …
    pub metric: String,
    /// Keel's figure; `None` when it could not be measured (see `notes`).
    pub keel: Option<f64>,
    /// The baseline's figure, measured in the same run; `None` for a figure with a fixed goal.
    #[serde(default)]
    pub baseline: Option<f64>,
    /// What the baseline is, e.g. `pgbench -S -c 8`.
    #[serde(default)]
    pub baseline_name: String,
    /// Keel ÷ baseline (for a rate: higher is better; for a latency: lower is better).
    #[serde(default)]
    pub ratio: Option<f64>,
    /// The goal, as a comparison: `>= 0.30` (of the ratio when there is a baseline, else of
    /// Keel's figure), `<= 150`, `< 2`; empty when the figure is only reported.
    #[serde(default)]
    pub goal: String,
    /// Whether the goal is met; `None` when there is no goal or nothing was measured.
    #[serde(default)]
    pub met: Option<bool>,
    /// How many measured runs, each after a warm-up, the figure is taken from (their median
    /// unless the notes say otherwise); `None` when the bench did not say.
    #[serde(default)]
    pub runs: Option<usize>,
    /// How it was measured, and why a goal is missed.
    #[serde(default)]
    pub notes: String,
    /// When and how the row was measured, if not by the run the page is dated by: set on the
    /// rows `cargo xtask bench --only` merges in, e.g. `2026-11-27 16:05 UTC by cargo xtask
    /// bench --only time-capture`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub measured: String,
}

/// Whether `figure` is `family` or a figure named after it: `time-capture-memory` is of the
/// `time-capture` family, `workflow-latency` of `workflow`, `workflows` of neither.
pub fn of_family(figure: &str, family: &str) -> bool {
    figure
        .strip_prefix(family)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// Why a `BENCH` line could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// 1-based line number in the output.
    pub line: usize,
    pub problem: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// Every `BENCH {json}` line of a bench target's output, in order. Other lines are ignored; a
/// `BENCH` line that is not a row (bad JSON, a missing field, a figure or mode left empty)
/// is returned as a [`BadLine`] naming the line and the field.
pub fn parse_rows(output: &str) -> (Vec<Row>, Vec<BadLine>) {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for (index, line) in output.lines().enumerate() {
        let Some(json) = line.trim_start().strip_prefix("BENCH ") else {
            continue;
        };
        match serde_json::from_str::<Row>(json.trim()) {
            Ok(row) => {
                let empty = [("figure", &row.figure), ("mode", &row.mode), ("metric", &row.metric)]
                    .into_iter()
                    .find(|(_, value)| value.trim().is_empty());
                match empty {
                    Some((field, _)) => bad.push(BadLine {
                        line: index + 1,
                        problem: format!("`{field}` is empty"),
                    }),
                    None => rows.push(row),
                }
            }
            Err(e) => bad.push(BadLine {
                line: index + 1,
                problem: format!("not a bench row: {e}"),
            }),
        }
    }
    (rows, bad)
}

/// A goal as a comparison against a threshold: `>= 0.30`, `<= 5.0`, `< 2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goal {
    pub op: &'static str,
    pub threshold: f64,
}

impl Goal {
    pub fn parse(text: &str) -> Option<Goal> {
        let text = text.trim();
        let (op, rest) = [">=", "<=", ">", "<"]
            .into_iter()
            .find_map(|op| text.strip_prefix(op).map(|rest| (op, rest)))?;
        let threshold = rest.trim().parse::<f64>().ok()?;
        Some(Goal { op, threshold })
    }

    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            ">=" => value >= self.threshold,
            "<=" => value <= self.threshold,
            ">" => value > self.threshold,
            _ => value < self.threshold,
        }
    }
}

impl Row {
    /// A measured row: the ratio is Keel ÷ baseline when there is a baseline, and the goal is
    /// checked against the ratio (with a baseline) or Keel's figure (without one).
    #[allow(clippy::too_many_arguments)]
    pub fn measured(
        figure: &str,
        mode: &str,
        metric: &str,
        keel: f64,
        baseline: Option<(f64, &str)>,
        goal: &str,
        notes: String,
    ) -> Row {
        let ratio = baseline.and_then(|(b, _)| (b > 0.0).then_some(keel / b));
        let compared = if baseline.is_some() { ratio } else { Some(keel) };
        let met = Goal::parse(goal).and_then(|g| compared.map(|v| g.holds(v)));
        Row {
            figure: figure.into(),
            mode: mode.into(),
            metric: metric.into(),
            keel: Some(keel),
            baseline: baseline.map(|(b, _)| b),
            baseline_name: baseline.map(|(_, name)| name.to_string()).unwrap_or_default(),
            ratio,
            goal: goal.into(),
            met,
            runs: None,
            notes,
            measured: String::new(),
        }
    }

    /// The number of measured runs the figure is taken from.
    pub fn runs(mut self, runs: usize) -> Row {
        self.runs = Some(runs);
        self
    }

    /// A row for a figure that was not measured, saying why.
    pub fn not_run(figure: &str, mode: &str, metric: &str, goal: &str, why: String) -> Row {
        Row {
            figure: figure.into(),
            mode: mode.into(),
            metric: metric.into(),
            keel: None,
            baseline: None,
            baseline_name: String::new(),
            ratio: None,
            goal: goal.into(),
            met: None,
            runs: None,
            notes: why,
            measured: String::new(),
        }
    }
}
