//! Keel's durable workflow engine.
//!
//! A process API declares a [`Workflow`]: a kind and its steps in order. The [`Engine`] keeps
//! every instance and its step journal in the process API's store (SQLite embedded,
//! PostgreSQL distributed) and runs them:
//!
//! - **Durable steps.** A done step's result is journaled in the same transaction that moves
//!   the instance on, and never runs again. A step's calls to system APIs use
//!   [`StepContext::idempotency_key`], the same on every attempt, so a step retried after a
//!   crash cannot change anything twice.
//! - **One open instance per business key** (`kind/business_key`, a unique index).
//! - **Retries.** `UNAVAILABLE` and `DEADLINE_EXCEEDED` are retried with exponential backoff
//!   and jitter ([`RetryPolicy`]: 1 s, doubling, at most 100 s); every other error sends the
//!   instance straight to the exception queue, with its reason, attempts and last error (or,
//!   for a workflow that compensates on failure, straight to compensation).
//! - **Incidents.** While a step's system API is down, one incident is open for it: one alert,
//!   whatever the number of instances waiting; the first success closes it.
//! - **Human tasks.** A step may wait for a decision ([`StepOutcome::AwaitApproval`]) with a
//!   timeout and an escalation; the submitter can never decide, and the refusal is audited.
//! - **Compensation.** Steps may declare an undo; an abandoned instance undoes its done steps,
//!   latest first. A workflow that [compensates on failure](Workflow::compensate_on_failure)
//!   (a saga: all or nothing) undoes itself when a step is refused with a business error,
//!   recording the refusal, without waiting for operations.
//! - **Exception queue.** Operations lists, retries, resolves (with a note) or abandons
//!   instances; every action is audited in the hash-chained audit log, and
//!   [`Engine::exception_history`] reads every stay in the queue back from it (raised when,
//!   why, and when and how operations took it out).
//! - **Replicas.** Workers claim due instances under a lease (`FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL) and every write is fenced by it, so replicas share the work and never record
//!   a step twice.
//!
//! What the engine does not know: what a step does, which system it calls, or who may see an
//! instance. Process APIs decide those.

pub mod admin;
mod definition;
mod engine;
pub mod entities;
mod history;
pub mod migrations;
mod operations;
mod rollout;
mod status;

pub use definition::{
    ApprovalRequest, FAILED_STEP, RetryPolicy, StepContext, StepDef, StepOutcome, Workflow, failed_step_result,
    step_refusal,
};
pub use engine::{DEFAULT_CONCURRENCY, ENGINE_ACTOR, Engine, EngineOptions, MAX_CHAINED_STEPS, RECORD_TYPE, Started};
pub use history::ExceptionEpisode;
pub use operations::{Actor, ApprovalView, IncidentView, InstanceView, StepView};
pub use rollout::Rollout;
pub use status::Status;
