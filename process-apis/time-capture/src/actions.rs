//! What people do to their time through time capture: a consultant records and submits their
//! own entries, a project manager approves or rejects the entries of the projects they manage.
//! PSA keeps the entries; time capture checks who may act and the time rules first, and runs
//! each action once per idempotency key (its answer stored in time capture's store, so a
//! replay answers the same entry even after it moved on).
//!
//! Approval in steps: the policy's [`ApprovalChain`](crate::policy::ApprovalChain) may ask a
//! second approval of an entry after its project manager's. Each step given is kept in time
//! capture's store ([`approvals`]) and audited (`approval_step_given`); only the last step
//! approves the entry in PSA, so only then is it posted. The same person never gives two
//! steps; a rejection at any step returns the entry to its person with the reason.
//!
//! Segregation of duties: nobody decides their own time. Time capture refuses it before PSA
//! would, and appends the refusal to its audit log (`self_approval_refused`).

use keel_auth::{Identity, Role};
use keel_core::Error;
use keel_core::validate::Violations;
use keel_proto::psa::{
    ApproveTimeEntryRequest, RecordTimeEntriesRequest, RecordTimeEntryRequest, RejectTimeEntryRequest,
    SubmitTimeEntriesRequest, SubmitTimeEntriesResponse, TimeEntry, TimeEntryState, WorkEntry,
};
use keel_proto::timecapture::{RecordTimeRequest, RecordTimesheetRequest, SubmitTimeRequest, SubmitTimeResponse};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency;
use sea_orm::EntityTrait;
use serde_json::json;
use std::collections::HashSet;

use crate::approvals;
use crate::clients::Downstream;
use crate::rules::{ProposedEntry, ValidationFailure};
use crate::service::{TimeCaptureGrpcService, parse_proposed, parse_proposed_at};

/// Who may record and submit time (their own).
pub(crate) const RECORD_ROLES: &[Role] = &[Role::Consultant];
/// Who may approve or reject time: on the projects they manage, or at a later step of the
/// approval chain where their assignment on the project says so.
pub(crate) const DECIDE_ROLES: &[Role] = &[Role::ProjectManager, Role::Finance];
/// Entry ids one `SubmitTime` may carry.
pub const MAX_SUBMIT: usize = 100;
/// Lines one `RecordTimesheet` may carry.
pub const MAX_SHEET: usize = 100;
/// The idempotency scope of `RecordTime`.
const RECORD_SCOPE: &str = "timecapture.record_time";
/// The idempotency scope of `RecordTimesheet`.
const SHEET_SCOPE: &str = "timecapture.record_timesheet";
/// The record type of time entries in time capture's audit log.
pub const AUDIT_RECORD_TYPE: &str = "psa.time_entry";

/// What part of a project's approval chain a person holds there.
struct ProjectRoles {
    /// A project-manager assignment: the first step.
    manages: bool,
    /// A second-step assignment (finance partner, engagement lead, as the policy names).
    second_step: bool,
}

/// Whether to approve, or reject with a reason.
pub(crate) enum Decision {
    Approve,
    Reject { reason: String },
}

/// Whether `key` already has a stored answer in `scope` (or a claim of another request).
async fn answered(service: &TimeCaptureGrpcService, scope: &str, key: &str) -> Result<bool, Error> {
    Ok(
        idempotency::entity::Entity::find_by_id((scope.to_string(), key.to_string()))
            .one(service.engine.db())
            .await
            .map_err(keel_store::db_error)?
            .is_some(),
    )
}

fn key(v: &mut Violations, key: &str) -> String {
    v.idempotency_key(key)
}

/// The caller's employee id: their token's subject, which must be a PSA employee id (a UUID).
fn employee_id(caller: &Identity, field: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(&caller.subject)
        .map(|id| id.to_string())
        .map_err(|_| Error::invalid(field, "the caller is not a person with an employee id"))
}

impl TimeCaptureGrpcService {
    /// `RecordTime`: the rules, then PSA's RecordTimeEntry as time capture.
    pub(crate) async fn record_time(&self, caller: &Identity, request: RecordTimeRequest) -> Result<TimeEntry, Error> {
        let mut v = Violations::new();
        let idempotency_key = key(&mut v, &request.idempotency_key);
        let task = v.optional_text("task", &request.task);
        let mut proposed = request.entry.clone().unwrap_or_default();
        if proposed.employee_id.trim().is_empty() {
            proposed.employee_id = caller.subject.clone();
        }
        v.finish()?;
        let entry = parse_proposed(Some(&proposed))?;
        if entry.employee_id != caller.subject && !caller.has_any(&[]) {
            return Err(Error::Forbidden(format!(
                "{} may record only their own time, not employee {}'s",
                caller.subject, entry.employee_id
            )));
        }
        // The rules first, before the key is claimed: they read PSA over gRPC, and the claim
        // holds time capture's write transaction (on SQLite the store's one write lock, which
        // the posting workflow shares) until the change commits. A key already answered skips
        // them: its stored answer, or the refusal of another request under it, comes back.
        if !answered(self, RECORD_SCOPE, &idempotency_key).await? {
            let failures = self.validate(&entry).await?;
            refuse_broken_rules(failures.into_iter().map(|f| ("entry.".to_string(), f)))?;
        }
        let service = self.clone();
        let psa_key = format!("time-capture-record-{idempotency_key}");
        idempotency::run_once(
            self.engine.db(),
            RECORD_SCOPE,
            &idempotency_key,
            &request,
            move |_txn| {
                Box::pin(async move {
                    service
                        .downstream
                        .record_time_entry(RecordTimeEntryRequest {
                            idempotency_key: psa_key,
                            project_id: entry.project_id.clone(),
                            employee_id: entry.employee_id.clone(),
                            task,
                            date: entry.date.to_string(),
                            hours: entry.hours.normalize().to_string(),
                            narrative: entry.narrative.clone(),
                            billable: entry.billable,
                        })
                        .await
                })
            },
        )
        .await
    }

    /// `RecordTimesheet`: every line through the rules with the sheet's other lines counted,
    /// then PSA's RecordTimeEntries as time capture (all or none), then, if asked, PSA's
    /// SubmitTimeEntries of what it recorded.
    pub(crate) async fn record_timesheet(
        &self,
        caller: &Identity,
        request: RecordTimesheetRequest,
    ) -> Result<Vec<TimeEntry>, Error> {
        let mut v = Violations::new();
        let idempotency_key = key(&mut v, &request.idempotency_key);
        if request.lines.is_empty() {
            v.add("lines", "must hold at least one entry");
        } else if request.lines.len() > MAX_SHEET {
            v.add(
                "lines",
                format!("may hold at most {MAX_SHEET} entries, not {}", request.lines.len()),
            );
        }
        let mut sheet = Vec::with_capacity(request.lines.len());
        let mut tasks = Vec::with_capacity(request.lines.len());
        for (i, line) in request.lines.iter().enumerate() {
            tasks.push(v.optional_text(&format!("lines[{i}].task"), &line.task));
            let mut proposed = line.entry.clone().unwrap_or_default();
            if proposed.employee_id.trim().is_empty() {
                proposed.employee_id = caller.subject.clone();
            }
            if !proposed.id.trim().is_empty() {
                v.add(
                    format!("lines[{i}].entry.id"),
                    "must be empty: a timesheet records new entries",
                );
            }
            match parse_proposed_at(Some(&proposed), &format!("lines[{i}].entry.")) {
                Ok(entry) => sheet.push(entry),
                Err(Error::InvalidInput(violations)) => v.extend(violations),
                Err(other) => return Err(other),
            }
        }
        v.finish()?;
        let person = sheet
            .first()
            .map(|e| e.employee_id.clone())
            .ok_or_else(|| Error::invalid("lines", "must hold at least one entry"))?;
        if let Some(i) = sheet.iter().position(|e| e.employee_id != person) {
            return Err(Error::invalid(
                format!("lines[{i}].entry.employee_id"),
                format!(
                    "is {}, but lines[0] is {person}'s: a timesheet is one person's",
                    sheet[i].employee_id
                ),
            ));
        }
        if person != caller.subject && !caller.has_any(&[]) {
            return Err(Error::Forbidden(format!(
                "{} may record only their own time, not employee {person}'s",
                caller.subject
            )));
        }
        // The rules first, as for RecordTime: before the key is claimed, unless it is answered.
        if !answered(self, SHEET_SCOPE, &idempotency_key).await? {
            let failures = self.validate_sheet(&sheet).await?;
            refuse_broken_rules(failures.into_iter().map(|(i, f)| (format!("lines[{i}].entry."), f)))?;
        }
        let downstream = self.downstream.clone();
        let psa_key = format!("time-capture-sheet-{idempotency_key}");
        let submit = request.submit;
        let response: SubmitTimeResponse =
            idempotency::run_once(self.engine.db(), SHEET_SCOPE, &idempotency_key, &request, move |_txn| {
                Box::pin(async move {
                    let entries = record_sheet(&downstream, &psa_key, &sheet, &tasks).await?;
                    if !submit {
                        return Ok(SubmitTimeResponse { entries });
                    }
                    let submitted = downstream
                        .submit_time_entries(SubmitTimeEntriesRequest {
                            idempotency_key: format!("{psa_key}-submit"),
                            ids: entries.into_iter().map(|e| e.id).collect(),
                        })
                        .await?;
                    Ok(SubmitTimeResponse {
                        entries: submitted.entries,
                    })
                })
            })
            .await?;
        Ok(response.entries)
    }

    /// `SubmitTime`: the caller's own entries, submitted together in PSA.
    pub(crate) async fn submit_time(
        &self,
        caller: &Identity,
        request: SubmitTimeRequest,
    ) -> Result<Vec<TimeEntry>, Error> {
        let mut v = Violations::new();
        let idempotency_key = key(&mut v, &request.idempotency_key);
        if request.time_entry_ids.is_empty() {
            v.add("time_entry_ids", "is required");
        }
        if request.time_entry_ids.len() > MAX_SUBMIT {
            v.add("time_entry_ids", format!("at most {MAX_SUBMIT} a request"));
        }
        let ids: Vec<String> = request
            .time_entry_ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| v.uuid(&format!("time_entry_ids[{i}]"), id).map(|u| u.to_string()))
            .collect();
        v.finish()?;
        if !caller.has_any(&[]) {
            self.check_own(&employee_id(caller, "time_entry_ids")?, &ids).await?;
        }
        let downstream = self.downstream.clone();
        let psa_key = format!("time-capture-submit-{idempotency_key}");
        let response: SubmitTimeEntriesResponse = idempotency::run_once(
            self.engine.db(),
            "timecapture.submit_time",
            &idempotency_key,
            &request,
            move |_txn| {
                Box::pin(async move {
                    downstream
                        .submit_time_entries(SubmitTimeEntriesRequest {
                            idempotency_key: psa_key,
                            ids,
                        })
                        .await
                })
            },
        )
        .await?;
        Ok(response.entries)
    }

    /// Refuses, naming the first, an id that is not one of `person`'s entries. The person's
    /// drafts (what a submission submits) come in one read filtered by state; an id not among
    /// them (a replay after the submission went through, or an entry PSA will refuse as not
    /// in draft) is read on its own. Neither read grows with the person's history of
    /// submitted and posted time.
    async fn check_own(&self, person: &str, ids: &[String]) -> Result<(), Error> {
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let drafts: HashSet<String> = self
            .downstream
            .time_entries_of(person, Some(TimeEntryState::Draft), None, |e| {
                wanted.contains(e.id.as_str())
            })
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect();
        for (i, id) in ids.iter().enumerate() {
            if drafts.contains(id) {
                continue;
            }
            let own = match self.downstream.get_time_entry(id).await {
                Ok(entry) => entry.employee_id == person,
                Err(Error::NotFound(_)) => false,
                Err(other) => return Err(other),
            };
            if !own {
                return Err(Error::invalid(
                    format!("time_entry_ids[{i}]"),
                    "is not one of the caller's time entries",
                ));
            }
        }
        Ok(())
    }

    /// `ApproveTime` and `RejectTime`: who may decide checked, then PSA's decision as time
    /// capture, the caller its approver.
    pub(crate) async fn decide_time(
        &self,
        caller: &Identity,
        idempotency_key: &str,
        time_entry_id: &str,
        decision: Decision,
        fingerprint: &impl prost::Message,
    ) -> Result<TimeEntry, Error> {
        let mut v = Violations::new();
        let idempotency_key = key(&mut v, idempotency_key);
        let id = v.uuid("time_entry_id", time_entry_id).map(|u| u.to_string());
        if let Decision::Reject { reason } = &decision
            && reason.trim().is_empty()
        {
            v.add("reason", "is required: say what the person should change");
        }
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("time_entry_id", "is required"))?;
        let approver = employee_id(caller, "time_entry_id")?;
        let entry = self.downstream.get_time_entry(&id).await?;
        let (scope, verb) = match decision {
            Decision::Approve => ("timecapture.approve_time", "approve"),
            Decision::Reject { .. } => ("timecapture.reject_time", "reject"),
        };
        if entry.employee_id == approver {
            self.refuse_self_approval(caller, &entry, verb).await?;
            return Err(Error::Forbidden(format!(
                "time entry {id} is {}'s own time: nobody may {verb} their own time; a manager of the project must",
                caller.subject
            )));
        }
        let hours: rust_decimal::Decimal = entry.hours.trim().parse().unwrap_or_default();
        let steps_required = self.policy.approval.steps_for(hours);
        let admin = caller.has_any(&[]);
        // Who holds which part of the chain on the project, read before the change: the
        // chain's own progress is read again inside it.
        let roles = if admin {
            ProjectRoles {
                manages: true,
                second_step: true,
            }
        } else {
            self.project_roles(&approver, &entry.project_id).await?
        };
        let service = self.clone();
        let subject = caller.subject.clone();
        let psa_key = format!("time-capture-{verb}-{idempotency_key}");
        idempotency::run_once(self.engine.db(), scope, &idempotency_key, fingerprint, move |txn| {
            Box::pin(async move {
                let given = approvals::given(txn, &entry.id, entry.version).await?;
                let step = given.len() as u32 + 1;
                if steps_required > 1 && entry.state != TimeEntryState::Submitted as i32 {
                    return Err(Error::FailedPrecondition(format!(
                        "time entry {} is not submitted, so there is nothing to {verb}",
                        entry.id
                    )));
                }
                if let Some(earlier) = given.iter().find(|g| g.approver_id == approver) {
                    return Err(Error::Forbidden(format!(
                        "{subject} already approved step {} of time entry {}: step {step} needs a different person",
                        earlier.step, entry.id
                    )));
                }
                let allowed = if step == 1 {
                    roles.manages
                } else {
                    roles.second_step || (matches!(decision, Decision::Reject { .. }) && roles.manages)
                };
                if !allowed {
                    if step == 1 {
                        return Err(Error::Forbidden(format!(
                            "{subject} does not manage project {}, so may not {verb} its time",
                            entry.project_id
                        )));
                    }
                    let who = {
                        format!(
                            "a person assigned to the project as {}",
                            service.policy.approval.second_step_assignment_roles.join(" or ")
                        )
                    };
                    return Err(Error::Forbidden(format!(
                        "{subject} may not {verb} step {step} of time entry {} on project {}: {who} must",
                        entry.id, entry.project_id
                    )));
                }
                let steps_required = steps_required.max(step);
                match decision {
                    Decision::Approve => {
                        let approval = approvals::StepApproval {
                            step,
                            steps_required,
                            approver_id: approver.clone(),
                            approved_at: chrono::Utc::now(),
                        };
                        approvals::record(txn, &entry.id, entry.version, &approval).await?;
                        audit::append(
                            txn,
                            AuditEntry {
                                actor: &subject,
                                record_type: AUDIT_RECORD_TYPE,
                                record_id: &entry.id,
                                action: "approval_step_given",
                                detail: json!({
                                    "step": step,
                                    "steps_required": steps_required,
                                    "approver_id": approver,
                                    "project_id": entry.project_id,
                                    "entry_version": entry.version,
                                }),
                            },
                        )
                        .await?;
                        if step < steps_required {
                            // Awaiting the next step: PSA keeps the entry submitted.
                            return Ok(entry);
                        }
                        service
                            .downstream
                            .approve_time_entry(ApproveTimeEntryRequest {
                                idempotency_key: psa_key,
                                id: entry.id.clone(),
                                approver_id: approver,
                                expected_version: entry.version,
                            })
                            .await
                    }
                    Decision::Reject { reason } => {
                        if steps_required > 1 {
                            audit::append(
                                txn,
                                AuditEntry {
                                    actor: &subject,
                                    record_type: AUDIT_RECORD_TYPE,
                                    record_id: &entry.id,
                                    action: "approval_step_rejected",
                                    detail: json!({
                                        "step": step,
                                        "steps_required": steps_required,
                                        "approver_id": approver,
                                        "project_id": entry.project_id,
                                        "entry_version": entry.version,
                                        "reason": reason.trim(),
                                    }),
                                },
                            )
                            .await?;
                        }
                        service
                            .downstream
                            .reject_time_entry(RejectTimeEntryRequest {
                                idempotency_key: psa_key,
                                id: entry.id.clone(),
                                approver_id: approver,
                                reason: reason.trim().to_string(),
                                expected_version: entry.version,
                            })
                            .await
                    }
                }
            })
        })
        .await
    }

    /// The parts of the approval chain `employee_id` holds on `project_id`, from their PSA
    /// assignments.
    async fn project_roles(&self, employee_id: &str, project_id: &str) -> Result<ProjectRoles, Error> {
        let assignments = self.downstream.assignments_of(employee_id).await?;
        let on_project = || assignments.iter().filter(|a| a.project_id == project_id);
        Ok(ProjectRoles {
            manages: on_project().any(|a| self.policy.manages(&a.role)),
            second_step: on_project().any(|a| self.policy.approval.approves_second_step(&a.role)),
        })
    }

    /// Appends a refused self-approval to the audit log, in a transaction of its own.
    async fn refuse_self_approval(&self, caller: &Identity, entry: &TimeEntry, verb: &str) -> Result<(), Error> {
        let txn = keel_store::begin_write(self.engine.db()).await?;
        audit::append(
            &txn,
            AuditEntry {
                actor: &caller.subject,
                record_type: AUDIT_RECORD_TYPE,
                record_id: &entry.id,
                action: "self_approval_refused",
                detail: json!({ "decision": verb, "project_id": entry.project_id, "employee_id": entry.employee_id }),
            },
        )
        .await?;
        txn.commit().await.map_err(keel_store::db_error)
    }
}

/// `Err` naming each broken rule's field (after its prefix, `entry.` or `lines[2].entry.`) with
/// its code and message; `Ok` when no rule is broken.
fn refuse_broken_rules(failures: impl IntoIterator<Item = (String, ValidationFailure)>) -> Result<(), Error> {
    let mut refused = Violations::new();
    for (prefix, failure) in failures {
        refused.add(
            format!("{prefix}{}", failure.field),
            format!("{}: {}", failure.code, failure.message),
        );
    }
    refused.finish()
}

/// Records a checked sheet in PSA: in one `RecordTimeEntries`, all or none; from a PSA without
/// that call, one `RecordTimeEntry` a line, each under a key of its own made from the sheet's,
/// so a sheet cut off part way and retried with its key records each line once.
async fn record_sheet(
    downstream: &Downstream,
    psa_key: &str,
    sheet: &[ProposedEntry],
    tasks: &[String],
) -> Result<Vec<TimeEntry>, Error> {
    let lines: Vec<WorkEntry> = sheet
        .iter()
        .zip(tasks)
        .map(|(entry, task)| WorkEntry {
            project_id: entry.project_id.clone(),
            employee_id: entry.employee_id.clone(),
            task: task.clone(),
            date: entry.date.to_string(),
            hours: entry.hours.normalize().to_string(),
            narrative: entry.narrative.clone(),
            billable: entry.billable,
        })
        .collect();
    let whole = downstream
        .record_time_entries(RecordTimeEntriesRequest {
            idempotency_key: psa_key.to_string(),
            entries: lines.clone(),
        })
        .await;
    match whole {
        Err(Error::NotSupported(_)) => {}
        answer => return answer,
    }
    let mut entries = Vec::with_capacity(lines.len());
    for (i, line) in lines.into_iter().enumerate() {
        let entry = downstream
            .record_time_entry(RecordTimeEntryRequest {
                idempotency_key: format!("{psa_key}-{i}"),
                project_id: line.project_id,
                employee_id: line.employee_id,
                task: line.task,
                date: line.date,
                hours: line.hours,
                narrative: line.narrative,
                billable: line.billable,
            })
            .await?;
        entries.push(entry);
    }
    Ok(entries)
}
