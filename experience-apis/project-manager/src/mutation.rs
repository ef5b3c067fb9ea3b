//! The project manager's actions, each through a process API: approve or reject time on the
//! projects they manage (time capture, which checks the caller manages the project and never
//! decides their own time), and acknowledge a health alert (delivery health).
//!
//! Every action takes an optional `idempotencyKey`; without one the key is derived from the
//! caller and the arguments, so a retried action is the same action.

use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use keel_core::Error;
use keel_experience_common::actions::{idempotency_key, rename_fields};
use keel_proto::health::AcknowledgeAlertRequest;
use keel_proto::timecapture::{ApproveTimeRequest, RejectTimeRequest};

use crate::downstream::Calls;
use crate::model::{Alert, DecidedTimeEntry};

/// The project manager's mutations. Open to project managers (admin too).
#[derive(Debug, Default, Clone, Copy)]
pub struct ProjectManagerMutation;

#[Object]
impl ProjectManagerMutation {
    /// Approves a submitted time entry on a project the caller manages; time capture then posts
    /// it to ERP. Nobody approves their own time: that is refused (`FORBIDDEN`) and audited.
    async fn approve_time(
        &self,
        ctx: &Context<'_>,
        time_entry_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<DecidedTimeEntry> {
        let calls = Calls::for_action(ctx).map_err(|e| e.extend())?;
        let key = idempotency_key_of(&calls, idempotency_key, "approveTime", &[&time_entry_id]);
        let request = ApproveTimeRequest {
            idempotency_key: key,
            time_entry_id: time_entry_id.to_string(),
        };
        calls
            .approve_time(request)
            .await
            .map(DecidedTimeEntry::from)
            .map_err(|e| arguments(e).extend())
    }

    /// Rejects a submitted time entry on a project the caller manages, with the `reason` the
    /// person sees on their entry. The same rules as `approveTime`.
    async fn reject_time(
        &self,
        ctx: &Context<'_>,
        time_entry_id: ID,
        reason: String,
        idempotency_key: Option<String>,
    ) -> Result<DecidedTimeEntry> {
        let calls = Calls::for_action(ctx).map_err(|e| e.extend())?;
        let key = idempotency_key_of(&calls, idempotency_key, "rejectTime", &[&time_entry_id, &reason]);
        let request = RejectTimeRequest {
            idempotency_key: key,
            time_entry_id: time_entry_id.to_string(),
            reason,
        };
        calls
            .reject_time(request)
            .await
            .map(DecidedTimeEntry::from)
            .map_err(|e| arguments(e).extend())
    }

    /// Marks a health alert acknowledged by the caller: it is no longer open, and stays the
    /// project's alert of its kind until the condition clears.
    async fn acknowledge_alert(
        &self,
        ctx: &Context<'_>,
        alert_id: ID,
        idempotency_key: Option<String>,
    ) -> Result<Alert> {
        let calls = Calls::for_action(ctx).map_err(|e| e.extend())?;
        let key = idempotency_key_of(&calls, idempotency_key, "acknowledgeAlert", &[&alert_id]);
        let request = AcknowledgeAlertRequest {
            idempotency_key: key,
            alert_id: alert_id.to_string(),
        };
        calls
            .acknowledge_alert(request)
            .await
            .map(Alert::from)
            .map_err(|e| arguments(e).extend())
    }
}

fn idempotency_key_of(calls: &Calls, client: Option<String>, mutation: &str, arguments: &[&str]) -> String {
    idempotency_key(client, calls.subject(), mutation, arguments)
}

/// The process APIs' request fields, named as this view's arguments.
fn arguments(error: Error) -> Error {
    rename_fields(
        error,
        &[
            ("idempotency_key", "idempotencyKey"),
            ("time_entry_id", "timeEntryId"),
            ("alert_id", "alertId"),
        ],
    )
}
