//! How a close-out and its review read over gRPC: the engine's instance and the journaled
//! review mapped onto `keel.closeout.v1`.

use keel_core::Error;
use keel_core::time::to_timestamp;
use keel_proto::closeout::{
    ChangeOrderSummary, ChangeRequestLine, CloseOut, ExceptionRecord, Review, RoleEffort, StepOutcome,
};
use keel_proto::common::Money;
use keel_workflow::{InstanceView, Status};
use rust_decimal::Decimal;

use crate::review::{self, RateSource};
use crate::workflow::{APPLY_RETENTION, ARCHIVE_WORKSPACE, CHECK, REVIEW};

/// How a close-out names its instance's status.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Running => "RUNNING",
        Status::AwaitingApproval => "AWAITING_APPROVAL",
        Status::Exception => "EXCEPTION",
        Status::Compensating => "COMPENSATING",
        Status::Done => "DONE",
        Status::Resolved => "RESOLVED",
        Status::Abandoned => "ABANDONED",
    }
}

/// The engine status a close-out status names (`DONE` → done).
pub fn parse_status(name: &str) -> Option<Status> {
    Status::ALL.into_iter().find(|s| status_name(*s) == name)
}

/// The gRPC view of an instance.
pub fn close_out_view(view: &InstanceView, steps: &[&'static str]) -> CloseOut {
    let journaled = |step: &str| view.journal.iter().find(|s| s.step == step).map(|s| &s.result);
    let text = |step: &str, key: &str| {
        journaled(step)
            .and_then(|r| r.get(key))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let retention = journaled(APPLY_RETENTION);
    CloseOut {
        close_out_id: view.id.to_string(),
        project_id: view.business_key.clone(),
        status: status_name(view.status).into(),
        step: if view.status == Status::Done {
            String::new()
        } else {
            view.step.clone().unwrap_or_default()
        },
        attempts: view.attempts,
        reason: view.reason.clone().unwrap_or_default(),
        last_error: view.last_error.clone().unwrap_or_default(),
        owning_team: view.owning_team.clone(),
        steps: steps
            .iter()
            .map(|step| StepOutcome {
                step: step.to_string(),
                outcome: if journaled(step).is_some() { "DONE" } else { "PENDING" }.into(),
            })
            .collect(),
        close_date: text(CHECK, "close_date"),
        workspace_id: text(ARCHIVE_WORKSPACE, "workspace_id"),
        documents: retention
            .and_then(|r| r.get("documents"))
            .and_then(|d| d.as_array())
            .map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX)),
        documents_changed: retention
            .and_then(|r| r.get("changed"))
            .and_then(|c| c.as_i64())
            .map_or(0, |c| i32::try_from(c).unwrap_or(i32::MAX)),
        versions_json: view.versions.to_string(),
        created_at: Some(to_timestamp(view.created_at)),
        updated_at: Some(to_timestamp(view.updated_at)),
    }
}

/// The review an instance journaled, if its `review` step is done.
pub fn journaled_review(view: &InstanceView) -> Result<Option<review::Review>, Error> {
    match view.journal.iter().find(|s| s.step == REVIEW) {
        Some(step) => Ok(Some(
            serde_json::from_value(step.result.clone()).map_err(Error::internal)?,
        )),
        None => Ok(None),
    }
}

fn duration(d: chrono::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.num_seconds(),
        nanos: d.subsec_nanos(),
    }
}

fn decimal_text(d: Decimal) -> String {
    d.normalize().to_string()
}

fn percent_text(p: Option<Decimal>) -> String {
    p.map(|p| {
        let mut p = p;
        p.rescale(2);
        p.to_string()
    })
    .unwrap_or_default()
}

/// The gRPC view of a review.
pub fn review_to_proto(r: review::Review) -> Result<Review, Error> {
    let digits = keel_core::money::Currency::parse(&r.currency)
        .map_err(|e| Error::internal(format!("the review is kept in {:?}: {e}", r.currency)))?
        .minor_unit_digits();
    let currency = r.currency.clone();
    let money = |amount: Decimal| {
        let mut amount = amount.round_dp_with_strategy(digits, rust_decimal::RoundingStrategy::MidpointNearestEven);
        amount.rescale(digits);
        Some(Money {
            amount: amount.to_string(),
            currency: currency.clone(),
        })
    };
    let (longest, median) = r.resolution_times();
    let exceptions_open = r.exceptions_open();
    let hours_variance = r.actual_hours - r.baseline_hours;
    Ok(Review {
        project_id: r.project_id,
        project_name: r.project_name,
        project_code: r.project_code,
        currency: r.currency.clone(),
        close_date: r.close_date,
        produced_at: Some(to_timestamp(r.produced_at)),
        template_id: r.template_id,
        template_version: r.template_version,
        contract_value: money(r.contract_value),
        original_contract_value: money(r.original_contract_value),
        revenue: money(r.revenue),
        invoices: r.invoices,
        time_cost: money(r.time_cost),
        expense_cost: money(r.expense_cost),
        other_cost: money(r.other_cost),
        cost: money(r.cost),
        margin: money(r.margin),
        margin_percent: percent_text(r.margin_percent),
        baseline_cost: r.baseline_cost.and_then(money),
        baseline_margin: r.baseline_margin.and_then(money),
        baseline_margin_percent: percent_text(r.baseline_margin_percent),
        margin_variance: r.margin_variance.and_then(money),
        effort: r
            .effort
            .iter()
            .map(|e| RoleEffort {
                role: e.role.clone(),
                baseline_hours: decimal_text(e.baseline_hours),
                actual_hours: decimal_text(e.actual_hours),
                hours_variance: decimal_text(e.actual_hours - e.baseline_hours),
                hours_variance_percent: percent_text(review::percent(
                    e.actual_hours - e.baseline_hours,
                    e.baseline_hours,
                )),
                cost: money(e.cost),
                cost_per_hour: e.cost_per_hour.and_then(money),
                cost_rate_source: match e.cost_rate_source {
                    RateSource::Role => "ROLE",
                    RateSource::Blended => "BLENDED",
                    RateSource::None => "NONE",
                }
                .into(),
                baseline_cost: e.baseline_cost.and_then(money),
            })
            .collect(),
        baseline_hours: decimal_text(r.baseline_hours),
        actual_hours: decimal_text(r.actual_hours),
        hours_variance: decimal_text(hours_variance),
        hours_variance_percent: percent_text(review::percent(hours_variance, r.baseline_hours)),
        change_orders: Some(ChangeOrderSummary {
            count: u32::try_from(r.change_requests.len()).unwrap_or(u32::MAX),
            applied: r.change_requests_applied,
            applied_budget_delta: money(r.applied_budget_delta),
            applied_hours_delta: decimal_text(r.applied_hours_delta),
            change_requests: r
                .change_requests
                .iter()
                .map(|c| ChangeRequestLine {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    state: c.state.clone(),
                    role: c.role.clone(),
                    delta_hours: decimal_text(c.delta_hours),
                    delta_amount: money(c.delta_amount),
                })
                .collect(),
        }),
        exceptions: r
            .exceptions
            .iter()
            .map(|e| ExceptionRecord {
                kind: e.kind.clone(),
                instance_id: e.instance_id.clone(),
                business_key: e.business_key.clone(),
                owning_team: e.owning_team.clone(),
                reason: e.reason.clone(),
                error: e.error.clone(),
                raised_at: Some(to_timestamp(e.raised_at)),
                outcome: e.outcome.clone().unwrap_or_default(),
                closed_at: e.closed_at.map(to_timestamp),
                closed_by: e.closed_by.clone().unwrap_or_default(),
                time_to_resolve: e.time_to_resolve().map(duration),
            })
            .collect(),
        exceptions_open,
        longest_resolution: longest.map(duration),
        median_resolution: median.map(duration),
        exceptions_truncated: r.exceptions_truncated,
    })
}
