//! The seam between the HRIS contract and an HR product.

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::hris::{Candidate, Employee, ImportProgress, ImportReport};
use tokio::sync::mpsc;

use crate::domain::{CandidateQuery, EmployeeChange, EmployeeFilter, EmployeeImport, NewEmployee};

/// What an HRIS must do for Keel. Changes take the caller (`actor`, for the audit log) and
/// the idempotency key; a replay returns the first result.
#[async_trait]
pub trait HrisAdapter: Send + Sync + 'static {
    /// An `employee_number` already on file is `AlreadyExists`.
    async fn create_employee(
        &self,
        actor: &str,
        idempotency_key: &str,
        employee: NewEmployee,
    ) -> Result<Employee, Error>;
    async fn get_employee(&self, id: uuid::Uuid) -> Result<Employee, Error>;
    async fn list_employees(&self, filter: EmployeeFilter, page: Page) -> Result<Vec<Employee>, Error>;

    /// Applies one change if the employee is still at `expected_version` (else `Aborted`
    /// naming the employee). A change that alters nothing returns the employee as it is.
    async fn update_employee(
        &self,
        actor: &str,
        idempotency_key: &str,
        change: EmployeeChange,
    ) -> Result<Employee, Error>;

    /// Active employees meeting `query`, in id order after `page.after`, at most `page.size`.
    async fn find_candidates(&self, query: CandidateQuery, page: Page) -> Result<Vec<Candidate>, Error>;

    /// Upserts the good rows by employee number, reporting progress to `progress` at least
    /// every 1,000 rows, and returns the report. A replay with the same key returns the
    /// stored report; the same key with another file is `KeyMismatch`.
    async fn import_employees(
        &self,
        actor: &str,
        idempotency_key: &str,
        import: EmployeeImport,
        progress: ImportProgressSink,
    ) -> Result<ImportReport, Error>;
}

/// Where an import reports how far it got. Reporting never fails the import: a caller that
/// went away just stops hearing about it.
#[derive(Debug, Clone)]
pub struct ImportProgressSink {
    sender: Option<mpsc::Sender<ImportProgress>>,
}

impl ImportProgressSink {
    /// A sink and the receiver its reports arrive on.
    pub fn channel(capacity: usize) -> (ImportProgressSink, mpsc::Receiver<ImportProgress>) {
        let (sender, receiver) = mpsc::channel(capacity);
        (ImportProgressSink { sender: Some(sender) }, receiver)
    }

    /// A sink nobody listens to.
    pub fn discard() -> ImportProgressSink {
        ImportProgressSink { sender: None }
    }

    pub async fn report(&self, rows_processed: u64, rows_total: u64) {
        if let Some(sender) = &self.sender {
            let _ = sender
                .send(ImportProgress {
                    rows_processed,
                    rows_total,
                    report: None,
                })
                .await;
        }
    }
}
