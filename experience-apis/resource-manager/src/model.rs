//! The GraphQL types of the resource manager view and their conversion from the PSA, staffing
//! and workflow contracts. Scores, hours and fractions stay decimal strings, exactly as sent.

use async_graphql::{Enum, ID, SimpleObject};
use keel_experience_common::non_empty;
use keel_proto::{psa, staffing, workflow};

keel_experience_common::connection!(
    /// A page of open resource requests.
    OpenRequestConnection,
    OpenRequest
);

keel_experience_common::connection!(
    /// A page of staffing instances waiting for approval.
    StaffingApprovalConnection,
    StaffingApproval
);

keel_experience_common::connection!(
    /// A page of utilization figures, by person, practice or region.
    ResourceUtilizationConnection,
    ResourceUtilization
);

keel_experience_common::connection!(
    /// A page of people's hours in forecast weeks.
    ResourceAvailabilityConnection,
    ResourceAvailability
);

/// A person's, practice's or region's billable hours over a period against capacity, and
/// their utilization against target. Hours and fractions are decimal strings.
#[derive(SimpleObject, Clone, Debug)]
pub struct ResourceUtilization {
    /// The HRIS employee id for a person; the practice or region for a group.
    pub key: String,
    /// The person's name; the practice or region for a group.
    pub name: String,
    /// The person's or group's practice (HRIS labor category); null for a region.
    pub practice: Option<String>,
    /// The person's or group's region; null for a practice.
    pub region: Option<String>,
    /// How many people the figures cover (1 for a person).
    pub people: u32,
    /// Billable hours PSA holds as APPROVED or POSTED, dated in the period.
    pub billable_hours: String,
    /// HRIS weekly capacity × the working weeks (five weekdays) of the period.
    pub capacity_hours: String,
    /// Billable ÷ capacity, a fraction such as `0.7143`; null without capacity.
    pub utilization: Option<String>,
    /// HRIS's utilization target, a fraction; for a group weighted by capacity.
    pub target: Option<String>,
    /// Utilization minus target: negative below target.
    pub variance: Option<String>,
}

/// A person's hours in one forecast week: capacity, what PSA assignments take, what is free.
#[derive(SimpleObject, Clone, Debug)]
pub struct ResourceAvailability {
    /// The week's Monday, `YYYY-MM-DD`.
    pub week_start: String,
    pub employee_id: ID,
    pub name: String,
    /// HRIS labor category.
    pub practice: String,
    pub region: String,
    /// HRIS weekly capacity.
    pub capacity_hours: String,
    /// Σ allocation % × weekly capacity over the assignment's weekdays in the week.
    pub allocated_hours: String,
    /// Capacity minus allocation; negative when over-allocated.
    pub available_hours: String,
    /// The PSA assignments the allocation comes from.
    pub assignment_ids: Vec<ID>,
}

impl From<crate::capacity::Utilization> for ResourceUtilization {
    fn from(u: crate::capacity::Utilization) -> ResourceUtilization {
        ResourceUtilization {
            billable_hours: u.billable_text(),
            capacity_hours: u.capacity_text(),
            utilization: u.utilization(),
            target: u.target_text(),
            variance: u.variance(),
            key: u.key,
            name: u.name,
            practice: u.practice,
            region: u.region,
            people: u.people,
        }
    }
}

impl From<crate::capacity::WeekAvailability> for ResourceAvailability {
    fn from(w: crate::capacity::WeekAvailability) -> ResourceAvailability {
        use crate::capacity::hours_text;
        ResourceAvailability {
            week_start: w.week.to_string(),
            available_hours: hours_text(w.available()),
            capacity_hours: hours_text(w.capacity),
            allocated_hours: hours_text(w.allocated),
            employee_id: ID(w.person),
            name: w.name,
            practice: w.practice,
            region: w.region,
            assignment_ids: w.assignments.into_iter().map(ID).collect(),
        }
    }
}

/// A PSA resource request not yet filled (OPEN or PROPOSED), with its ranked candidates.
#[derive(SimpleObject, Clone, Debug)]
pub struct OpenRequest {
    pub id: ID,
    pub project_id: ID,
    /// The labor role wanted, e.g. `engagement-manager`.
    pub role: String,
    pub bill_role: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD`.
    pub end_date: String,
    /// A decimal string such as `50`.
    pub allocation_percent: String,
    pub skills: Vec<RequiredSkill>,
    pub certifications: Vec<String>,
    pub region: Option<String>,
    pub location: Option<String>,
    /// The employee id of whoever asked.
    pub requested_by: Option<String>,
    pub state: RequestState,
    /// Set while PROPOSED.
    pub proposed_employee_id: Option<String>,
    /// The candidates the staffing process API ranks, best first: for an OPEN request ranked
    /// now, for a PROPOSED one as its staffing ranked them.
    pub candidates: Vec<Candidate>,
    /// Why nobody matched, when no candidate did.
    pub no_match_reason: Option<String>,
    /// Why staffing could not rank the request, when it could not.
    pub ranking_error: Option<String>,
}

/// Where a resource request stands; the view lists the two not yet filled.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    Open,
    /// A candidate is proposed; staffing waits to fill it (or for approval).
    Proposed,
}

/// A skill a request asks for, at a proficiency from 1 to 5 or above.
#[derive(SimpleObject, Clone, Debug)]
pub struct RequiredSkill {
    pub name: String,
    pub min_proficiency: i32,
}

/// A candidate ranked for a request, with the score's parts.
#[derive(SimpleObject, Clone, Debug)]
pub struct Candidate {
    /// 1 is the best.
    pub rank: u32,
    pub employee_id: ID,
    pub name: String,
    pub labor_category: String,
    pub location: String,
    /// A decimal string from 0 to 100.
    pub score: String,
    /// Why the candidate ranks where they do: skills, availability, utilization, location.
    pub components: Vec<ScoreComponent>,
    /// Hours the candidate has free over the request's period, a decimal string.
    pub available_hours: String,
    /// Hours the request needs over its period, a decimal string.
    pub needed_hours: String,
    /// The candidate's utilization with this request, a decimal fraction such as `0.85`.
    pub projected_utilization: String,
    /// The candidate's utilization target, a decimal fraction such as `0.8`.
    pub utilization_target: String,
}

/// One part of a candidate's score and the numbers behind it.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScoreComponent {
    /// `skills`, `availability`, `utilization` or `location`.
    pub name: String,
    pub points: String,
    pub max_points: String,
    pub explanation: String,
}

/// A staffing instance waiting for leadership's approval.
#[derive(SimpleObject, Clone, Debug)]
pub struct StaffingApproval {
    /// The workflow instance id (what an approval decides).
    pub instance_id: ID,
    /// The PSA resource request being staffed.
    pub resource_request_id: ID,
    /// The step it waits at.
    pub step: Option<String>,
    /// Who started the staffing.
    pub requested_by: Option<String>,
    /// RFC 3339.
    pub created_at: Option<String>,
    /// When the instance last changed (it has waited since), RFC 3339.
    pub waiting_since: Option<String>,
}

/// A staffing approval as it starts waiting for the subscriber: who is proposed where and
/// why leadership has to decide.
#[derive(SimpleObject, Clone, Debug)]
pub struct StaffingApprovalRequest {
    /// The workflow instance id (what an approval decides).
    pub instance_id: ID,
    /// The PSA resource request being staffed.
    pub resource_request_id: ID,
    /// The PSA project of the request, as the staffing fetched it.
    pub project_id: Option<ID>,
    /// The project's name, likewise.
    pub project_name: Option<String>,
    /// Why the staffing policy needs a person's decision (cost above the threshold, margin
    /// below the floor, ...), as the staffing process states them.
    pub reasons: Vec<String>,
    /// The whole request as the staffing process wrote it: who, where, when, and why.
    pub summary: String,
    /// Who asked for the staffing (they can never approve it).
    pub requested_by: String,
    /// When the approval started waiting, RFC 3339.
    pub since: Option<String>,
    /// When it escalates if nobody decides, RFC 3339.
    pub due_at: Option<String>,
}

impl StaffingApprovalRequest {
    /// The approval, placed by its staffing instance: its resource request, and the project
    /// its `fetch` step journaled.
    pub(crate) fn new(approval: workflow::Approval, instance: workflow::Instance) -> StaffingApprovalRequest {
        let fetched = instance
            .journal
            .iter()
            .find(|s| s.step == FETCH_STEP)
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s.result_json).ok());
        let text = |key: &str| {
            fetched
                .as_ref()
                .and_then(|f| f.get(key))
                .and_then(|v| v.as_str())
                .and_then(|v| non_empty(v.to_string()))
        };
        StaffingApprovalRequest {
            resource_request_id: ID(instance.business_key),
            project_id: text("project_id").map(ID),
            project_name: text("project_name"),
            reasons: reasons(&approval.summary),
            instance_id: ID(approval.instance_id),
            requested_by: approval.submitter,
            since: rfc3339(approval.requested_at),
            due_at: rfc3339(approval.due_at),
            summary: approval.summary,
        }
    }
}

/// The step of a staffing instance that journals the request and its project.
const FETCH_STEP: &str = "fetch";

/// The reasons in a staffing approval's summary, which reads "Staff NAME (ID) on PROJECT as
/// ROLE from START to END at N%: REASON; REASON".
fn reasons(summary: &str) -> Vec<String> {
    summary
        .split_once("%: ")
        .map(|(_, reasons)| {
            reasons
                .split("; ")
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn rfc3339(t: Option<prost_types::Timestamp>) -> Option<String> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl OpenRequest {
    /// The request if it is OPEN or PROPOSED; `None` for any other state.
    pub(crate) fn unfilled(request: psa::ResourceRequest) -> Option<OpenRequest> {
        let state = match psa::ResourceRequestState::try_from(request.state) {
            Ok(psa::ResourceRequestState::Open) => RequestState::Open,
            Ok(psa::ResourceRequestState::Proposed) => RequestState::Proposed,
            _ => return None,
        };
        Some(OpenRequest {
            id: ID(request.id),
            project_id: ID(request.project_id),
            role: request.role,
            bill_role: request.bill_role,
            start_date: request.start_date,
            end_date: request.end_date,
            allocation_percent: request.allocation_percent,
            skills: request
                .skills
                .into_iter()
                .map(|s| RequiredSkill {
                    name: s.name,
                    min_proficiency: s.min_proficiency,
                })
                .collect(),
            certifications: request.certifications,
            region: non_empty(request.region),
            location: non_empty(request.location),
            requested_by: non_empty(request.requested_by),
            state,
            proposed_employee_id: non_empty(request.proposed_employee_id),
            candidates: Vec::new(),
            no_match_reason: None,
            ranking_error: None,
        })
    }

    /// Adds staffing's ranking of this request.
    pub(crate) fn ranked(&mut self, ranking: staffing::RequestRanking) {
        self.candidates = ranking.candidates.into_iter().map(Candidate::from).collect();
        self.no_match_reason = non_empty(ranking.no_match_reason);
        self.ranking_error = non_empty(ranking.error);
    }
}

impl From<staffing::RankedCandidate> for Candidate {
    fn from(c: staffing::RankedCandidate) -> Candidate {
        Candidate {
            rank: c.rank,
            employee_id: ID(c.employee_id),
            name: c.name,
            labor_category: c.labor_category,
            location: c.location,
            score: c.score,
            components: c
                .components
                .into_iter()
                .map(|p| ScoreComponent {
                    name: p.name,
                    points: p.points,
                    max_points: p.max_points,
                    explanation: p.explanation,
                })
                .collect(),
            available_hours: c.available_hours,
            needed_hours: c.needed_hours,
            projected_utilization: c.projected_utilization,
            utilization_target: c.utilization_target,
        }
    }
}

impl From<workflow::Instance> for StaffingApproval {
    fn from(i: workflow::Instance) -> StaffingApproval {
        let rfc3339 = |t: Option<prost_types::Timestamp>| {
            t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        StaffingApproval {
            instance_id: ID(i.id),
            resource_request_id: ID(i.business_key),
            step: non_empty(i.step),
            requested_by: non_empty(i.created_by),
            created_at: rfc3339(i.created_at),
            waiting_since: rfc3339(i.updated_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_are_read_from_the_summary_staffing_writes() {
        let summary = "Staff Jonas Berg (E-7) on Atlas ERP: phase 2 as engagement manager from 2026-12-01 \
                       to 2027-01-08 at 100%: labor cost 61200 EUR (240 hours at 255) is above the threshold \
                       50000 EUR; margin 12.5% (revenue 69960 EUR, cost 61200 EUR) is below the floor 30%";
        assert_eq!(
            reasons(summary),
            [
                "labor cost 61200 EUR (240 hours at 255) is above the threshold 50000 EUR",
                "margin 12.5% (revenue 69960 EUR, cost 61200 EUR) is below the floor 30%",
            ]
        );
        assert!(reasons("an approval with no reasons stated").is_empty());
    }

    #[test]
    fn only_open_and_proposed_requests_are_listed() {
        let table = [
            (psa::ResourceRequestState::Open, Some(RequestState::Open)),
            (psa::ResourceRequestState::Proposed, Some(RequestState::Proposed)),
            (psa::ResourceRequestState::Filled, None),
            (psa::ResourceRequestState::Cancelled, None),
            (psa::ResourceRequestState::Unspecified, None),
        ];
        for (state, expected) in table {
            let request = psa::ResourceRequest {
                state: state as i32,
                ..Default::default()
            };
            assert_eq!(OpenRequest::unfilled(request).map(|r| r.state), expected, "{state:?}");
        }
    }

    #[test]
    fn a_ranking_keeps_the_scores_and_their_explanations() {
        let mut request = OpenRequest::unfilled(psa::ResourceRequest {
            state: psa::ResourceRequestState::Open as i32,
            ..Default::default()
        })
        .unwrap();
        request.ranked(staffing::RequestRanking {
            resource_request_id: "r-1".into(),
            candidates: vec![staffing::RankedCandidate {
                rank: 1,
                score: "87.5".into(),
                components: vec![staffing::ScoreComponent {
                    name: "skills".into(),
                    points: "40".into(),
                    max_points: "40".into(),
                    explanation: "sap-treasury 5 of 3 needed".into(),
                }],
                ..Default::default()
            }],
            no_match_reason: String::new(),
            error: String::new(),
        });
        assert_eq!(request.candidates[0].score, "87.5");
        assert_eq!(request.candidates[0].components[0].max_points, "40");
        assert_eq!(request.no_match_reason, None);
        assert_eq!(request.ranking_error, None);
    }
}

keel_experience_common::connection!(
    /// A page of staffing risk flags.
    StaffingRiskConnection,
    StaffingRisk
);

/// A staffing risk on a project's team, as the staffing process API recorded it: who or what is
/// at risk, why, with the figures, and what became of it. Percentages are decimal strings.
#[derive(SimpleObject, Clone, Debug)]
pub struct StaffingRisk {
    /// The flag's id (what a review decides).
    pub id: ID,
    pub project_id: ID,
    /// `over-allocated`, `certification-expiring`, `certification-missing`,
    /// `single-point-of-failure` or `critical-skill-uncovered`.
    pub kind: String,
    /// The HRIS employee at risk; null for a critical skill nobody holds.
    pub employee_id: Option<ID>,
    /// The skill or certification at risk; null for over-allocation.
    pub skill: Option<String>,
    /// Why, in words, with the figures.
    pub reason: String,
    /// Over-allocation: the highest weekly allocation, in percent.
    pub peak_percent: Option<String>,
    /// Over-allocation: Monday of the first and the last week over 100%, `YYYY-MM-DD`.
    pub first_week: Option<String>,
    pub last_week: Option<String>,
    /// An expiring certification: when it expires, `YYYY-MM-DD`.
    pub expires_on: Option<String>,
    /// A certification: until when the assignment needs it, `YYYY-MM-DD`.
    pub needed_until: Option<String>,
    /// An expiring certification: the days of the assignment it leaves uncovered.
    pub days_uncovered: Option<i64>,
    /// `OPEN`, `ACKNOWLEDGED`, `DISMISSED` or `RESOLVED`.
    pub status: String,
    pub model_version: String,
    pub policy_version: String,
    /// RFC 3339.
    pub created_at: Option<String>,
    pub decided_by: Option<String>,
    /// RFC 3339.
    pub decided_at: Option<String>,
    pub note: Option<String>,
    /// Why it was closed as RESOLVED.
    pub resolution: Option<String>,
}

impl From<staffing::StaffingRisk> for StaffingRisk {
    fn from(r: staffing::StaffingRisk) -> StaffingRisk {
        let expiring = r.kind == "certification-expiring";
        StaffingRisk {
            id: ID(r.id),
            project_id: ID(r.project_id),
            kind: r.kind,
            employee_id: non_empty(r.employee_id).map(ID),
            skill: non_empty(r.skill),
            reason: r.reason,
            peak_percent: non_empty(r.peak_percent),
            first_week: non_empty(r.first_week),
            last_week: non_empty(r.last_week),
            expires_on: non_empty(r.expires_on),
            needed_until: non_empty(r.needed_until),
            days_uncovered: expiring.then_some(r.days_uncovered),
            status: r.status,
            model_version: r.model_version,
            policy_version: r.policy_version,
            created_at: rfc3339(r.created_at),
            decided_by: non_empty(r.decided_by),
            decided_at: rfc3339(r.decided_at),
            note: non_empty(r.note),
            resolution: non_empty(r.resolution),
        }
    }
}
