//! The workflow side of the operations view: each process API's exception queue (with retry,
//! resolve and abandon), the health of each system API as the workflows saw it, and the ERP
//! posting queue while ERP is away. Everything is read from the process APIs'
//! `WorkflowAdminService`: one call per process API and kind of lookup.

use async_graphql::{ComplexObject, Context, Enum, ErrorExtensions, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_experience_common::paging::{DEFAULT_PAGE_SIZE, next_cursor, page_request, rename_paging_fields};
use keel_proto::workflow as proto;
use keel_proto::workflow::ListInstancesRequest;

use crate::{ALLOWED_ROLES, Backends, WorkflowSource};

/// The system APIs Keel's workflows call, in the order operations reads them.
pub const SYSTEMS: [&str; 7] = ["crm", "psa", "erp", "hris", "documents", "collaboration", "support"];

/// The workflow kinds that post to ERP.
const POSTING_KINDS: [&str; 2] = ["time-posting", "expense-posting"];

keel_experience_common::connection!(
    /// A page of workflow instances.
    InstanceConnection,
    WorkflowInstance
);

/// A process API that runs workflows (embedded, `keel`: every engine of the process).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct ProcessApi {
    /// `time-capture`, `staffing`, ...; `keel` when one process runs them all.
    pub name: String,
}

#[ComplexObject]
impl ProcessApi {
    /// How many of its instances are in each status, by workflow kind.
    async fn counts(&self, ctx: &Context<'_>) -> Result<Vec<KindCount>> {
        let (downstream, source) = source(ctx, &self.name)?;
        let counts = get_counts(&downstream, source).await.map_err(|e| e.extend())?;
        Ok(counts
            .by_kind
            .into_iter()
            .map(|k| KindCount {
                kind: k.kind,
                status: k.status,
                count: k.count,
            })
            .collect())
    }

    /// Its exception queue: instances that cannot proceed until a person acts, oldest first,
    /// `first` (at most 100) at a time.
    async fn exceptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<InstanceConnection> {
        let (downstream, source) = source(ctx, &self.name)?;
        let request = ListInstancesRequest {
            page: Some(page_request(first, after).map_err(|e| e.extend())?),
            status: "exception".into(),
            kind: String::new(),
        };
        let page = downstream
            .call(
                &format!("{} ListInstances", source.name),
                source
                    .client
                    .clone()
                    .list_instances(downstream.request(request).map_err(|e| e.extend())?),
            )
            .await
            .map_err(|e| rename_paging_fields(e).extend())?;
        Ok(InstanceConnection {
            nodes: page
                .instances
                .into_iter()
                .map(|i| WorkflowInstance::new(&source.name, i))
                .collect(),
            next_cursor: next_cursor(page.page),
        })
    }
}

/// Instances of one workflow kind in one status.
#[derive(SimpleObject, Clone, Debug)]
pub struct KindCount {
    pub kind: String,
    /// running, awaiting_approval, exception, compensating, done, resolved, abandoned
    pub status: String,
    pub count: u64,
}

/// One run of a workflow.
#[derive(SimpleObject, Clone, Debug)]
pub struct WorkflowInstance {
    /// `<process API>/<instance id>`: pass it to `retryInstance`, `resolveInstance` or
    /// `abandonInstance`.
    pub id: ID,
    /// The process API that runs it.
    pub process_api: String,
    /// The workflow: `time-posting`, `staffing`, `change-order`, ...
    pub kind: String,
    /// What it is about: a time entry, a resource request, a change request...
    pub business_key: String,
    pub status: String,
    /// The step it is at or stopped at.
    pub step: String,
    pub attempts: u32,
    /// Why it stopped: RETRIES_EXHAUSTED, INVALID_INPUT, FAILED_PRECONDITION, ...
    pub reason: Option<String>,
    pub last_error: Option<String>,
    /// The team that owns the fix.
    pub owning_team: Option<String>,
    /// How a person dealt with it.
    pub note: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl WorkflowInstance {
    fn new(process_api: &str, instance: proto::Instance) -> WorkflowInstance {
        WorkflowInstance {
            id: ID(format!("{process_api}/{}", instance.id)),
            process_api: process_api.to_string(),
            kind: instance.kind,
            business_key: instance.business_key,
            status: instance.status,
            step: instance.step,
            attempts: instance.attempts,
            reason: keel_experience_common::non_empty(instance.reason),
            last_error: keel_experience_common::non_empty(instance.last_error),
            owning_team: keel_experience_common::non_empty(instance.owning_team),
            note: keel_experience_common::non_empty(instance.note),
            created_at: instance.created_at.and_then(timestamp),
            updated_at: instance.updated_at.and_then(timestamp),
        }
    }
}

/// Whether a system API is answering the workflows that call it.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemState {
    /// No outage open.
    Up,
    /// An outage is open: calls fail and the work waits in the workflows' journals.
    Down,
}

/// A system API as the workflows saw it.
#[derive(SimpleObject, Clone, Debug)]
pub struct SystemHealth {
    /// `erp`, `psa`, ...
    pub system: String,
    pub state: SystemState,
    /// The open outage, or else the latest closed one; null if there never was one.
    pub latest_incident: Option<SystemIncident>,
}

/// An outage of a system API: opened at its first failed call, closed at its first answer.
#[derive(SimpleObject, Clone, Debug)]
pub struct SystemIncident {
    /// The process API that saw it.
    pub process_api: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub first_error: String,
    /// Failed calls during the outage.
    pub failures: i64,
}

/// Postings to ERP (approved time and expenses) and where they stand.
#[derive(SimpleObject, Clone, Debug)]
pub struct PostingQueue {
    /// Accepted and not yet posted: waiting in the journal (for ERP to return, while it is
    /// down).
    pub waiting: u64,
    /// Stopped in the exception queue.
    pub exceptions: u64,
    /// Posted.
    pub posted: u64,
    /// Whether ERP is down now.
    pub erp: SystemState,
    /// When the current ERP outage began; null when ERP is up.
    pub erp_down_since: Option<DateTime<Utc>>,
}

/// The operations team's queries over the process APIs' workflows.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkflowQueries;

impl WorkflowQueries {
    pub(crate) fn process_apis(ctx: &Context<'_>) -> Result<Vec<ProcessApi>> {
        let backends = backends(ctx)?;
        Ok(backends
            .workflows
            .iter()
            .map(|source| ProcessApi {
                name: source.name.clone(),
            })
            .collect())
    }

    /// Each system API with its state from the incidents every process API recorded.
    pub(crate) async fn integration_health(ctx: &Context<'_>) -> Result<Vec<SystemHealth>> {
        let (downstream, backends) = downstream(ctx)?;
        let incidents = try_join_all(
            backends
                .workflows
                .iter()
                .map(|source| list_incidents(&downstream, source)),
        )
        .await
        .map_err(|e| e.extend())?;
        Ok(health(incidents))
    }

    /// The ERP posting queue, summed over the process APIs.
    pub(crate) async fn posting_queue(ctx: &Context<'_>) -> Result<PostingQueue> {
        let (downstream, backends) = downstream(ctx)?;
        let (counts, incidents) = futures::try_join!(
            try_join_all(backends.workflows.iter().map(|source| get_counts(&downstream, source))),
            try_join_all(
                backends
                    .workflows
                    .iter()
                    .map(|source| list_incidents(&downstream, source))
            ),
        )
        .map_err(|e| e.extend())?;
        let mut queue = PostingQueue {
            waiting: 0,
            exceptions: 0,
            posted: 0,
            erp: SystemState::Up,
            erp_down_since: None,
        };
        for count in counts.into_iter().flat_map(|c| c.by_kind) {
            if !POSTING_KINDS.contains(&count.kind.as_str()) {
                continue;
            }
            match count.status.as_str() {
                "running" | "compensating" | "awaiting_approval" => queue.waiting += count.count,
                "exception" => queue.exceptions += count.count,
                "done" => queue.posted += count.count,
                _ => {}
            }
        }
        if let Some(erp) = health(incidents).into_iter().find(|h| h.system == "erp") {
            queue.erp = erp.state;
            if erp.state == SystemState::Down {
                queue.erp_down_since = erp.latest_incident.and_then(|i| i.opened_at);
            }
        }
        Ok(queue)
    }
}

/// The state of each known system (and any other the incidents name) from every process
/// API's incidents: down while any outage is open.
fn health(incidents: Vec<(String, Vec<proto::Incident>)>) -> Vec<SystemHealth> {
    let mut systems: Vec<String> = SYSTEMS.iter().map(|s| s.to_string()).collect();
    let mut by_system: Vec<(String, SystemIncident)> = Vec::new();
    for (process_api, list) in incidents {
        for incident in list {
            if !systems.contains(&incident.system) {
                systems.push(incident.system.clone());
            }
            let seen = SystemIncident {
                process_api: process_api.clone(),
                opened_at: incident.opened_at.and_then(timestamp),
                closed_at: incident.closed_at.and_then(timestamp),
                first_error: incident.first_error,
                failures: incident.failures,
            };
            by_system.push((incident.system, seen));
        }
    }
    systems
        .into_iter()
        .map(|system| {
            let mine: Vec<&SystemIncident> = by_system.iter().filter(|(s, _)| *s == system).map(|(_, i)| i).collect();
            let open = mine
                .iter()
                .filter(|i| i.closed_at.is_none())
                .min_by_key(|i| i.opened_at)
                .copied();
            let latest = open
                .or_else(|| mine.iter().max_by_key(|i| i.opened_at).copied())
                .cloned();
            SystemHealth {
                system,
                state: if open.is_some() {
                    SystemState::Down
                } else {
                    SystemState::Up
                },
                latest_incident: latest,
            }
        })
        .collect()
}

/// The operations team's actions on workflow instances. Each goes to the process API that
/// runs the instance, as the caller, and is audited there.
#[derive(Debug, Default, Clone, Copy)]
pub struct OperationsMutation;

#[Object]
impl OperationsMutation {
    /// Runs an instance from the exception queue again, from the step it stopped at.
    async fn retry_instance(&self, ctx: &Context<'_>, id: ID) -> Result<WorkflowInstance> {
        let (downstream, source, instance_id) = target(ctx, &id)?;
        let request = downstream
            .request(proto::RetryInstanceRequest { id: instance_id })
            .map_err(|e| e.extend())?;
        let instance = downstream
            .call(
                &format!("{} RetryInstance", source.name),
                source.client.clone().retry_instance(request),
            )
            .await
            .map_err(|e| id_field(e).extend())?;
        Ok(WorkflowInstance::new(&source.name, instance))
    }

    /// Closes an instance from the exception queue; `note` says how it was dealt with.
    async fn resolve_instance(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<WorkflowInstance> {
        let (downstream, source, instance_id) = target(ctx, &id)?;
        let request = downstream
            .request(proto::ResolveInstanceRequest { id: instance_id, note })
            .map_err(|e| e.extend())?;
        let instance = downstream
            .call(
                &format!("{} ResolveInstance", source.name),
                source.client.clone().resolve_instance(request),
            )
            .await
            .map_err(|e| id_field(e).extend())?;
        Ok(WorkflowInstance::new(&source.name, instance))
    }

    /// Abandons an open instance: the steps it did are undone, latest first.
    async fn abandon_instance(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<WorkflowInstance> {
        let (downstream, source, instance_id) = target(ctx, &id)?;
        let request = downstream
            .request(proto::AbandonInstanceRequest { id: instance_id, note })
            .map_err(|e| e.extend())?;
        let instance = downstream
            .call(
                &format!("{} AbandonInstance", source.name),
                source.client.clone().abandon_instance(request),
            )
            .await
            .map_err(|e| id_field(e).extend())?;
        Ok(WorkflowInstance::new(&source.name, instance))
    }
}

fn backends<'a>(ctx: &Context<'a>) -> Result<&'a Backends> {
    ctx.data_opt::<Backends>()
        .ok_or_else(|| Error::internal("the operations view was mounted without its backends").extend())
}

fn downstream<'a>(ctx: &Context<'a>) -> Result<(Downstream, &'a Backends)> {
    let backends = backends(ctx)?;
    let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout).map_err(|e| e.extend())?;
    Ok((downstream, backends))
}

fn source<'a>(ctx: &Context<'a>, name: &str) -> Result<(Downstream, &'a WorkflowSource)> {
    let (downstream, backends) = downstream(ctx)?;
    let source = backends
        .workflows
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::internal(format!("no process API `{name}`")).extend())?;
    Ok((downstream, source))
}

/// The process API and instance id of `<process API>/<instance id>`, or bad input naming `id`.
fn target<'a>(ctx: &Context<'a>, id: &ID) -> Result<(Downstream, &'a WorkflowSource, String)> {
    let (downstream, backends) = downstream(ctx)?;
    let (name, instance_id) = id
        .split_once('/')
        .filter(|(name, instance)| !name.is_empty() && !instance.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "id",
                "must be an instance id as the operations view gave it: `<process API>/<id>`",
            )
            .extend()
        })?;
    let source =
        backends.workflows.iter().find(|s| s.name == name).ok_or_else(|| {
            Error::invalid("id", format!("names no process API this gateway knows: `{name}`")).extend()
        })?;
    Ok((downstream, source, instance_id.to_string()))
}

fn id_field(error: Error) -> Error {
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                if violation.field == "id" || violation.field == "instance_id" {
                    violation.field = "id".into();
                }
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

/// A process API's counts, read once per request.
async fn get_counts(downstream: &Downstream, source: &WorkflowSource) -> Result<proto::Counts, Error> {
    let what = format!("{} GetCounts", source.name);
    downstream
        .once(&what, || async {
            let request = downstream.request(proto::GetCountsRequest {})?;
            downstream.call(&what, source.client.clone().get_counts(request)).await
        })
        .await
}

/// A process API's incidents, by its name, read once per request.
async fn list_incidents(
    downstream: &Downstream,
    source: &WorkflowSource,
) -> Result<(String, Vec<proto::Incident>), Error> {
    let what = format!("{} ListIncidents", source.name);
    let incidents = downstream
        .once(&what, || async {
            let request = downstream.request(proto::ListIncidentsRequest {})?;
            let answer = downstream
                .call(&what, source.client.clone().list_incidents(request))
                .await?;
            Ok(answer.incidents)
        })
        .await?;
    Ok((source.name.clone(), incidents))
}

fn timestamp(ts: prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(system: &str, opened: i64, closed: Option<i64>) -> proto::Incident {
        proto::Incident {
            id: format!("{system}-{opened}"),
            system: system.into(),
            opened_at: Some(prost_types::Timestamp {
                seconds: opened,
                nanos: 0,
            }),
            closed_at: closed.map(|seconds| prost_types::Timestamp { seconds, nanos: 0 }),
            first_error: "ERP unavailable".into(),
            failures: 3,
        }
    }

    #[test]
    fn a_system_is_down_while_any_process_api_has_an_outage_open() {
        let health = health(vec![
            (
                "time-capture".into(),
                vec![incident("erp", 100, None), incident("erp", 10, Some(20))],
            ),
            ("billing".into(), vec![incident("psa", 50, Some(60))]),
        ]);
        let erp = health.iter().find(|h| h.system == "erp").unwrap();
        assert_eq!(erp.state, SystemState::Down);
        assert_eq!(erp.latest_incident.as_ref().unwrap().closed_at, None);
        let psa = health.iter().find(|h| h.system == "psa").unwrap();
        assert_eq!(psa.state, SystemState::Up);
        assert_eq!(psa.latest_incident.as_ref().unwrap().process_api, "billing");
        let crm = health.iter().find(|h| h.system == "crm").unwrap();
        assert_eq!(crm.state, SystemState::Up);
        assert!(crm.latest_incident.is_none());
        assert_eq!(health.len(), SYSTEMS.len(), "every system listed once");
    }
}
