//! The resource manager's view through the real HTTP endpoint after the delivery scenario: a
//! new resource request waits for leadership's approval; the view lists it with the candidates
//! staffing ranks and why, and the staffing approval waiting, at one backend call per service
//! and kind of lookup. A consultant may not open the view.

mod common;

use std::time::Duration;

use chrono::Days;
use common::{Keel, eventually};
use keel_auth::Role;
use keel_proto::psa::{CreateResourceRequestRequest, RequiredLanguage, RequiredSkill};
use keel_proto::staffing::GetStaffingRequest;
use keel_proto::staffing::staffing_service_client::StaffingServiceClient;
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

fn jonas_id(staffing: &keel_proto::staffing::Staffing) -> &str {
    staffing
        .candidates
        .iter()
        .find(|c| c.name == "Jonas Weber")
        .map(|c| c.employee_id.as_str())
        .expect("Jonas ranked")
}
