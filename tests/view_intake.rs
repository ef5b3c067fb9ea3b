//! SOW intake's template recommendations through the real HTTP endpoint of `keel up`: a
//! delivery lead reads the recommendation another made from a deal's statement of work, with
//! its confidence and the terms that drove it, exactly as project setup recorded it; its
//! requester cannot decide it, nor can finance or a consultant read or decide it; bad input
//! names its argument; another lead accepts it, and the won deal's project is set up with the
//! accepted template, not the one the deal alone would pick.

mod common;

use common::Keel;
use keel_auth::Role;
use keel_proto::common::{Money, PageRequest};
use keel_proto::crm::{CreateOpportunityRequest, ListOpportunitiesRequest, MarkOpportunityWonRequest, Opportunity};
use keel_proto::projectsetup::{RecommendTemplateRequest, Recommendation};
use serde_json::{Value, json};

/// A held-out statement of work describing a North American ERP rollout at a fixed fee: the
/// recommender picks the any-region fixed-fee template, where the deal (EMEA) alone would pick
/// the EMEA one.
const SOW_ID: &str = "sow-0005";
const RECOMMENDED: &str = "erp-fixed-fee-any";
const REQUESTER: &str = "rhea.requester";
const LEAD: &str = "omar.lead";

const LIST: &str = "query($statuses: [RecommendationStatus!], $first: Int = 20) { projectManager {
    templateRecommendations(statuses: $statuses, first: $first) { nextCursor nodes {
        id opportunityId status recommendedTemplate bestGuess confidence
        explanation { term weight } alternatives { templateId probability }
        modelVersion policyVersion requestedBy requestedAt decidedBy decidedAt chosenTemplate reason
} } } }";

const DECIDE: &str = "mutation($id: ID!, $accept: Boolean, $override: String, $reason: String) {
    decideTemplateRecommendation(recommendationId: $id, accept: $accept, overrideTemplate: $override, reason: $reason) {
        id status decidedBy chosenTemplate reason
} }";

fn sow_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/shared/insight/data/sows/heldout.jsonl");
    let data = std::fs::read_to_string(path).expect("the held-out SOWs");
    data.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .find(|sow| sow["id"] == SOW_ID)
        .and_then(|sow| sow["text"].as_str().map(str::to_owned))
        .expect("the held-out SOW")
}

/// A new EMEA fixed-fee ERP deal on the demo's Northwind account.
async fn open_deal(keel: &Keel) -> Opportunity {
    let page = Some(PageRequest {
        page_size: 100,
        page_token: String::new(),
    });
    let account_id = keel
        .crm()
        .list_opportunities(keel.request(Role::Admin, ListOpportunitiesRequest { page, stage: 0 }))
        .await
        .unwrap()
        .into_inner()
        .opportunities
        .into_iter()
        .next()
        .expect("the demo's deals")
        .account_id;
    let close = chrono::Utc::now().date_naive();
    keel.crm()
        .create_opportunity(keel.request(
            Role::Admin,
            CreateOpportunityRequest {
                idempotency_key: "intake-deal".into(),
                account_id,
                name: "Northwind North America finance rollout".into(),
                service_line: "erp-deployment".into(),
                contract_type: "fixed-fee".into(),
                region: "emea".into(),
                client_tier: "enterprise".into(),
                amount: Some(Money {
                    amount: "250000.00".into(),
                    currency: "EUR".into(),
                }),
                close_date: close.to_string(),
                sow_reference: "SOW-2026-305".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn recommend(keel: &Keel, opportunity_id: &str) -> Recommendation {
    let mut request = tonic::Request::new(RecommendTemplateRequest {
        idempotency_key: "intake-recommend".into(),
        opportunity_id: opportunity_id.into(),
        setup_id: String::new(),
        sow_text: sow_text(),
    });
    let token = keel.token_as(REQUESTER, Role::ProjectManager);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    keel.setup().recommend_template(request).await.unwrap().into_inner()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["fieldViolations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["field"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_lead_reads_a_recommendation_as_recorded_and_accepting_it_sets_the_won_deal_up_with_its_template() {
    let keel = Keel::start().await;
    let deal = open_deal(&keel).await;
    let recorded = recommend(&keel, &deal.id).await;
    assert_eq!(recorded.status, "open");
    assert_eq!(recorded.recommended_template, RECOMMENDED);

    // Another delivery lead sees it waiting, as project setup recorded it, in one call.
    let lead = keel.token_as(LEAD, Role::ProjectManager);
    let (status, body) = keel.graphql_with(Some(lead.clone()), LIST, json!({})).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["extensions"]["backendCalls"],
        json!({ "ProjectSetup ListRecommendations": 1 }),
        "{body}"
    );
    let page = &body["data"]["projectManager"]["templateRecommendations"];
    assert_eq!(page["nextCursor"], Value::Null);
    let nodes = page["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{page}");
    let shown = &nodes[0];
    assert_eq!(shown["id"], recorded.id.as_str());
    assert_eq!(shown["opportunityId"], deal.id.as_str());
    assert_eq!(shown["status"], "OPEN");
    assert_eq!(shown["recommendedTemplate"], RECOMMENDED);
    assert_eq!(shown["confidence"].as_f64(), Some(recorded.confidence));
    let terms: Vec<(String, f64)> = recorded
        .explanation
        .iter()
        .map(|t| (t.term.clone(), t.weight))
        .collect();
    let shown_terms: Vec<(String, f64)> = shown["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["term"].as_str().unwrap().to_owned(), t["weight"].as_f64().unwrap()))
        .collect();
    assert!(!terms.is_empty());
    assert_eq!(shown_terms, terms);
    assert_eq!(
        shown["alternatives"].as_array().unwrap().len(),
        recorded.alternatives.len()
    );
    assert_eq!(shown["modelVersion"], recorded.model_version.as_str());
    assert_eq!(shown["requestedBy"], REQUESTER);
    assert_eq!(shown["decidedBy"], Value::Null);

    // Finance and consultants neither read nor decide recommendations.
    let (_, body) = keel.graphql(Some(Role::Finance), LIST).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let accept = json!({ "id": recorded.id, "accept": true });
    let (_, body) = keel
        .graphql_with(Some(keel.token(Role::Consultant)), DECIDE, accept.clone())
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // Its requester cannot decide it; it stays open.
    let requester = keel.token_as(REQUESTER, Role::ProjectManager);
    let (_, body) = keel.graphql_with(Some(requester), DECIDE, accept.clone()).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // Bad input names its argument and decides nothing.
    let (_, body) = keel
        .graphql_with(
            Some(lead.clone()),
            DECIDE,
            json!({ "id": recorded.id, "override": "data-tm-na" }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(fields(&body), ["reason"], "{body}");
    let (_, body) = keel
        .graphql_with(Some(lead.clone()), DECIDE, json!({ "id": "not-an-id", "accept": true }))
        .await;
    assert_eq!(fields(&body), ["recommendationId"], "{body}");
    let (_, body) = keel.graphql_with(Some(lead.clone()), LIST, json!({ "first": 0 })).await;
    assert_eq!(fields(&body), ["first"], "{body}");
    let (_, body) = keel.graphql_with(Some(lead.clone()), LIST, json!({})).await;
    assert_eq!(
        body["data"]["projectManager"]["templateRecommendations"]["nodes"][0]["status"],
        "OPEN"
    );

    // The lead accepts it.
    let (_, body) = keel.graphql_with(Some(lead.clone()), DECIDE, accept).await;
    assert!(body["errors"].is_null(), "{body}");
    let decided = &body["data"]["decideTemplateRecommendation"];
    assert_eq!(decided["status"], "ACCEPTED");
    assert_eq!(decided["decidedBy"], LEAD);
    assert_eq!(decided["chosenTemplate"], RECOMMENDED);

    // It no longer waits; it is among the accepted.
    let (_, body) = keel.graphql_with(Some(lead.clone()), LIST, json!({})).await;
    assert_eq!(
        body["data"]["projectManager"]["templateRecommendations"]["nodes"],
        json!([])
    );
    let (_, body) = keel
        .graphql_with(Some(lead), LIST, json!({ "statuses": ["ACCEPTED"] }))
        .await;
    let accepted = &body["data"]["projectManager"]["templateRecommendations"]["nodes"];
    assert_eq!(accepted[0]["id"], recorded.id.as_str(), "{body}");
    assert_eq!(accepted[0]["decidedBy"], LEAD);

    // Won, the deal is set up with the accepted template, not the deal's own pick.
    keel.crm()
        .mark_opportunity_won(keel.request(
            Role::Admin,
            MarkOpportunityWonRequest {
                idempotency_key: "intake-win".into(),
                id: deal.id.clone(),
            },
        ))
        .await
        .unwrap();
    let setup = common::scenario::completed_setup(&keel, &deal.id).await;
    assert_eq!(setup.template_id, RECOMMENDED);
}
