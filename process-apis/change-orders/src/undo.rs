//! The undos of a change order: each restores its step's before-images from the journaled
//! [`Plan`](crate::plan::Plan), reading the system's current state first.
//!
//! An undo may run for a step that did everything, part of its calls (a refusal at the
//! second of several milestones), or nothing (refused at its first call): the engine undoes
//! the refused step too. So no undo trusts the step's result alone: it compares what the
//! system holds with the before-image and writes only what differs, under the step's
//! `undo` idempotency keys. Run twice, it changes nothing the second time.

use keel_core::Error;
use keel_proto::documents::{AddVersionRequest, DeleteDocumentRequest};
use keel_proto::erp::{ReviseRevenueScheduleRequest, UpdateBillingMilestoneRequest, UpdateBudgetRequest};
use keel_workflow::StepContext;
use serde_json::Value;

use crate::plan::{Plan, minor_of};
use crate::workflow::{ChangeOrder, ERP_BILLING_SCHEDULE, ERP_BUDGET, ERP_REVENUE_FORECAST, FILE_DOCUMENT, fetched};

/// Undoes one step of a change order (see the module docs).
pub(crate) async fn undo(workflow: &ChangeOrder, cx: &StepContext, result: &Value) -> Result<(), Error> {
    let plan = fetched(cx)?;
    match cx.step {
        ERP_BUDGET => budget(workflow, cx, &plan, result).await,
        ERP_BILLING_SCHEDULE => billing_schedule(workflow, cx, &plan).await,
        ERP_REVENUE_FORECAST => revenue_forecast(workflow, cx, &plan).await,
        FILE_DOCUMENT => document(workflow, cx, &plan).await,
        _ => Ok(()),
    }
}

/// Puts the budget's before-image lines back. Expects the version the step left (when it
/// journaled one), so a budget someone changed since is not overwritten silently: the undo
/// then fails and the instance goes to operations.
async fn budget(workflow: &ChangeOrder, cx: &StepContext, plan: &Plan, result: &Value) -> Result<(), Error> {
    let code = workflow.downstream.project_code_for_project(&plan.project_id).await?;
    let current = code
        .budget
        .ok_or_else(|| Error::FailedPrecondition(format!("project code {} lost its budget", plan.project_code)))?;
    if plan.same_lines(&current.lines, &plan.budget_before) {
        return Ok(());
    }
    let expected_version = result.get("version").and_then(Value::as_i64).unwrap_or(current.version);
    workflow
        .downstream
        .update_budget(UpdateBudgetRequest {
            idempotency_key: cx.idempotency_key("undo"),
            project_code: plan.project_code.clone(),
            expected_version,
            lines: plan.erp_lines(&plan.budget_before)?,
        })
        .await?;
    Ok(())
}

/// Puts each moved milestone's before amount back.
async fn billing_schedule(workflow: &ChangeOrder, cx: &StepContext, plan: &Plan) -> Result<(), Error> {
    if plan.milestones.is_empty() {
        return Ok(());
    }
    let currency = plan.currency()?;
    let current = workflow.downstream.billing_milestones(&plan.project_code).await?;
    for milestone in &plan.milestones {
        let now = current
            .iter()
            .find(|m| m.id == milestone.erp_id)
            .ok_or_else(|| Error::FailedPrecondition(format!("ERP milestone {} is gone", milestone.erp_id)))?;
        if minor_of(now.amount.as_ref(), currency)? == milestone.before_minor {
            continue;
        }
        workflow
            .downstream
            .update_billing_milestone(UpdateBillingMilestoneRequest {
                idempotency_key: cx.idempotency_key(&format!("undo-{}", milestone.erp_id)),
                milestone_id: milestone.erp_id.clone(),
                expected_version: now.version,
                amount: Some(plan.money(milestone.before_minor)?),
                due_date: String::new(),
            })
            .await?;
    }
    Ok(())
}

/// Puts the revenue schedule's contract value back.
async fn revenue_forecast(workflow: &ChangeOrder, cx: &StepContext, plan: &Plan) -> Result<(), Error> {
    let Some(revenue) = &plan.revenue else {
        return Ok(());
    };
    let Some(current) = workflow.downstream.revenue_schedule(&plan.project_code).await? else {
        return Err(Error::FailedPrecondition(format!(
            "project code {} lost its revenue schedule",
            plan.project_code
        )));
    };
    if minor_of(current.contract_value.as_ref(), plan.currency()?)? == revenue.before_minor {
        return Ok(());
    }
    workflow
        .downstream
        .revise_revenue_schedule(ReviseRevenueScheduleRequest {
            idempotency_key: cx.idempotency_key("undo"),
            project_code: plan.project_code.clone(),
            expected_version: current.version,
            contract_value: Some(plan.money(revenue.before_minor)?),
        })
        .await?;
    Ok(())
}

/// Deletes the change-order document (found by its title, which names the change request).
/// Documents refuses to delete a document under legal hold or out for signature: such a
/// document is kept and marked withdrawn with a last version saying so, which leaves no
/// document claiming a change that did not happen.
async fn document(workflow: &ChangeOrder, cx: &StepContext, plan: &Plan) -> Result<(), Error> {
    let title = plan.document_title();
    let filed = workflow.downstream.change_order_documents(&plan.project_id).await?;
    // A filed document has one content version; one with more was marked withdrawn already.
    for document in filed.into_iter().filter(|d| d.title == title && d.version_count <= 1) {
        let deleted = workflow
            .downstream
            .delete_document(DeleteDocumentRequest {
                idempotency_key: cx.idempotency_key(&format!("undo-{}", document.id)),
                id: document.id.clone(),
                expected_version: document.version,
            })
            .await;
        match deleted {
            Ok(()) => {}
            Err(Error::FailedPrecondition(why)) => {
                tracing::warn!(document.id = %document.id, %why, "change-order document kept: marked withdrawn");
                workflow
                    .downstream
                    .add_version(AddVersionRequest {
                        idempotency_key: cx.idempotency_key(&format!("withdrawn-{}", document.id)),
                        document_id: document.id.clone(),
                        expected_version: document.version,
                        file_name: format!("change-order-{}-withdrawn.txt", plan.change_request_id),
                        content_type: "text/plain".into(),
                        content: format!(
                            "WITHDRAWN: change request {} was not applied; every system was restored.\n",
                            plan.change_request_id
                        )
                        .into_bytes(),
                    })
                    .await?;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}
