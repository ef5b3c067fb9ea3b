//! The composed schema: one root query field per role view, the merged subscriptions, and
//! the limits and field policy every operation is checked against.

use async_graphql::{
    Context, ErrorExtensions, MergedObject, MergedSubscription, Object, Result, Schema, SchemaBuilder,
};
use keel_auth::{Identity, Role};
use keel_core::Error;
use keel_experience_consultant::{ConsultantMutation, ConsultantView};
use keel_experience_executive::ExecutiveView;
use keel_experience_finance::FinanceView;
use keel_experience_operations::{OperationsMutation, OperationsSubscription, OperationsView};
use keel_experience_project_manager::{ProjectManagerMutation, ProjectManagerSubscription, ProjectManagerView};
use keel_experience_resource_manager::{ResourceManagerMutation, ResourceManagerSubscription, ResourceManagerView};

use crate::limits::{DepthLimit, LimitMessages};
use crate::options::{GatewayOptions, MAX_DIRECTIVES_PER_FIELD};
use crate::policy::{FieldAuthorization, PolicyTable, field_policy};

/// Keel's GraphQL schema.
pub type KeelSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The root query (GraphQL type `Query`): one field per role view, each open to its roles only.
#[derive(Debug, Default, Clone, Copy)]
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// The project manager's view: the projects the caller manages (every project for
    /// executives and finance) with their ERP codes, budgets, milestones, work breakdown, team,
    /// burn, estimate at completion, health, open alerts, time awaiting approval and change
    /// requests. Roles: project_manager, executive, finance.
    async fn project_manager(&self, ctx: &Context<'_>) -> Result<ProjectManagerView> {
        require(ctx, keel_experience_project_manager::ALLOWED_ROLES)?;
        Ok(ProjectManagerView)
    }

    /// The operations view: project setups and their exception list. Role: operations.
    async fn operations(&self, ctx: &Context<'_>) -> Result<OperationsView> {
        require(ctx, keel_experience_operations::ALLOWED_ROLES)?;
        Ok(OperationsView)
    }

    /// The consultant's view: the caller's own assignments and time entries. Role: consultant.
    async fn consultant(&self, ctx: &Context<'_>) -> Result<ConsultantView> {
        require(ctx, keel_experience_consultant::ALLOWED_ROLES)?;
        Ok(ConsultantView::default())
    }

    /// The resource manager's view: open resource requests with ranked candidates, staffing
    /// approvals waiting, utilization against target and the bench forecast. Roles:
    /// resource_manager, executive.
    async fn resource_manager(&self, ctx: &Context<'_>) -> Result<ResourceManagerView> {
        require(ctx, keel_experience_resource_manager::ALLOWED_ROLES)?;
        Ok(ResourceManagerView)
    }

    /// The executive's view: the portfolio's contract value, revenue, cost and margin as ERP
    /// booked them, and the operating KPIs (workflow cycle time, exception rate). Role:
    /// executive.
    async fn executive(&self, ctx: &Context<'_>) -> Result<ExecutiveView> {
        require(ctx, keel_experience_executive::ALLOWED_ROLES)?;
        Ok(ExecutiveView)
    }

    /// The finance view: every project's billing milestones with their readiness to invoice,
    /// unbilled effort, revenue against plan and margin, margin by service line, and ERP's
    /// invoices. Roles: finance, executive.
    async fn finance(&self, ctx: &Context<'_>) -> Result<FinanceView> {
        require(ctx, keel_experience_finance::ALLOWED_ROLES)?;
        Ok(FinanceView)
    }
}

/// The actions, merged from the role views' mutations. Each acts through a process API.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    OperationsMutation,
    ConsultantMutation,
    ProjectManagerMutation,
    ResourceManagerMutation,
);

/// Live updates, merged from the role views' subscriptions.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    OperationsSubscription,
    ProjectManagerSubscription,
    ResourceManagerSubscription,
);

/// `FORBIDDEN` unless the caller holds one of `allowed` (or is admin); `UNAUTHENTICATED`
/// when the request carries no verified caller at all.
fn require(ctx: &Context<'_>, allowed: &[Role]) -> Result<()> {
    let identity = ctx
        .data_opt::<Identity>()
        .ok_or_else(|| Error::Unauthenticated("request carries no verified identity".into()).extend())?;
    identity.require(allowed).map_err(|e| e.extend())
}

/// The backends of every role view: the process and system API clients each reads.
#[derive(Debug, Clone)]
pub struct ViewBackends {
    pub project_manager: keel_experience_project_manager::Backends,
    pub operations: keel_experience_operations::Backends,
    pub consultant: keel_experience_consultant::Backends,
    pub resource_manager: keel_experience_resource_manager::Backends,
    pub executive: keel_experience_executive::Backends,
    pub finance: keel_experience_finance::Backends,
}

/// The schema with its limits and field policy, serving the views over their backends.
pub fn build_schema(options: &GatewayOptions, backends: ViewBackends) -> KeelSchema {
    let ViewBackends {
        project_manager,
        operations,
        consultant,
        resource_manager,
        executive,
        finance,
    } = backends;
    builder(options)
        .data(project_manager)
        .data(operations)
        .data(consultant)
        .data(resource_manager)
        .data(executive)
        .data(finance)
        .finish()
}

/// The schema's SDL. It needs no backends, channels or runtime.
pub fn export_sdl() -> String {
    builder(&GatewayOptions::default()).finish().sdl()
}

fn builder(options: &GatewayOptions) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let mut builder = Schema::build(QueryRoot, MutationRoot::default(), SubscriptionRoot::default())
        .extension(DepthLimit(options.max_depth))
        .extension(LimitMessages {
            max_complexity: options.max_complexity,
            max_directives: MAX_DIRECTIVES_PER_FIELD,
        })
        .extension(FieldAuthorization(PolicyTable::new(&field_policy())))
        .limit_complexity(options.max_complexity)
        .limit_directives(MAX_DIRECTIVES_PER_FIELD);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}
