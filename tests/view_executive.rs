//! The executive's view through the real HTTP endpoint after the delivery scenario and the
//! month end that invoices and recognises its first milestone: the portfolio's revenue, cost
//! and margin as ERP booked them, the workflow cycle times and the staffing approval's
//! turnaround as the workflow admin recorded them (by kind and week, and by the service line and
//! region of the instance's project), the exception rates, the integration latencies, and
//! time-entry compliance against the executive policy's deadline (the scenario's entries,
//! submitted weeks after their work, are late; an entry submitted this week is on time; a draft
//! left weeks ago is late), at one backend call per service and kind of lookup. A consultant
//! may not open the view; a bad date is named.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use common::Keel;
use keel_auth::Role;
use keel_proto::billing::ListMilestoneReadinessRequest;
use keel_proto::billing::billing_service_client::BillingServiceClient;
use keel_proto::common::PageRequest;
use keel_proto::erp::{IssueInvoiceRequest, ListInvoicesRequest, RecognizeRevenueRequest};
use keel_proto::psa::{
    CreateAssignmentRequest, ListTimeEntriesRequest, RecordTimeEntryRequest, SubmitTimeEntriesRequest, TimeEntryState,
};
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use keel_proto::workflow::{
    Counts, ExceptionEpisode, GetCountsRequest, Instance, ListExceptionHistoryRequest, ListInstancesRequest,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const QUERY: &str = r#"
{
  executive {
    portfolio(first: 100) {
      nodes {
        id name serviceLine region status projectCode
        contractValue { amount currency }
        revenue { amount currency }
        cost { amount currency }
        margin { amount currency }
        marginPercent linesInOtherCurrencies
      }
      nextCursor
      totals {
        currency projects
        contractValue { amount currency }
        revenue { amount currency }
        cost { amount currency }
        margin { amount currency }
      }
    }
    workflowCycleTimes(first: 100) {
      nodes { source kind weekStarting completed averageSeconds longestSeconds }
      nextCursor
    }
    approvalTurnarounds(first: 100) {
      nodes { source kind weekStarting decided averageSeconds longestSeconds }
      nextCursor
    }
    exceptionRates(first: 100) {
      nodes { source kind instances withException rate }
      nextCursor
    }
  }
}"#;

fn dec(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().unwrap_or_else(|| panic!("{value} is not a string"))).unwrap()
}

fn page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 100,
        page_token: String::new(),
    })
}

/// An instance's recorded time as `(seconds, nanos)`.
fn time((seconds, nanos): (i64, i32)) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, nanos as u32).unwrap()
}

/// The workflow admin's counts by kind and status, and its whole exception history.
async fn admin_records(
    keel: &Keel,
    admin: &WorkflowAdminServiceClient<tonic::transport::Channel>,
) -> (Counts, Vec<ExceptionEpisode>) {
    let counts = admin
        .clone()
        .get_counts(keel.request(Role::Operations, GetCountsRequest {}))
        .await
        .unwrap()
        .into_inner();
    let episodes = admin
        .clone()
        .list_exception_history(keel.request(
            Role::Operations,
            ListExceptionHistoryRequest {
                page: page(),
                raised_since: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .episodes;
    (counts, episodes)
}

#[tokio::test]
async fn an_executive_sees_the_portfolio_margin_and_the_operating_kpis() {
    let keel = Keel::start().await;
    let delivered = common::scenario::deliver(&keel).await;

    // After the scenario, Claire joins the project for a month around today: she submits
    // today's entry at once (on time), leaves one from two weeks ago as a draft (late: its
    // deadline passed), and one from today as a draft (not due yet).
    let today_date = Utc::now().date_naive();
    keel.psa()
        .create_assignment(keel.request(
            Role::Admin,
            CreateAssignmentRequest {
                idempotency_key: "view-executive-claire".into(),
                project_id: delivered.initial.id.clone(),
                employee_id: delivered.claire.id.clone(),
                person_name: "Claire".into(),
                role: "finance-partner".into(),
                bill_role: String::new(),
                start_date: (today_date - Days::new(21)).to_string(),
                end_date: (today_date + Days::new(7)).to_string(),
                allocation_percent: "10".into(),
            },
        ))
        .await
        .unwrap();
    let record = |key: &'static str, date: NaiveDate| {
        let keel = &keel;
        let request = RecordTimeEntryRequest {
            idempotency_key: key.into(),
            project_id: delivered.initial.id.clone(),
            employee_id: delivered.claire.id.clone(),
            task: "Finance review".into(),
            date: date.to_string(),
            hours: "1".into(),
            narrative: "Reviewed the delivery's financials".into(),
            billable: false,
        };
        async move {
            keel.psa()
                .record_time_entry(keel.request(Role::Admin, request))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let on_time = record("view-executive-today", today_date).await;
    let forgotten = record("view-executive-forgotten", today_date - Days::new(14)).await;
    let pending = record("view-executive-pending", today_date).await;
    assert!(on_time.submitted_at.is_none() && pending.submitted_at.is_none());
    let submitted = keel
        .psa()
        .submit_time_entries(keel.request(
            Role::Admin,
            SubmitTimeEntriesRequest {
                idempotency_key: "view-executive-submit".into(),
                ids: vec![on_time.id.clone()],
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(submitted[0].submitted_at.is_some(), "{submitted:?}");

    // Month end: finance issues the first milestone's draft invoice and recognises what was
    // invoiced (the fixed fee is recognised by invoiced milestone).
    let today = Utc::now().date_naive().to_string();
    let invoice = keel
        .erp()
        .list_invoices(keel.request(
            Role::Finance,
            ListInvoicesRequest {
                project_code: delivered.code.clone(),
                page: page(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .invoices
        .pop()
        .expect("the scenario's draft invoice");
    keel.erp()
        .issue_invoice(keel.request(
            Role::Finance,
            IssueInvoiceRequest {
                idempotency_key: "view-executive-issue".into(),
                invoice_id: invoice.id.clone(),
                expected_version: invoice.version,
                issue_date: today.clone(),
            },
        ))
        .await
        .unwrap();
    let recognized = keel
        .erp()
        .recognize_revenue(keel.request(
            Role::Finance,
            RecognizeRevenueRequest {
                idempotency_key: "view-executive-recognize".into(),
                project_code: delivered.code.clone(),
                percent_complete: String::new(),
                as_of_date: today,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let revenue = Decimal::from_str(&recognized.schedule.unwrap().recognized.unwrap().amount).unwrap();
    let milestone = delivered.changed.milestones[0].amount.as_ref().unwrap();
    assert_eq!(
        revenue,
        Decimal::from_str(&milestone.amount).unwrap(),
        "the invoiced milestone"
    );

    // What the scenario posted: Greta's hours at her HRIS cost rate are the cost.
    let posted: Vec<_> = keel
        .psa()
        .list_time_entries(keel.request(
            Role::Admin,
            ListTimeEntriesRequest {
                project_id: delivered.initial.id.clone(),
                employee_id: String::new(),
                state: TimeEntryState::Posted as i32,
                page: page(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(!posted.is_empty());
    assert!(posted.iter().all(|e| e.employee_id == delivered.greta.id));
    let hours: Decimal = posted.iter().map(|e| Decimal::from_str(&e.hours).unwrap()).sum();
    let cost_rate = Decimal::from_str(&delivered.greta.cost_rate.as_ref().unwrap().amount).unwrap();
    let cost = hours * cost_rate;
    assert_eq!(cost, Decimal::from(20_400), "120 hours at 170");

    // What the workflow admin recorded.
    let admin = WorkflowAdminServiceClient::new(keel.channel());
    let done: Vec<Instance> = admin
        .clone()
        .list_instances(keel.request(
            Role::Operations,
            ListInstancesRequest {
                page: page(),
                status: "done".into(),
                kind: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .instances;
    let (counts, episodes) = admin_records(&keel, &admin).await;

    let (status, body) = keel.graphql(Some(Role::Executive), QUERY).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let view = &body["data"]["executive"];

    // The portfolio: the scenario's one project, its contract value after the change order,
    // and ERP's postings of its time.
    let projects = view["portfolio"]["nodes"].as_array().unwrap();
    assert_eq!(projects.len(), 1, "{body}");
    let project = &projects[0];
    assert_eq!(project["id"], delivered.initial.id.as_str());
    assert_eq!(project["projectCode"], delivered.code.as_str());
    assert_eq!(project["serviceLine"], delivered.initial.service_line.as_str());
    assert_eq!(project["region"], delivered.initial.region.as_str());
    let contract = delivered.changed.contract_value.as_ref().unwrap();
    assert_eq!(
        dec(&project["contractValue"]["amount"]),
        Decimal::from_str(&contract.amount).unwrap()
    );
    assert_eq!(project["contractValue"]["currency"], "EUR");
    assert_eq!(dec(&project["revenue"]["amount"]), revenue, "{body}");
    assert_eq!(project["revenue"]["amount"], milestone.amount.as_str());
    assert_eq!(dec(&project["cost"]["amount"]), cost);
    assert_eq!(dec(&project["margin"]["amount"]), revenue - cost);
    let percent = ((revenue - cost) / revenue * Decimal::ONE_HUNDRED).round_dp(2);
    assert_eq!(dec(&project["marginPercent"]), percent, "{body}");
    assert_eq!(project["linesInOtherCurrencies"], 0);
    assert_eq!(view["portfolio"]["nextCursor"], Value::Null);
    let totals = view["portfolio"]["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 1, "{body}");
    assert_eq!(totals[0]["currency"], "EUR");
    assert_eq!(totals[0]["projects"], 1);
    assert_eq!(totals[0]["contractValue"], project["contractValue"]);
    assert_eq!(totals[0]["revenue"], project["revenue"]);
    assert_eq!(totals[0]["cost"], project["cost"]);
    assert_eq!(totals[0]["margin"], project["margin"]);

    // Cycle times: each kind and week's instances, created to done as recorded.
    let rows = view["workflowCycleTimes"]["nodes"].as_array().unwrap();
    let staffing: Vec<&Instance> = done.iter().filter(|i| i.kind == "staffing").collect();
    assert_eq!(staffing.len(), 1, "the scenario staffed once: {done:?}");
    let created = staffing[0].created_at.as_ref().expect("created");
    let updated = staffing[0].updated_at.as_ref().expect("updated");
    let finished = time((updated.seconds, updated.nanos));
    let took = finished - time((created.seconds, created.nanos));
    assert!(took > chrono::Duration::zero());
    let monday = finished.date_naive() - Days::new(u64::from(finished.weekday().num_days_from_monday()));
    let row = rows
        .iter()
        .find(|r| r["kind"] == "staffing")
        .unwrap_or_else(|| panic!("no staffing cycle time: {body}"));
    assert_eq!(row["source"], "keel");
    assert_eq!(row["weekStarting"], monday.to_string());
    assert_eq!(row["completed"], 1);
    assert_eq!(dec(&row["averageSeconds"]), Decimal::new(took.num_milliseconds(), 3));
    assert!(dec(&row["averageSeconds"]) > Decimal::ZERO);
    assert_eq!(row["longestSeconds"], row["averageSeconds"]);
    let mut completed: HashMap<String, u64> = HashMap::new();
    for row in rows {
        *completed.entry(row["kind"].as_str().unwrap().to_string()).or_default() += row["completed"].as_u64().unwrap();
    }
    let mut expected: HashMap<String, u64> = HashMap::new();
    for instance in &done {
        *expected.entry(instance.kind.clone()).or_default() += 1;
    }
    assert_eq!(completed, expected, "every finished instance in one bucket");
    assert_eq!(completed["time-posting"], posted.len() as u64, "one per posted entry");

    // Staffing approval turnaround: leadership's decision on the scenario's staffing, from
    // requested to decided as the journal recorded them.
    let approve = staffing[0]
        .journal
        .iter()
        .find(|s| s.step == "approve")
        .expect("the approve step journaled");
    let decision: Value = serde_json::from_str(&approve.result_json).unwrap();
    let requested = DateTime::parse_from_rfc3339(decision["requested_at"].as_str().expect("requested_at journaled"))
        .unwrap()
        .with_timezone(&Utc);
    let decided_at = approve.completed_at.as_ref().unwrap();
    let decided = time((decided_at.seconds, decided_at.nanos));
    let waited = decided - requested;
    assert!(waited > chrono::Duration::zero(), "{decision}");
    let turnarounds = view["approvalTurnarounds"]["nodes"].as_array().unwrap();
    assert_eq!(turnarounds.len(), 1, "one decision by a person: {body}");
    let monday = decided.date_naive() - Days::new(u64::from(decided.weekday().num_days_from_monday()));
    assert_eq!(turnarounds[0]["kind"], "staffing");
    assert_eq!(turnarounds[0]["weekStarting"], monday.to_string());
    assert_eq!(turnarounds[0]["decided"], 1);
    assert_eq!(
        dec(&turnarounds[0]["averageSeconds"]),
        Decimal::new(waited.num_milliseconds(), 3)
    );

    // Exception rates: by kind, the share of instances that ever entered the queue.
    let rates = view["exceptionRates"]["nodes"].as_array().unwrap();
    let mut instances: HashMap<String, u64> = HashMap::new();
    for count in &counts.by_kind {
        *instances.entry(count.kind.clone()).or_default() += count.count;
    }
    assert_eq!(rates.len(), instances.len(), "{body}");
    for rate in rates {
        let kind = rate["kind"].as_str().unwrap();
        let raised: HashSet<&str> = episodes
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.instance_id.as_str())
            .collect();
        assert_eq!(rate["instances"], instances[kind], "{rate}");
        assert_eq!(rate["withException"], raised.len() as u64, "{rate}");
        let share = Decimal::from(raised.len() as u64) / Decimal::from(instances[kind]);
        assert_eq!(dec(&rate["rate"]), share.round_dp(4), "{rate}");
    }

    // One call per service and kind of lookup.
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({
            "PSA ListProjects": 1,
            "ERP ListProjectCodesOfProjects": 1,
            "ERP ListJournals": 1,
            "keel ListInstances": 1,
            "keel GetCounts": 1,
            "keel ListExceptionHistory": 1,
        }),
        "{body}"
    );

    // Asked only for names, the portfolio reads PSA alone; asked for codes, not the ledger.
    let (_, body) = keel
        .graphql(Some(Role::Executive), "{ executive { portfolio { nodes { name } } } }")
        .await;
    assert_eq!(
        body["data"]["executive"]["portfolio"]["nodes"][0]["name"],
        delivered.initial.name.as_str()
    );
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1 }),
        "{body}"
    );
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { portfolio { nodes { projectCode } } } }",
        )
        .await;
    assert_eq!(
        body["data"]["executive"]["portfolio"]["nodes"][0]["projectCode"],
        delivered.code.as_str()
    );
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1, "ERP ListProjectCodesOfProjects": 1 }),
        "{body}"
    );

    // A week that has not come yet leaves every cycle time out; a date that is not one is
    // named.
    let next_year = (Utc::now().date_naive() + Days::new(366)).to_string();
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            &format!(r#"{{ executive {{ workflowCycleTimes(since: "{next_year}") {{ nodes {{ kind }} }} }} }}"#),
        )
        .await;
    assert_eq!(
        body["data"]["executive"]["workflowCycleTimes"]["nodes"],
        json!([]),
        "{body}"
    );
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            r#"{ executive { workflowCycleTimes(since: "last week") { nodes { kind } } } }"#,
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "since",
        "{body}"
    );

    // Invoice readiness: the scenario's milestones as billing reads them, by due week.
    let readiness = BillingServiceClient::new(keel.channel())
        .list_milestone_readiness(keel.request(
            Role::Finance,
            ListMilestoneReadinessRequest {
                project_ids: vec![delivered.initial.id.clone()],
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .milestones;
    assert_eq!(readiness.len(), delivered.changed.milestones.len());
    // By week: (due, reached, drafted, blocked).
    let mut expected: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for listed in &readiness {
        let r = listed.readiness.as_ref().unwrap();
        let due = NaiveDate::parse_from_str(&r.due_date, "%Y-%m-%d").unwrap();
        let monday = due - Days::new(u64::from(due.weekday().num_days_from_monday()));
        let row = expected.entry(monday.to_string()).or_default();
        row.0 += 1;
        if matches!(listed.erp_status.as_str(), "REACHED" | "INVOICED") {
            row.1 += 1;
            if listed.invoice.is_some() {
                row.2 += 1;
            } else if !r.blockers.is_empty() {
                row.3 += 1;
            }
        }
    }
    assert_eq!(
        expected.values().map(|r| r.2).sum::<u64>(),
        1,
        "the first milestone was reached and invoiced: {readiness:?}"
    );
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { invoiceReadiness(first: 100) { nextCursor nodes {
                 weekStarting serviceLine region milestones reached drafted blocked readinessRate } } } }",
        )
        .await;
    let rows = body["data"]["executive"]["invoiceReadiness"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(rows.len(), expected.len(), "{body}");
    for (row, (week, (due, reached, drafted, blocked))) in rows.iter().zip(&expected) {
        assert_eq!(row["weekStarting"], week.as_str(), "{body}");
        assert_eq!(row["serviceLine"], delivered.initial.service_line.as_str());
        assert_eq!(row["region"], delivered.initial.region.as_str());
        assert_eq!(
            (&row["milestones"], &row["reached"], &row["drafted"], &row["blocked"]),
            (&json!(due), &json!(reached), &json!(drafted), &json!(blocked)),
            "{row}"
        );
        let rate = (*reached > 0).then(|| (Decimal::from(*drafted) / Decimal::from(*reached)).round_dp(4));
        assert_eq!(row["readinessRate"].as_str().map(|r| dec(&json!(r))), rate, "{row}");
    }
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1, "Billing ListMilestoneReadiness": 1 }),
        "{body}"
    );

    // Margin against the baseline: the baseline hours at the cost per hour the posted time
    // had, against the contract value; compared on the revenue recognised so far.
    let contract = Decimal::from_str(&contract.amount).unwrap();
    let baseline_hours = Decimal::from_str(&delivered.changed.budget_baseline.as_ref().unwrap().total_hours).unwrap();
    let baseline_cost = baseline_hours * (cost / hours);
    let baseline_margin = contract - baseline_cost;
    let baseline_share = baseline_margin / contract;
    let margin = revenue - cost;
    let variance = margin - revenue * baseline_share;
    let points = (variance / revenue * Decimal::ONE_HUNDRED).round_dp(2);
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { marginVariances(first: 100) { nextCursor nodes {
                 projectId projectCode revenue { amount currency } cost { amount } margin { amount }
                 marginPercent baselineMargin { amount } baselineMarginPercent variance { amount }
                 variancePoints } } } }",
        )
        .await;
    let nodes = body["data"]["executive"]["marginVariances"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(nodes.len(), 1, "{body}");
    let v = &nodes[0];
    assert_eq!(v["projectId"], delivered.initial.id.as_str());
    assert_eq!(v["projectCode"], delivered.code.as_str());
    assert_eq!(dec(&v["revenue"]["amount"]), revenue, "{v}");
    assert_eq!(v["revenue"]["currency"], "EUR");
    assert_eq!(dec(&v["cost"]["amount"]), cost);
    assert_eq!(dec(&v["margin"]["amount"]), margin);
    assert_eq!(dec(&v["baselineMargin"]["amount"]), baseline_margin.round_dp(2), "{v}");
    assert_eq!(
        dec(&v["baselineMarginPercent"]),
        (baseline_share * Decimal::ONE_HUNDRED).round_dp(2),
        "{v}"
    );
    assert_eq!(dec(&v["variance"]["amount"]), variance.round_dp(2), "{v}");
    assert_eq!(dec(&v["variancePoints"]), points, "{v}");
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1, "ERP ListProjectFinancialsOfProjects": 1, "PSA ListActualsOfProjects": 1 }),
        "{body}"
    );

    // Rolled up by service line and region: the one project's figures.
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { marginVarianceRollups(first: 100) { nextCursor nodes {
                 serviceLine region currency projects projectsWithoutVariance revenue { amount }
                 margin { amount } marginPercent baselineMarginPercent variance { amount } variancePoints } } } }",
        )
        .await;
    let rollups = body["data"]["executive"]["marginVarianceRollups"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(rollups.len(), 1, "{body}");
    let r = &rollups[0];
    assert_eq!(r["serviceLine"], delivered.initial.service_line.as_str());
    assert_eq!(r["region"], delivered.initial.region.as_str());
    assert_eq!(
        (&r["currency"], &r["projects"], &r["projectsWithoutVariance"]),
        (&json!("EUR"), &json!(1), &json!(0))
    );
    assert_eq!(r["revenue"]["amount"], v["revenue"]["amount"]);
    assert_eq!(r["margin"], v["margin"]);
    assert_eq!(r["marginPercent"], v["marginPercent"]);
    assert_eq!(r["baselineMarginPercent"], v["baselineMarginPercent"], "{body}");
    assert_eq!(r["variance"], v["variance"]);
    assert_eq!(r["variancePoints"], v["variancePoints"]);
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1, "ERP ListProjectFinancialsOfProjects": 1, "PSA ListActualsOfProjects": 1 }),
        "{body}"
    );
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            r#"{ executive { invoiceReadiness(since: "soon") { nodes { weekStarting } } } }"#,
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "since",
        "{body}"
    );
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { marginVarianceRollups(first: 101) { nodes { region } } } }",
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "first",
        "{body}"
    );

    // Both margin fields in one request read ERP's financials and PSA's actuals once.
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { marginVariances(first: 100) { nodes { projectId variancePoints } }
                 marginVarianceRollups(first: 100) { nodes { region variancePoints } } } }",
        )
        .await;
    let both = &body["data"]["executive"];
    assert_eq!(
        both["marginVariances"]["nodes"][0]["variancePoints"], v["variancePoints"],
        "{body}"
    );
    assert_eq!(
        both["marginVarianceRollups"]["nodes"][0]["variancePoints"],
        v["variancePoints"]
    );
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1, "ERP ListProjectFinancialsOfProjects": 1, "PSA ListActualsOfProjects": 1 }),
        "{body}"
    );

    // Time-entry compliance: the scenario's entries were submitted today for work weeks ago,
    // so each is late; Claire's entry submitted today is on time, her draft of two weeks ago
    // late, her draft of today not counted yet. By work week (the project's one service line
    // and region).
    let monday_of = |day: NaiveDate| day - Days::new(u64::from(day.weekday().num_days_from_monday()));
    let mut expected: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for entry in &posted {
        let date = NaiveDate::parse_from_str(&entry.date, "%Y-%m-%d").unwrap();
        let submitted = entry.submitted_at.expect("the scenario's entries were submitted");
        let week = monday_of(date);
        let deadline = (week + Days::new(9)).and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert!(time((submitted.seconds, submitted.nanos)) > deadline, "{entry:?}");
        expected.entry(week).or_default().1 += 1;
    }
    expected.entry(monday_of(today_date)).or_default().0 += 1;
    expected.entry(monday_of(today_date - Days::new(14))).or_default().1 += 1;
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { timeEntryCompliance(first: 100) { nextCursor nodes {
                 weekStarting serviceLine region deadline entries onTime late onTimePercent } } } }",
        )
        .await;
    let rows = body["data"]["executive"]["timeEntryCompliance"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(rows.len(), expected.len(), "{body}");
    for (row, (week, (on_time, late))) in rows.iter().zip(&expected) {
        assert_eq!(row["weekStarting"], week.to_string(), "{body}");
        assert_eq!(row["serviceLine"], delivered.initial.service_line.as_str());
        assert_eq!(row["region"], delivered.initial.region.as_str());
        let deadline = (*week + Days::new(9)).and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(
            row["deadline"],
            deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "{row}"
        );
        assert_eq!(
            (&row["entries"], &row["onTime"], &row["late"]),
            (&json!(on_time + late), &json!(on_time), &json!(late)),
            "{row}"
        );
        let share = (Decimal::from(*on_time) * Decimal::ONE_HUNDRED / Decimal::from(on_time + late)).round_dp(2);
        assert_eq!(dec(&row["onTimePercent"]), share, "{row}");
    }
    let this_week = rows.last().unwrap();
    assert_eq!(
        (&this_week["onTime"], &this_week["late"]),
        (&json!(1), &json!(0)),
        "{body}"
    );
    let total_late: u64 = rows.iter().map(|r| r["late"].as_u64().unwrap()).sum();
    assert_eq!(
        total_late,
        posted.len() as u64 + 1,
        "every scenario entry and the forgotten draft"
    );
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1, "PSA ListTimeEntriesOfProjects": 1 }),
        "{body}"
    );
    assert_eq!(
        (forgotten.state, pending.state),
        (TimeEntryState::Draft as i32, TimeEntryState::Draft as i32)
    );
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            &format!(
                r#"{{ executive {{ timeEntryCompliance(since: "{}", first: 100) {{ nodes {{ weekStarting onTime }} }} }} }}"#,
                monday_of(today_date)
            ),
        )
        .await;
    assert_eq!(
        body["data"]["executive"]["timeEntryCompliance"]["nodes"],
        json!([{ "weekStarting": monday_of(today_date).to_string(), "onTime": 1 }]),
        "{body}"
    );
    for query in [
        r#"{ executive { timeEntryCompliance(since: "2026-02-30") { nodes { late } } } }"#,
        r#"{ executive { integrationLatencies(since: "yesterday") { nodes { writes } } } }"#,
    ] {
        let (_, body) = keel.graphql(Some(Role::Executive), query).await;
        assert_eq!(
            body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "since",
            "{body}"
        );
    }
    for query in [
        "{ executive { timeEntryCompliance(first: 0) { nodes { late } } } }",
        "{ executive { integrationLatencies(first: 101) { nodes { writes } } } }",
    ] {
        let (_, body) = keel.graphql(Some(Role::Executive), query).await;
        assert_eq!(
            body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "first",
            "{body}"
        );
    }

    // Integration latency: PSA's approval of each posted entry to ERP's journal, from the
    // time-posting instance's creation to its post-to-erp step, by the week it was written.
    let mut writes: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    for instance in done.iter().filter(|i| i.kind == "time-posting") {
        let created = instance.created_at.as_ref().unwrap();
        let step = instance
            .journal
            .iter()
            .find(|s| s.step == "post-to-erp")
            .expect("post-to-erp journaled");
        let written = step.completed_at.as_ref().unwrap();
        let written = time((written.seconds, written.nanos));
        let took = written - time((created.seconds, created.nanos));
        writes
            .entry(monday_of(written.date_naive()).to_string())
            .or_default()
            .push(Decimal::new(took.num_milliseconds(), 3));
    }
    assert_eq!(writes.values().map(Vec::len).sum::<usize>(), posted.len());
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { integrationLatencies(first: 100) { nextCursor nodes {
                 source integration kind step weekStarting writes averageSeconds longestSeconds } } } }",
        )
        .await;
    let rows = body["data"]["executive"]["integrationLatencies"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let time_posting: Vec<&Value> = rows
        .iter()
        .filter(|r| r["integration"] == "PSA time approval → ERP journal")
        .collect();
    assert_eq!(time_posting.len(), writes.len(), "{body}");
    for (row, (week, took)) in time_posting.iter().zip(&writes) {
        assert_eq!(row["source"], "keel");
        assert_eq!(
            (&row["kind"], &row["step"]),
            (&json!("time-posting"), &json!("post-to-erp"))
        );
        assert_eq!(row["weekStarting"], week.as_str(), "{row}");
        assert_eq!(row["writes"], took.len() as u64, "{row}");
        let mean = (took.iter().sum::<Decimal>() / Decimal::from(took.len() as u64)).round_dp(3);
        assert_eq!(dec(&row["averageSeconds"]), mean, "{row}");
        assert_eq!(dec(&row["longestSeconds"]), *took.iter().max().unwrap(), "{row}");
        assert!(mean > Decimal::ZERO, "{row}");
    }
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "keel ListInstances": 1 }),
        "{body}"
    );

    // Cycle time and approval turnaround by the service line and region of the instance's
    // project: every instance the scenario ran names its one project, so each kind's
    // instances sit under its service line and region.
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive {
                 workflowCycleTimes(byServiceLineAndRegion: true, first: 100) { nodes { kind serviceLine region completed } }
                 approvalTurnarounds(byServiceLineAndRegion: true, first: 100) { nodes { kind serviceLine region decided averageSeconds } }
                 integrationLatencies(byServiceLineAndRegion: true, first: 100) { nodes { kind weekStarting serviceLine region writes } }
               } }",
        )
        .await;
    let view = &body["data"]["executive"];
    let rows = view["workflowCycleTimes"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let mut by_place: HashMap<String, u64> = HashMap::new();
    for row in rows {
        if row["kind"] == "staffing" || row["kind"] == "time-posting" || row["kind"] == "billing-readiness" {
            assert_eq!(row["serviceLine"], delivered.initial.service_line.as_str(), "{row}");
            assert_eq!(row["region"], delivered.initial.region.as_str(), "{row}");
        }
        *by_place.entry(row["kind"].as_str().unwrap().to_string()).or_default() += row["completed"].as_u64().unwrap();
    }
    assert_eq!(by_place, completed, "every finished instance in one bucket: {body}");
    let turnaround = &view["approvalTurnarounds"]["nodes"];
    assert_eq!(turnaround[0]["kind"], "staffing", "{body}");
    assert_eq!(turnaround[0]["serviceLine"], delivered.initial.service_line.as_str());
    assert_eq!(turnaround[0]["region"], delivered.initial.region.as_str());
    assert_eq!(
        dec(&turnaround[0]["averageSeconds"]),
        Decimal::new(waited.num_milliseconds(), 3)
    );
    // The scenario's time postings, each week's writes under its project's place.
    let latencies: Vec<&Value> = view["integrationLatencies"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter(|r| r["kind"] == "time-posting")
        .collect();
    assert_eq!(latencies.len(), writes.len(), "{body}");
    for (row, (week, took)) in latencies.iter().zip(&writes) {
        assert_eq!(row["weekStarting"], week.as_str(), "{row}");
        assert_eq!(row["writes"], took.len() as u64, "{row}");
        assert_eq!(row["serviceLine"], delivered.initial.service_line.as_str(), "{row}");
        assert_eq!(row["region"], delivered.initial.region.as_str(), "{row}");
    }
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "PSA ListProjects": 1, "keel ListInstances": 1 }),
        "{body}"
    );

    // Exception rates by the service line and region of the instance's project: each kind's
    // instances and those ever raised add up to the admin's own counts and history, and the
    // scenario's kinds sit under its project's service line and region.
    let (counts, episodes) = admin_records(&keel, &admin).await;
    let (_, body) = keel
        .graphql(
            Some(Role::Executive),
            "{ executive { exceptionRates(byServiceLineAndRegion: true, first: 100) {
                 nodes { kind serviceLine region instances withException rate } } } }",
        )
        .await;
    let rows = body["data"]["executive"]["exceptionRates"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let mut instances: HashMap<String, u64> = HashMap::new();
    for count in &counts.by_kind {
        *instances.entry(count.kind.clone()).or_default() += count.count;
    }
    instances.retain(|_, n| *n > 0);
    let mut raised: HashMap<String, HashSet<&str>> = HashMap::new();
    for episode in &episodes {
        raised
            .entry(episode.kind.clone())
            .or_default()
            .insert(episode.instance_id.as_str());
    }
    let mut summed: HashMap<String, (u64, u64)> = HashMap::new();
    for row in rows {
        let kind = row["kind"].as_str().unwrap().to_string();
        if kind == "staffing" || kind == "time-posting" || kind == "billing-readiness" {
            assert_eq!(row["serviceLine"], delivered.initial.service_line.as_str(), "{row}");
            assert_eq!(row["region"], delivered.initial.region.as_str(), "{row}");
        }
        let (n, with) = (
            row["instances"].as_u64().unwrap(),
            row["withException"].as_u64().unwrap(),
        );
        assert_eq!(
            dec(&row["rate"]),
            (Decimal::from(with) / Decimal::from(n)).round_dp(4),
            "{row}"
        );
        let sum = summed.entry(kind).or_default();
        sum.0 += n;
        sum.1 += with;
    }
    let expected: HashMap<String, (u64, u64)> = instances
        .iter()
        .map(|(kind, n)| (kind.clone(), (*n, raised.get(kind).map_or(0, |ids| ids.len() as u64))))
        .collect();
    assert_eq!(summed, expected, "{body}");
    assert_eq!(
        body["extensions"]["backendCalls"]["keel ListInstances"], 1,
        "every instance read in one page: {body}"
    );
    assert_eq!(body["extensions"]["backendCalls"]["PSA ListProjects"], 1, "{body}");

    // A consultant may not open the view.
    let token = keel.token_as(&delivered.greta.id, Role::Consultant);
    let (_, body) = keel
        .graphql_with(Some(token), "{ executive { portfolio { nodes { id } } } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
}
