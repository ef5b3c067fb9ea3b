//! The consultant's view through the real HTTP endpoint after the delivery scenario: a
//! consultant reads their own assignments and time entries (the scenario's figures and
//! states) and nobody else's, at one backend call per kind of lookup.

mod common;

use std::str::FromStr;

use common::Keel;
use keel_auth::Role;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const QUERY: &str = r#"
query Mine($first: Int!) {
  consultant {
    assignments(first: $first) {
      nodes { id project { id name } role startDate endDate allocationPercent state }
      nextCursor
    }
    timeEntries(first: $first) {
      nodes { id project { id name } date hours state rejectionReason billable }
      nextCursor
    }
  }
}"#;

fn dec(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().expect("a decimal string")).expect("a decimal")
}

async fn mine(keel: &Keel, subject: &str) -> Value {
    let token = keel.token_as(subject, Role::Consultant);
    let (status, body) = keel.graphql_with(Some(token), QUERY, json!({ "first": 100 })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body
}

#[tokio::test]
async fn a_consultant_sees_their_own_assignments_and_time_and_nobody_elses() {
    let keel = Keel::start().await;
    let delivered = common::scenario::deliver(&keel).await;

    // Greta: staffed at 50% as engagement manager, twelve days of 10 hours, all posted.
    let body = mine(&keel, &delivered.greta.id).await;
    let view = &body["data"]["consultant"];
    let assignments = view["assignments"]["nodes"].as_array().unwrap();
    assert_eq!(assignments.len(), 1, "{body}");
    let assignment = &assignments[0];
    assert_eq!(assignment["project"]["id"], delivered.initial.id.as_str());
    assert_eq!(assignment["project"]["name"], delivered.initial.name.as_str());
    assert_eq!(assignment["role"], "engagement-manager");
    assert_eq!(dec(&assignment["allocationPercent"]), Decimal::from(50));
    assert_eq!(assignment["startDate"], delivered.close.to_string());
    assert_eq!(assignment["state"], "ACTIVE");
    assert_eq!(view["assignments"]["nextCursor"], Value::Null);

    let entries = view["timeEntries"]["nodes"].as_array().unwrap();
    assert_eq!(entries.len(), 12, "{body}");
    for entry in entries {
        assert_eq!(entry["project"]["id"], delivered.initial.id.as_str());
        assert_eq!(entry["project"]["name"], delivered.initial.name.as_str());
        assert_eq!(dec(&entry["hours"]), Decimal::from(10));
        assert_eq!(entry["state"], "POSTED", "{entry}");
        assert_eq!(entry["rejectionReason"], Value::Null);
        assert_eq!(entry["billable"], true);
    }
    let total: Decimal = entries.iter().map(|e| dec(&e["hours"])).sum();
    assert_eq!(total, Decimal::from(120));
    assert_eq!(view["timeEntries"]["nextCursor"], Value::Null);

    // One call per kind of lookup: the project names of both lists are read once.
    let calls = &body["extensions"]["backendCalls"];
    assert_eq!(
        calls,
        &json!({ "PSA ListAssignments": 1, "PSA ListTimeEntries": 1, "PSA ListProjects": 1 }),
        "{body}"
    );

    // Claire approved Greta's time but has none of her own and no assignment: she sees none of
    // Greta's.
    let body = mine(&keel, &delivered.claire.id).await;
    assert_eq!(body["data"]["consultant"]["assignments"]["nodes"], json!([]), "{body}");
    assert_eq!(body["data"]["consultant"]["timeEntries"]["nodes"], json!([]), "{body}");

    // Paging: one entry at a time, to the end, the same twelve.
    let token = keel.token_as(&delivered.greta.id, Role::Consultant);
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let (_, body) = keel
            .graphql_with(
                Some(token.clone()),
                "query($after: String) { consultant { timeEntries(first: 5, after: $after) { nodes { id } nextCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &body["data"]["consultant"]["timeEntries"];
        let nodes = page["nodes"].as_array().unwrap_or_else(|| panic!("{body}"));
        assert!(nodes.len() <= 5);
        seen.extend(nodes.iter().map(|n| n["id"].as_str().unwrap().to_string()));
        if page["nextCursor"].is_null() {
            break;
        }
        after = page["nextCursor"].clone();
    }
    let mut ids: Vec<String> = entries.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    seen.sort();
    assert_eq!(seen, ids);

    // `first` above 100 names `first`; other roles may not open the view.
    let (_, body) = keel
        .graphql_with(
            Some(token),
            "{ consultant { timeEntries(first: 101) { nodes { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    let (_, body) = keel
        .graphql(
            Some(Role::ResourceManager),
            "{ consultant { timeEntries { nodes { id } } } }",
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
}
