//! The role views act, over the real binary's GraphQL endpoint, after the whole delivery
//! scenario, always through process APIs: Claire, staffed as an architect on Greta's project,
//! records and submits her time as a consultant; Greta, the project's engagement manager,
//! is told over `/graphql/ws` (`approvalRequested`) and approves it, and time capture posts it
//! to ERP at Claire's cost; a rejection's reason reaches Claire's own view; Greta may not
//! approve her own time (refused, and the refusal is in time capture's audit log); a manager
//! of another project may not decide Claire's nor raise a change request on Greta's project,
//! which Greta does, and sees in her view; and Greta acknowledges the alert Claire's
//! unapproved week raises, which leaves her open alerts.

mod common;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use common::scenario::{Delivered, WAIT, deliver};
use common::{Keel, eventually};
use keel_auth::Role;
use keel_proto::common::PageRequest;
use keel_proto::erp::ListJournalsRequest;
use keel_proto::psa::{CreateAssignmentRequest, GetTimeEntryRequest, TimeEntry, TimeEntryState};
use keel_store::StoreOptions;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Claire's role on the project and its rate on the scenario's rate card, and her HRIS cost
/// rate, as `tests/common/scenario.rs` sets them.
const ARCHITECT: &str = "solution-architect";
const ARCHITECT_RATE: &str = "180.00";
const CLAIRE_COST_RATE: &str = "190.00";

const RECORD: &str = "mutation($projectId: ID!, $date: String!, $hours: String!, $narrative: String!) {
    recordTime(projectId: $projectId, date: $date, hours: $hours, narrative: $narrative) {
        id project { id } date hours narrative billable state
    } }";
const SUBMIT: &str = "mutation($ids: [ID!]!) { submitTime(timeEntryIds: $ids) { id state } }";
const SHEET: &str = "mutation($lines: [TimesheetLineInput!]!) {
    recordTimesheet(lines: $lines, submit: true) { id project { id } date hours task state } }";
const APPROVE: &str = "mutation($id: ID!) { approveTime(timeEntryId: $id) {
    id projectId personId state approverId amount { amount currency } } }";
const REJECT: &str = "mutation($id: ID!, $reason: String!) { rejectTime(timeEntryId: $id, reason: $reason) {
    id state rejectionReason } }";

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

/// The `n`th weekday (0-based) from `start` on.
fn weekday(start: NaiveDate, n: usize) -> NaiveDate {
    start
        .iter_days()
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .nth(n)
        .unwrap()
}

/// The first error of a GraphQL answer (and that there was no data).
fn refusal(body: &Value) -> &Value {
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("refused: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    &errors[0]
}

/// Claire joins the scenario's project as its architect for the staffed period.
async fn join_as_architect(keel: &Keel, delivered: &Delivered) {
    keel.psa()
        .create_assignment(keel.request(
            Role::Admin,
            CreateAssignmentRequest {
                idempotency_key: "actions-claire".into(),
                project_id: delivered.initial.id.clone(),
                employee_id: delivered.claire.id.clone(),
                person_name: delivered.claire.name.clone(),
                role: ARCHITECT.into(),
                bill_role: String::new(),
                start_date: delivered.close.to_string(),
                end_date: (delivered.close + Days::new(48)).to_string(),
                allocation_percent: "50".into(),
            },
        ))
        .await
        .unwrap();
}

async fn entry(keel: &Keel, id: &str) -> TimeEntry {
    keel.psa()
        .get_time_entry(keel.request(Role::Admin, GetTimeEntryRequest { id: id.into() }))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_consultant_records_a_week_as_one_timesheet_and_a_bad_line_is_named_by_its_place() {
    let keel = Keel::start().await;
    let delivered = deliver(&keel).await;
    let project = delivered.initial.id.clone();
    let claire = keel.token_as(&delivered.claire.id, Role::Consultant);
    join_as_architect(&keel, &delivered).await;
    let days: Vec<NaiveDate> = (0..4).map(|n| weekday(delivered.close + Days::new(30), n)).collect();
    let lines = |hours: &[&str]| {
        Value::Array(
            days.iter()
                .zip(hours)
                .enumerate()
                .map(|(i, (day, hours))| {
                    json!({ "projectId": project, "date": day.to_string(), "hours": hours,
                            "narrative": format!("Treasury architecture review, part {}", i + 1),
                            "task": "Design" })
                })
                .collect(),
        )
    };

    // A line of 25 hours is named by its place, and nothing of the sheet is recorded.
    let (_, body) = keel
        .graphql_with(
            Some(claire.clone()),
            SHEET,
            json!({ "lines": lines(&["8", "25", "8", "8"]) }),
        )
        .await;
    let error = refusal(&body);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(
        error["extensions"]["fieldViolations"][0]["field"], "lines[1].hours",
        "{body}"
    );

    // The week of four days: recorded and submitted in one call, in the sheet's order.
    let (status, body) = keel
        .graphql_with(
            Some(claire.clone()),
            SHEET,
            json!({ "lines": lines(&["8", "7.5", "8", "6"]) }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let recorded = body["data"]["recordTimesheet"].as_array().unwrap();
    let dates: Vec<&str> = recorded.iter().map(|e| text(&e["date"])).collect();
    let expected: Vec<String> = days.iter().map(NaiveDate::to_string).collect();
    assert_eq!(dates, expected);
    assert!(
        recorded
            .iter()
            .all(|e| e["state"] == "SUBMITTED" && e["task"] == "Design" && e["project"]["id"] == project.as_str()),
        "{body}"
    );
    assert_eq!(
        body["extensions"]["backendCalls"]["TimeCapture RecordTimesheet"], 1,
        "{body}"
    );
    for e in recorded {
        let stored = entry(&keel, text(&e["id"])).await;
        assert_eq!(stored.employee_id, delivered.claire.id, "Claire's own time");
        assert_eq!(stored.state, TimeEntryState::Submitted as i32);
    }
    // The same sheet again is the same action: the same entries, nothing recorded twice.
    let (_, again) = keel
        .graphql_with(
            Some(claire.clone()),
            SHEET,
            json!({ "lines": lines(&["8", "7.5", "8", "6"]) }),
        )
        .await;
    assert_eq!(
        again["data"]["recordTimesheet"], body["data"]["recordTimesheet"],
        "{again}"
    );
}

#[tokio::test]
async fn consultants_record_and_submit_time_and_their_manager_decides_it_through_time_capture() {
    let keel = Keel::start().await;
    let addr: SocketAddr = keel.http.trim_start_matches("http://").parse().unwrap();
    let delivered = deliver(&keel).await;
    let project = delivered.initial.id.clone();
    let greta_pm = keel.token_as(&delivered.greta.id, Role::ProjectManager);
    let claire = keel.token_as(&delivered.claire.id, Role::Consultant);

    // Claire joins the project as its architect for the staffed period.
    join_as_architect(&keel, &delivered).await;
    let day = |n| weekday(delivered.close + Days::new(30), n);

    // Greta, and a project manager of no project, are listening for approvals.
    let mut greta_ws = ws::subscribe_approvals(addr, &greta_pm).await;
    let nobody = uuid::Uuid::now_v7().to_string();
    let nobody_pm = keel.token_as(&nobody, Role::ProjectManager);
    let mut nobody_ws = ws::subscribe_approvals(addr, &nobody_pm).await;

    // Bad input is named by argument and records nothing; a broken time rule likewise.
    let variables = |date: String, hours: &str| {
        json!({ "projectId": project, "date": date, "hours": hours,
                "narrative": "Treasury architecture review with the client's IT" })
    };
    let (_, body) = keel
        .graphql_with(Some(claire.clone()), RECORD, variables(day(0).to_string(), "25"))
        .await;
    let error = refusal(&body);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(error["extensions"]["fieldViolations"][0]["field"], "hours", "{body}");
    let tomorrow = (chrono::Utc::now().date_naive() + Days::new(1)).to_string();
    let (_, body) = keel
        .graphql_with(Some(claire.clone()), RECORD, variables(tomorrow, "4"))
        .await;
    let error = refusal(&body);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    let violations = error["extensions"]["fieldViolations"].as_array().unwrap();
    assert!(
        violations
            .iter()
            .any(|v| v["field"] == "date" && text(&v["description"]).starts_with("FUTURE_DATE")),
        "{body}"
    );

    // Claire records six hours and submits them.
    let (status, body) = keel
        .graphql_with(Some(claire.clone()), RECORD, variables(day(0).to_string(), "6"))
        .await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let recorded = &body["data"]["recordTime"];
    assert_eq!(recorded["state"], "DRAFT");
    assert_eq!(recorded["project"]["id"], project.as_str());
    assert_eq!(dec(text(&recorded["hours"])), dec("6"));
    let first = text(&recorded["id"]).to_string();
    let calls = &body["extensions"]["backendCalls"];
    assert_eq!(calls["TimeCapture RecordTime"], 1, "{calls}");
    // Recording it again (the same action, so the same derived key) records nothing new.
    let (_, again) = keel
        .graphql_with(Some(claire.clone()), RECORD, variables(day(0).to_string(), "6"))
        .await;
    assert_eq!(again["data"]["recordTime"]["id"], first.as_str(), "{again}");
    let (_, body) = keel
        .graphql_with(Some(claire.clone()), SUBMIT, json!({ "ids": [first] }))
        .await;
    assert_eq!(
        body["data"]["submitTime"],
        json!([{ "id": first, "state": "SUBMITTED" }]),
        "{body}"
    );

    // Greta is told; the manager of no project is not.
    let requested = ws::next_approval(&mut greta_ws).await;
    assert_eq!(requested["kind"], "TIME");
    assert_eq!(requested["projectId"], project.as_str());
    assert_eq!(requested["timeEntry"]["id"], first.as_str());
    assert_eq!(requested["timeEntry"]["personId"], delivered.claire.id.as_str());
    assert_eq!(dec(text(&requested["timeEntry"]["hours"])), dec("6"));
    assert_eq!(
        dec(text(&requested["timeEntry"]["amount"]["amount"])),
        dec("6") * dec(ARCHITECT_RATE)
    );
    assert!(
        ws::nothing_for(&mut nobody_ws, Duration::from_secs(5)).await,
        "a manager of another project is told of no approval"
    );

    // The manager of another project may not decide it; Greta approves it.
    let (_, body) = keel
        .graphql_with(Some(nobody_pm.clone()), APPROVE, json!({ "id": first }))
        .await;
    let error = refusal(&body);
    assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{body}");
    assert!(text(&error["message"]).contains("does not manage"), "{body}");
    assert_eq!(entry(&keel, &first).await.state, TimeEntryState::Submitted as i32);
    let (_, body) = keel
        .graphql_with(Some(greta_pm.clone()), APPROVE, json!({ "id": first }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let approved = &body["data"]["approveTime"];
    assert_eq!(approved["state"], "APPROVED");
    assert_eq!(approved["approverId"], delivered.greta.id.as_str());
    assert_eq!(approved["personId"], delivered.claire.id.as_str());
    assert_eq!(approved["amount"]["currency"], "EUR");
    assert_eq!(
        dec(text(&approved["amount"]["amount"])),
        dec("6") * dec(ARCHITECT_RATE),
        "6 h at {ARCHITECT_RATE}"
    );
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "TimeCapture ApproveTime": 1 })
    );

    // Time capture posts it to ERP once, at Claire's cost rate.
    let posted = eventually(WAIT, || async {
        let e = entry(&keel, &first).await;
        (e.state == TimeEntryState::Posted as i32).then_some(e)
    })
    .await;
    assert_eq!(posted.approver_id, delivered.greta.id);
    let journals = keel
        .erp()
        .list_journals(keel.request(
            Role::Finance,
            ListJournalsRequest {
                legal_entity: String::new(),
                project_code: delivered.code.clone(),
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .journals;
    let mine: Vec<_> = journals
        .iter()
        .filter(|j| j.source == format!("time:{first}"))
        .collect();
    assert_eq!(mine.len(), 1, "posted once: {journals:?}");
    assert!(posted.journal_reference == mine[0].id || posted.journal_reference == mine[0].number);
    let cost = dec("6") * dec(CLAIRE_COST_RATE);
    let debits: Vec<Decimal> = mine[0]
        .lines
        .iter()
        .filter_map(|l| l.debit.as_ref())
        .map(|m| dec(&m.amount))
        .collect();
    assert!(debits.contains(&cost), "a debit of {cost}: {:?}", mine[0].lines);
    let credits: Decimal = mine[0]
        .lines
        .iter()
        .filter_map(|l| l.credit.as_ref())
        .map(|m| dec(&m.amount))
        .sum();
    assert_eq!(debits.iter().sum::<Decimal>(), credits, "balanced");

    reject_and_claire_sees_why(&keel, &delivered, &claire, &greta_pm, day(1)).await;
    greta_cannot_approve_her_own_time(&keel, &delivered, &greta_pm, day(2)).await;
    greta_raises_a_change_request(&keel, &delivered, &greta_pm, &nobody_pm).await;
    let week: Vec<NaiveDate> = (3..8).map(day).collect();
    greta_acknowledges_an_alert(&keel, &delivered, &claire, &greta_pm, &week).await;
}

/// Greta rejects Claire's second entry; Claire's own view shows it rejected, with the reason.
async fn reject_and_claire_sees_why(keel: &Keel, delivered: &Delivered, claire: &str, greta_pm: &str, date: NaiveDate) {
    let (_, body) = keel
        .graphql_with(
            Some(claire.to_string()),
            RECORD,
            json!({ "projectId": delivered.initial.id, "date": date.to_string(), "hours": "3",
                    "narrative": "Architecture runbook for the treasury interfaces" }),
        )
        .await;
    let id = text(&body["data"]["recordTime"]["id"]).to_string();
    let (_, body) = keel
        .graphql_with(Some(claire.to_string()), SUBMIT, json!({ "ids": [id] }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let reason = "Book the runbook to the interfaces task, not to architecture";
    let (_, body) = keel
        .graphql_with(Some(greta_pm.to_string()), REJECT, json!({ "id": id, "reason": "  " }))
        .await;
    assert_eq!(
        refusal(&body)["extensions"]["fieldViolations"][0]["field"],
        "reason",
        "{body}"
    );
    let (_, body) = keel
        .graphql_with(
            Some(greta_pm.to_string()),
            REJECT,
            json!({ "id": id, "reason": reason }),
        )
        .await;
    assert_eq!(
        body["data"]["rejectTime"],
        json!({ "id": id, "state": "REJECTED", "rejectionReason": reason }),
        "{body}"
    );
    let (_, body) = keel
        .graphql_with(
            Some(claire.to_string()),
            "query { consultant { timeEntries(state: REJECTED) { nodes { id hours state rejectionReason } } } }",
            json!({}),
        )
        .await;
    let rejected = body["data"]["consultant"]["timeEntries"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(rejected.len(), 1, "{body}");
    assert_eq!(rejected[0]["id"], id.as_str());
    assert_eq!(dec(text(&rejected[0]["hours"])), dec("3"));
    assert_eq!(rejected[0]["state"], "REJECTED");
    assert_eq!(rejected[0]["rejectionReason"], reason);
}

/// Greta records and submits her own time, then tries to approve it: refused, still waiting,
/// and the refusal is in time capture's audit log under her name.
async fn greta_cannot_approve_her_own_time(keel: &Keel, delivered: &Delivered, greta_pm: &str, date: NaiveDate) {
    let greta = keel.token_as(&delivered.greta.id, Role::Consultant);
    let (_, body) = keel
        .graphql_with(
            Some(greta.clone()),
            RECORD,
            json!({ "projectId": delivered.initial.id, "date": date.to_string(), "hours": "4",
                    "narrative": "Steering committee preparation and minutes" }),
        )
        .await;
    let id = text(&body["data"]["recordTime"]["id"]).to_string();
    let (_, body) = keel.graphql_with(Some(greta), SUBMIT, json!({ "ids": [id] })).await;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body) = keel
        .graphql_with(Some(greta_pm.to_string()), APPROVE, json!({ "id": id }))
        .await;
    let error = refusal(&body);
    assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{body}");
    assert!(text(&error["message"]).contains("their own time"), "{body}");
    assert_eq!(entry(keel, &id).await.state, TimeEntryState::Submitted as i32);

    let store = StoreOptions::for_service(
        "time-capture",
        keel.data_dir.path(),
        keel_store::testing::test_database_url().as_deref(),
        &keel.prefix,
        1,
    );
    let db = keel_store::connect(&store).await.unwrap();
    let history = keel_store::audit::history(&db, keel_time_capture::actions::AUDIT_RECORD_TYPE, &id)
        .await
        .unwrap();
    let refused: Vec<(&str, &str)> = history.iter().map(|e| (e.actor.as_str(), e.action.as_str())).collect();
    assert_eq!(refused, [(delivered.greta.id.as_str(), "self_approval_refused")]);
}

/// Greta raises a change request on her project: submitted for approval, and in her view;
/// the manager of another project may not raise one on it.
async fn greta_raises_a_change_request(keel: &Keel, delivered: &Delivered, greta_pm: &str, nobody_pm: &str) {
    let raise = "mutation($projectId: ID!) { raiseChangeRequest(projectId: $projectId,
        title: \"Data migration rehearsal\", description: \"A second rehearsal before cut-over\",
        role: \"developer\", deltaHours: \"16\", deltaAmount: \"2080.00\", currency: \"EUR\",
        affectedMilestoneIds: [\"2\"]) { id title role deltaHours deltaAmount { amount currency } state } }";
    let variables = json!({ "projectId": delivered.initial.id });
    let (_, body) = keel
        .graphql_with(Some(nobody_pm.to_string()), raise, variables.clone())
        .await;
    assert_eq!(refusal(&body)["extensions"]["code"], "FORBIDDEN", "{body}");
    let (_, body) = keel.graphql_with(Some(greta_pm.to_string()), raise, variables).await;
    assert!(body["errors"].is_null(), "{body}");
    let raised = &body["data"]["raiseChangeRequest"];
    assert_eq!(raised["state"], "SUBMITTED", "{body}");
    assert_eq!(raised["role"], "developer");
    assert_eq!(dec(text(&raised["deltaHours"])), dec("16"));
    assert_eq!(dec(text(&raised["deltaAmount"]["amount"])), dec("2080.00"));
    let (_, body) = keel
        .graphql_with(
            Some(greta_pm.to_string()),
            "query($id: ID!) { projectManager { project(id: $id) { changeRequests { id title state } } } }",
            json!({ "id": delivered.initial.id }),
        )
        .await;
    let changes = body["data"]["projectManager"]["project"]["changeRequests"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(changes.len(), 2, "the scenario's applied one and this one: {body}");
    assert!(
        changes.contains(&json!({ "id": raised["id"], "title": "Data migration rehearsal", "state": "SUBMITTED" })),
        "{body}"
    );
}

/// Claire submits a week of time Greta has not approved yet: 45 hours, with Greta's own 4
/// waiting, above the health policy's 40 unapproved hours. Delivery health alerts Greta, who
/// acknowledges the alert: it is no longer among her project's open alerts.
async fn greta_acknowledges_an_alert(
    keel: &Keel,
    delivered: &Delivered,
    claire: &str,
    greta_pm: &str,
    days: &[NaiveDate],
) {
    let mut ids = Vec::new();
    for (n, date) in days.iter().enumerate() {
        let (_, body) = keel
            .graphql_with(
                Some(claire.to_string()),
                RECORD,
                json!({ "projectId": delivered.initial.id, "date": date.to_string(), "hours": "9",
                        "narrative": format!("Interface design for the treasury platform, part {}", n + 1) }),
            )
            .await;
        ids.push(text(&body["data"]["recordTime"]["id"]).to_string());
    }
    let (_, body) = keel
        .graphql_with(Some(claire.to_string()), SUBMIT, json!({ "ids": ids }))
        .await;
    assert!(body["errors"].is_null(), "{body}");

    let alerts = "query($id: ID!) { projectManager { project(id: $id) { alerts { id kind state measured } } } }";
    let open_alerts = || async {
        let (_, body) = keel
            .graphql_with(
                Some(greta_pm.to_string()),
                alerts,
                json!({ "id": delivered.initial.id }),
            )
            .await;
        body["data"]["projectManager"]["project"]["alerts"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .clone()
    };
    let unapproved = eventually(WAIT, || async {
        open_alerts()
            .await
            .into_iter()
            .find(|a| a["kind"] == "UNAPPROVED_EFFORT")
    })
    .await;
    assert_eq!(unapproved["state"], "OPEN");
    assert_eq!(
        dec(text(&unapproved["measured"])),
        dec("49"),
        "45 of Claire's and 4 of Greta's"
    );
    let (_, body) = keel
        .graphql_with(
            Some(greta_pm.to_string()),
            "mutation($id: ID!) { acknowledgeAlert(alertId: $id) { id kind state } }",
            json!({ "id": unapproved["id"] }),
        )
        .await;
    assert_eq!(
        body["data"]["acknowledgeAlert"],
        json!({ "id": unapproved["id"], "kind": "UNAPPROVED_EFFORT", "state": "ACKNOWLEDGED" }),
        "{body}"
    );
    let still_open = open_alerts().await;
    assert!(still_open.iter().all(|a| a["id"] != unapproved["id"]), "{still_open:?}");
}

/// `approvalRequested` over `graphql-transport-ws`.
mod ws {
    use std::net::SocketAddr;
    use std::time::Duration;

    use serde_json::{Value, json};

    use crate::common::ws::{Frame, WsClient};

    /// The next text message within `wait`; `None` when none came. A close is a failure.
    async fn text(client: &mut WsClient, wait: Duration) -> Option<Value> {
        match client.receive(wait).await? {
            Frame::Text(message) => Some(message),
            Frame::Close(code, reason) => panic!("closed: {code} {reason}"),
        }
    }

    /// A connection as the bearer of `token`, subscribed to `approvalRequested`, once its first
    /// poll has had time to run.
    pub async fn subscribe_approvals(addr: SocketAddr, token: &str) -> WsClient {
        let mut client = WsClient::connect(addr, "/graphql/ws").await;
        client
            .send(&json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        let ack = text(&mut client, Duration::from_secs(10))
            .await
            .expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
            .send(&json!({
                "id": "1",
                "type": "subscribe",
                "payload": { "query": "subscription { approvalRequested { kind projectId
                    timeEntry { id personId date hours narrative amount { amount currency } } } }" },
            }))
            .await;
        tokio::time::sleep(keel_experience_project_manager::APPROVAL_POLL_INTERVAL + Duration::from_millis(500)).await;
        client
    }

    /// The next approval request `client` is sent.
    pub async fn next_approval(client: &mut WsClient) -> Value {
        let wait = keel_experience_project_manager::APPROVAL_POLL_INTERVAL * 5;
        let message = text(client, wait).await.expect("an approval request");
        assert_eq!(message["type"], "next", "{message}");
        message["payload"]["data"]["approvalRequested"].clone()
    }

    /// Whether `client` is sent nothing within `wait`.
    pub async fn nothing_for(client: &mut WsClient, wait: Duration) -> bool {
        match text(client, wait).await {
            None => true,
            Some(message) => {
                eprintln!("unexpected: {message}");
                false
            }
        }
    }
}
