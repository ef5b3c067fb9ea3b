//! SOW intake's template recommendations, for the delivery leads who decide them: the
//! recommendations waiting for a person (`templateRecommendations`), each with the terms that
//! drove it and its calibrated confidence, and the decision (`decideTemplateRecommendation`):
//! accept the recommended template, or override it with another and a reason. Project setup
//! keeps the records and refuses a requester deciding their own recommendation; nothing here
//! starts a setup or changes a rate, revenue or contract term (decision 0010).

use async_graphql::{Context, Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_experience_common::actions::{idempotency_key, rename_fields};
use keel_experience_common::paging;
use keel_proto::projectsetup::{
    DecideRecommendationRequest, ExplanationTerm, ListRecommendationsRequest, Recommendation, TemplateProbability,
};

use crate::downstream::Calls;
use crate::model::instant;

/// Where a recommendation stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecommendationStatus {
    /// Recommended a template; waiting for a person to accept or override it.
    Open,
    /// The model was below the confidence floor: it names only its best guess, and only an
    /// override decides it.
    Abstained,
    /// A person accepted the recommended template.
    Accepted,
    /// A person chose another template, with a reason.
    Overridden,
}

impl RecommendationStatus {
    /// Project setup's name of the status.
    fn as_api(self) -> &'static str {
        match self {
            RecommendationStatus::Open => "open",
            RecommendationStatus::Abstained => "abstained",
            RecommendationStatus::Accepted => "accepted",
            RecommendationStatus::Overridden => "overridden",
        }
    }

    fn from_api(status: &str) -> Result<RecommendationStatus, Error> {
        [
            RecommendationStatus::Open,
            RecommendationStatus::Abstained,
            RecommendationStatus::Accepted,
            RecommendationStatus::Overridden,
        ]
        .into_iter()
        .find(|s| s.as_api() == status)
        .ok_or_else(|| {
            Error::internal(format!(
                "project setup answered an unknown recommendation status {status:?}"
            ))
        })
    }
}

/// A term of the SOW that moved the recommendation, with its weight in the model's score.
#[derive(SimpleObject, Clone, Debug)]
pub struct RecommendationTerm {
    pub term: String,
    /// Its contribution to the recommended template's score (log-odds; higher pushed harder).
    pub weight: f64,
}

/// Another template the model considered, with its calibrated probability.
#[derive(SimpleObject, Clone, Debug)]
pub struct TemplateAlternative {
    pub template_id: String,
    /// 0 to 1.
    pub probability: f64,
}

/// A delivery template recommended for a won deal from its statement of work.
#[derive(SimpleObject, Clone, Debug)]
pub struct TemplateRecommendation {
    pub id: ID,
    /// The CRM opportunity whose setup waits on this decision.
    pub opportunity_id: String,
    pub status: RecommendationStatus,
    /// The template recommended; null when the model abstained.
    pub recommended_template: Option<String>,
    /// What the model would have picked (also when it abstained).
    pub best_guess: Option<String>,
    /// The calibrated probability of the top template, 0 to 1.
    pub confidence: f64,
    /// The terms that drove it, strongest first.
    pub explanation: Vec<RecommendationTerm>,
    pub alternatives: Vec<TemplateAlternative>,
    pub model_version: String,
    pub policy_version: String,
    /// Who asked for it; they cannot decide it.
    pub requested_by: String,
    pub requested_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The template the person approved (the recommended one, or the override).
    pub chosen_template: Option<String>,
    /// The override's reason.
    pub reason: Option<String>,
}

keel_experience_common::connection!(
    /// A page of template recommendations.
    TemplateRecommendationConnection,
    TemplateRecommendation
);

fn text(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

impl TryFrom<Recommendation> for TemplateRecommendation {
    type Error = Error;

    fn try_from(r: Recommendation) -> Result<Self, Error> {
        Ok(TemplateRecommendation {
            id: ID(r.id),
            opportunity_id: r.subject,
            status: RecommendationStatus::from_api(&r.status)?,
            recommended_template: text(r.recommended_template),
            best_guess: text(r.best_guess),
            confidence: r.confidence,
            explanation: r
                .explanation
                .into_iter()
                .map(|ExplanationTerm { term, weight }| RecommendationTerm { term, weight })
                .collect(),
            alternatives: r
                .alternatives
                .into_iter()
                .map(
                    |TemplateProbability {
                         template_id,
                         probability,
                     }| TemplateAlternative {
                        template_id,
                        probability,
                    },
                )
                .collect(),
            model_version: r.model_version,
            policy_version: r.policy_version,
            requested_by: r.created_by,
            requested_at: instant(r.created_at),
            decided_by: text(r.decided_by),
            decided_at: instant(r.decided_at),
            chosen_template: text(r.chosen_template),
            reason: text(r.reason),
        })
    }
}

/// The recommendations, `first` (at most 100) at a time: by default the ones waiting for a
/// person (open and abstained).
pub(crate) async fn recommendations(
    ctx: &Context<'_>,
    statuses: Option<Vec<RecommendationStatus>>,
    first: i32,
    after: Option<String>,
) -> Result<TemplateRecommendationConnection, Error> {
    let page = paging::page_request(first, after)?;
    let calls = Calls::for_deciders(ctx)?;
    let statuses = statuses.unwrap_or_else(|| vec![RecommendationStatus::Open, RecommendationStatus::Abstained]);
    let answer = calls
        .list_recommendations(ListRecommendationsRequest {
            page_size: page.page_size,
            page_token: page.page_token,
            statuses: statuses.iter().map(|s| s.as_api().to_string()).collect(),
            subject: String::new(),
        })
        .await
        .map_err(paging::rename_paging_fields)?;
    Ok(TemplateRecommendationConnection {
        nodes: answer
            .recommendations
            .into_iter()
            .map(TemplateRecommendation::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: text(answer.next_page_token),
    })
}

/// Decides a recommendation for the caller (see `decideTemplateRecommendation`).
pub(crate) async fn decide(
    ctx: &Context<'_>,
    recommendation_id: ID,
    accept: bool,
    override_template: Option<String>,
    reason: Option<String>,
    client_key: Option<String>,
) -> Result<TemplateRecommendation, Error> {
    let calls = Calls::for_deciders(ctx)?;
    let override_template = override_template.unwrap_or_default();
    let reason = reason.unwrap_or_default();
    let key = idempotency_key(
        client_key,
        calls.subject(),
        "decideTemplateRecommendation",
        &[
            &recommendation_id,
            if accept { "accept" } else { "override" },
            &override_template,
            &reason,
        ],
    );
    let request = DecideRecommendationRequest {
        idempotency_key: key,
        id: recommendation_id.to_string(),
        accept,
        override_template,
        reason,
    };
    let decided = calls.decide_recommendation(request).await.map_err(|e| {
        rename_fields(
            e,
            &[
                ("idempotency_key", "idempotencyKey"),
                ("id", "recommendationId"),
                ("override_template", "overrideTemplate"),
            ],
        )
    })?;
    TemplateRecommendation::try_from(decided)
}
