//! `cargo xtask bench`'s reading of the store-level targets' `BENCH` lines, its verdicts on
//! goals, and the table it writes to docs/performance.md.

use xtask::bench::answers_as_checked;
use xtask::bench::load::{LoadResult, LoadSpec, median, oha_args, parse_oha};
use xtask::bench::row::{Goal, Row, parse_rows};
use xtask::bench::stores::{TARGETS, collect, measures};
use xtask::bench::table::{Machine, Page, document, table};
use xtask::bench::{merge, select};

const OUTPUT: &str = r#"   Compiling keel-psa v0.1.0
warming up
BENCH {"figure":"system-api-read","mode":"postgres","metric":"requests/s","keel":1234.5,"baseline":2345.6,"baseline_name":"pgbench -S -c 8","ratio":0.53,"goal":">= 0.40","met":true,"runs":3,"notes":"concurrency 8, 10 s, median of 3"}
some other line mentioning BENCH in the middle
BENCH {"figure":"system-api-read","mode":"sqlite","metric":"requests/s","keel":900,"baseline":2345.6,"baseline_name":"pgbench -S -c 8","ratio":0.38,"goal":">= 0.40","met":false,"notes":"the SQLite pool serializes writes"}
BENCH {"figure":"time-capture","mode":"postgres","metric":"RSS MiB","keel":80.5,"goal":"","runs":1,"notes":"at 10,000 entries"}
"#;

#[test]
fn bench_lines_are_read_into_rows_and_other_lines_are_ignored() {
    let (rows, bad) = parse_rows(OUTPUT);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].figure, "system-api-read");
    assert_eq!(rows[0].mode, "postgres");
    assert_eq!(rows[0].keel, Some(1234.5));
    assert_eq!(rows[0].baseline, Some(2345.6));
    assert_eq!(rows[0].baseline_name, "pgbench -S -c 8");
    assert_eq!(rows[0].ratio, Some(0.53));
    assert_eq!(rows[0].met, Some(true));
    assert_eq!(rows[1].met, Some(false));
    assert_eq!(rows[1].keel, Some(900.0));
    // A memory row carries no baseline, ratio or verdict: they default to none.
    assert_eq!(rows[2].baseline, None);
    assert_eq!(rows[2].ratio, None);
    assert_eq!(rows[2].met, None);
    // How many runs a figure is taken from, when its bench says; none when it does not.
    assert_eq!(rows[0].runs, Some(3));
    assert_eq!(rows[1].runs, None);
    assert_eq!(rows[2].runs, Some(1));
}

#[test]
fn a_bench_line_that_is_not_a_row_is_named_by_line_and_problem() {
    let output = "BENCH {\"figure\":\"workflow\"\nBENCH {\"figure\":\"\",\"mode\":\"sqlite\",\"metric\":\"steps/s\",\"keel\":1}\nBENCH {\"mode\":\"sqlite\",\"metric\":\"steps/s\",\"keel\":1}\nBENCH {\"figure\":\"workflow\",\"mode\":\"sqlite\",\"metric\":\"steps/s\",\"keel\":\"fast\"}\n";
    let (rows, bad) = parse_rows(output);
    assert!(rows.is_empty(), "{rows:?}");
    let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, [1, 2, 3, 4]);
    assert!(bad[1].problem.contains("`figure` is empty"), "{}", bad[1].problem);
    assert!(bad[2].problem.contains("missing field `figure`"), "{}", bad[2].problem);
    assert!(bad[3].problem.contains("invalid type"), "{}", bad[3].problem);
}

#[test]
fn goals_are_checked_against_the_ratio_or_against_keels_own_figure() {
    let rate = Row::measured(
        "gateway",
        "sqlite",
        "requests/s",
        300.0,
        Some((1000.0, "{ __typename }")),
        ">= 0.30",
        String::new(),
    );
    assert_eq!(rate.ratio, Some(0.3));
    assert_eq!(rate.met, Some(true));
    let slow = Row::measured(
        "gateway",
        "sqlite",
        "requests/s",
        299.0,
        Some((1000.0, "{ __typename }")),
        ">= 0.30",
        String::new(),
    );
    assert_eq!(slow.met, Some(false));
    let p99 = Row::measured(
        "gateway",
        "sqlite",
        "p99 ms",
        12.0,
        Some((2.0, "{ __typename }")),
        "<= 5.0",
        String::new(),
    );
    assert_eq!(p99.ratio, Some(6.0));
    assert_eq!(p99.met, Some(false));
    // No baseline: the goal is Keel's figure itself.
    let idle = Row::measured("memory", "sqlite", "idle RSS MiB", 151.0, None, "<= 150", String::new());
    assert_eq!((idle.ratio, idle.met), (None, Some(false)));
    let ready = Row::measured("start-up", "sqlite", "ready s", 1.99, None, "< 2", String::new());
    assert_eq!(ready.met, Some(true));
    let reported = Row::measured(
        "gateway",
        "sqlite",
        "backend calls/request",
        9.0,
        None,
        "",
        String::new(),
    );
    assert_eq!(reported.met, None);
    assert_eq!(Goal::parse("at least 30%"), None);
    assert_eq!(
        Goal::parse(">= 0.3"),
        Some(Goal {
            op: ">=",
            threshold: 0.3
        })
    );
}

#[test]
fn a_missing_target_is_a_not_run_row_and_a_failing_one_is_a_failure() {
    let psa = &TARGETS[0];
    let missing = collect(
        psa,
        "",
        "error: no bench target named `get_project` in `keel-psa` package\n",
        false,
    );
    assert!(missing.failure.is_none());
    assert_eq!(missing.rows.len(), 1);
    assert_eq!(missing.rows[0].figure, "system-api-read");
    assert_eq!(missing.rows[0].keel, None);
    assert!(missing.rows[0].notes.contains("not run"), "{}", missing.rows[0].notes);

    let failed = collect(
        psa,
        "warming up\n",
        "thread 'main' panicked at PostgreSQL unreachable\n",
        false,
    );
    let why = failed.failure.expect("a failure");
    assert!(why.contains("PostgreSQL unreachable"), "{why}");
    assert_eq!(failed.rows[0].keel, None);

    let silent = collect(psa, "done\n", "", true);
    assert!(silent.failure.expect("a failure").contains("printed no BENCH row"));

    let fine = collect(psa, OUTPUT, "", true);
    assert!(fine.failure.is_none());
    assert_eq!(fine.rows.len(), 3);
}

fn page(rows: Vec<Row>, date: &str, smoke: bool) -> Page {
    Page {
        date: date.into(),
        machine: machine(),
        environment: vec!["KEEL_BENCH_TIME_RUNS=1".into()],
        rows,
        smoke,
    }
}

fn machine() -> Machine {
    Machine {
        cpu: "Example CPU @ 3.0GHz".into(),
        cores: "2".into(),
        ram: "23.5 GiB".into(),
        kernel: "6.1.0-test".into(),
    }
}

#[test]
fn the_table_shows_each_row_beside_its_baseline_and_lists_every_missed_goal() {
    let (mut rows, _) = parse_rows(OUTPUT);
    rows.push(Row::not_run(
        "workflow",
        "-",
        "-",
        "",
        "not run: `keel-workflow` has no bench target `engine` in this tree".into(),
    ));
    let text = table(&rows);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "| Figure | Mode | Metric | Keel | Baseline | Ratio | Goal | Met | Runs |"
    );
    assert_eq!(
        lines[2],
        "| system-api-read | postgres | requests/s | 1234 | 2346 (pgbench -S -c 8) | 0.53 | >= 0.40 | yes | 3 |"
    );
    assert_eq!(
        lines[3],
        "| system-api-read | sqlite | requests/s | 900.0 | 2346 (pgbench -S -c 8) | 0.38 | >= 0.40 | **no** | — |"
    );
    assert_eq!(
        lines[4],
        "| time-capture | postgres | RSS MiB | 80.50 | — | — | reported | — | 1 |"
    );
    assert_eq!(
        lines[5],
        "| workflow | - | - | not run | — | — | reported | not run | — |"
    );
    assert_eq!(lines.len(), 6);

    let doc = document(
        &page(rows.clone(), "2026-11-26 13:40 UTC", false),
        "```sh\ncargo xtask bench\n```\n",
    );
    assert!(doc.contains("- Date: 2026-11-26 13:40 UTC"), "{doc}");
    assert!(doc.contains("- CPU: Example CPU @ 3.0GHz (2 CPUs)"), "{doc}");
    assert!(doc.contains("- Kernel: 6.1.0-test"), "{doc}");
    assert!(!doc.contains("Smoke run"));
    let missed = doc
        .split("## Where a goal is missed")
        .nth(1)
        .expect("the missed section");
    assert!(
        missed.contains("**system-api-read / sqlite / requests/s**: ratio 0.38 against a goal of >= 0.40. the SQLite pool serializes writes"),
        "{missed}"
    );
    assert!(
        !missed.contains("postgres / requests/s**: ratio"),
        "a met goal is not missed: {missed}"
    );
    assert!(
        missed.contains("[performance-profiles.md](performance-profiles.md)"),
        "the missed figures point at their CPU profiles: {missed}"
    );
    assert!(missed.contains("Not measured in this run"), "{missed}");
    assert!(missed.contains("no bench target `engine`"), "{missed}");
    let reproduce = doc.split("## How to reproduce").nth(1).unwrap();
    assert!(reproduce.contains("cargo xtask bench"));

    let smoke = document(&page(rows, "today", true), "");
    assert!(smoke.contains("Smoke run"));
}

#[test]
fn a_table_cell_cannot_break_the_table() {
    let row = Row::measured(
        "gateway",
        "sqlite",
        "requests/s",
        10.0,
        Some((20.0, "a | b")),
        "",
        "x".into(),
    );
    let text = table(&[row]);
    assert!(text.lines().nth(2).unwrap().contains("20.00 (a \\| b)"), "{text}");
}

#[test]
fn medians() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(median(&[]).is_nan());
    assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
}

fn spec(rate: Option<f64>) -> LoadSpec {
    LoadSpec {
        url: "http://127.0.0.1:8080/graphql".into(),
        token: "tok".into(),
        query: "{ __typename }".into(),
        concurrency: 16,
        rate,
        warmup_seconds: 2.0,
        seconds: 8.0,
    }
}

#[test]
fn oha_posts_the_query_with_the_token_for_the_run_s_length() {
    let closed = oha_args(&spec(None), 8.0);
    let pair = |flag: &str| {
        let at = closed
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} in {closed:?}"));
        closed[at + 1].clone()
    };
    assert_eq!(pair("-z"), "8000ms");
    assert_eq!(pair("-c"), "16");
    assert_eq!(pair("-m"), "POST");
    assert_eq!(pair("-H"), "authorization: Bearer tok");
    assert_eq!(pair("-T"), "application/json");
    let body: serde_json::Value = serde_json::from_str(&pair("-d")).unwrap();
    assert_eq!(body["query"], "{ __typename }");
    assert_eq!(pair("--output-format"), "json");
    assert!(closed.contains(&"--no-tui".to_string()));
    assert_eq!(closed.last().unwrap(), "http://127.0.0.1:8080/graphql");
    // A closed loop has no rate; an open loop's latency counts from when each was due.
    assert!(!closed.contains(&"-q".to_string()));
    assert!(!closed.contains(&"--latency-correction".to_string()));
    let open = oha_args(&spec(Some(52.5)), 0.3);
    let q = open.iter().position(|a| a == "-q").expect("-q");
    assert_eq!(open[q + 1], "52.500");
    assert!(open.contains(&"--latency-correction".to_string()));
    assert!(open.contains(&"300ms".to_string()));
}

/// A summary as oha 1.16 writes it (`--output-format json --stats-success-breakdown`), cut.
const OHA_SUMMARY: &str = r#"{
  "summary": {"successRate": 0.99, "total": 8.01, "slowest": 0.2, "fastest": 0.001,
              "average": 0.01, "requestsPerSec": 1000.5, "totalData": 3450000,
              "sizePerRequest": 345, "sizePerSec": 430000.0},
  "responseTimeHistogram": {"0.01": 8000},
  "latencyPercentiles": {"p10": 0.001, "p25": 0.002, "p50": 0.009, "p75": 0.012, "p90": 0.015,
                         "p95": 0.02, "p99": 0.5, "p99.9": 0.6, "p99.99": 0.7},
  "latencyPercentilesSuccessful": {"p10": 0.001, "p25": 0.002, "p50": 0.0125, "p75": 0.015,
                                  "p90": 0.017, "p95": 0.019, "p99": 0.0205, "p99.9": 0.03,
                                  "p99.99": 0.04},
  "rps": {"mean": 1000.0, "stddev": 10.0, "max": 1100.0, "percentiles": {}},
  "details": {},
  "statusCodeDistribution": {"200": 8000, "503": 12},
  "errorDistribution": {"aborted due to deadline": 16, "connection closed before message completed": 3}
}"#;

#[test]
fn oha_s_summary_counts_answered_requests_and_their_errors_but_not_the_ones_the_end_cut_off() {
    let result = parse_oha(OHA_SUMMARY.as_bytes(), 8.0).unwrap();
    assert_eq!(result.requests, 8000);
    assert_eq!(result.requests_per_second, 1000.0);
    // 12 answered 503 and 3 connections failed; the 16 in flight at the end are not errors.
    assert_eq!(result.errors, 15);
    assert_eq!(result.first_error.as_deref(), Some("status 503 (12 times)"));
    // Latency of the successful answers, in milliseconds.
    assert_eq!(result.p50_ms, 12.5);
    assert_eq!(result.p99_ms, 20.5);
    assert_eq!(result.bytes_per_request, 345.0);
    assert!(parse_oha(b"not json", 8.0).is_err());
    assert!(parse_oha(b"{}", 8.0).is_err(), "no status codes is no summary");
}

#[test]
fn cpu_time_is_read_from_proc_stat_past_a_command_name_with_spaces() {
    use xtask::bench::platform::cpu_seconds_of;
    let stat = "4242 (keel server) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0";
    assert_eq!(cpu_seconds_of(stat, 100.0), Some(3.0));
    assert_eq!(cpu_seconds_of("4242 (x) S 1", 100.0), None);
    // This process's CPU time grows as it works (a tick is 10 ms at most).
    let own = || xtask::bench::platform::cpu_seconds(std::process::id()).unwrap();
    let (before, until) = (own(), std::time::Instant::now() + std::time::Duration::from_secs(5));
    let mut spun = 0u64;
    while own() <= before && std::time::Instant::now() < until {
        spun = spun.wrapping_add(std::hint::black_box(spun) | 1);
    }
    assert!(own() > before, "no CPU time counted after spinning {spun}");
}

#[test]
fn answers_of_another_size_than_the_checked_one_are_refused_or_noted() {
    let result = |bytes: f64| LoadResult {
        requests: 100,
        bytes_per_request: bytes,
        ..LoadResult::default()
    };
    assert_eq!(answers_as_checked("dashboard", &result(3000.0), 3100.0).unwrap(), None);
    let noted = answers_as_checked("dashboard", &result(3600.0), 3100.0)
        .unwrap()
        .expect("noted");
    assert!(noted.contains("3600") && noted.contains("3100"), "{noted}");
    let refused = answers_as_checked("dashboard", &result(120.0), 3100.0).unwrap_err();
    assert!(refused.to_string().contains("GraphQL errors"), "{refused}");
    // Nothing answered: nothing to hold against.
    let none = LoadResult::default();
    assert_eq!(answers_as_checked("trivial", &none, 35.0).unwrap(), None);
}

#[test]
fn the_backend_profile_says_where_the_time_between_two_snapshots_went() {
    use xtask::bench::{parse_grpc_time, profile};
    let before = parse_grpc_time(
        r#"# TYPE keel_grpc_request_duration_seconds histogram
keel_grpc_request_duration_seconds_sum{service="keel.psa.v1.PsaService",method="ListProjects"} 1.0
keel_grpc_request_duration_seconds_count{service="keel.psa.v1.PsaService",method="ListProjects"} 10
keel_grpc_request_duration_seconds_bucket{le="0.005",service="keel.psa.v1.PsaService",method="ListProjects"} 10
keel_grpc_requests_total{service="keel.psa.v1.PsaService",method="ListProjects",code="0"} 10
"#,
    );
    assert_eq!(before, [("PsaService ListProjects".to_string(), 1.0, 10.0)]);
    let after = parse_grpc_time(
        r#"keel_grpc_request_duration_seconds_sum{service="keel.psa.v1.PsaService",method="ListProjects"} 4.0
keel_grpc_request_duration_seconds_count{service="keel.psa.v1.PsaService",method="ListProjects"} 110
keel_grpc_request_duration_seconds_sum{service="keel.erp.v1.ErpService",method="ListProjectCodesOfProjects"} 1.0
keel_grpc_request_duration_seconds_count{service="keel.erp.v1.ErpService",method="ListProjectCodesOfProjects"} 100
keel_grpc_request_duration_seconds_sum{service="keel.crm.v1.CrmService",method="GetAccount"} 9.0
keel_grpc_request_duration_seconds_count{service="keel.crm.v1.CrmService",method="GetAccount"} 5
"#,
    );
    // Between the snapshots: PSA 3 s over 100 calls, ERP 1 s over 100, CRM 9 s over 5.
    assert_eq!(
        profile(&before, &after),
        "CrmService GetAccount 69% (1800.0 ms a call), PsaService ListProjects 23% (30.0 ms a call), ErpService ListProjectCodesOfProjects 8% (10.0 ms a call)"
    );
    assert_eq!(profile(&after, &after), "no backend call was timed");
}

#[test]
fn a_perf_listing_rolls_up_by_crate() {
    use xtask::bench::profile::{crate_of, markdown, parse_report, rollup};
    let listing = "\
# Samples: 4K of event 'cpu-clock:pppH'
#
    30.00%  1497  [.] sqlx_postgres::message::decode::<impl sqlx_postgres::X>::decode
    10.00%  [.] <tokio::runtime::task::Task<T> as core::future::future::Future>::poll
     5.00%  [.] <&mut serde_json::de::Deserializer<R> as serde::de::Deserializer>::deserialize_any
    20.00%  [k] __schedule
    15.00%  [.] __memmove_avx_unaligned_erms
     8.00%  [.] sqlx_core::pool::inner::PoolInner<DB>::acquire
     0.50%  [.] 0x00007f0000001234
not a symbol line
";
    let samples = parse_report(listing);
    assert_eq!(samples.len(), 7, "{samples:?}");
    assert_eq!(samples[0].count, 1497, "the -n count column is read");
    assert!((xtask::bench::profile::cores_busy(&samples[..1], 10.0) - 0.3).abs() < 1e-9);
    let crates: Vec<String> = samples.iter().map(crate_of).collect();
    assert_eq!(
        crates,
        [
            "sqlx_postgres",
            "tokio",
            "serde_json",
            "kernel",
            "C library",
            "sqlx_core",
            "unresolved"
        ]
    );
    let rolled = rollup(&samples);
    assert_eq!(rolled[0], ("sqlx_postgres".to_string(), 30.0));
    assert_eq!(rolled[1], ("kernel".to_string(), 20.0));
    let text = markdown(&samples, 1.0, 3);
    assert!(text.contains("| sqlx_postgres | 30.0 |"), "{text}");
    assert!(text.contains("| (others, each under 1%) | 0.5 |"), "{text}");
    assert!(text.contains("- 20.0% `__schedule` (kernel)"), "{text}");
    assert_eq!(text.matches("\n- ").count(), 3, "the top 3 symbols only: {text}");
}

#[test]
fn the_page_names_the_bench_variables_it_was_written_with() {
    let vars = [
        ("PATH", "/usr/bin"),
        ("KEEL_BENCH_TIME_RUNS", "1"),
        ("KEEL_BENCH_SMOKE", "1"),
        ("KEEL_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
    ]
    .map(|(name, value)| (name.to_string(), value.to_string()));
    assert_eq!(
        xtask::bench::bench_environment(vars),
        [
            "KEEL_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
            "KEEL_BENCH_TIME_RUNS=1"
        ]
    );
}

#[test]
fn only_re_measures_the_named_figures_and_keeps_every_other_row_of_the_page() {
    let (rows, _) = parse_rows(OUTPUT);
    let mut kept = rows.clone();
    kept.push(Row::measured(
        "time-capture-memory",
        "sqlite",
        "RSS MiB",
        91.0,
        Some((61.0, "VmRSS after the first 10000 entries")),
        "<= 1.1",
        "memory --> notes".into(),
    ));
    kept.push(Row::measured(
        "gateway",
        "sqlite",
        "requests/s",
        106.8,
        Some((6827.0, "{ __typename }")),
        ">= 0.30",
        "dashboard".into(),
    ));
    let written = document(&page(kept.clone(), "2026-11-27 13:21 UTC", false), "");

    // The page keeps its rows, whatever their notes hold, and reads back the same.
    let mut read = Page::read(&written).unwrap().expect("the page keeps its rows");
    assert_eq!(read, page(kept, "2026-11-27 13:21 UTC", false));
    assert_eq!(
        Page::read("# Performance\n| a |\n"),
        Ok(None),
        "a page written by hand keeps none"
    );

    let selection = select(&["capture".into()]).unwrap();
    assert!(!selection.platform);
    assert_eq!(selection.families(), ["time-capture"]);
    let fresh = vec![
        Row::measured(
            "time-capture",
            "postgres",
            "entries/s",
            80.0,
            Some((95_000.0, "COPY")),
            ">= 0.40",
            "new".into(),
        ),
        Row::measured(
            "time-capture-memory",
            "sqlite",
            "RSS MiB",
            62.0,
            Some((60.0, "first batch")),
            "<= 1.1",
            "new".into(),
        ),
    ];
    merge(
        &mut read,
        &selection.families(),
        fresh,
        "2026-11-27 16:05 UTC by `cargo xtask bench --only capture`",
    );
    let figures: Vec<(&str, &str, &str)> = read
        .rows
        .iter()
        .map(|r| (r.figure.as_str(), r.mode.as_str(), r.measured.as_str()))
        .collect();
    assert_eq!(
        figures,
        [
            ("gateway", "sqlite", ""),
            ("system-api-read", "postgres", ""),
            ("system-api-read", "sqlite", ""),
            (
                "time-capture",
                "postgres",
                "2026-11-27 16:05 UTC by `cargo xtask bench --only capture`"
            ),
            (
                "time-capture-memory",
                "sqlite",
                "2026-11-27 16:05 UTC by `cargo xtask bench --only capture`"
            ),
        ],
        "the old time-capture rows are gone, the others kept in the suite's order"
    );
    let merged = document(&read, "");
    assert!(merged.contains("- Date: 2026-11-27 13:21 UTC\n"), "{merged}");
    assert!(
        merged.contains("- Re-measured 2026-11-27 16:05 UTC by `cargo xtask bench --only capture`, each beside a baseline of that run, on this machine: time-capture / postgres / entries/s, time-capture-memory / sqlite / RSS MiB\n"),
        "{merged}"
    );
    assert!(
        merged.contains(
            "| time-capture-memory | sqlite | RSS MiB | 62.00 | 60.00 (first batch) | 1.03 | <= 1.1 | yes | — |"
        ),
        "{merged}"
    );
}

#[test]
fn a_figure_measured_on_one_backend_replaces_that_backends_rows_only() {
    let old = |figure: &str, mode: &str, keel: f64| {
        let mut row = Row::measured(
            figure,
            mode,
            "entries/s",
            keel,
            Some((118_000.0, "COPY")),
            ">= 0.40",
            "old".into(),
        );
        row.measured = "earlier".into();
        row
    };
    let mut read = page(
        vec![
            old("time-capture", "postgres", 53.3),
            old("time-capture", "sqlite", 72.5),
            old("time-capture-memory", "postgres", 34.2),
            old("time-capture-memory", "sqlite", 62.3),
        ],
        "2026-11-27 13:21 UTC",
        false,
    );
    let selection = select(&["time-capture".into()]).unwrap();
    let fresh = vec![
        Row::measured(
            "time-capture",
            "postgres",
            "entries/s",
            55.0,
            Some((119_000.0, "COPY")),
            ">= 0.40",
            "new".into(),
        ),
        Row::measured(
            "time-capture-memory",
            "postgres",
            "RSS MiB",
            34.0,
            Some((33.9, "first batch")),
            "<= 1.1",
            "new".into(),
        ),
    ];
    merge(
        &mut read,
        &selection.families(),
        fresh,
        "now by `KEEL_BENCH_TIME_BACKENDS=postgres cargo xtask bench --only time-capture`",
    );
    let rows: Vec<(&str, &str, Option<f64>, &str)> = read
        .rows
        .iter()
        .map(|r| (r.figure.as_str(), r.mode.as_str(), r.keel, r.measured.as_str()))
        .collect();
    let now = "now by `KEEL_BENCH_TIME_BACKENDS=postgres cargo xtask bench --only time-capture`";
    assert_eq!(
        rows,
        [
            ("time-capture", "postgres", Some(55.0), now),
            ("time-capture", "sqlite", Some(72.5), "earlier"),
            ("time-capture-memory", "postgres", Some(34.0), now),
            ("time-capture-memory", "sqlite", Some(62.3), "earlier"),
        ],
        "the PostgreSQL rows are the new ones in their old places, the SQLite rows as they were"
    );
}

#[test]
fn only_names_the_gateway_or_a_store_level_figure_and_says_which_there_are() {
    let err = select(&["time-capture".into(), "dashboard".into()]).unwrap_err();
    assert!(err.contains("\"dashboard\""), "{err}");
    assert!(
        err.contains("gateway (with memory and start-up, measured together), system-api-read, time-capture, workflow"),
        "{err}"
    );
    let both = select(&["workflow".into(), "system-api-read".into()]).unwrap();
    assert!(!both.platform);
    let figures: Vec<&str> = both.targets.iter().map(|t| t.figure).collect();
    assert_eq!(figures, ["system-api-read", "workflow"]);
    assert!(measures(&both.targets[1], "workflow-latency"));
    assert!(!measures(&both.targets[1], "workflows"));
    assert!(!measures(&both.targets[0], "time-capture"));

    // Any of the three figures one `keel up --demo` measures selects all three.
    for name in ["gateway", "memory", "start-up"] {
        let platform = select(&[name.into()]).unwrap();
        assert!(platform.platform, "{name}");
        assert!(platform.targets.is_empty(), "{name}");
        assert_eq!(platform.families(), ["gateway", "memory", "start-up"], "{name}");
    }
    let mixed = select(&["engine".into(), "gateway".into()]).unwrap();
    assert_eq!(mixed.families(), ["gateway", "memory", "start-up", "workflow"]);
}

#[test]
fn the_gateway_re_measured_replaces_its_memory_and_start_up_rows_and_keeps_time_capture_s_memory() {
    let row = |figure: &str, mode: &str, metric: &str, keel: f64, how: &str| {
        let mut row = Row::measured(figure, mode, metric, keel, None, "reported", how.into());
        row.measured = how.into();
        row
    };
    let mut read = page(
        vec![
            row("gateway", "sqlite", "requests/s", 104.4, "earlier"),
            row("gateway", "postgres", "requests/s", 117.9, "earlier"),
            row("time-capture", "sqlite", "entries/s", 59.2, "earlier"),
            row("time-capture-memory", "sqlite", "RSS MiB", 59.6, "earlier"),
            row("memory", "sqlite", "idle RSS MiB", 70.2, "earlier"),
            row("memory", "postgres", "idle RSS MiB", 57.4, "earlier"),
            row("start-up", "sqlite", "ready s", 0.057, "earlier"),
            row("start-up", "postgres", "ready s", 0.502, "earlier"),
        ],
        "2026-11-27 23:42 UTC",
        false,
    );
    let fresh = vec![
        row("gateway", "sqlite", "requests/s", 110.0, ""),
        row("gateway", "postgres", "requests/s", 120.0, ""),
        row("memory", "sqlite", "idle RSS MiB", 71.0, ""),
        row("memory", "postgres", "idle RSS MiB", 58.0, ""),
        row("start-up", "sqlite", "ready s", 0.060, ""),
        row("start-up", "postgres", "ready s", 0.490, ""),
    ];
    merge(
        &mut read,
        &select(&["gateway".into()]).unwrap().families(),
        fresh,
        "now by `cargo xtask bench --only gateway`",
    );
    let rows: Vec<(&str, &str, Option<f64>, &str)> = read
        .rows
        .iter()
        .map(|r| (r.figure.as_str(), r.mode.as_str(), r.keel, r.measured.as_str()))
        .collect();
    let now = "now by `cargo xtask bench --only gateway`";
    assert_eq!(
        rows,
        [
            ("gateway", "sqlite", Some(110.0), now),
            ("gateway", "postgres", Some(120.0), now),
            ("time-capture", "sqlite", Some(59.2), "earlier"),
            ("time-capture-memory", "sqlite", Some(59.6), "earlier"),
            ("memory", "sqlite", Some(71.0), now),
            ("memory", "postgres", Some(58.0), now),
            ("start-up", "sqlite", Some(0.060), now),
            ("start-up", "postgres", Some(0.490), now),
        ],
        "the platform's rows are the new ones in their places; time capture's memory is not the memory figure's"
    );
}
