//! The consultant's actions, through the time-capture process API: record their own time (the
//! firm's time rules checked first, each broken rule named by its argument) and submit it for
//! approval. The person is always the caller: no action takes an employee id.
//!
//! Every action takes an optional `idempotencyKey`; without one the key is derived from the
//! caller and the arguments, so a retried action is the same action.

use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, Result};
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_experience_common::actions::{idempotency_key, rename_fields};
use keel_proto::timecapture::{
    ProposedTimeEntry, RecordTimeRequest, RecordTimesheetRequest, SubmitTimeRequest, TimesheetLine,
};

use crate::model::TimeEntry;
use crate::view::ConsultantView;
use crate::{ALLOWED_ROLES, Backends};

/// One line of a timesheet: what `recordTime` takes, for one day's work.
#[derive(Debug, Clone, InputObject)]
pub struct TimesheetLineInput {
    pub project_id: ID,
    /// `YYYY-MM-DD`
    pub date: String,
    /// A decimal string, above 0 and at most 24
    pub hours: String,
    pub narrative: String,
    #[graphql(default = true)]
    pub billable: bool,
    pub task: Option<String>,
    /// The rate-card role the time is billed at; default: the assignment's
    pub labor_category: Option<String>,
}

/// The consultant's mutations. Open to consultants (admin too).
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsultantMutation;

#[Object]
impl ConsultantMutation {
    /// Records the caller's time on a project as a draft, once it passes the firm's time rules
    /// (assignment, labor category, overtime, narrative, date, closed period, duplicate): a
    /// broken rule is `BAD_USER_INPUT` naming the argument at fault, and records nothing.
    #[allow(clippy::too_many_arguments)] // one argument per field of the entry
    async fn record_time(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        #[graphql(desc = "`YYYY-MM-DD`")] date: String,
        #[graphql(desc = "A decimal string, above 0 and at most 24")] hours: String,
        narrative: String,
        #[graphql(default = true)] billable: bool,
        task: Option<String>,
        #[graphql(desc = "The rate-card role the time is billed at; default: the assignment's")] labor_category: Option<
            String,
        >,
        idempotency_key: Option<String>,
    ) -> Result<TimeEntry> {
        let (downstream, backends) = open(ctx)?;
        let task = task.unwrap_or_default();
        let labor_category = labor_category.unwrap_or_default();
        let key = idempotency_key_of(
            &downstream,
            idempotency_key,
            "recordTime",
            &[
                &project_id,
                &date,
                &hours,
                &narrative,
                if billable { "billable" } else { "not billable" },
                &task,
                &labor_category,
            ],
        );
        let request = downstream
            .request(RecordTimeRequest {
                idempotency_key: key,
                entry: Some(ProposedTimeEntry {
                    id: String::new(),
                    project_id: project_id.to_string(),
                    employee_id: downstream.subject().to_string(),
                    date,
                    hours,
                    narrative,
                    billable,
                    labor_category,
                }),
                task,
            })
            .map_err(|e| e.extend())?;
        let entry = downstream
            .call(
                "TimeCapture RecordTime",
                backends.time_capture.clone().record_time(request),
            )
            .await
            .map_err(|e| arguments(e).extend())?;
        let names = ConsultantView::default();
        let names = names.project_names(&downstream, backends).await?;
        Ok(TimeEntry::new(entry, names))
    }

    /// Records the caller's timesheet, up to 100 lines, all or none: each line passes the rules
    /// `recordTime` applies with the sheet's other lines counted (its days' and week's hours,
    /// its duplicates), or the sheet is `BAD_USER_INPUT` naming each line at fault
    /// (`lines[2].hours`) and records nothing. With `submit`, the entries are submitted for
    /// approval in the same call.
    async fn record_timesheet(
        &self,
        ctx: &Context<'_>,
        lines: Vec<TimesheetLineInput>,
        #[graphql(default = false)] submit: bool,
        idempotency_key: Option<String>,
    ) -> Result<Vec<TimeEntry>> {
        let (downstream, backends) = open(ctx)?;
        let mut arguments: Vec<String> = Vec::with_capacity(lines.len() * 7 + 1);
        for line in &lines {
            arguments.extend([
                line.project_id.to_string(),
                line.date.clone(),
                line.hours.clone(),
                line.narrative.clone(),
                if line.billable { "billable" } else { "not billable" }.to_string(),
                line.task.clone().unwrap_or_default(),
                line.labor_category.clone().unwrap_or_default(),
            ]);
        }
        arguments.push(if submit { "submit" } else { "draft" }.to_string());
        let argument_refs: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let key = idempotency_key_of(&downstream, idempotency_key, "recordTimesheet", &argument_refs);
        let subject = downstream.subject().to_string();
        let request = downstream
            .request(RecordTimesheetRequest {
                idempotency_key: key,
                lines: lines
                    .into_iter()
                    .map(|line| TimesheetLine {
                        entry: Some(ProposedTimeEntry {
                            id: String::new(),
                            project_id: line.project_id.to_string(),
                            employee_id: subject.clone(),
                            date: line.date,
                            hours: line.hours,
                            narrative: line.narrative,
                            billable: line.billable,
                            labor_category: line.labor_category.unwrap_or_default(),
                        }),
                        task: line.task.unwrap_or_default(),
                    })
                    .collect(),
                submit,
            })
            .map_err(|e| e.extend())?;
        let recorded = downstream
            .call(
                "TimeCapture RecordTimesheet",
                backends.time_capture.clone().record_timesheet(request),
            )
            .await
            .map_err(|e| sheet_arguments(e).extend())?;
        let names = ConsultantView::default();
        let names = names.project_names(&downstream, backends).await?;
        Ok(recorded.entries.into_iter().map(|e| TimeEntry::new(e, names)).collect())
    }

    /// Submits the caller's draft entries for their project manager's approval, all or none.
    async fn submit_time(
        &self,
        ctx: &Context<'_>,
        time_entry_ids: Vec<ID>,
        idempotency_key: Option<String>,
    ) -> Result<Vec<TimeEntry>> {
        let (downstream, backends) = open(ctx)?;
        let ids: Vec<String> = time_entry_ids.into_iter().map(|id| id.0).collect();
        let joined = ids.join(",");
        let key = idempotency_key_of(&downstream, idempotency_key, "submitTime", &[&joined]);
        let request = downstream
            .request(SubmitTimeRequest {
                idempotency_key: key,
                time_entry_ids: ids,
            })
            .map_err(|e| e.extend())?;
        let submitted = downstream
            .call(
                "TimeCapture SubmitTime",
                backends.time_capture.clone().submit_time(request),
            )
            .await
            .map_err(|e| arguments(e).extend())?;
        let names = ConsultantView::default();
        let names = names.project_names(&downstream, backends).await?;
        Ok(submitted
            .entries
            .into_iter()
            .map(|e| TimeEntry::new(e, names))
            .collect())
    }
}

fn open<'a>(ctx: &Context<'a>) -> Result<(Downstream, &'a Backends)> {
    let backends = ctx
        .data_opt::<Backends>()
        .ok_or_else(|| Error::internal("the consultant view was mounted without its backends").extend())?;
    let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout).map_err(|e| e.extend())?;
    Ok((downstream, backends))
}

fn idempotency_key_of(downstream: &Downstream, client: Option<String>, mutation: &str, arguments: &[&str]) -> String {
    idempotency_key(client, downstream.subject(), mutation, arguments)
}

/// Time capture's request fields, named as this view's arguments (`time_entry_ids[2]` becomes
/// `timeEntryIds[2]`).
fn arguments(error: Error) -> Error {
    let error = rename_fields(
        error,
        &[
            ("idempotency_key", "idempotencyKey"),
            ("entry.project_id", "projectId"),
            ("entry.date", "date"),
            ("entry.hours", "hours"),
            ("entry.narrative", "narrative"),
            ("entry.labor_category", "laborCategory"),
            ("task", "task"),
            ("time_entry_ids", "timeEntryIds"),
        ],
    );
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                if let Some(index) = violation.field.strip_prefix("time_entry_ids") {
                    violation.field = format!("timeEntryIds{index}");
                }
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

/// Time capture's timesheet fields, named as this mutation's arguments
/// (`lines[2].entry.hours` becomes `lines[2].hours`).
fn sheet_arguments(error: Error) -> Error {
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                if violation.field == "idempotency_key" {
                    violation.field = "idempotencyKey".into();
                    continue;
                }
                let Some((line, field)) = violation.field.split_once("].") else {
                    continue;
                };
                let renamed = match field {
                    "entry.project_id" => "projectId",
                    "entry.date" => "date",
                    "entry.hours" => "hours",
                    "entry.narrative" => "narrative",
                    "entry.labor_category" => "laborCategory",
                    "task" => "task",
                    _ => continue,
                };
                violation.field = format!("{line}].{renamed}");
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::error::FieldViolation;

    #[test]
    fn a_timesheet_s_fields_are_named_as_its_arguments() {
        let error = Error::InvalidInput(vec![
            FieldViolation::new("lines[2].entry.hours", "must be above 0 and at most 24"),
            FieldViolation::new("lines[0].entry.project_id", "NOT_ASSIGNED: no assignment"),
            FieldViolation::new("lines[11].entry.labor_category", "LABOR_CATEGORY_NOT_ALLOWED: no"),
            FieldViolation::new("lines[1].task", "is too long"),
            FieldViolation::new("idempotency_key", "is too long"),
            FieldViolation::new("lines", "must hold at least one entry"),
        ]);
        let fields: Vec<String> = sheet_arguments(error)
            .field_violations()
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(
            fields,
            [
                "lines[2].hours",
                "lines[0].projectId",
                "lines[11].laborCategory",
                "lines[1].task",
                "idempotencyKey",
                "lines"
            ]
        );
    }
}
