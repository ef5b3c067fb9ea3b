//! The resource manager's action on staffing risk, through the staffing process API: review
//! an open flag once, acknowledging or dismissing it with a note. A flag never changes an
//! assignment, and neither does its review.

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result};
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_experience_common::actions::{self, rename_fields};
use keel_proto::staffing::ReviewStaffingRiskRequest;

use crate::model::StaffingRisk;
use crate::{Backends, REVIEW_ROLES};

/// A resource manager's decision on a staffing risk flag.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StaffingRiskDecision {
    /// The risk is real and being handled.
    Acknowledged,
    /// The risk does not matter here.
    Dismissed,
}

/// The resource manager's mutations. Open to resource managers (admin too).
#[derive(Debug, Default, Clone, Copy)]
pub struct ResourceManagerMutation;

#[Object]
impl ResourceManagerMutation {
    /// Decides an OPEN staffing risk flag, once: ACKNOWLEDGED or DISMISSED, with a note saying
    /// why. A flag already decided or RESOLVED is `FAILED_PRECONDITION` and changes nothing.
    async fn review_staffing_risk(
        &self,
        ctx: &Context<'_>,
        id: ID,
        decision: StaffingRiskDecision,
        note: String,
        idempotency_key: Option<String>,
    ) -> Result<StaffingRisk> {
        let backends = ctx
            .data_opt::<Backends>()
            .ok_or_else(|| Error::internal("the resource manager view was mounted without its backends").extend())?;
        let downstream = Downstream::from_context(ctx, REVIEW_ROLES, backends.timeout).map_err(|e| e.extend())?;
        let decision = match decision {
            StaffingRiskDecision::Acknowledged => "ACKNOWLEDGED",
            StaffingRiskDecision::Dismissed => "DISMISSED",
        };
        let key = actions::idempotency_key(
            idempotency_key,
            downstream.subject(),
            "reviewStaffingRisk",
            &[&id, decision, &note],
        );
        let request = downstream
            .request(ReviewStaffingRiskRequest {
                idempotency_key: key,
                id: id.to_string(),
                decision: decision.into(),
                note,
            })
            .map_err(|e| e.extend())?;
        let reviewed = downstream
            .call(
                "staffing ReviewStaffingRisk",
                backends.staffing.clone().review_staffing_risk(request),
            )
            .await
            .map_err(|e| rename_fields(e, &[("idempotency_key", "idempotencyKey")]).extend())?;
        Ok(StaffingRisk::from(reviewed))
    }
}
