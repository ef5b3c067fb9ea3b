//! SOW intake: a delivery template recommended from a statement of work, recorded with its
//! input, its output and the model and policy versions, and decided by a person other than the
//! one who asked. Nothing here sets anything up: a setup of the deal waits at `select-template`
//! until the recommendation is decided, then uses the template the person approved
//! ([`approved_for`]); an open or abstained recommendation never picks a template.
//!
//! Every record and decision is audited in the same transaction; a decided record is a
//! labelled example for retraining ([`training_labels`]).

pub mod policy;

use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use keel_core::Error;
use keel_insight::sow::{Decision, LabelledSow, Recommendation as SowRecommendation, RecommendedTemplate};
use keel_insight::sow::{RecommenderConfig, TemplateRecommender};
use keel_insight::{Capability, Insight, InsightError};
use keel_proto::projectsetup::{ExplanationTerm, Recommendation, TemplateProbability};
use keel_store::audit::{self, AuditEntry};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, QueryOrder, QuerySelect};
use tokio::sync::OnceCell;

pub use policy::IntakePolicy;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recommendations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub idempotency_key: String,
        /// `sow-template`, `time-anomaly`, `margin-forecast` or `staffing-risk`.
        pub capability: String,
        /// What it is about: for `sow-template`, the opportunity id.
        pub subject: String,
        /// What the model read, as JSON.
        pub inputs: String,
        /// What the model answered, as JSON (for `sow-template`, the whole
        /// `keel_insight::sow::Recommendation`, its outcome once decided).
        pub output: String,
        pub model_version: String,
        pub policy_version: String,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        /// `open`, `abstained`, `accepted` or `overridden`.
        pub status: String,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        /// The value the person approved (for `sow-template`, the template id).
        pub chosen_value: Option<String>,
        pub reason: Option<String>,
        pub decision_key: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub const SOW_TEMPLATE: &str = "sow-template";

pub const OPEN: &str = "open";
pub const ABSTAINED: &str = "abstained";
pub const ACCEPTED: &str = "accepted";
pub const OVERRIDDEN: &str = "overridden";
pub const STATUSES: &[&str] = &[OPEN, ABSTAINED, ACCEPTED, OVERRIDDEN];

const RECORD_TYPE: &str = "recommendation";

/// The firm's labelled past SOWs the recommender learns from.
const TRAINING_SOWS: &str = include_str!("../../../../shared/insight/data/sows/train.jsonl");

/// The recommender under the policy: trained once, on first use, from the labelled SOWs.
#[derive(Clone)]
pub struct Intake {
    policy: Arc<IntakePolicy>,
    recommender: Arc<OnceCell<Arc<TemplateRecommender>>>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for Intake {
    fn default() -> Self {
        Intake::new(IntakePolicy::default())
    }
}

impl Intake {
    pub fn new(policy: IntakePolicy) -> Intake {
        Intake {
            policy: Arc::new(policy),
            recommender: Arc::new(OnceCell::new()),
        }
    }

    pub fn policy(&self) -> &IntakePolicy {
        &self.policy
    }

    /// The trained recommender (trained on first call, off the async threads).
    pub async fn recommender(&self) -> Result<Arc<TemplateRecommender>, Error> {
        let floor = self.policy.floor();
        self.recommender
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    let examples = LabelledSow::read_jsonl(TRAINING_SOWS).map_err(insight_error)?;
                    let config = RecommenderConfig {
                        confidence_floor: floor,
                        ..RecommenderConfig::default()
                    };
                    TemplateRecommender::train(&examples, config)
                        .map(Arc::new)
                        .map_err(insight_error)
                })
                .await
                .map_err(Error::internal)?
            })
            .await
            .cloned()
    }

    /// Recommends a template for `sow_text` when `insight.intake` allows it. A switched-off
    /// capability is `FAILED_PRECONDITION` naming the switch, before the text is read.
    pub async fn recommend(&self, sow_text: &str) -> Result<SowRecommendation, Error> {
        let mut insight = Insight::new(self.policy.insight);
        insight.policy().require(Capability::Intake).map_err(insight_error)?;
        if sow_text.trim().is_empty() {
            return Err(Error::invalid("sow_text", "is required"));
        }
        let recommender = self.recommender().await?;
        insight
            .recommend_template(&recommender, sow_text)
            .map_err(insight_error)
    }
}

/// Maps the library's errors to Keel's at this edge.
pub fn insight_error(error: InsightError) -> Error {
    match error {
        InsightError::Disabled(switch) => {
            Error::FailedPrecondition(format!("disabled by policy {switch}; the capability records nothing"))
        }
        InsightError::InvalidInput { field, reason } => Error::invalid(field, reason),
        other => Error::internal(other.to_string()),
    }
}

/// Records a new SOW template recommendation for `subject`, audited. An existing record with
/// the same idempotency key is answered instead.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    idempotency_key: &str,
    subject: &str,
    recommendation: &SowRecommendation,
    policy_version: &str,
    created_by: &str,
) -> Result<entity::Model, Error> {
    let status = match recommendation.output {
        RecommendedTemplate::Template(_) => OPEN,
        RecommendedTemplate::Abstained { .. } => ABSTAINED,
    };
    let row = entity::Model {
        id: recommendation.id.to_string(),
        idempotency_key: idempotency_key.to_string(),
        capability: SOW_TEMPLATE.into(),
        subject: subject.to_string(),
        inputs: serde_json::json!({ "sow_text": recommendation.sow_text }).to_string(),
        output: serde_json::to_string(recommendation).map_err(Error::internal)?,
        model_version: recommendation.model_version.clone(),
        policy_version: policy_version.to_string(),
        created_by: created_by.to_string(),
        // As PostgreSQL keeps it (microseconds), so the answer is what a later read returns.
        created_at: recommendation.made_at.trunc_subsecs(6),
        status: status.into(),
        decided_by: None,
        decided_at: None,
        chosen_value: None,
        reason: None,
        decision_key: None,
    };
    entity::Entity::insert(entity::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor: created_by,
            record_type: RECORD_TYPE,
            record_id: &row.id,
            action: "recommended",
            detail: serde_json::json!({
                "capability": SOW_TEMPLATE, "subject": subject, "status": status,
                "output": template_of(recommendation), "confidence": recommendation.confidence,
                "model_version": row.model_version, "policy_version": policy_version,
            }),
        },
    )
    .await?;
    Ok(row)
}

fn template_of(recommendation: &SowRecommendation) -> &str {
    match &recommendation.output {
        RecommendedTemplate::Template(t) => t,
        RecommendedTemplate::Abstained { best_guess } => best_guess,
    }
}

pub async fn by_id<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

pub async fn by_key<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::IdempotencyKey.eq(key))
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

/// The latest SOW template recommendation for an opportunity, if any.
pub async fn latest_for<C: ConnectionTrait>(db: &C, subject: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::Capability.eq(SOW_TEMPLATE))
        .filter(entity::Column::Subject.eq(subject))
        .order_by_desc(entity::Column::CreatedAt)
        .order_by_desc(entity::Column::Id)
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

/// What a setup may do with a deal's intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// No recommendation for the deal: the template comes from the deal, as without intake.
    NoIntake,
    /// A recommendation waits for a person's decision; the setup waits with it.
    Waiting { recommendation_id: String },
    /// A person approved this template.
    Approved {
        recommendation_id: String,
        template_id: String,
        decided_by: String,
    },
}

/// The template a person approved for an opportunity's setup, if its intake was decided.
pub async fn approved_for<C: ConnectionTrait>(db: &C, opportunity_id: &str) -> Result<Approval, Error> {
    let Some(row) = latest_for(db, opportunity_id).await? else {
        return Ok(Approval::NoIntake);
    };
    match (row.status.as_str(), row.chosen_value, row.decided_by) {
        (ACCEPTED | OVERRIDDEN, Some(template_id), Some(decided_by)) => Ok(Approval::Approved {
            recommendation_id: row.id,
            template_id,
            decided_by,
        }),
        _ => Ok(Approval::Waiting {
            recommendation_id: row.id,
        }),
    }
}

/// A person's decision, as the service parsed it.
#[derive(Debug, Clone)]
pub enum Choice {
    Accept,
    Override { template: String, reason: String },
}

/// Records a person's decision, once, audited. The requester is refused (and the refusal
/// audited); a second decision is refused and changes nothing.
pub async fn decide(
    db: &sea_orm::DatabaseConnection,
    id: &str,
    choice: Choice,
    decided_by: &str,
    decision_key: &str,
) -> Result<entity::Model, Error> {
    let row = by_id(db, id)
        .await?
        .ok_or_else(|| Error::not_found("recommendation", id.to_string()))?;
    if row.decision_key.as_deref() == Some(decision_key) && row.decided_by.as_deref() == Some(decided_by) {
        // The same decision asked again: its answer, unchanged.
        return Ok(row);
    }
    if row.created_by == decided_by {
        let txn = keel_store::begin_write(db).await?;
        audit::append(
            &txn,
            AuditEntry {
                actor: decided_by,
                record_type: RECORD_TYPE,
                record_id: &row.id,
                action: "self_approval_refused",
                detail: serde_json::json!({ "choice": format!("{choice:?}") }),
            },
        )
        .await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        return Err(Error::Forbidden(format!(
            "{decided_by} asked for recommendation {id} and cannot decide it; another delivery lead must"
        )));
    }
    if row.status != OPEN && row.status != ABSTAINED {
        return Err(Error::FailedPrecondition(format!(
            "recommendation {id} was already {} by {}",
            row.status,
            row.decided_by.as_deref().unwrap_or("someone")
        )));
    }
    let mut recommendation: SowRecommendation = serde_json::from_str(&row.output).map_err(Error::internal)?;
    let now = Utc::now();
    let (decision, status, reason) = match choice {
        Choice::Accept => (
            Decision::Accept {
                by: decided_by.to_string(),
            },
            ACCEPTED,
            None,
        ),
        Choice::Override { template, reason } => (
            Decision::Override {
                by: decided_by.to_string(),
                template,
                reason: reason.clone(),
            },
            OVERRIDDEN,
            Some(reason),
        ),
    };
    recommendation.record_outcome(decision, now).map_err(|e| match e {
        InsightError::InvalidInput { field, reason } if field == "decision" => Error::invalid("accept", reason),
        InsightError::InvalidInput { field, reason } if field == "template" => {
            Error::invalid("override_template", reason)
        }
        other => insight_error(other),
    })?;
    let chosen = recommendation
        .approved_template()
        .map(str::to_string)
        .ok_or_else(|| Error::internal("a decided recommendation approves a template"))?;
    let txn = keel_store::begin_write(db).await?;
    // Decided once, whoever gets there first: the update only takes an undecided row.
    let updated = entity::Entity::update_many()
        .col_expr(entity::Column::Status, Expr::value(status))
        .col_expr(entity::Column::DecidedBy, Expr::value(decided_by.to_string()))
        .col_expr(entity::Column::DecidedAt, Expr::value(now))
        .col_expr(entity::Column::ChosenValue, Expr::value(chosen.clone()))
        .col_expr(entity::Column::Reason, Expr::value(reason.clone()))
        .col_expr(entity::Column::DecisionKey, Expr::value(decision_key.to_string()))
        .col_expr(
            entity::Column::Output,
            Expr::value(serde_json::to_string(&recommendation).map_err(Error::internal)?),
        )
        .filter(entity::Column::Id.eq(row.id.clone()))
        .filter(entity::Column::Status.is_in([OPEN, ABSTAINED]))
        .exec(&txn)
        .await
        .map_err(keel_store::db_error)?;
    if updated.rows_affected != 1 {
        return Err(Error::FailedPrecondition(format!(
            "recommendation {id} was decided meanwhile"
        )));
    }
    audit::append(
        &txn,
        AuditEntry {
            actor: decided_by,
            record_type: RECORD_TYPE,
            record_id: &row.id,
            action: status,
            detail: serde_json::json!({
                "subject": row.subject, "recommended": template_of(&recommendation),
                "chosen_template": chosen, "reason": reason,
            }),
        },
    )
    .await?;
    // A setup waiting on this decision is due at once.
    crate::setups::wake_waiting(&txn, &row.subject).await?;
    txn.commit().await.map_err(keel_store::db_error)?;
    by_id(db, id)
        .await?
        .ok_or_else(|| Error::not_found("recommendation", id.to_string()))
}

/// A page of recommendations, oldest first, optionally only some statuses or one subject.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    statuses: &[String],
    subject: Option<&str>,
    page: keel_core::paging::Page,
) -> Result<Vec<entity::Model>, Error> {
    let mut query = entity::Entity::find().order_by_asc(entity::Column::Id).limit(page.size);
    if !statuses.is_empty() {
        query = query.filter(entity::Column::Status.is_in(statuses.iter().cloned()));
    }
    if let Some(subject) = subject {
        query = query.filter(entity::Column::Subject.eq(subject));
    }
    if let Some(after) = page.after {
        query = query.filter(entity::Column::Id.gt(after.to_string()));
    }
    query.all(db).await.map_err(keel_store::db_error)
}

/// Every decided SOW recommendation as a labelled example for retraining: the SOW text and
/// the template the person approved.
pub async fn training_labels<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, String)>, Error> {
    let rows = entity::Entity::find()
        .filter(entity::Column::Capability.eq(SOW_TEMPLATE))
        .filter(entity::Column::Status.is_in([ACCEPTED, OVERRIDDEN]))
        .order_by_asc(entity::Column::Id)
        .all(db)
        .await
        .map_err(keel_store::db_error)?;
    let mut labels = Vec::with_capacity(rows.len());
    for row in rows {
        let recommendation: SowRecommendation = serde_json::from_str(&row.output).map_err(Error::internal)?;
        if let Some((text, template)) = recommendation.as_training_label() {
            labels.push((text.to_string(), template.to_string()));
        }
    }
    Ok(labels)
}

pub fn to_proto(row: &entity::Model) -> Recommendation {
    let parsed: Option<SowRecommendation> = if row.capability == SOW_TEMPLATE {
        serde_json::from_str(&row.output).ok()
    } else {
        None
    };
    let (recommended_template, best_guess) = match parsed.as_ref().map(|r| &r.output) {
        Some(RecommendedTemplate::Template(t)) => (t.clone(), String::new()),
        Some(RecommendedTemplate::Abstained { best_guess }) => (String::new(), best_guess.clone()),
        None => (String::new(), String::new()),
    };
    Recommendation {
        id: row.id.clone(),
        capability: row.capability.clone(),
        subject: row.subject.clone(),
        status: row.status.clone(),
        recommended_template,
        best_guess,
        confidence: parsed.as_ref().map(|r| r.confidence).unwrap_or_default(),
        explanation: parsed
            .as_ref()
            .map(|r| {
                r.explanation
                    .iter()
                    .map(|t| ExplanationTerm {
                        term: t.term.clone(),
                        weight: t.weight,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        alternatives: parsed
            .as_ref()
            .map(|r| {
                r.alternatives
                    .iter()
                    .map(|s| TemplateProbability {
                        template_id: s.template.clone(),
                        probability: s.probability,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        model_version: row.model_version.clone(),
        policy_version: row.policy_version.clone(),
        created_by: row.created_by.clone(),
        created_at: Some(keel_core::time::to_timestamp(row.created_at)),
        decided_by: row.decided_by.clone().unwrap_or_default(),
        decided_at: row.decided_at.map(keel_core::time::to_timestamp),
        chosen_template: row.chosen_value.clone().unwrap_or_default(),
        reason: row.reason.clone().unwrap_or_default(),
        input_json: row.inputs.clone(),
        output_json: row.output.clone(),
    }
}
