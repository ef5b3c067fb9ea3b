//! Where an instance is in its life.

/// The status of a workflow instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Steps remain; due at `next_run_at`.
    Running,
    /// A step waits for a person's decision.
    AwaitingApproval,
    /// In the exception queue: operations retries, resolves or abandons it.
    Exception,
    /// Abandoned: its done steps are being undone, latest first.
    Compensating,
    /// Every step done.
    Done,
    /// Closed by operations with a note.
    Resolved,
    /// Abandoned and undone.
    Abandoned,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Running,
        Status::AwaitingApproval,
        Status::Exception,
        Status::Compensating,
        Status::Done,
        Status::Resolved,
        Status::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::AwaitingApproval => "awaiting_approval",
            Status::Exception => "exception",
            Status::Compensating => "compensating",
            Status::Done => "done",
            Status::Resolved => "resolved",
            Status::Abandoned => "abandoned",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the instance still holds its business key.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Done | Status::Resolved | Status::Abandoned)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
