//! The finance view over the real binary, after the whole delivery scenario: the finance
//! partner reads the project's billing milestones (the reached one blocked only by its own
//! draft invoice, for the milestone's amount; the others not reached), its unbilled effort
//! (posted hours × the rate card, nothing issued yet), revenue against plan and margin
//! (issued invoices less the cost of posted time at the person's cost rate), the margin by
//! service line, ERP's invoices and the ERP posting queue (every entry posted once), with one
//! backend call per service and kind of lookup.
//! Once finance issues the invoice and recognises its revenue, the same view shows it billed
//! ahead of the effort and the margin it earned. Consultants and project managers are refused.
//! Once ERP's journals are changed behind PSA's back and finance reconciles, the view lists
//! each difference with PSA's and ERP's values and its place in the exception queue.

mod common;

use std::time::Duration;

use std::str::FromStr;

use common::Keel;
use common::scenario::{Delivered, deliver};
use keel_auth::Role;
use keel_proto::billing::billing_service_client::BillingServiceClient;
use keel_proto::billing::{GetReconciliationRequest, StartReconciliationRequest};
use keel_proto::common::PageRequest;
use keel_proto::erp::{
    IssueInvoiceRequest, ListInvoicesRequest, ListJournalsRequest, PostJournalRequest, RecognizeRevenueRequest,
    ReverseJournalRequest,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// As `tests/common/scenario.rs` sets them: the engagement manager's bill rate and cost rate,
/// and the hours recorded, approved and posted (12 days of 10 hours, one entry a day).
const BILL_RATE: &str = "200.00";
const COST_RATE: &str = "170.00";
const WORKED_HOURS: u32 = 120;
const ENTRIES: i32 = 12;

const QUERY: &str = "query { finance {
  projects(first: 10) {
    nextCursor
    nodes {
      id name code legalEntity serviceLine
      milestones { milestoneId name amount { amount currency } dueDate state readyToInvoice
                   blockers { code recordIds } invoice { id number status total { amount currency } } }
      wip { approvedHours postedHours effortValue { amount currency } invoiced { amount } drafted { amount }
            unbilled { amount } billedAhead { amount } }
      margin { revenue { amount currency } timeCost { amount } expenseCost { amount } cost { amount }
               margin { amount currency } marginPercent }
      revenue { hasSchedule method contractValue { amount } scheduled { amount } scheduleVariance { amount }
                recognized { amount } remainingToRecognize { amount } recognizedPercent }
    }
    serviceLines { serviceLine projects revenue { amount } cost { amount } margin { amount currency } marginPercent }
    revenueByServiceLine { serviceLine currency projects withSchedule contractValue { amount currency }
                           scheduled { amount } scheduleVariance { amount } recognized { amount }
                           remainingToRecognize { amount } recognizedPercent }
  }
  invoices(first: 10) { nextCursor nodes { id number projectCode status total { amount currency } issueDate } }
  postingQueue { waiting failed done abandoned kinds { kind waiting failed done abandoned } }
} }";

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn amount(value: &Value) -> Decimal {
    dec(value["amount"]
        .as_str()
        .unwrap_or_else(|| panic!("not an amount: {value}")))
}

fn money_amount(money: &Option<keel_proto::common::Money>) -> Decimal {
    dec(&money.as_ref().expect("an amount").amount)
}

/// The finance view as finance reads it: the one project, and its invoices.
/// And the revenue against plan by service line.
async fn read_with_revenue(keel: &Keel, delivered: &Delivered) -> (Value, Value, Value, Value) {
    let finance = keel.token_as("finance-partner", Role::Finance);
    let (status, body) = keel.graphql_with(Some(finance), QUERY, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let view = body["data"]["finance"].clone();
    let projects = &view["projects"];
    assert_eq!(projects["nextCursor"], Value::Null);
    let nodes = projects["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "the scenario's one project: {projects}");
    let project = nodes[0].clone();
    assert_eq!(project["id"], delivered.initial.id.as_str());
    assert_eq!(project["code"], delivered.code.as_str());
    assert_eq!(project["legalEntity"], "UK01");

    // One call per service and kind of lookup.
    let calls = body["extensions"]["backendCalls"]
        .as_object()
        .expect("backendCalls under keel up");
    let kinds: Vec<&str> = calls.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "Billing ListMilestoneReadiness",
            "ERP ListInvoices",
            "ERP ListProjectFinancialsOfProjects",
            "PSA ListActualsOfProjects",
            "PSA ListProjects",
            "TimeCapture GetCounts",
        ],
        "{calls:?}"
    );
    assert!(calls.values().all(|count| *count == json!(1)), "{calls:?}");

    // The posting queue: every approved entry posted to ERP once; nothing waits or failed.
    assert_eq!(
        view["postingQueue"],
        json!({ "waiting": 0, "failed": 0, "done": ENTRIES, "abandoned": 0, "kinds": [
            { "kind": "time-posting", "waiting": 0, "failed": 0, "done": ENTRIES, "abandoned": 0 },
            { "kind": "expense-posting", "waiting": 0, "failed": 0, "done": 0, "abandoned": 0 },
        ] })
    );
    (
        project,
        view["projects"]["serviceLines"].clone(),
        view["invoices"].clone(),
        view["projects"]["revenueByServiceLine"].clone(),
    )
}

/// The revenue against plan by service line, as the one project's revenue sums it.
fn revenue_line(project: &Value, recognized: Decimal, contract_value: Decimal) -> Value {
    let revenue = &project["revenue"];
    let percent = (recognized / contract_value * Decimal::ONE_HUNDRED)
        .round_dp(2)
        .normalize();
    json!([{ "serviceLine": project["serviceLine"], "currency": "EUR", "projects": 1, "withSchedule": 1,
             "contractValue": { "amount": revenue["contractValue"]["amount"], "currency": "EUR" },
             "scheduled": { "amount": format!("{contract_value:.2}") },
             "scheduleVariance": { "amount": "0.00" },
             "recognized": { "amount": format!("{recognized:.2}") },
             "remainingToRecognize": { "amount": format!("{:.2}", contract_value - recognized) },
             "recognizedPercent": percent.to_string() }])
}

#[tokio::test]
async fn finance_sees_readiness_wip_revenue_and_margin_from_the_scenarios_own_figures() {
    let keel = Keel::start().await;
    let delivered = deliver(&keel).await;
    let changed = &delivered.changed;
    let first_amount = money_amount(&changed.milestones[0].amount);
    let worked = Decimal::from(WORKED_HOURS);
    let effort_value = worked * dec(BILL_RATE);
    let time_cost = worked * dec(COST_RATE);
    let contract_value = money_amount(&changed.contract_value);

    let (project, service_lines, invoices, revenue_lines) = read_with_revenue(&keel, &delivered).await;
    assert_eq!(
        revenue_lines,
        revenue_line(&project, Decimal::ZERO, contract_value),
        "revenue against plan by service line"
    );

    // Billing readiness: the reached, accepted first milestone is blocked only by its own
    // draft, for its amount; every later one is not reached yet.
    let milestones = project["milestones"].as_array().unwrap();
    assert_eq!(milestones.len(), changed.milestones.len());
    let first = &milestones[0];
    assert_eq!(first["milestoneId"], "1");
    assert_eq!(first["name"], changed.milestones[0].name.as_str());
    assert_eq!(amount(&first["amount"]), first_amount);
    assert_eq!(first["dueDate"], changed.milestones[0].due_date.as_str());
    assert_eq!(first["state"], "REACHED");
    assert_eq!(first["readyToInvoice"], false);
    let draft = &first["invoice"];
    assert_eq!(draft["status"], "DRAFT");
    assert_eq!(draft["number"], Value::Null);
    assert_eq!(
        amount(&draft["total"]),
        first_amount,
        "the draft bills the milestone's amount"
    );
    assert_eq!(
        first["blockers"],
        json!([{ "code": "ALREADY_INVOICED", "recordIds": [draft["id"]] }])
    );
    for (later, psa) in milestones.iter().zip(&changed.milestones).skip(1) {
        assert_eq!(later["state"], "PLANNED", "{later}");
        assert_eq!(amount(&later["amount"]), money_amount(&psa.amount));
        assert_eq!(later["invoice"], Value::Null);
        let codes: Vec<&str> = later["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"MILESTONE_NOT_REACHED"), "{later}");
    }

    // WIP: every hour approved and posted at the rate card, nothing issued: all unbilled.
    let wip = &project["wip"];
    assert_eq!(dec(wip["approvedHours"].as_str().unwrap()), Decimal::ZERO, "{wip}");
    assert_eq!(dec(wip["postedHours"].as_str().unwrap()), worked);
    assert_eq!(amount(&wip["effortValue"]), effort_value);
    assert_eq!(wip["effortValue"]["currency"], "EUR");
    assert_eq!(amount(&wip["invoiced"]), Decimal::ZERO);
    assert_eq!(amount(&wip["drafted"]), first_amount);
    assert_eq!(amount(&wip["unbilled"]), effort_value);
    assert_eq!(amount(&wip["billedAhead"]), Decimal::ZERO);

    // Margin: no revenue until an invoice is issued; the cost is the posted time at cost.
    let margin = &project["margin"];
    assert_eq!(amount(&margin["revenue"]), Decimal::ZERO);
    assert_eq!(amount(&margin["timeCost"]), time_cost, "{margin}");
    assert_eq!(amount(&margin["expenseCost"]), Decimal::ZERO);
    assert_eq!(amount(&margin["cost"]), time_cost);
    assert_eq!(amount(&margin["margin"]), -time_cost);
    assert_eq!(margin["marginPercent"], Value::Null);

    // Revenue against plan: the change order moved ERP's schedule with PSA's contract.
    let revenue = &project["revenue"];
    assert_eq!(revenue["hasSchedule"], true);
    assert_eq!(revenue["method"], "FIXED_FEE_MILESTONE");
    assert_eq!(amount(&revenue["contractValue"]), contract_value);
    assert_eq!(amount(&revenue["scheduled"]), contract_value, "{revenue}");
    assert_eq!(amount(&revenue["scheduleVariance"]), Decimal::ZERO);
    assert_eq!(amount(&revenue["recognized"]), Decimal::ZERO);
    assert_eq!(amount(&revenue["remainingToRecognize"]), contract_value);

    assert_eq!(
        service_lines,
        json!([{ "serviceLine": project["serviceLine"], "projects": 1,
                 "revenue": { "amount": "0.00" }, "cost": margin["cost"],
                 "margin": margin["margin"], "marginPercent": null }])
    );
    assert_eq!(
        invoices,
        json!({ "nextCursor": null, "nodes": [{ "id": draft["id"], "number": null,
                "projectCode": delivered.code, "status": "DRAFT", "total": draft["total"], "issueDate": null }] })
    );

    // Finance issues the invoice and recognises its revenue.
    let erp_invoice = keel
        .erp()
        .list_invoices(keel.request(
            Role::Finance,
            ListInvoicesRequest {
                project_code: delivered.code.clone(),
                page: Some(PageRequest {
                    page_size: 10,
                    page_token: String::new(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .invoices
        .remove(0);
    let today = chrono::Utc::now().date_naive().to_string();
    let issued = keel
        .erp()
        .issue_invoice(keel.request(
            Role::Finance,
            IssueInvoiceRequest {
                idempotency_key: "finance-view-issue".into(),
                invoice_id: erp_invoice.id.clone(),
                expected_version: erp_invoice.version,
                issue_date: today.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    keel.erp()
        .recognize_revenue(keel.request(
            Role::Finance,
            RecognizeRevenueRequest {
                idempotency_key: "finance-view-recognise".into(),
                project_code: delivered.code.clone(),
                percent_complete: String::new(),
                as_of_date: today.clone(),
            },
        ))
        .await
        .unwrap();

    let (project, service_lines, invoices, revenue_lines) = read_with_revenue(&keel, &delivered).await;
    assert_eq!(revenue_lines, revenue_line(&project, first_amount, contract_value));
    let first = &project["milestones"][0];
    assert_eq!(first["state"], "INVOICED");
    assert_eq!(first["invoice"]["status"], "ISSUED");
    assert_eq!(first["invoice"]["number"], issued.number.as_str());
    // Billed: the fee's first milestone is ahead of the effort, so nothing is unbilled.
    let wip = &project["wip"];
    assert_eq!(amount(&wip["invoiced"]), first_amount);
    assert_eq!(amount(&wip["drafted"]), Decimal::ZERO);
    assert_eq!(amount(&wip["unbilled"]), Decimal::ZERO);
    assert_eq!(amount(&wip["billedAhead"]), first_amount - effort_value);
    // Margin: the issued invoice less the posted time at cost.
    let margin = &project["margin"];
    let earned = first_amount - time_cost;
    assert_eq!(amount(&margin["revenue"]), first_amount);
    assert_eq!(amount(&margin["margin"]), earned);
    let percent = (earned / first_amount * Decimal::ONE_HUNDRED).round_dp(2);
    assert_eq!(dec(margin["marginPercent"].as_str().unwrap()), percent, "{margin}");
    let revenue = &project["revenue"];
    assert_eq!(amount(&revenue["recognized"]), first_amount);
    assert_eq!(amount(&revenue["remainingToRecognize"]), contract_value - first_amount);
    assert_eq!(amount(&service_lines[0]["margin"]), earned);
    assert_eq!(dec(service_lines[0]["marginPercent"].as_str().unwrap()), percent);
    assert_eq!(invoices["nodes"][0]["status"], "ISSUED");
    assert_eq!(invoices["nodes"][0]["issueDate"], today.as_str());

    refused_to_others(&keel, &delivered).await;
}

/// Executives read the view; consultants and project managers are refused; bad paging names
/// its argument.
async fn refused_to_others(keel: &Keel, delivered: &Delivered) {
    let (_, body) = keel
        .graphql(Some(Role::Executive), "{ finance { projects { nodes { code } } } }")
        .await;
    assert_eq!(
        body["data"]["finance"]["projects"]["nodes"][0]["code"],
        delivered.code.as_str(),
        "{body}"
    );
    for token in [
        keel.token_as(&delivered.claire.id, Role::Consultant),
        keel.token_as(&delivered.greta.id, Role::ProjectManager),
    ] {
        let (status, body) = keel
            .graphql_with(Some(token), "{ finance { invoices { nodes { id } } } }", json!({}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
        assert_eq!(body["data"], Value::Null, "{body}");
    }
    let (_, body) = keel
        .graphql(
            Some(Role::Finance),
            "{ finance { invoices(first: 101) { nodes { id } } } }",
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("first"),
        "{body}"
    );
}

const DIFFERENCES: &str = "query($after: String) { finance { reconciliationDifferences(first: 2, after: $after) {
  nextCursor nodes { identity projectId kind recordType recordId psaValue erpValue message state }
} } }";

/// After the scenario, ERP is changed behind PSA's back through its own API: one time entry's
/// journal reversed (missing in ERP), one re-keyed a second time by hand (duplicated), one
/// reversed and re-keyed for other hours (altered). Finance starts a reconciliation and the
/// view lists exactly those three, with PSA's and ERP's values, open in the exception queue,
/// two to a page, with one billing call a page. Consultants are refused.
#[tokio::test]
async fn finance_sees_the_reconciliation_differences_between_psa_and_erp() {
    let keel = Keel::start().await;
    let delivered = deliver(&keel).await;
    let today = chrono::Utc::now().date_naive().to_string();
    let mut erp = keel.erp();
    let journals = erp
        .list_journals(keel.request(
            Role::Finance,
            ListJournalsRequest {
                legal_entity: String::new(),
                project_code: delivered.code.clone(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            },
        ))
        .await
        .expect("journals")
        .into_inner()
        .journals;
    let mut time: Vec<_> = journals.iter().filter(|j| j.source.starts_with("time:")).collect();
    time.sort_by(|a, b| a.source.cmp(&b.source));
    assert_eq!(time.len(), ENTRIES as usize, "one journal per posted entry");
    let entry_of = |journal: &keel_proto::erp::Journal| journal.source.trim_start_matches("time:").to_string();
    let (lost, twice, changed) = (time[0], time[1], time[2]);
    let by_hand = |description: String, lines: Vec<keel_proto::erp::JournalLine>| PostJournalRequest {
        idempotency_key: format!("by-hand-{description}"),
        journal_date: today.clone(),
        description,
        lines,
    };
    for journal in [lost, changed] {
        erp.reverse_journal(keel.request(
            Role::Finance,
            ReverseJournalRequest {
                idempotency_key: format!("reverse-{}", journal.id),
                journal_id: journal.id.clone(),
                journal_date: today.clone(),
            },
        ))
        .await
        .expect("reversed");
    }
    let duplicate = erp
        .post_journal(keel.request(
            Role::Finance,
            by_hand(format!("Re-keyed time:{}", entry_of(twice)), twice.lines.clone()),
        ))
        .await
        .expect("posted twice")
        .into_inner();
    let mut other_hours = changed.lines.clone();
    for line in &mut other_hours {
        line.memo = line.memo.replacen("time 10 h", "time 12 h", 1);
    }
    erp.post_journal(keel.request(
        Role::Finance,
        by_hand(format!("Correction time:{}", entry_of(changed)), other_hours),
    ))
    .await
    .expect("re-keyed");

    let mut billing = BillingServiceClient::new(keel.channel_for("billing"));
    let run = billing
        .start_reconciliation(keel.request(
            Role::Finance,
            StartReconciliationRequest {
                idempotency_key: "reconcile-after-delivery".into(),
                project_id: delivered.initial.id.clone(),
            },
        ))
        .await
        .expect("reconciliation started")
        .into_inner();
    let run = common::eventually(Duration::from_secs(30), || {
        let mut billing = billing.clone();
        let request = keel.request(
            Role::Finance,
            GetReconciliationRequest {
                run_id: run.run_id.clone(),
            },
        );
        async move {
            let run = billing.get_reconciliation(request).await.ok()?.into_inner();
            (run.status == "DONE" && run.differences.iter().all(|d| d.exception_status == "EXCEPTION")).then_some(run)
        }
    })
    .await;
    assert_eq!(run.differences_total, 3, "{:?}", run.differences);

    // Two pages of two, one billing call each.
    let finance = keel.token_as("finance-partner", Role::Finance);
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    for page in 0..2 {
        let (status, body) = keel
            .graphql_with(Some(finance.clone()), DIFFERENCES, json!({ "after": after }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(
            body["extensions"]["backendCalls"],
            json!({ "Billing ListReconciliationDifferences": 1 }),
            "{body}"
        );
        let connection = &body["data"]["finance"]["reconciliationDifferences"];
        nodes.extend(connection["nodes"].as_array().unwrap().iter().cloned());
        after = connection["nextCursor"].clone();
        assert_eq!(after.is_null(), page == 1, "{connection}");
    }
    let billed = format!("10 h, {} EUR", dec(BILL_RATE) * Decimal::from(10));
    let project = delivered.initial.id.as_str();
    let mut found: Vec<_> = nodes
        .iter()
        .map(|n| {
            assert_eq!(n["projectId"], project, "{n}");
            assert_eq!(n["recordType"], "time_entry", "{n}");
            assert_eq!(n["state"], "OPEN", "{n}");
            (
                n["kind"].as_str().unwrap().to_string(),
                n["recordId"].as_str().unwrap().to_string(),
                n["psaValue"].clone(),
                n["erpValue"].clone(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let s = |v: &str| v.to_string();
    assert_eq!(found[0].0, "ALTERED");
    assert_eq!(found[0].1, entry_of(changed));
    assert_eq!(found[0].2, json!(billed));
    // The scenario posts time to ERP at cost, without a revenue credit: ERP has hours only.
    assert_eq!(found[0].3, json!("12 h"));
    assert_eq!(
        (found[1].0.as_str(), found[1].1.clone()),
        ("DUPLICATED", entry_of(twice))
    );
    let both = found[1].3.as_str().unwrap();
    assert!(both.contains(&twice.id) && both.contains(&duplicate.id), "{both}");
    assert_eq!(
        found[2],
        (s("MISSING_IN_ERP"), entry_of(lost), json!(billed), Value::Null)
    );
    assert_eq!(found.len(), 3);

    let (status, body) = keel
        .graphql_with(
            Some(keel.token_as(&delivered.claire.id, Role::Consultant)),
            "{ finance { reconciliationDifferences { nodes { recordId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
}
