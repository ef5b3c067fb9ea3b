//! Named checks, all run, reported together.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures::FutureExt;

/// What one check concluded: `Err` says what the adapter did wrong.
pub type CheckResult = Result<(), String>;

/// The same, for check bodies written as `async fn`.
pub type Outcome = CheckResult;

/// A check's future, borrowing the system's context.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

/// One rule an adapter must follow.
pub struct Check<C> {
    pub name: &'static str,
    pub run: for<'a> fn(&'a C) -> CheckFuture<'a>,
}

impl<C> std::fmt::Debug for Check<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// A system's checks.
#[derive(Debug)]
pub struct Kit<C> {
    system: &'static str,
    checks: Vec<Check<C>>,
}

impl<C: Sync> Kit<C> {
    pub fn new(system: &'static str) -> Kit<C> {
        Kit {
            system,
            checks: Vec::new(),
        }
    }

    pub fn check(mut self, name: &'static str, run: for<'a> fn(&'a C) -> CheckFuture<'a>) -> Kit<C> {
        self.checks.push(Check { name, run });
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name).collect()
    }

    /// Runs every check in order, whatever the earlier ones concluded. A check that panics
    /// fails with the panic's message.
    pub async fn run(&self, context: &C) -> Report {
        let mut outcomes = Vec::with_capacity(self.checks.len());
        for check in &self.checks {
            let outcome = match AssertUnwindSafe((check.run)(context)).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(panic) => Err(format!("panicked: {}", panic_message(&panic))),
            };
            outcomes.push((check.name, outcome));
        }
        Report {
            system: self.system,
            outcomes,
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic".to_string()
    }
}

/// What a run of the kit found.
#[derive(Debug)]
pub struct Report {
    pub system: &'static str,
    pub outcomes: Vec<(&'static str, CheckResult)>,
}

impl Report {
    pub fn passed(&self) -> Vec<&'static str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.is_ok())
            .map(|(n, _)| *n)
            .collect()
    }

    pub fn failed(&self) -> Vec<(&'static str, &str)> {
        self.outcomes
            .iter()
            .filter_map(|(n, o)| o.as_ref().err().map(|e| (*n, e.as_str())))
            .collect()
    }

    /// Panics with every failed check and its reason, if any failed.
    pub fn assert_passed(&self) {
        let failed = self.failed();
        eprintln!("{self}");
        if !failed.is_empty() {
            panic!("{self}");
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed = self.failed();
        writeln!(
            f,
            "conformance kit for {}: {} passed, {} failed",
            self.system,
            self.outcomes.len() - failed.len(),
            failed.len()
        )?;
        for (name, outcome) in &self.outcomes {
            match outcome {
                Ok(()) => writeln!(f, "  pass  {name}")?,
                Err(why) => writeln!(f, "  FAIL  {name}: {why}")?,
            }
        }
        Ok(())
    }
}
