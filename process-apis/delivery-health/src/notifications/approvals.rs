//! The workflow engine's approval requests as notifications: [`ApprovalFeed`] reads the
//! decisions waiting in each process API (staffing approvals waiting for delivery
//! leadership, and any other human task) through its `WorkflowAdminService.ListApprovals`,
//! and reports each to the [`Notifier`] once: stored, broadcast, and queued for the outbound
//! webhook, which sends it with retries like an alert.
//!
//! One notification per (source, instance, step): a request asked again after its step was
//! decided and reached again is a new request only when it waits at another step.

use std::time::Duration;

use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_proto::workflow::ListApprovalsRequest;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::{ApprovalRequest, Notifier};
use crate::alerts::Recipient;

/// How often the feed asks each source by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);

/// A process API whose approvals the feed reads.
#[derive(Debug, Clone)]
pub struct ApprovalSource {
    /// Its service name (`staffing`, ...): part of each request's id.
    pub name: String,
    pub channel: Channel,
}

/// Reads the sources' pending approvals and notifies each once.
#[derive(Debug, Clone)]
pub struct ApprovalFeed {
    db: DatabaseConnection,
    notifier: Notifier,
    sources: Vec<ApprovalSource>,
    credentials: ServiceCredentials,
    timeout: Duration,
}

impl ApprovalFeed {
    pub fn new(
        db: DatabaseConnection,
        notifier: Notifier,
        sources: Vec<ApprovalSource>,
        credentials: ServiceCredentials,
        timeout: Duration,
    ) -> ApprovalFeed {
        ApprovalFeed {
            db,
            notifier,
            sources,
            credentials,
            timeout,
        }
    }

    /// One pass over every source; answers how many approvals are waiting. A source that
    /// does not answer is skipped this pass (and logged), the others still read.
    pub async fn poll(&self) -> Result<usize, Error> {
        let mut waiting = 0;
        for source in &self.sources {
            let request = self.credentials.request(ListApprovalsRequest {}, self.timeout)?;
            let approvals = match WorkflowAdminServiceClient::new(source.channel.clone())
                .list_approvals(request)
                .await
            {
                Ok(answer) => answer.into_inner().approvals,
                Err(status) => {
                    tracing::warn!(source = %source.name, error = %status, "approvals not read this pass");
                    continue;
                }
            };
            waiting += approvals.len();
            for approval in approvals {
                let request = ApprovalRequest {
                    id: format!("{}:{}:{}", source.name, approval.instance_id, approval.step),
                    project_id: String::new(),
                    title: format!(
                        "{} ({} workflow, step {})",
                        approval.summary, source.name, approval.step
                    ),
                    recipients: vec![Recipient {
                        role: approval.role.clone(),
                        employee_id: String::new(),
                    }],
                    requested_by: approval.submitter.clone(),
                };
                self.notifier.approval_requested(&self.db, request).await?;
            }
        }
        Ok(waiting)
    }

    /// Polls every `interval` until `cancel`.
    pub async fn run(self, interval: Duration, cancel: CancellationToken) {
        loop {
            if let Err(error) = self.poll().await {
                tracing::warn!(%error, "approval feed pass failed");
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}
