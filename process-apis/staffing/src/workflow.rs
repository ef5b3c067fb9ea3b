//! The `staffing` workflow: one instance per PSA resource request (business key: its id).
//!
//! - `fetch` (psa): the request, which must be OPEN; the project's currency and its bill rate
//!   for the request's bill role.
//! - `rank` (hris, psa): HRIS candidates meeting the hard requirements (skills at their
//!   proficiency, certifications valid over the period, languages, region, availability),
//!   each scored with [`crate::scoring`] against their current PSA allocations; the shortlist is
//!   journaled. Nobody at or above the policy's minimum score sends the instance to the
//!   exception queue, naming why.
//! - `approve`: the best candidate's economics under the policy. Within it, the policy approves;
//!   otherwise the instance waits for the approval role (never the submitter), escalating after
//!   the timeout.
//! - `propose` (psa, with undo): ProposeCandidate; undone by WithdrawProposal.
//! - `assign` (psa): CreateAssignment of the person for the request's role, dates and allocation.
//! - `fill` (psa): FillResourceRequest with that assignment.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use keel_core::Error;
use keel_proto::hris::{FindCandidatesRequest, LanguageRequirement, SkillRequirement};
use keel_proto::psa::{
    AssignmentState, CreateAssignmentRequest, FillResourceRequestRequest, ProposeCandidateRequest,
    ResourceRequestState, ResourceRequestTransitionRequest,
};
use keel_workflow::{ApprovalRequest, RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Downstream;
use crate::policy::StaffingPolicy;
use crate::scoring::{self, Economics, Need, Person, Scored};

/// The workflow kind.
pub const KIND: &str = "staffing";
pub const FETCH: &str = "fetch";
pub const RANK: &str = "rank";
pub const APPROVE: &str = "approve";
pub const PROPOSE: &str = "propose";
pub const ASSIGN: &str = "assign";
pub const FILL: &str = "fill";

/// The instance's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub resource_request_id: String,
    /// Who asked for the staffing; they can never approve it.
    pub submitter: String,
}

/// What `fetch` journals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    pub resource_request_id: String,
    pub project_id: String,
    pub project_name: String,
    pub role: String,
    pub bill_role: String,
    pub need: Need,
    pub certifications: Vec<String>,
    pub languages: Vec<(String, String)>,
    pub currency: String,
    /// The project's bill rate for the bill role, per hour; `None` without one.
    pub bill_rate: Option<Decimal>,
    /// The request's version when fetched: `propose` expects it.
    pub version: i64,
}

/// What `rank` journals: the shortlist, best first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranked {
    pub candidates: Vec<Scored>,
    /// How many HRIS candidates were scored.
    pub considered: usize,
}

/// The `staffing` workflow over PSA and HRIS.
#[derive(Debug)]
pub struct Staffing {
    downstream: Downstream,
    policy: Arc<StaffingPolicy>,
    steps: [StepDef; 6],
}

impl Staffing {
    /// Steps retried under the engine's default policy.
    pub fn new(downstream: Downstream, policy: Arc<StaffingPolicy>) -> Staffing {
        Staffing::with_retry(downstream, policy, RetryPolicy::default())
    }

    /// Steps retried under `retry` (tests use millisecond delays).
    pub fn with_retry(downstream: Downstream, policy: Arc<StaffingPolicy>, retry: RetryPolicy) -> Staffing {
        Staffing {
            downstream,
            policy,
            steps: [
                StepDef::new(FETCH).calls("psa").with_retry(retry),
                StepDef::new(RANK).calls("hris").with_retry(retry),
                StepDef::new(APPROVE).with_retry(retry),
                StepDef::new(PROPOSE).calls("psa").with_undo().with_retry(retry),
                StepDef::new(ASSIGN).calls("psa").with_retry(retry),
                StepDef::new(FILL).calls("psa").with_retry(retry),
            ],
        }
    }

    /// The policy instances run under.
    pub fn policy(&self) -> &StaffingPolicy {
        &self.policy
    }

    /// The system APIs it calls.
    pub fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// The workflow input for a resource request.
    pub fn input(resource_request_id: &str, submitter: &str) -> Value {
        json!({ "resource_request_id": resource_request_id, "submitter": submitter })
    }

    /// Reads the request and the project's terms for it.
    pub async fn fetch_request(&self, id: &str) -> Result<Fetched, Error> {
        let request = self.downstream.resource_request(id).await?;
        if request.state != ResourceRequestState::Open as i32 {
            let state = ResourceRequestState::try_from(request.state)
                .map(|s| s.as_str_name())
                .unwrap_or("UNKNOWN");
            return Err(Error::FailedPrecondition(format!(
                "resource request {id} is {state}; only OPEN requests are staffed"
            )));
        }
        let project = self.downstream.project(&request.project_id).await?;
        let currency = project
            .contract_value
            .as_ref()
            .map(|m| m.currency.clone())
            .unwrap_or_default();
        let card = self.downstream.rate_card(&project.id).await?;
        let bill_rate = card
            .and_then(|c| c.rates.into_iter().find(|r| r.role == request.bill_role))
            .and_then(|r| r.bill_rate)
            .map(|m| decimal("bill_rate", &m.amount))
            .transpose()?;
        let need = Need {
            skills: request
                .skills
                .iter()
                .map(|s| (s.name.clone(), s.min_proficiency))
                .collect(),
            region: request.region.clone(),
            location: request.location.clone(),
            start: date("start_date", &request.start_date)?,
            end: date("end_date", &request.end_date)?,
            allocation_percent: decimal("allocation_percent", &request.allocation_percent)?,
        };
        Ok(Fetched {
            resource_request_id: request.id,
            project_id: project.id,
            project_name: project.name,
            role: request.role,
            bill_role: request.bill_role,
            need,
            certifications: request.certifications,
            languages: request.languages.into_iter().map(|l| (l.code, l.min_level)).collect(),
            currency,
            bill_rate,
            version: request.version,
        })
    }

    /// Scores every HRIS candidate for the request, best first.
    pub async fn rank_candidates(&self, fetched: &Fetched) -> Result<Ranked, Error> {
        let query = FindCandidatesRequest {
            page: None,
            skills: fetched
                .need
                .skills
                .iter()
                .map(|(name, min)| SkillRequirement {
                    name: name.clone(),
                    min_proficiency: *min,
                })
                .collect(),
            certifications: fetched.certifications.clone(),
            languages: fetched
                .languages
                .iter()
                .map(|(code, level)| LanguageRequirement {
                    code: code.clone(),
                    min_level: level.clone(),
                })
                .collect(),
            region: fetched.need.region.clone(),
            location: String::new(),
            start_date: fetched.need.start.to_string(),
            end_date: fetched.need.end.to_string(),
            min_available_hours: String::new(),
        };
        let candidates = self.downstream.candidates(query, self.policy.candidate_limit).await?;
        let considered = candidates.len();
        let mut people = Vec::with_capacity(considered);
        for candidate in candidates {
            let Some(employee) = candidate.employee else { continue };
            let assignments = self.downstream.assignments_of(&employee.id).await?;
            let windows: Vec<(NaiveDate, NaiveDate, Decimal)> = assignments
                .iter()
                .filter(|a| a.state == AssignmentState::Active as i32 && a.project_id != fetched.project_id)
                .filter_map(|a| {
                    Some((
                        NaiveDate::parse_from_str(&a.start_date, "%Y-%m-%d").ok()?,
                        NaiveDate::parse_from_str(&a.end_date, "%Y-%m-%d").ok()?,
                        Decimal::from_str(&a.allocation_percent).ok()?,
                    ))
                })
                .collect();
            let cost = employee.cost_rate.clone().unwrap_or_default();
            people.push(Person {
                committed_percent: scoring::committed_percent(&fetched.need, &windows),
                available_hours: decimal("available_hours", &candidate.available_hours)?,
                weekly_capacity_hours: decimal("weekly_capacity_hours", &employee.weekly_capacity_hours)?,
                utilization_target: decimal("utilization_target", &employee.utilization_target)?,
                cost_rate: decimal("cost_rate", &cost.amount)?,
                cost_currency: cost.currency,
                employee_id: employee.id,
                name: employee.name,
                labor_category: employee.labor_category,
                location: employee.location,
                region: employee.region,
                skills: employee.skills.into_iter().map(|s| (s.name, s.proficiency)).collect(),
            });
        }
        let mut ranked = scoring::rank(&fetched.need, people);
        ranked.truncate(self.policy.shortlist);
        Ok(Ranked {
            candidates: ranked,
            considered,
        })
    }

    /// The economics of proposing `candidate` under the policy.
    pub fn economics(&self, fetched: &Fetched, candidate: &Scored) -> Economics {
        scoring::economics(
            candidate,
            &fetched.currency,
            fetched.bill_rate,
            self.policy.labor_cost_threshold,
            self.policy.margin_floor_percent,
        )
    }

    async fn rank(&self, cx: &StepContext) -> Result<Value, Error> {
        let fetched: Fetched = journaled(cx, FETCH)?;
        let ranked = self.rank_candidates(&fetched).await?;
        match ranked.candidates.first() {
            None => {
                return Err(Error::FailedPrecondition(format!(
                    "no active employee meets resource request {}: skills {:?}, certifications {:?}, languages {:?}, region {:?}, {} to {}",
                    fetched.resource_request_id,
                    fetched.need.skills,
                    fetched.certifications,
                    fetched.languages,
                    fetched.need.region,
                    fetched.need.start,
                    fetched.need.end
                )));
            }
            Some(best) if best.score < self.policy.min_score => {
                return Err(Error::FailedPrecondition(format!(
                    "the best of {} candidates for resource request {}, {} ({}), scores {} below the policy's minimum {}",
                    ranked.considered,
                    fetched.resource_request_id,
                    best.person.name,
                    best.person.employee_id,
                    best.score,
                    self.policy.min_score
                )));
            }
            Some(_) => {}
        }
        serde_json::to_value(ranked).map_err(Error::internal)
    }

    fn approve(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        let fetched: Fetched = journaled(cx, FETCH)?;
        let ranked: Ranked = journaled(cx, RANK)?;
        let best = ranked
            .candidates
            .first()
            .ok_or_else(|| Error::internal("approve ran without a ranked candidate"))?;
        let economics = self.economics(&fetched, best);
        if economics.approval_reasons.is_empty() {
            return Ok(StepOutcome::Done(json!({
                "approved": true,
                "by": format!("policy {}", self.policy.version),
                "note": "within the policy's cost threshold and margin floor",
            })));
        }
        let input: Input = serde_json::from_value(cx.input.clone()).map_err(Error::internal)?;
        Ok(StepOutcome::AwaitApproval(ApprovalRequest {
            role: self.policy.approval_role.clone(),
            submitter: input.submitter,
            summary: format!(
                "Staff {} ({}) on {} as {} from {} to {} at {}%: {}",
                best.person.name,
                best.person.employee_id,
                fetched.project_name,
                fetched.role,
                fetched.need.start,
                fetched.need.end,
                fetched.need.allocation_percent,
                economics.approval_reasons.join("; ")
            ),
            timeout: Duration::from_secs(self.policy.approval_timeout_hours * 3600),
            escalate_to: Some(self.policy.escalate_to.clone()).filter(|r| !r.trim().is_empty()),
        }))
    }

    async fn propose(&self, cx: &StepContext) -> Result<Value, Error> {
        let fetched: Fetched = journaled(cx, FETCH)?;
        let best = best(cx)?;
        let proposed = self
            .downstream
            .propose(ProposeCandidateRequest {
                idempotency_key: cx.idempotency_key(""),
                id: fetched.resource_request_id,
                employee_id: best.person.employee_id,
                expected_version: fetched.version,
            })
            .await?;
        Ok(json!({ "version": proposed.version, "employee_id": proposed.proposed_employee_id }))
    }

    async fn assign(&self, cx: &StepContext) -> Result<Value, Error> {
        let fetched: Fetched = journaled(cx, FETCH)?;
        let best = best(cx)?;
        let assignment = self
            .downstream
            .create_assignment(CreateAssignmentRequest {
                idempotency_key: cx.idempotency_key(""),
                project_id: fetched.project_id,
                employee_id: best.person.employee_id,
                person_name: best.person.name,
                role: fetched.role,
                bill_role: fetched.bill_role,
                start_date: fetched.need.start.to_string(),
                end_date: fetched.need.end.to_string(),
                allocation_percent: fetched.need.allocation_percent.normalize().to_string(),
            })
            .await?;
        Ok(json!({ "assignment_id": assignment.id }))
    }

    async fn fill(&self, cx: &StepContext) -> Result<Value, Error> {
        let fetched: Fetched = journaled(cx, FETCH)?;
        let version = cx
            .result(PROPOSE)
            .and_then(|r| r.get("version"))
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::internal("fill ran before propose"))?;
        let assignment_id = cx
            .result(ASSIGN)
            .and_then(|r| r.get("assignment_id"))
            .and_then(Value::as_str)
            .ok_or_else(|| Error::internal("fill ran before assign"))?
            .to_string();
        let filled = self
            .downstream
            .fill(FillResourceRequestRequest {
                idempotency_key: cx.idempotency_key(""),
                id: fetched.resource_request_id,
                assignment_id: assignment_id.clone(),
                expected_version: version,
            })
            .await?;
        Ok(json!({ "assignment_id": assignment_id, "version": filled.version }))
    }
}

fn decimal(field: &str, text: &str) -> Result<Decimal, Error> {
    Decimal::from_str(text.trim()).map_err(|_| Error::internal(format!("{field} {text:?} is not a decimal")))
}

fn date(field: &str, text: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| Error::internal(format!("{field} {text:?} is not a date")))
}

/// A journaled step result, decoded.
pub fn journaled<T: serde::de::DeserializeOwned>(cx: &StepContext, step: &str) -> Result<T, Error> {
    let value = cx
        .result(step)
        .cloned()
        .ok_or_else(|| Error::internal(format!("{} ran before {step}", cx.step)))?;
    serde_json::from_value(value).map_err(Error::internal)
}

fn best(cx: &StepContext) -> Result<Scored, Error> {
    let ranked: Ranked = journaled(cx, RANK)?;
    ranked
        .candidates
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("no ranked candidate"))
}

#[async_trait]
impl Workflow for Staffing {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "resource-management"
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, resource_request.id = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        let result = match cx.step {
            FETCH => serde_json::to_value(self.fetch_request(&cx.business_key).await?).map_err(Error::internal)?,
            RANK => self.rank(cx).await?,
            APPROVE => return self.approve(cx),
            PROPOSE => self.propose(cx).await?,
            ASSIGN => self.assign(cx).await?,
            FILL => self.fill(cx).await?,
            other => return Err(Error::internal(format!("unknown staffing step {other}"))),
        };
        Ok(StepOutcome::Done(result))
    }

    async fn compensate(&self, cx: &StepContext, result: &Value) -> Result<(), Error> {
        if cx.step != PROPOSE {
            return Ok(());
        }
        let Some(version) = result.get("version").and_then(Value::as_i64) else {
            return Ok(());
        };
        let request = self.downstream.resource_request(&cx.business_key).await?;
        if request.state != ResourceRequestState::Proposed as i32 || request.version != version {
            // Someone moved the request on since: nothing of this instance's to withdraw.
            return Ok(());
        }
        self.downstream
            .withdraw(ResourceRequestTransitionRequest {
                idempotency_key: cx.idempotency_key("undo"),
                id: cx.business_key.clone(),
                expected_version: version,
                reason: "staffing abandoned".into(),
            })
            .await?;
        Ok(())
    }
}
