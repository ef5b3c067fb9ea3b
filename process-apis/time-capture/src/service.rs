//! The gRPC service `keel.timecapture.v1.TimeCaptureService`: authorize, parse the request
//! once, then validate against PSA's records, start postings, or show one.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use keel_auth::Role;
use keel_core::Error;
use keel_core::validate::Violations;
use keel_proto::psa::TimeEntry;
use keel_proto::psa::{AssignmentState, TimeEntryState};
use keel_proto::timecapture::time_capture_service_server::{TimeCaptureService, TimeCaptureServiceServer};
use keel_proto::timecapture::{
    AcceptedPosting, ApproveTimeRequest, GetPostingRequest, PostApprovedTimeRequest, PostApprovedTimeResponse, Posting,
    ProposedTimeEntry, RecordTimeRequest, RecordTimesheetRequest, RejectTimeRequest, SubmitTimeRequest,
    SubmitTimeResponse, ValidateTimeEntryRequest, ValidateTimeEntryResponse,
};
use keel_workflow::{Engine, InstanceView};
use rust_decimal::Decimal;
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::actions::{DECIDE_ROLES, Decision, RECORD_ROLES};
use crate::clients::Downstream;
use crate::policy::TimePolicy;
use crate::rules::{self, AssignmentWindow, OtherEntry, ProposedEntry, RuleContext};
use crate::workflow::{KIND, POST_TO_ERP, TimePosting};

/// Who may validate a proposed entry (admin always passes).
const VALIDATE_ROLES: &[Role] = &[Role::Consultant, Role::ProjectManager, Role::Service];
/// Who may post approved time.
const POST_ROLES: &[Role] = &[Role::Service, Role::Finance, Role::Admin];
/// Who may read a posting.
const READ_ROLES: &[Role] = &[
    Role::Service,
    Role::Finance,
    Role::Operations,
    Role::ProjectManager,
    Role::Consultant,
];
/// Entry ids one `PostApprovedTime` may carry.
pub const MAX_ENTRIES_PER_REQUEST: usize = 1000;

/// The tonic service.
#[derive(Clone)]
pub struct TimeCaptureGrpcService {
    pub(crate) engine: Engine,
    pub(crate) downstream: Downstream,
    pub(crate) policy: Arc<TimePolicy>,
    today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
}

impl std::fmt::Debug for TimeCaptureGrpcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeCaptureGrpcService")
            .field("engine", &self.engine)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl TimeCaptureGrpcService {
    /// Validates with `policy` against today's UTC date.
    pub fn new(engine: Engine, downstream: Downstream, policy: TimePolicy) -> TimeCaptureGrpcService {
        TimeCaptureGrpcService {
            engine,
            downstream,
            policy: Arc::new(policy),
            today: Arc::new(|| Utc::now().date_naive()),
        }
    }

    /// The same with a fixed idea of today (tests).
    pub fn with_today(mut self, today: impl Fn() -> NaiveDate + Send + Sync + 'static) -> TimeCaptureGrpcService {
        self.today = Arc::new(today);
        self
    }

    pub fn into_server(self) -> TimeCaptureServiceServer<TimeCaptureGrpcService> {
        TimeCaptureServiceServer::new(self)
    }
}

/// The time-capture service ready to add to a tonic server.
pub fn server(
    engine: Engine,
    downstream: Downstream,
    policy: TimePolicy,
) -> TimeCaptureServiceServer<TimeCaptureGrpcService> {
    TimeCaptureGrpcService::new(engine, downstream, policy).into_server()
}

pub(crate) fn parse_proposed(entry: Option<&ProposedTimeEntry>) -> Result<ProposedEntry, Error> {
    parse_proposed_at(entry, "entry.")
}

/// [`parse_proposed`] with each field named after `prefix` (`lines[2].entry.` in a timesheet).
pub(crate) fn parse_proposed_at(entry: Option<&ProposedTimeEntry>, prefix: &str) -> Result<ProposedEntry, Error> {
    let default = ProposedTimeEntry::default();
    let entry = entry.unwrap_or(&default);
    let mut v = Violations::new();
    let field = |name: &str| format!("{prefix}{name}");
    let project_id = v.required_text(&field("project_id"), &entry.project_id);
    let employee_id = v.required_text(&field("employee_id"), &entry.employee_id);
    let date = v.date(&field("date"), &entry.date);
    let hours = v.non_negative_decimal(&field("hours"), &entry.hours);
    if let Some(h) = hours
        && (h.is_zero() || h > Decimal::from(24))
    {
        v.add(field("hours"), "must be above 0 and at most 24");
    }
    v.finish()?;
    let (Some(date), Some(hours)) = (date, hours) else {
        return Err(Error::invalid(prefix.trim_end_matches('.'), "is required"));
    };
    Ok(ProposedEntry {
        id: Some(entry.id.trim().to_string()).filter(|id| !id.is_empty()),
        project_id,
        employee_id,
        date,
        hours,
        narrative: entry.narrative.clone(),
        billable: entry.billable,
        labor_category: entry.labor_category.trim().to_string(),
    })
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

impl TimeCaptureGrpcService {
    pub(crate) async fn validate(&self, entry: &ProposedEntry) -> Result<Vec<rules::ValidationFailure>, Error> {
        // Only the week the rules read: the person's other entries of the entry's ISO week
        // (PSA filters by work date, so the read does not grow with the person's history).
        let (from, to) = rules::window(entry.date);
        let (assignments, others) = self.rule_inputs(&entry.employee_id, from, to).await?;
        let cx = RuleContext {
            policy: &self.policy,
            today: (self.today)(),
            assignments: &assignments,
            other_entries: &others,
        };
        Ok(rules::validate(entry, &cx))
    }

    /// Every rule each line of a timesheet breaks, with the line's place: each line is checked
    /// as [`Self::validate`] checks an entry, the sheet's other lines counted among the
    /// person's entries (their hours in the day's and the week's totals, a line that repeats
    /// another a duplicate). One read of PSA covers the weeks of every line.
    pub(crate) async fn validate_sheet(
        &self,
        sheet: &[ProposedEntry],
    ) -> Result<Vec<(usize, rules::ValidationFailure)>, Error> {
        let (Some(first), Some(from), Some(to)) = (
            sheet.first(),
            sheet.iter().map(|e| rules::window(e.date).0).min(),
            sheet.iter().map(|e| rules::window(e.date).1).max(),
        ) else {
            return Ok(Vec::new());
        };
        let (assignments, mut others) = self.rule_inputs(&first.employee_id, from, to).await?;
        let line_id = |i: usize| format!("lines[{i}]");
        others.extend(sheet.iter().enumerate().map(|(i, e)| OtherEntry {
            id: line_id(i),
            project_id: e.project_id.clone(),
            date: e.date,
            hours: e.hours,
            narrative: e.narrative.clone(),
        }));
        let cx = RuleContext {
            policy: &self.policy,
            today: (self.today)(),
            assignments: &assignments,
            other_entries: &others,
        };
        let mut failures = Vec::new();
        for (i, line) in sheet.iter().enumerate() {
            // The line under its place's id: not its own duplicate, nor its own hours twice.
            let line = ProposedEntry {
                id: Some(line_id(i)),
                ..line.clone()
            };
            failures.extend(rules::validate(&line, &cx).into_iter().map(|f| (i, f)));
        }
        Ok(failures)
    }

    /// What the rules read about `employee_id` for the work dates `from..=to`: their
    /// assignments, and their entries of those dates, rejected ones left out.
    async fn rule_inputs(
        &self,
        employee_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<AssignmentWindow>, Vec<OtherEntry>), Error> {
        let in_window = |e: &TimeEntry| {
            e.state != TimeEntryState::Rejected as i32 && parse_date(&e.date).is_some_and(|d| from <= d && d <= to)
        };
        let (assignments, entries) = tokio::try_join!(
            self.downstream.assignments_of(employee_id),
            self.downstream
                .time_entries_of(employee_id, None, Some((from, to)), in_window),
        )?;
        let assignments: Vec<AssignmentWindow> = assignments
            .into_iter()
            .filter_map(|a| {
                Some(AssignmentWindow {
                    start: parse_date(&a.start_date)?,
                    end: parse_date(&a.end_date),
                    active: a.state == AssignmentState::Active as i32,
                    labor_categories: [a.role, a.bill_role].into_iter().filter(|r| !r.is_empty()).collect(),
                    project_id: a.project_id,
                })
            })
            .collect();
        let others: Vec<OtherEntry> = entries
            .into_iter()
            .filter_map(|e| {
                Some(OtherEntry {
                    date: parse_date(&e.date)?,
                    hours: e.hours.parse().ok()?,
                    id: e.id,
                    project_id: e.project_id,
                    narrative: e.narrative,
                })
            })
            .collect();
        Ok((assignments, others))
    }
}

/// The gRPC view of an instance.
pub fn posting_view(view: &InstanceView) -> Posting {
    let erp = view.journal.iter().find(|s| s.step == POST_TO_ERP).map(|s| &s.result);
    let text = |key: &str| {
        erp.and_then(|r| r.get(key))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Posting {
        posting_id: view.id.to_string(),
        time_entry_id: view.business_key.clone(),
        status: view.status.as_str().to_ascii_uppercase(),
        step: view.step.clone().unwrap_or_default(),
        attempts: view.attempts,
        reason: view.reason.clone().unwrap_or_default(),
        last_error: view.last_error.clone().unwrap_or_default(),
        journal_reference: text("journal_reference"),
        project_code: text("project_code"),
        created_at: Some(keel_core::time::to_timestamp(view.created_at)),
        updated_at: Some(keel_core::time::to_timestamp(view.updated_at)),
    }
}

#[tonic::async_trait]
impl TimeCaptureService for TimeCaptureGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "ValidateTimeEntry"))]
    async fn validate_time_entry(
        &self,
        request: Request<ValidateTimeEntryRequest>,
    ) -> Result<Response<ValidateTimeEntryResponse>, Status> {
        keel_auth::authorize(&request, VALIDATE_ROLES)?;
        let entry = parse_proposed(request.get_ref().entry.as_ref())?;
        let failures = self.validate(&entry).await?;
        Ok(Response::new(ValidateTimeEntryResponse {
            valid: failures.is_empty(),
            failures: failures
                .into_iter()
                .map(|f| keel_proto::timecapture::ValidationFailure {
                    code: f.code.as_str().to_string(),
                    field: f.field.to_string(),
                    message: f.message,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "PostApprovedTime", entries))]
    async fn post_approved_time(
        &self,
        request: Request<PostApprovedTimeRequest>,
    ) -> Result<Response<PostApprovedTimeResponse>, Status> {
        let caller = keel_auth::authorize(&request, POST_ROLES)?;
        let ids = &request.get_ref().time_entry_ids;
        tracing::Span::current().record("entries", ids.len());
        let mut v = Violations::new();
        if ids.is_empty() {
            v.add("time_entry_ids", "is required");
        }
        if ids.len() > MAX_ENTRIES_PER_REQUEST {
            v.add("time_entry_ids", format!("at most {MAX_ENTRIES_PER_REQUEST} a request"));
        }
        let parsed: Vec<String> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| v.uuid(&format!("time_entry_ids[{i}]"), id).map(|u| u.to_string()))
            .collect();
        v.finish()?;
        let mut accepted = Vec::with_capacity(parsed.len());
        for id in parsed {
            let started = self
                .engine
                .start_once(KIND, &id, TimePosting::input(&id), json!({}), &caller.subject)
                .await?;
            accepted.push(AcceptedPosting {
                time_entry_id: id,
                posting_id: started.id.to_string(),
                created: started.created,
            });
        }
        Ok(Response::new(PostApprovedTimeResponse { accepted }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetPosting"))]
    async fn get_posting(&self, request: Request<GetPostingRequest>) -> Result<Response<Posting>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let mut v = Violations::new();
        let id = v.uuid("time_entry_id", &request.get_ref().time_entry_id);
        v.finish()?;
        let id = id
            .ok_or_else(|| Error::invalid("time_entry_id", "is required"))?
            .to_string();
        let view = self
            .engine
            .find(KIND, &id)
            .await?
            .ok_or_else(|| Error::not_found("posting of time entry", id.clone()))?;
        Ok(Response::new(posting_view(&view)))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecordTime"))]
    async fn record_time(&self, request: Request<RecordTimeRequest>) -> Result<Response<TimeEntry>, Status> {
        let caller = keel_auth::authorize(&request, RECORD_ROLES)?;
        Ok(Response::new(self.record_time(&caller, request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SubmitTime"))]
    async fn submit_time(&self, request: Request<SubmitTimeRequest>) -> Result<Response<SubmitTimeResponse>, Status> {
        let caller = keel_auth::authorize(&request, RECORD_ROLES)?;
        let entries = self.submit_time(&caller, request.into_inner()).await?;
        Ok(Response::new(SubmitTimeResponse { entries }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecordTimesheet", lines))]
    async fn record_timesheet(
        &self,
        request: Request<RecordTimesheetRequest>,
    ) -> Result<Response<SubmitTimeResponse>, Status> {
        let caller = keel_auth::authorize(&request, RECORD_ROLES)?;
        tracing::Span::current().record("lines", request.get_ref().lines.len());
        let entries = self.record_timesheet(&caller, request.into_inner()).await?;
        Ok(Response::new(SubmitTimeResponse { entries }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ApproveTime"))]
    async fn approve_time(&self, request: Request<ApproveTimeRequest>) -> Result<Response<TimeEntry>, Status> {
        let caller = keel_auth::authorize(&request, DECIDE_ROLES)?;
        let r = request.get_ref();
        let entry = self
            .decide_time(&caller, &r.idempotency_key, &r.time_entry_id, Decision::Approve, r)
            .await?;
        Ok(Response::new(entry))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RejectTime"))]
    async fn reject_time(&self, request: Request<RejectTimeRequest>) -> Result<Response<TimeEntry>, Status> {
        let caller = keel_auth::authorize(&request, DECIDE_ROLES)?;
        let r = request.get_ref();
        let decision = Decision::Reject {
            reason: r.reason.clone(),
        };
        let entry = self
            .decide_time(&caller, &r.idempotency_key, &r.time_entry_id, decision, r)
            .await?;
        Ok(Response::new(entry))
    }
}
