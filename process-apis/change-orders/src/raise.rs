//! `RaiseChangeRequest`: a project manager puts a change to their project's baseline up for
//! approval. Change orders creates it in PSA and submits it, each PSA call keyed from the
//! caller's key, so a replay answers the same change request. Only a manager of the project
//! (a PSA assignment in a project-manager role) may raise one.

use keel_auth::Identity;
use keel_core::Error;
use keel_core::validate::Violations;
use keel_proto::changeorders::RaiseChangeRequestRequest;
use keel_proto::psa::{ChangeRequest, ChangeRequestState, ChangeRequestTransitionRequest, CreateChangeRequestRequest};

use crate::Downstream;

/// The PSA assignment roles that make a person a project's manager: the same list as the
/// delivery-health policy's `recipients.project_manager_assignment_roles`.
pub const PROJECT_MANAGER_ASSIGNMENT_ROLES: &[&str] = &["project-manager", "engagement-manager"];

/// Creates and submits the change request `request` asks for, as `caller`.
pub(crate) async fn raise(
    downstream: &Downstream,
    caller: &Identity,
    request: RaiseChangeRequestRequest,
) -> Result<ChangeRequest, Error> {
    let mut v = Violations::new();
    let key = v.idempotency_key(&request.idempotency_key);
    let project_id = v.uuid("project_id", &request.project_id).map(|u| u.to_string());
    v.finish()?;
    let project_id = project_id.ok_or_else(|| Error::invalid("project_id", "is required"))?;
    if !caller.has_any(&[]) && !manages(downstream, caller, &project_id).await? {
        return Err(Error::Forbidden(format!(
            "{} does not manage project {project_id}, so may not raise a change request on it",
            caller.subject
        )));
    }
    let draft = downstream
        .create_change_request(CreateChangeRequestRequest {
            idempotency_key: format!("change-orders-raise-{key}"),
            project_id,
            title: request.title,
            description: request.description,
            role: request.role,
            delta_hours: request.delta_hours,
            delta_amount: request.delta_amount,
            affected_milestone_ids: request.affected_milestone_ids,
        })
        .await?;
    if draft.state != ChangeRequestState::Draft as i32 {
        return Ok(draft);
    }
    downstream
        .submit_change_request(ChangeRequestTransitionRequest {
            idempotency_key: format!("change-orders-raise-submit-{key}"),
            id: draft.id,
            expected_version: draft.version,
            reason: String::new(),
        })
        .await
}

async fn manages(downstream: &Downstream, caller: &Identity, project_id: &str) -> Result<bool, Error> {
    if uuid::Uuid::parse_str(&caller.subject).is_err() {
        return Ok(false);
    }
    Ok(downstream
        .assignments_on(project_id, &caller.subject)
        .await?
        .iter()
        .any(|a| {
            PROJECT_MANAGER_ASSIGNMENT_ROLES
                .iter()
                .any(|r| r.eq_ignore_ascii_case(a.role.trim()))
        }))
}
