//! Reconciliation of PSA against ERP over the real reference adapters on loopback gRPC: a
//! clean project reports nothing; differences injected through the systems' own APIs are each
//! reported with their kind, each waits in the exception queue, and a retry closes each one
//! once it is fixed.

mod support;

use keel_auth::Role;
use keel_billing::reconciliation::{DIFFERENCE_KIND, KIND};
use keel_proto::billing::{
    Difference, GetReconciliationRequest, ListReconciliationDifferencesRequest, Reconciliation,
    StartReconciliationRequest,
};
use keel_proto::common::PageRequest;
use keel_proto::erp::{CreateBillingMilestoneRequest, ReverseJournalRequest, UpdateBudgetRequest};
use keel_workflow::Status;
use support::{Platform, eur, key};

async fn reconcile(platform: &Platform, project_id: &str) -> Reconciliation {
    let mut billing = platform.billing();
    let request = StartReconciliationRequest {
        idempotency_key: key("reconcile"),
        project_id: project_id.into(),
    };
    let started = billing
        .start_reconciliation(platform.as_role(Role::Finance, request.clone()))
        .await
        .expect("started")
        .into_inner();
    let replay = billing
        .start_reconciliation(platform.as_role(Role::Finance, request))
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(replay, started, "a replay answers the same run");
    platform.settle().await;
    billing
        .get_reconciliation(platform.as_role(Role::Operations, GetReconciliationRequest { run_id: started.run_id }))
        .await
        .expect("run")
        .into_inner()
}

fn kinds(run: &Reconciliation) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = run
        .differences
        .iter()
        .map(|d| (d.kind.clone(), d.record_type.clone(), d.record_id.clone()))
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn a_clean_project_reconciles_with_no_difference() {
    let platform = Platform::start().await;
    platform.posted("2026-12-03", "1.5").await;
    platform.posted("2026-12-04", "2").await;
    // Approved but not yet posted is in flight, not a difference.
    platform.approved("2026-12-05", "3").await;
    platform.submitted("2026-12-06", "1").await;
    let run = reconcile(&platform, "").await;
    assert_eq!(run.status, "DONE", "{}", run.last_error);
    assert_eq!(run.projects_compared, 1);
    assert!(run.differences.is_empty(), "{:?}", run.differences);
    assert!(run.compared_at.is_some());
    assert_eq!(run.requested_by, "alice");
    let run = reconcile(&platform, &platform.project_id()).await;
    assert_eq!((run.status.as_str(), run.projects_compared), ("DONE", 1));
    assert!(run.differences.is_empty());
    assert_eq!(
        platform
            .engine
            .exceptions(keel_core::paging::Page::parse(100, "").unwrap())
            .await
            .unwrap()
            .len(),
        0,
        "nothing in the exception queue"
    );
}

#[tokio::test]
async fn injected_differences_are_reported_queued_and_closed_by_retry_once_fixed() {
    let platform = Platform::start().await;
    let project_id = platform.project_id();
    let reversed = platform.posted("2026-12-03", "1.5").await;
    let duplicated = platform.posted("2026-12-04", "2").await;
    let unposted = platform.approved("2026-12-07", "1").await;
    let altered = platform.posted("2026-12-08", "1").await;
    let mut erp = platform.erp_client();

    // ERP journal of `reversed` reversed: POSTED in PSA, no journal left in ERP.
    let journal = reversed.journal_reference.clone();
    erp.reverse_journal(platform.erp.service(ReverseJournalRequest {
        idempotency_key: key("reverse"),
        journal_id: journal,
        journal_date: "2026-12-10".into(),
    }))
    .await
    .expect("reversed");
    // A second journal for `duplicated`, posted by hand.
    let by_hand = platform
        .post_by_hand(
            &format!("Re-keyed time:{}", duplicated.id),
            "time 2 h on 2026-12-04",
            "370.00",
        )
        .await;
    // `unposted` marked POSTED in PSA without any ERP journal.
    platform.mark_posted(&unposted, "JE-LOST").await;
    // `altered`: its journal reversed and re-keyed by hand for 2 hours instead of 1.
    erp.reverse_journal(platform.erp.service(ReverseJournalRequest {
        idempotency_key: key("reverse"),
        journal_id: altered.journal_reference.clone(),
        journal_date: "2026-12-10".into(),
    }))
    .await
    .expect("reversed");
    let rekeyed = platform
        .post_by_hand(
            &format!("Correction time:{}", altered.id),
            "time 2 h on 2026-12-08",
            "370.00",
        )
        .await;
    // The budget changed in ERP only.
    let code = platform
        .downstream
        .project_code(&platform.project_code)
        .await
        .unwrap()
        .unwrap();
    let budget = code.budget.clone().unwrap();
    let mut lines = budget.lines.clone();
    lines[0].amount = eur("1.00");
    erp.update_budget(platform.erp.service(UpdateBudgetRequest {
        idempotency_key: key("budget"),
        project_code: platform.project_code.clone(),
        expected_version: budget.version,
        lines,
    }))
    .await
    .expect("budget altered");
    // A billing milestone in ERP that PSA does not know.
    let stray = erp
        .create_billing_milestone(platform.erp.service(CreateBillingMilestoneRequest {
            idempotency_key: key("ms"),
            project_code: platform.project_code.clone(),
            name: "Hypercare".into(),
            amount: eur("5000.00"),
            due_date: "2027-04-01".into(),
        }))
        .await
        .expect("stray milestone")
        .into_inner();

    let run = reconcile(&platform, &project_id).await;
    assert_eq!(run.status, "DONE", "{}", run.last_error);
    let s = |v: &str| v.to_string();
    assert_eq!(
        kinds(&run),
        vec![
            (s("ALTERED"), s("budget"), platform.project_code.clone()),
            (s("ALTERED"), s("time_entry"), altered.id.clone()),
            (s("DUPLICATED"), s("time_entry"), duplicated.id.clone()),
            (s("MISSING_IN_ERP"), s("time_entry"), reversed.id.clone()),
            (s("MISSING_IN_ERP"), s("time_entry"), unposted.id.clone()),
            (s("MISSING_IN_PSA"), s("milestone"), stray.id.clone()),
        ]
    );
    assert_eq!(run.differences_total, 6);
    let duplicate = run.differences.iter().find(|d| d.kind == "DUPLICATED").unwrap();
    assert!(duplicate.erp_value.contains(&by_hand.id), "{}", duplicate.erp_value);
    let changed = run.differences.iter().find(|d| d.record_id == altered.id).unwrap();
    assert_eq!(
        (changed.psa_value.as_str(), changed.erp_value.as_str()),
        ("1 h, 185.00 EUR", "2 h, 370.00 EUR")
    );

    // Each difference is in the exception queue with its reason.
    for difference in &run.differences {
        assert_eq!(difference.exception_status, "EXCEPTION", "{}", difference.identity);
        let view = platform
            .engine
            .find(DIFFERENCE_KIND, &difference.identity)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.id.to_string(), difference.exception_id);
        assert_eq!(view.status, Status::Exception);
        assert_eq!(view.reason.as_deref(), Some("FAILED_PRECONDITION"));
        let reason = view.last_error.unwrap();
        assert!(
            reason.contains(&difference.kind) && reason.contains(&difference.record_id),
            "{reason}"
        );
    }

    // Retried before anything is fixed: each stays in the queue.
    for difference in &run.differences {
        platform
            .engine
            .retry(difference.exception_id.parse().unwrap(), "ops")
            .await
            .unwrap();
    }
    platform.settle().await;
    assert_eq!(
        platform
            .engine
            .exceptions(keel_core::paging::Page::parse(100, "").unwrap())
            .await
            .unwrap()
            .len(),
        6
    );

    // Fixed through the systems' APIs: the budget put back, the lost journal re-keyed by hand,
    // the duplicate and the bad correction reversed and re-keyed right, the missing posting
    // posted.
    let code = platform
        .downstream
        .project_code(&platform.project_code)
        .await
        .unwrap()
        .unwrap();
    erp.update_budget(platform.erp.service(UpdateBudgetRequest {
        idempotency_key: key("budget"),
        project_code: platform.project_code.clone(),
        expected_version: code.budget.clone().unwrap().version,
        lines: budget.lines.clone(),
    }))
    .await
    .expect("budget restored");
    platform
        .post_by_hand(
            &format!("Re-keyed time:{}", reversed.id),
            "time 1.5 h on 2026-12-03",
            "277.50",
        )
        .await;
    for journal in [&by_hand.id, &rekeyed.id] {
        erp.reverse_journal(platform.erp.service(ReverseJournalRequest {
            idempotency_key: key("reverse"),
            journal_id: journal.clone(),
            journal_date: "2026-12-11".into(),
        }))
        .await
        .expect("reversed");
    }
    platform
        .post_by_hand(
            &format!("Correction time:{}", altered.id),
            "time 1 h on 2026-12-08",
            "185.00",
        )
        .await;
    platform.post_in_erp(&unposted).await;

    for difference in &run.differences {
        platform
            .engine
            .retry(difference.exception_id.parse().unwrap(), "ops")
            .await
            .unwrap();
    }
    platform.settle().await;
    for difference in &run.differences {
        let view = platform
            .engine
            .find(DIFFERENCE_KIND, &difference.identity)
            .await
            .unwrap()
            .unwrap();
        let expected = if difference.record_type == "milestone" {
            Status::Exception // ERP cannot remove a billing milestone: it stays for operations
        } else {
            Status::Done
        };
        assert_eq!(view.status, expected, "{}: {:?}", difference.identity, view.last_error);
    }

    // A later run finds only what is left, and it is the same queue entry.
    let again = reconcile(&platform, &project_id).await;
    assert_eq!(
        kinds(&again),
        vec![(s("MISSING_IN_PSA"), s("milestone"), stray.id.clone())]
    );
    let stray_difference = run.differences.iter().find(|d| d.record_type == "milestone").unwrap();
    assert_eq!(again.differences[0].exception_id, stray_difference.exception_id);
    assert_eq!(
        platform
            .engine
            .exceptions(keel_core::paging::Page::parse(100, "").unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
    let runs = platform.engine.find(KIND, &again.run_id).await.unwrap().unwrap();
    assert_eq!(runs.status, Status::Done);
}

/// Every page of the latest differences, read `size` at a time.
async fn latest_differences(platform: &Platform, size: u32) -> (Vec<Difference>, usize) {
    let mut billing = platform.billing();
    let (mut all, mut pages, mut token) = (Vec::new(), 0, String::new());
    loop {
        let page = billing
            .list_reconciliation_differences(platform.as_role(
                Role::Executive,
                ListReconciliationDifferencesRequest {
                    page: Some(PageRequest {
                        page_size: size,
                        page_token: token,
                    }),
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        pages += 1;
        all.extend(page.differences);
        token = page.page.unwrap_or_default().next_page_token;
        if token.is_empty() {
            return (all, pages);
        }
    }
}

#[tokio::test]
async fn the_latest_differences_of_every_project_are_listed_a_page_at_a_time() {
    let platform = Platform::start().await;
    let project_id = platform.project_id();
    assert_eq!(
        latest_differences(&platform, 2).await,
        (Vec::new(), 1),
        "no run yet: nothing"
    );

    let unposted = platform.approved("2026-12-07", "1").await;
    platform.mark_posted(&unposted, "JE-LOST").await;
    let duplicated = platform.posted("2026-12-04", "2").await;
    platform
        .post_by_hand(
            &format!("Re-keyed time:{}", duplicated.id),
            "time 2 h on 2026-12-04",
            "370.00",
        )
        .await;
    let stray = platform
        .erp_client()
        .create_billing_milestone(platform.erp.service(CreateBillingMilestoneRequest {
            idempotency_key: key("ms"),
            project_code: platform.project_code.clone(),
            name: "Hypercare".into(),
            amount: eur("5000.00"),
            due_date: "2027-04-01".into(),
        }))
        .await
        .expect("stray milestone")
        .into_inner();

    // A run of every project: its three differences, two pages of two, as GetReconciliation
    // shows them, each waiting in the exception queue.
    let whole = reconcile(&platform, "").await;
    assert_eq!(whole.status, "DONE", "{}", whole.last_error);
    assert_eq!(whole.differences.len(), 3);
    let (listed, pages) = latest_differences(&platform, 2).await;
    assert_eq!(pages, 2);
    assert_eq!(listed, whole.differences);
    let s = |v: &str| v.to_string();
    let mut found: Vec<_> = listed
        .iter()
        .map(|d| {
            (
                d.kind.clone(),
                d.record_id.clone(),
                d.project_id.clone(),
                d.exception_status.clone(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                s("DUPLICATED"),
                duplicated.id.clone(),
                project_id.clone(),
                s("EXCEPTION")
            ),
            (
                s("MISSING_IN_ERP"),
                unposted.id.clone(),
                project_id.clone(),
                s("EXCEPTION")
            ),
            (
                s("MISSING_IN_PSA"),
                stray.id.clone(),
                project_id.clone(),
                s("EXCEPTION")
            ),
        ]
    );
    let missing = listed.iter().find(|d| d.kind == "MISSING_IN_ERP").unwrap();
    assert_eq!(
        (missing.psa_value.as_str(), missing.erp_value.as_str()),
        ("1 h, 185.00 EUR", "")
    );

    // The missing journal posted and the project reconciled alone: its run is now the latest
    // of the project and replaces the whole run's differences.
    platform.post_in_erp(&unposted).await;
    let own = reconcile(&platform, &project_id).await;
    assert_eq!(own.differences.len(), 2, "{:?}", own.differences);
    let (listed, pages) = latest_differences(&platform, 100).await;
    assert_eq!(pages, 1);
    assert_eq!(listed, own.differences);
    assert!(listed.iter().all(|d| d.record_id != unposted.id));

    let mut billing = platform.billing();
    let refused = billing
        .list_reconciliation_differences(
            platform.as_role(Role::Consultant, ListReconciliationDifferencesRequest { page: None }),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let bad = billing
        .list_reconciliation_differences(platform.as_role(
            Role::Finance,
            ListReconciliationDifferencesRequest {
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: "%%".into(),
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("page.page_token"), "{}", bad.message());
}

#[tokio::test]
async fn reconciliation_requests_are_checked() {
    let platform = Platform::start().await;
    let mut billing = platform.billing();
    let bad = billing
        .start_reconciliation(platform.as_role(
            Role::Finance,
            StartReconciliationRequest {
                idempotency_key: String::new(),
                project_id: "nope".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("idempotency_key") && bad.message().contains("project_id"));
    let refused = billing
        .start_reconciliation(platform.as_role(
            Role::Consultant,
            StartReconciliationRequest {
                idempotency_key: key("r"),
                project_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let unknown = billing
        .get_reconciliation(platform.as_role(
            Role::Finance,
            GetReconciliationRequest {
                run_id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let no_project = billing
        .start_reconciliation(platform.as_role(
            Role::Finance,
            StartReconciliationRequest {
                idempotency_key: key("r"),
                project_id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(no_project.code(), tonic::Code::NotFound);
    assert_eq!(
        platform
            .engine
            .counts()
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>(),
        0
    );
}
