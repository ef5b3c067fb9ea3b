//! The project manager's actions, each through a process API: approve or reject time on the
//! projects they manage (time capture, which checks the caller manages the project and never
//! decides their own time), and acknowledge a health alert (delivery health).
//!
//! Every action takes an optional `idempotencyKey`; without one the key is derived from the
//! caller and the arguments, so a retried action is the same action.

use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use keel_core::Error;
use keel_experience_common::actions::{idempotency_key, rename_fields};
use keel_proto::changeorders::RaiseChangeRequestRequest;
use keel_proto::common::Money as ProtoMoney;
use keel_proto::health::{AcknowledgeAlertRequest, ReviewTimeAnomalyRequest};
use keel_proto::timecapture::{ApproveTimeRequest, RejectTimeRequest};

use crate::downstream::Calls;
use crate::intake::{self, TemplateRecommendation};
use crate::model::{Alert, AnomalyDecision, ChangeRequest, DecidedTimeEntry, TimeAnomaly};

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

    /// Raises a change to the baseline of a project the caller manages and submits it for
    /// approval (through the change-order process API); once approved, its change order moves
    /// scope, budget, billing and forecast in every system.
    #[allow(clippy::too_many_arguments)] // one argument per field of the change
    async fn raise_change_request(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        title: String,
        description: String,
        #[graphql(desc = "The baseline line the change applies to, e.g. `developer`")] role: String,
        #[graphql(desc = "A decimal string; negative takes hours away")] delta_hours: String,
        #[graphql(desc = "A decimal string; negative takes money away")] delta_amount: String,
        #[graphql(desc = "ISO 4217, the project's currency")] currency: String,
        #[graphql(desc = "The milestones the amount is spread over; required unless it is zero")]
        affected_milestone_ids: Option<Vec<String>>,
        idempotency_key: Option<String>,
    ) -> Result<ChangeRequest> {
        let calls = Calls::for_action(ctx).map_err(|e| e.extend())?;
        let milestones = affected_milestone_ids.unwrap_or_default();
        let joined = milestones.join(",");
        let key = idempotency_key_of(
            &calls,
            idempotency_key,
            "raiseChangeRequest",
            &[
                &project_id,
                &title,
                &description,
                &role,
                &delta_hours,
                &delta_amount,
                &currency,
                &joined,
            ],
        );
        let request = RaiseChangeRequestRequest {
            idempotency_key: key,
            project_id: project_id.to_string(),
            title,
            description,
            role,
            delta_hours,
            delta_amount: Some(ProtoMoney {
                amount: delta_amount,
                currency,
            }),
            affected_milestone_ids: milestones,
        };
        calls
            .raise_change_request(request)
            .await
            .map(ChangeRequest::from)
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

    /// Decides a delivery-template recommendation made from a won deal's statement of work:
    /// `accept` it as recommended, or name `overrideTemplate` with a `reason`. The deal's
    /// project setup then goes on with the chosen template. Open to project managers and
    /// executives; whoever asked for the recommendation cannot decide it (`FORBIDDEN`,
    /// audited), and a recommendation is decided once.
    async fn decide_template_recommendation(
        &self,
        ctx: &Context<'_>,
        recommendation_id: ID,
        #[graphql(desc = "True to accept the recommended template as it is")] accept: Option<bool>,
        #[graphql(desc = "Another template to use instead; needs a `reason`")] override_template: Option<String>,
        reason: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<TemplateRecommendation> {
        let accept = accept.unwrap_or(false);
        intake::decide(
            ctx,
            recommendation_id,
            accept,
            override_template,
            reason,
            idempotency_key,
        )
        .await
        .map_err(|e| e.extend())
    }

    /// Confirms or dismisses a time-entry anomaly delivery health flagged, with a note saying
    /// why: only the project's manager, once (audited by delivery health). The time entry is
    /// never changed by it.
    async fn review_time_anomaly(
        &self,
        ctx: &Context<'_>,
        anomaly_id: ID,
        decision: AnomalyDecision,
        note: String,
        idempotency_key: Option<String>,
    ) -> Result<TimeAnomaly> {
        let calls = Calls::for_action(ctx).map_err(|e| e.extend())?;
        let key = idempotency_key_of(
            &calls,
            idempotency_key,
            "reviewTimeAnomaly",
            &[&anomaly_id, decision.as_str(), &note],
        );
        let request = ReviewTimeAnomalyRequest {
            idempotency_key: key,
            anomaly_id: anomaly_id.to_string(),
            decision: decision.as_str().into(),
            note,
        };
        calls
            .review_time_anomaly(request)
            .await
            .map(TimeAnomaly::from)
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
            ("anomaly_id", "anomalyId"),
            ("project_id", "projectId"),
            ("delta_hours", "deltaHours"),
            ("delta_amount", "deltaAmount"),
            ("delta_amount.amount", "deltaAmount"),
            ("delta_amount.currency", "currency"),
            ("affected_milestone_ids", "affectedMilestoneIds"),
        ],
    )
}
