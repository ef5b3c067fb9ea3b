//! The consultant's actions, through the time-capture process API: record their own time (the
//! firm's time rules checked first, each broken rule named by its argument) and submit it for
//! approval. The person is always the caller: no action takes an employee id.
//!
//! Every action takes an optional `idempotencyKey`; without one the key is derived from the
//! caller and the arguments, so a retried action is the same action.

use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_experience_common::actions::{idempotency_key, rename_fields};
use keel_proto::timecapture::{ProposedTimeEntry, RecordTimeRequest, SubmitTimeRequest};

use crate::model::TimeEntry;
use crate::view::ConsultantView;
use crate::{ALLOWED_ROLES, Backends};

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
