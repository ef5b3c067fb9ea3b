//! The resource manager's view through the real HTTP endpoint after the delivery scenario: a
//! new resource request waits for leadership's approval; the view lists it with the candidates
//! staffing ranks and why, and the staffing approval waiting, at one backend call per service
//! and kind of lookup. Utilization against target by person, practice and region comes from
//! the scenario's approved and posted time, and the bench forecast from a new assignment. A
//! consultant may not open the view. Over `/graphql/ws`, `staffingApprovalRequested` tells the
//! approving role (the staffing policy's, executive) of a staffing approval as it starts
//! waiting, once; a resource manager who is not that role hears nothing, and a consultant is
//! refused.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use common::{Keel, eventually};
use keel_auth::Role;
use keel_proto::psa::{
    CreateAssignmentRequest, CreateResourceRequestRequest, ListTimeEntriesRequest, RequiredLanguage, RequiredSkill,
    TimeEntryState,
};
use keel_proto::staffing::staffing_service_client::StaffingServiceClient;
use keel_proto::staffing::{AssessStaffingRiskRequest, GetStaffingRequest};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

const QUERY: &str = r#"
{
  resourceManager {
    openRequests(first: 100) {
      nodes {
        id projectId role state allocationPercent startDate endDate certifications
        skills { name minProficiency }
        candidates {
          rank employeeId name score availableHours neededHours projectedUtilization utilizationTarget
          components { name points maxPoints explanation }
        }
        noMatchReason rankingError
      }
      nextCursor
    }
    approvalsWaiting(first: 100) {
      nodes { instanceId resourceRequestId step requestedBy createdAt waitingSince }
      nextCursor
    }
  }
}"#;

#[tokio::test]
async fn a_resource_manager_sees_open_requests_ranked_and_the_approval_waiting() {
    let keel = Keel::start().await;
    let delivered = common::scenario::deliver(&keel).await;

    // A second engagement manager for the next six weeks: staffing ranks Greta and Jonas (Claire
    // lacks the PMP), and the thin margin waits for leadership's approval.
    let today = chrono::Utc::now().date_naive();
    let request = keel
        .psa()
        .create_resource_request(keel.request(
            Role::Admin,
            CreateResourceRequestRequest {
                idempotency_key: "view-rm-request".into(),
                project_id: delivered.initial.id.clone(),
                role: "engagement-manager".into(),
                bill_role: String::new(),
                start_date: (today + Days::new(7)).to_string(),
                end_date: (today + Days::new(48)).to_string(),
                allocation_percent: "50".into(),
                skills: vec![RequiredSkill {
                    name: "sap-treasury".into(),
                    min_proficiency: 3,
                }],
                certifications: vec!["pmp".into()],
                languages: vec![RequiredLanguage {
                    code: "de".into(),
                    min_level: "c1".into(),
                }],
                region: "emea".into(),
                location: "Frankfurt".into(),
                requested_by: delivered.claire.id.clone(),
                notes: "Second treasury lead".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let staffing = eventually(Duration::from_secs(30), || async {
        let staffing = StaffingServiceClient::new(keel.channel())
            .get_staffing(keel.request(
                Role::ResourceManager,
                GetStaffingRequest {
                    resource_request_id: request.id.clone(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        assert_ne!(staffing.status, "EXCEPTION", "{staffing:?}");
        (staffing.status == "AWAITING_APPROVAL").then_some(staffing)
    })
    .await;

    for role in [Role::ResourceManager, Role::Executive] {
        let (status, body) = keel.graphql(Some(role), QUERY).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        let view = &body["data"]["resourceManager"];

        // Only the new request is unfilled: the scenario's was filled.
        let nodes = view["openRequests"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "{body}");
        let open = &nodes[0];
        assert_eq!(open["id"], request.id.as_str());
        assert_eq!(open["projectId"], delivered.initial.id.as_str());
        assert_eq!(open["role"], "engagement-manager");
        assert!(matches!(open["state"].as_str(), Some("OPEN" | "PROPOSED")), "{open}");
        assert_eq!(open["certifications"], json!(["pmp"]));
        assert_eq!(open["skills"], json!([{ "name": "sap-treasury", "minProficiency": 3 }]));
        assert_eq!(open["rankingError"], Value::Null, "{open}");
        assert_eq!(open["noMatchReason"], Value::Null, "{open}");

        // The candidates and why: exactly the ranking staffing made, best first.
        let candidates = open["candidates"].as_array().unwrap();
        let ids: Vec<&str> = candidates.iter().map(|c| c["employeeId"].as_str().unwrap()).collect();
        assert_eq!(ids, [delivered.greta.id.as_str(), jonas_id(&staffing)], "{open}");
        assert_eq!(candidates.len(), staffing.candidates.len());
        for (shown, ranked) in candidates.iter().zip(&staffing.candidates) {
            assert_eq!(shown["rank"], ranked.rank);
            assert_eq!(shown["score"], ranked.score.as_str());
            assert_eq!(shown["availableHours"], ranked.available_hours.as_str());
            assert_eq!(shown["neededHours"], ranked.needed_hours.as_str());
            assert_eq!(shown["projectedUtilization"], ranked.projected_utilization.as_str());
            assert_eq!(shown["utilizationTarget"], ranked.utilization_target.as_str());
            let parts: Vec<&str> = shown["components"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            assert_eq!(parts, ["skills", "availability", "utilization", "location"], "{shown}");
            for (part, expected) in shown["components"].as_array().unwrap().iter().zip(&ranked.components) {
                assert_eq!(part["points"], expected.points.as_str());
                assert_eq!(part["maxPoints"], expected.max_points.as_str());
                assert_eq!(part["explanation"], expected.explanation.as_str());
                assert!(!expected.explanation.is_empty());
            }
        }
        assert_eq!(candidates[0]["rank"], 1);
        assert_eq!(candidates[0]["name"], "Greta Vogel");

        // The staffing waiting for approval.
        let waiting = view["approvalsWaiting"]["nodes"].as_array().unwrap();
        assert_eq!(waiting.len(), 1, "{body}");
        assert_eq!(waiting[0]["instanceId"], staffing.staffing_id.as_str());
        assert_eq!(waiting[0]["resourceRequestId"], request.id.as_str());
        assert_eq!(waiting[0]["step"], "approve");

        // One call per service and kind of lookup for the whole page.
        assert_eq!(
            body["extensions"]["backendCalls"],
            json!({
                "PSA ListResourceRequests": 1,
                "staffing RankCandidatesBatch": 1,
                "staffing ListInstances": 1,
            }),
            "{body}"
        );
    }

    // A consultant may not open the view.
    let token = keel.token_as(&delivered.greta.id, Role::Consultant);
    let (_, body) = keel
        .graphql_with(
            Some(token),
            "{ resourceManager { openRequests { nodes { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
}

#[tokio::test]
async fn the_approving_role_is_told_of_a_staffing_approval_as_it_starts_waiting() {
    let keel = Keel::start().await;
    let addr: SocketAddr = keel.http.trim_start_matches("http://").parse().unwrap();
    let delivered = common::scenario::deliver(&keel).await;

    // An executive and a resource manager listen; a consultant tries to.
    let executive = keel.token_as(&uuid::Uuid::now_v7().to_string(), Role::Executive);
    let resource_manager = keel.token_as(&uuid::Uuid::now_v7().to_string(), Role::ResourceManager);
    let consultant = keel.token_as(&delivered.claire.id, Role::Consultant);
    let mut executive_ws = ws::subscribe(addr, &executive).await;
    let mut resource_manager_ws = ws::subscribe(addr, &resource_manager).await;
    let mut consultant_ws = ws::subscribe(addr, &consultant).await;
    let refused = ws::text(&mut consultant_ws, Duration::from_secs(10))
        .await
        .expect("the consultant's subscription answered");
    let errors = if refused["type"] == "error" {
        &refused["payload"]
    } else {
        &refused["payload"]["errors"]
    };
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    assert!(
        refused["payload"]["data"]["staffingApprovalRequested"].is_null(),
        "{refused}"
    );
    // Nothing waits yet.
    assert!(ws::nothing_for(&mut executive_ws, Duration::from_secs(1)).await);

    // A second engagement manager whose thin margin needs leadership's approval.
    let today = chrono::Utc::now().date_naive();
    let request = keel
        .psa()
        .create_resource_request(keel.request(
            Role::Admin,
            CreateResourceRequestRequest {
                idempotency_key: "subscription-rm-request".into(),
                project_id: delivered.initial.id.clone(),
                role: "engagement-manager".into(),
                bill_role: String::new(),
                start_date: (today + Days::new(7)).to_string(),
                end_date: (today + Days::new(48)).to_string(),
                allocation_percent: "50".into(),
                skills: vec![RequiredSkill {
                    name: "sap-treasury".into(),
                    min_proficiency: 3,
                }],
                certifications: vec!["pmp".into()],
                languages: vec![RequiredLanguage {
                    code: "de".into(),
                    min_level: "c1".into(),
                }],
                region: "emea".into(),
                location: "Frankfurt".into(),
                requested_by: delivered.claire.id.clone(),
                notes: "Second treasury lead".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let staffing = eventually(Duration::from_secs(30), || async {
        let staffing = StaffingServiceClient::new(keel.channel())
            .get_staffing(keel.request(
                Role::ResourceManager,
                GetStaffingRequest {
                    resource_request_id: request.id.clone(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        assert_ne!(staffing.status, "EXCEPTION", "{staffing:?}");
        (staffing.status == "AWAITING_APPROVAL").then_some(staffing)
    })
    .await;
    let economics = staffing.economics.clone().expect("economics");
    assert!(!economics.approval_reasons.is_empty(), "{staffing:?}");

    // The executive is told, with what the staffing decided and why it waits.
    let told = ws::next_approval(&mut executive_ws).await;
    assert_eq!(told["instanceId"], staffing.staffing_id.as_str(), "{told}");
    assert_eq!(told["resourceRequestId"], request.id.as_str(), "{told}");
    assert_eq!(told["projectId"], delivered.initial.id.as_str(), "{told}");
    assert_eq!(told["projectName"], delivered.changed.name.as_str(), "{told}");
    assert_eq!(told["reasons"], json!(economics.approval_reasons), "{told}");
    let proposed = &staffing.candidates[0];
    let summary = told["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("Staff {} ({})", proposed.name, proposed.employee_id)),
        "{told}"
    );
    let creator = request
        .audit
        .as_ref()
        .map(|a| a.created_by.as_str())
        .unwrap_or_default();
    assert!(!creator.is_empty());
    assert_eq!(told["requestedBy"], creator, "{told}");
    let since = chrono::DateTime::parse_from_rfc3339(told["since"].as_str().unwrap()).unwrap();
    let waited = chrono::Utc::now().signed_duration_since(since);
    assert!(
        waited >= chrono::Duration::zero() && waited < chrono::Duration::minutes(2),
        "{told}"
    );
    let due = chrono::DateTime::parse_from_rfc3339(told["dueAt"].as_str().unwrap()).unwrap();
    assert_eq!(due.signed_duration_since(since), chrono::Duration::hours(48), "{told}");

    // Once: the approval still waits, and nothing more is sent.
    assert!(ws::nothing_for(&mut executive_ws, Duration::from_secs(5)).await);
    // Executives decide staffing approvals, so the resource manager hears nothing.
    assert!(ws::nothing_for(&mut resource_manager_ws, Duration::from_secs(1)).await);
}

fn jonas_id(staffing: &keel_proto::staffing::Staffing) -> &str {
    staffing
        .candidates
        .iter()
        .find(|c| c.name == "Jonas Weber")
        .map(|c| c.employee_id.as_str())
        .expect("Jonas ranked")
}

const CAPACITY_QUERY: &str = r#"
query($from: String!, $to: String!) {
  resourceManager {
    utilizationByPerson(from: $from, to: $to, first: 100) {
      nodes { key name practice region people billableHours capacityHours utilization target variance }
      nextCursor
    }
    utilizationByPractice(from: $from, to: $to, first: 100) {
      nodes { key practice region people billableHours capacityHours utilization target }
      nextCursor
    }
    utilizationByRegion(from: $from, to: $to, first: 100) {
      nodes { key practice region people billableHours capacityHours utilization target }
      nextCursor
    }
    availabilityForecast(weeks: 3, first: 100) {
      nodes { weekStart employeeId name capacityHours allocatedHours availableHours assignmentIds }
      nextCursor
    }
    bench(weeks: 3, minAvailableHours: "25", first: 100) {
      nodes { weekStart employeeId availableHours }
      nextCursor
    }
  }
}"#;

fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a decimal string, got {value}"))
        .parse()
        .unwrap()
}

fn weekdays(from: NaiveDate, to: NaiveDate) -> u32 {
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| !is_weekend(*d))
        .count() as u32
}

/// Sums the person rows' hours and head count by `group`.
fn sums_by(people: &[Value], group: &str) -> BTreeMap<String, (Decimal, Decimal, u64)> {
    let mut sums: BTreeMap<String, (Decimal, Decimal, u64)> = BTreeMap::new();
    for person in people {
        let sum = sums.entry(person[group].as_str().unwrap().to_string()).or_default();
        sum.0 += dec(&person["billableHours"]);
        sum.1 += dec(&person["capacityHours"]);
        sum.2 += 1;
    }
    sums
}

#[tokio::test]
async fn a_resource_manager_sees_utilization_against_target_and_the_bench_ahead() {
    let keel = Keel::start().await;
    let delivered = common::scenario::deliver(&keel).await;
    let greta = &delivered.greta;
    let today = chrono::Utc::now().date_naive();

    // Greta on the project at 60% for the first two forecast weeks (Monday on or after today).
    let monday = today + Days::new(u64::from((7 - today.weekday().num_days_from_monday()) % 7));
    let assignment = keel
        .psa()
        .create_assignment(keel.request(
            Role::Admin,
            CreateAssignmentRequest {
                idempotency_key: "view-rm-assignment".into(),
                project_id: delivered.initial.id.clone(),
                employee_id: greta.id.clone(),
                person_name: greta.name.clone(),
                role: "engagement-manager".into(),
                bill_role: String::new(),
                start_date: monday.to_string(),
                end_date: (monday + Days::new(11)).to_string(),
                allocation_percent: "60".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();

    // What Greta billed from the close to today, as PSA holds it: approved or posted billable.
    let entries = keel
        .psa()
        .list_time_entries(keel.request(
            Role::Admin,
            ListTimeEntriesRequest {
                project_id: String::new(),
                employee_id: greta.id.clone(),
                state: 0,
                page: Some(keel_proto::common::PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let billed: Decimal = entries
        .iter()
        .filter(|e| e.billable && [TimeEntryState::Approved as i32, TimeEntryState::Posted as i32].contains(&e.state))
        .map(|e| e.hours.parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(billed, Decimal::from(120), "the scenario's twelve days of ten hours");
    let (from, to) = (delivered.close, today);
    let capacity = Decimal::from(40 * weekdays(from, to)) / Decimal::from(5);
    let utilization = (billed / capacity).round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);

    let variables = json!({ "from": from.to_string(), "to": to.to_string() });
    let (status, body) = keel
        .graphql_with(Some(keel.token(Role::ResourceManager)), CAPACITY_QUERY, variables)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let view = &body["data"]["resourceManager"];

    // Greta: her billed hours over 40 a week for the period's weekdays, against her 0.8.
    let people = view["utilizationByPerson"]["nodes"].as_array().unwrap();
    let row = |id: &str| {
        people
            .iter()
            .find(|p| p["key"] == id)
            .unwrap_or_else(|| panic!("{id} in {body}"))
    };
    let shown = row(&greta.id);
    assert_eq!(shown["name"], "Greta Vogel");
    assert_eq!(shown["practice"], "manager");
    assert_eq!(shown["region"], "emea");
    assert_eq!(dec(&shown["billableHours"]), billed);
    assert_eq!(dec(&shown["capacityHours"]), capacity);
    assert_eq!(dec(&shown["utilization"]), utilization);
    assert_eq!(dec(&shown["target"]), "0.8".parse::<Decimal>().unwrap());
    assert_eq!(dec(&shown["variance"]), utilization - "0.8".parse::<Decimal>().unwrap());
    // Claire approved Greta's time and billed none herself.
    let claire = row(&delivered.claire.id);
    assert_eq!(dec(&claire["billableHours"]), Decimal::ZERO);
    assert_eq!(dec(&claire["capacityHours"]), capacity);
    assert_eq!(dec(&claire["utilization"]), Decimal::ZERO);
    assert_eq!(view["utilizationByPerson"]["nextCursor"], Value::Null);

    // The practice and region roll-ups are their people's sums, and cover everyone once.
    for (list, group) in [("utilizationByPractice", "practice"), ("utilizationByRegion", "region")] {
        let groups = view[list]["nodes"].as_array().unwrap();
        let expected = sums_by(people, group);
        assert_eq!(groups.len(), expected.len(), "{list}: {body}");
        for shown in groups {
            let key = shown["key"].as_str().unwrap();
            assert_eq!(shown[group], key, "{shown}");
            let (billable, capacity, count) = expected[key];
            assert_eq!(dec(&shown["billableHours"]), billable, "{list} {key}");
            assert_eq!(dec(&shown["capacityHours"]), capacity, "{list} {key}");
            assert_eq!(shown["people"], count, "{list} {key}");
            let expected_utilization =
                (billable / capacity).round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);
            assert_eq!(dec(&shown["utilization"]), expected_utilization, "{list} {key}");
        }
    }
    // Greta's hours count in her practice and her region.
    for (list, key) in [("utilizationByPractice", "manager"), ("utilizationByRegion", "emea")] {
        let groups = view[list]["nodes"].as_array().unwrap();
        let group = groups.iter().find(|g| g["key"] == key).unwrap();
        assert!(dec(&group["billableHours"]) >= billed, "{group}");
    }

    // The forecast: 60% of Greta's 40 hours for two weeks, then all 40 free.
    let forecast = view["availabilityForecast"]["nodes"].as_array().unwrap();
    let weeks: Vec<String> = (0..3).map(|n| (monday + Days::new(7 * n)).to_string()).collect();
    let gretas: Vec<&Value> = forecast
        .iter()
        .filter(|r| r["employeeId"] == greta.id.as_str())
        .collect();
    assert_eq!(gretas.len(), 3, "{body}");
    for (week, shown) in weeks.iter().zip(&gretas) {
        assert_eq!(&shown["weekStart"], week.as_str());
        assert_eq!(dec(&shown["capacityHours"]), Decimal::from(40));
    }
    let expected_free = Decimal::from(40) * (Decimal::ONE - Decimal::from(60) / Decimal::ONE_HUNDRED);
    for shown in &gretas[..2] {
        assert_eq!(dec(&shown["allocatedHours"]), Decimal::from(24), "{shown}");
        assert_eq!(dec(&shown["availableHours"]), expected_free, "{shown}");
        assert_eq!(shown["assignmentIds"], json!([assignment.id]), "{shown}");
    }
    assert_eq!(dec(&gretas[2]["availableHours"]), Decimal::from(40));
    assert_eq!(gretas[2]["assignmentIds"], json!([]));
    // Every row is one person's week, in the forecast's three weeks.
    assert!(
        forecast
            .iter()
            .all(|r| weeks.contains(&r["weekStart"].as_str().unwrap().to_string()))
    );
    assert_eq!(forecast.len() % 3, 0, "{body}");

    // The bench at 25 free hours: exactly the forecast's rows with that much, so not Greta
    // while she is assigned, and Greta once she is free.
    let bench = view["bench"]["nodes"].as_array().unwrap();
    let on_bench: Vec<(&str, &str)> = bench
        .iter()
        .map(|r| (r["weekStart"].as_str().unwrap(), r["employeeId"].as_str().unwrap()))
        .collect();
    let expected_bench: Vec<(&str, &str)> = forecast
        .iter()
        .filter(|r| dec(&r["availableHours"]) >= Decimal::from(25))
        .map(|r| (r["weekStart"].as_str().unwrap(), r["employeeId"].as_str().unwrap()))
        .collect();
    assert_eq!(on_bench, expected_bench);
    assert!(!on_bench.contains(&(weeks[0].as_str(), greta.id.as_str())));
    assert!(!on_bench.contains(&(weeks[1].as_str(), greta.id.as_str())));
    assert!(on_bench.contains(&(weeks[2].as_str(), greta.id.as_str())));
    assert!(on_bench.contains(&(weeks[0].as_str(), delivered.claire.id.as_str())));

    // Five lists from one read of each: people, projects, time entries, assignments.
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({
            "HRIS ListEmployees": 1,
            "PSA ListProjects": 1,
            "PSA ListTimeEntriesOfProjects": 1,
            "PSA ListAssignmentsOfProjects": 1,
        }),
        "{body}"
    );

    // Bad input is named, and nothing is read.
    let (_, body) = keel
        .graphql_with(
            Some(keel.token(Role::ResourceManager)),
            CAPACITY_QUERY,
            json!({ "from": "2026-02-30", "to": today.to_string() }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "from",
        "{body}"
    );
    let (_, body) = keel
        .graphql(
            Some(Role::ResourceManager),
            "{ resourceManager { bench(weeks: 27) { nodes { weekStart } } } }",
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "weeks",
        "{body}"
    );
    assert_eq!(body["extensions"]["backendCalls"], json!({}), "{body}");

    // A consultant may not see anyone's utilization.
    let token = keel.token_as(&greta.id, Role::Consultant);
    let (_, body) = keel
        .graphql_with(
            Some(token),
            CAPACITY_QUERY,
            json!({ "from": from.to_string(), "to": to.to_string() }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
}

/// `staffingApprovalRequested` over `graphql-transport-ws`.
mod ws {
    use std::net::SocketAddr;
    use std::time::Duration;

    use keel_experience_resource_manager::STAFFING_APPROVAL_POLL_INTERVAL;
    use serde_json::{Value, json};

    use crate::common::ws::{Frame, WsClient};

    /// The next text message within `wait`; `None` when none came. A close is a failure.
    pub async fn text(client: &mut WsClient, wait: Duration) -> Option<Value> {
        match client.receive(wait).await? {
            Frame::Text(message) => Some(message),
            Frame::Close(code, reason) => panic!("closed: {code} {reason}"),
        }
    }

    /// A connection as the bearer of `token`, subscribed to `staffingApprovalRequested`, once
    /// its first poll has had time to run.
    pub async fn subscribe(addr: SocketAddr, token: &str) -> WsClient {
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
                "payload": { "query": "subscription { staffingApprovalRequested { instanceId resourceRequestId
                    projectId projectName reasons summary requestedBy since dueAt } }" },
            }))
            .await;
        tokio::time::sleep(STAFFING_APPROVAL_POLL_INTERVAL + Duration::from_millis(500)).await;
        client
    }

    /// The next staffing approval `client` is sent.
    pub async fn next_approval(client: &mut WsClient) -> Value {
        let message = text(client, STAFFING_APPROVAL_POLL_INTERVAL * 5)
            .await
            .expect("a staffing approval");
        assert_eq!(message["type"], "next", "{message}");
        message["payload"]["data"]["staffingApprovalRequested"].clone()
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

const RISKS_QUERY: &str = r#"
query($projects: [ID!]) {
  resourceManager {
    staffingRisks(projectIds: $projects, first: 100) {
      nodes {
        id projectId kind employeeId skill reason peakPercent firstWeek lastWeek expiresOn neededUntil
        daysUncovered status modelVersion policyVersion createdAt decidedBy decidedAt note resolution
      }
      nextCursor
    }
  }
}"#;

const REVIEW: &str = r#"
mutation($id: ID!, $decision: StaffingRiskDecision!, $note: String!) {
  reviewStaffingRisk(id: $id, decision: $decision, note: $note) { id status decidedBy note }
}"#;

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The weeks an assignment from `from` to `to` works in: an assignment counts in a week when it
/// overlaps that week's Monday to Friday, so one starting on a weekend counts from the next week.
fn working_weeks(from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = from.iter_days().find(|d| !is_weekend(*d)).unwrap();
    let last = (0..7).map(|n| to - Days::new(n)).find(|d| !is_weekend(*d)).unwrap();
    (monday_of(first), monday_of(last))
}

#[tokio::test]
async fn a_resource_manager_reads_the_staffing_risks_and_reviews_one() {
    let keel = Keel::start().await;
    let delivered = common::scenario::deliver(&keel).await;
    let greta = &delivered.greta;

    // Greta leads the treasury stream at 50% from the close; a second role at 60% for its first
    // two weeks puts her at 110%.
    let extra_until = delivered.close + Days::new(13);
    keel.psa()
        .create_assignment(keel.request(
            Role::Admin,
            CreateAssignmentRequest {
                idempotency_key: "view-rm-risk-assignment".into(),
                project_id: delivered.initial.id.clone(),
                employee_id: greta.id.clone(),
                person_name: greta.name.clone(),
                role: "engagement-manager".into(),
                bill_role: String::new(),
                start_date: delivered.close.to_string(),
                end_date: extra_until.to_string(),
                allocation_percent: "60".into(),
            },
        ))
        .await
        .unwrap();
    let assessed = StaffingServiceClient::new(keel.channel())
        .assess_staffing_risk(keel.request(
            Role::ResourceManager,
            AssessStaffingRiskRequest {
                project_id: delivered.initial.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(assessed.flagged >= 1, "{assessed:?}");

    let variables = json!({ "projects": [delivered.initial.id] });
    let (status, body) = keel
        .graphql_with(Some(keel.token(Role::ResourceManager)), RISKS_QUERY, variables.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let nodes = body["data"]["resourceManager"]["staffingRisks"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(nodes.len(), assessed.risks.len(), "{body}");
    let over = nodes
        .iter()
        .find(|n| n["kind"] == "over-allocated" && n["employeeId"] == greta.id.as_str())
        .unwrap_or_else(|| panic!("Greta over-allocated: {body}"));
    assert_eq!(over["peakPercent"], "110", "{over}");
    // Both roles from the close, which may fall on a weekend.
    let (first_week, last_week) = working_weeks(delivered.close, extra_until);
    assert_eq!(over["firstWeek"], first_week.to_string(), "{over}");
    assert_eq!(over["lastWeek"], last_week.to_string(), "{over}");
    assert_eq!(over["status"], "OPEN");
    assert_eq!(over["projectId"], delivered.initial.id.as_str());
    assert!(over["reason"].as_str().unwrap().contains("110%"), "{over}");
    assert_eq!(over["policyVersion"], "2026-11", "{over}");
    assert_eq!(over["skill"], Value::Null);
    // One staffing call for the whole page.
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "staffing ListStaffingRisks": 1 }),
        "{body}"
    );

    // An executive reads the flags but may not decide them.
    let id = over["id"].as_str().unwrap().to_string();
    let note = "Greta hands the second role to Jonas after week two";
    let review = json!({ "id": id, "decision": "ACKNOWLEDGED", "note": note });
    let (_, refused) = keel
        .graphql_with(Some(keel.token(Role::Executive)), REVIEW, review.clone())
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");

    let rita = uuid::Uuid::now_v7().to_string();
    let (status, reviewed) = keel
        .graphql_with(Some(keel.token_as(&rita, Role::ResourceManager)), REVIEW, review)
        .await;
    assert_eq!(status, 200, "{reviewed}");
    assert!(reviewed.get("errors").is_none(), "{reviewed}");
    let decided = &reviewed["data"]["reviewStaffingRisk"];
    assert_eq!(decided["status"], "ACKNOWLEDGED", "{reviewed}");
    assert_eq!(decided["decidedBy"], rita.as_str(), "{reviewed}");
    assert_eq!(decided["note"], note, "{reviewed}");

    // Decided once: another resource manager's dismissal is refused.
    let (_, again) = keel
        .graphql_with(
            Some(keel.token(Role::ResourceManager)),
            REVIEW,
            json!({ "id": id, "decision": "DISMISSED", "note": "fine" }),
        )
        .await;
    assert_eq!(
        again["errors"][0]["extensions"]["code"], "FAILED_PRECONDITION",
        "{again}"
    );
    // The open list no longer shows it.
    let (_, after) = keel
        .graphql_with(Some(keel.token(Role::ResourceManager)), RISKS_QUERY, variables)
        .await;
    let still_open = after["data"]["resourceManager"]["staffingRisks"]["nodes"]
        .as_array()
        .unwrap();
    assert!(still_open.iter().all(|n| n["id"] != id.as_str()), "{after}");
    assert_eq!(still_open.len(), nodes.len() - 1, "{after}");
}
