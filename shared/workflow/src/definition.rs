//! What a workflow declares: its kind, its steps with their retry policies and undos, and how
//! each step runs.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use keel_core::Error;
use serde_json::Value;
use uuid::Uuid;

/// How a step is retried after a transient failure (`UNAVAILABLE`, `DEADLINE_EXCEEDED`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The first delay. Default 1 s.
    pub initial: Duration,
    /// Each further delay is this many times the last. Default 2.
    pub factor: f32,
    /// No delay is longer. Default 100 s.
    pub max_delay: Duration,
    /// Attempts in all, the first included, before the instance goes to the exception queue.
    /// Default 20.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(100),
            max_attempts: 20,
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`, after `attempt` (from 1) failed: exponential with
    /// full jitter, never above `max_delay`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.initial)
            .with_factor(self.factor)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .with_max_times(attempt.max(1) as usize)
            .build();
        let delay = backoff.nth(attempt.max(1) as usize - 1).unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }
}

/// One step of a workflow.
#[derive(Debug, Clone, Copy)]
pub struct StepDef {
    /// Unique within the workflow, stable across versions: the journal and the idempotency key
    /// use it (`create-project`).
    pub name: &'static str,
    pub retry: RetryPolicy,
    /// The system API the step calls, if any (`erp`): while it is down, operations gets one
    /// alert per incident rather than one per instance.
    pub system: Option<&'static str>,
    /// Whether the step has an undo ([`Workflow::compensate`]), run when the instance is
    /// abandoned.
    pub compensable: bool,
}

impl StepDef {
    pub const fn new(name: &'static str) -> StepDef {
        StepDef {
            name,
            retry: RetryPolicy {
                initial: Duration::from_secs(1),
                factor: 2.0,
                max_delay: Duration::from_secs(100),
                max_attempts: 20,
            },
            system: None,
            compensable: false,
        }
    }

    pub const fn calls(mut self, system: &'static str) -> StepDef {
        self.system = Some(system);
        self
    }

    pub const fn with_undo(mut self) -> StepDef {
        self.compensable = true;
        self
    }

    pub const fn with_retry(mut self, retry: RetryPolicy) -> StepDef {
        self.retry = retry;
        self
    }
}

/// A request for a person's decision before the workflow goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRequest {
    /// The role that decides (`project-manager`).
    pub role: String,
    /// Who asked; never the one who approves.
    pub submitter: String,
    /// Why the decision is needed, with the numbers.
    pub summary: String,
    /// How long the role has before the request escalates.
    pub timeout: Duration,
    /// Who decides once it has escalated (`delivery-leadership`); without one, a timeout sends
    /// the instance to the exception queue.
    pub escalate_to: Option<String>,
}

/// What a step concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Done: the result is journaled and the step never runs again for this instance.
    Done(Value),
    /// Wait for a person. When approved the step is done with the decision as its result
    /// (`{"approved": true, "by": "...", "note": "...", "role": "...", "requested_at": "<RFC 3339>"}`,
    /// decided at the step's `completed_at`); when rejected the instance goes to the
    /// exception queue with reason `REJECTED`.
    AwaitApproval(ApprovalRequest),
}

/// What a step sees.
#[derive(Debug, Clone)]
pub struct StepContext {
    pub instance_id: Uuid,
    pub kind: String,
    pub business_key: String,
    pub step: &'static str,
    /// This attempt of the step, from 1.
    pub attempt: u32,
    pub input: Value,
    /// The results of the steps already done, by step name.
    pub results: BTreeMap<String, Value>,
    /// The versions of the templates and policies the instance runs under.
    pub versions: Value,
}

impl StepContext {
    /// The idempotency key for this step's calls to a system API: the same on every attempt,
    /// so a retried step cannot change anything twice. `call` tells calls of one step apart.
    pub fn idempotency_key(&self, call: &str) -> String {
        if call.is_empty() {
            format!("wf-{}-{}", self.instance_id, self.step)
        } else {
            format!("wf-{}-{}-{call}", self.instance_id, self.step)
        }
    }

    /// The result of an earlier step.
    pub fn result(&self, step: &str) -> Option<&Value> {
        self.results.get(step)
    }
}

/// A workflow: its steps, run in order, each at most once to completion.
#[async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// The kind of instance (`time-posting`), unique in the engine.
    fn kind(&self) -> &'static str;

    /// The steps in order.
    fn steps(&self) -> &[StepDef];

    /// The team that owns this workflow's exceptions. Default `operations`.
    fn owning_team(&self) -> &'static str {
        "operations"
    }

    /// Runs one step. `Error::Unavailable` is transient and retried under the step's policy;
    /// every other error sends the instance to the exception queue at once (or undoes it, when
    /// the workflow [compensates on failure](Workflow::compensate_on_failure)).
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error>;

    /// Undoes a done step whose definition says it has an undo, given the result it journaled.
    /// Called in reverse order when an instance is abandoned; must be idempotent (use
    /// `cx.idempotency_key("undo")`).
    ///
    /// In a workflow that [compensates on failure](Workflow::compensate_on_failure) the step
    /// that was refused is undone too (it may have acted in part before the refusal), with
    /// [`failed_step_result`] as its result: its undo must then restore what the step may have
    /// touched, and do nothing when it touched nothing.
    async fn compensate(&self, cx: &StepContext, result: &Value) -> Result<(), Error> {
        let _ = (cx, result);
        Ok(())
    }

    /// Whether a step's business error (any error but `UNAVAILABLE` / `DEADLINE_EXCEEDED`)
    /// undoes the instance at once instead of sending it to the exception queue. Default
    /// `false`.
    ///
    /// When `true`, a refused step is journaled with [`failed_step_result`] and moves the
    /// instance to [`Status::Compensating`] with the refusal as its reason and last error; its
    /// done steps with an undo, and the refused step itself if it has one, are undone latest
    /// first, and the instance ends [`Status::Abandoned`] (all or nothing, a saga). Transient
    /// errors are still retried, and an undo that fails goes to the exception queue
    /// (`COMPENSATION_FAILED`) as usual.
    ///
    /// [`Status::Compensating`]: crate::Status::Compensating
    /// [`Status::Abandoned`]: crate::Status::Abandoned
    fn compensate_on_failure(&self) -> bool {
        false
    }
}

/// The key of the result journaled for a refused step in a workflow that compensates on
/// failure: `{"failed": {"reason": "FAILED_PRECONDITION", "error": "..."}}`.
pub const FAILED_STEP: &str = "failed";

/// The result journaled for a step refused with `reason` and `error`, so that its undo runs.
pub fn failed_step_result(reason: &str, error: &Error) -> Value {
    serde_json::json!({ FAILED_STEP: { "reason": reason, "error": error.to_string() } })
}

/// The refusal recorded in a journaled result, if the step was refused rather than done.
pub fn step_refusal(result: &Value) -> Option<&str> {
    result.get(FAILED_STEP)?.get("error")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_one_second_and_stop_at_one_hundred() {
        let policy = RetryPolicy::default();
        for attempt in 1..30 {
            let delay = policy.delay_after(attempt);
            assert!(delay <= Duration::from_secs(100), "attempt {attempt}: {delay:?}");
            assert!(delay >= Duration::from_secs(1), "attempt {attempt}: {delay:?}");
        }
        // Jittered, but the later delays are far longer than the first on average.
        let early: Duration = (0..50).map(|_| policy.delay_after(1)).sum();
        let late: Duration = (0..50).map(|_| policy.delay_after(8)).sum();
        assert!(late > early * 10, "{early:?} vs {late:?}");
    }

    #[test]
    fn keys_are_stable_per_instance_and_step() {
        let cx = StepContext {
            instance_id: Uuid::nil(),
            kind: "k".into(),
            business_key: "b".into(),
            step: "post",
            attempt: 3,
            input: Value::Null,
            results: BTreeMap::new(),
            versions: Value::Null,
        };
        assert_eq!(cx.idempotency_key(""), format!("wf-{}-post", Uuid::nil()));
        assert_eq!(cx.idempotency_key("undo"), format!("wf-{}-post-undo", Uuid::nil()));
    }
}
