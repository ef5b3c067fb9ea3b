//! The saga property: with a refusal injected at any step (and random deltas, roles and
//! milestone choices), a change order ends either applied everywhere or exactly as every
//! system was before: no orphan document, no half-moved budget or milestone.

mod support;

use keel_workflow::Status;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::{Platform, settle};

/// Where a refusal is injected: the system, the RPC, and the calls let through first.
const REFUSALS: [(&str, &str, u32); 8] = [
    ("psa", "GetChangeRequest", 0),
    ("erp", "UpdateBudget", 0),
    ("erp", "UpdateBillingMilestone", 0),
    ("erp", "UpdateBillingMilestone", 1),
    ("erp", "ReviseRevenueSchedule", 0),
    ("documents", "CreateDocument", 0),
    ("documents", "AddVersion", 0),
    ("psa", "ApplyChangeRequest", 0),
];

#[derive(Debug, Clone)]
struct Case {
    /// An index into [`REFUSALS`], or none: nothing refuses.
    refusal: Option<usize>,
    role: &'static str,
    /// Hundredths of an hour and minor units; never both zero.
    hours_hundredths: i64,
    amount_minor: i64,
    milestones: Vec<&'static str>,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        prop::option::weighted(0.8, 0..REFUSALS.len()),
        prop::sample::select(vec!["consultant", "solution-architect"]),
        -2_000i64..4_000,
        (-500_000i64..500_000).prop_map(|m| if m == 0 { 1 } else { m }),
        prop::sample::select(vec![vec!["1"], vec!["2"], vec!["1", "2"], vec!["2", "1"]]),
    )
        .prop_map(|(refusal, role, hours_hundredths, amount_minor, milestones)| Case {
            refusal,
            role,
            hours_hundredths,
            amount_minor,
            milestones,
        })
}

fn decimal(hundredths: i64) -> String {
    rust_decimal::Decimal::new(hundredths, 2).normalize().to_string()
}

async fn check(platform: &Platform, engine: &keel_workflow::Engine, case: &Case) -> Result<(), TestCaseError> {
    let scenario = platform
        .scenario(
            case.role,
            &decimal(case.hours_hundredths),
            &decimal(case.amount_minor),
            &case.milestones,
        )
        .await;
    let before = platform.snapshot(&scenario).await;
    if let Some(index) = case.refusal {
        let (system, method, skip) = REFUSALS[index];
        let faults = match system {
            "psa" => &platform.psa_faults,
            "erp" => &platform.erp_faults,
            _ => &platform.documents_faults,
        };
        // Refusing the second milestone needs two to move.
        let skip = skip.min(case.milestones.len() as u32 - 1);
        faults.refuse(method, skip);
    }
    let id = platform.start_change_order(engine, &scenario).await;
    settle(engine).await;
    platform.psa_faults.clear();
    platform.erp_faults.clear();
    platform.documents_faults.clear();
    let after = platform.snapshot(&scenario).await;
    let view = engine
        .instance(id)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    match case.refusal {
        Some(_) => {
            prop_assert_eq!(view.status, Status::Abandoned, "{:?}", view);
            prop_assert_eq!(&after, &before, "compensated: exactly the before-images");
        }
        None => {
            prop_assert_eq!(view.status, Status::Done, "{:?}", view);
            prop_assert_eq!(after.psa_contract, before.psa_contract + case.amount_minor);
            prop_assert_eq!(after.erp_contract, after.psa_contract);
            let psa_lines: Vec<_> = after
                .psa_lines
                .iter()
                .map(|(role, hours, amount)| {
                    (
                        role.clone(),
                        hours.parse::<rust_decimal::Decimal>().unwrap().normalize(),
                        *amount,
                    )
                })
                .collect();
            prop_assert_eq!(&after.erp_lines, &psa_lines);
            let erp_milestones: Vec<i64> = after.erp_milestones.iter().map(|(_, amount)| *amount).collect();
            prop_assert_eq!(&erp_milestones, &after.psa_milestones);
            prop_assert_eq!(after.documents, 1);
        }
    }
    Ok(())
}

#[test]
fn a_change_order_ends_fully_applied_or_fully_compensated() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let platform = runtime.block_on(Platform::start());
    let engine = platform.engine("worker-a");
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        max_shrink_iters: 8,
        ..Config::default()
    });
    runner
        .run(&cases(), |case| runtime.block_on(check(&platform, &engine, &case)))
        .unwrap();
    drop(platform);
}
