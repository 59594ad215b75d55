//! How a call, or one attempt to connect it, ended.

/// The outcome of a call (and, except `unroutable` and `rejected`, of one attempt to connect
/// it to a target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// Connected to a target, which took the call.
    Completed,
    /// Rang until the ring timeout.
    NoAnswer,
    Busy,
    /// The target could not be reached (a SIP error, a stream that did not connect).
    Failed,
    /// No target could take it: no rule, no inbound agent, or only agents without a
    /// destination, or every target at its concurrency cap.
    Unroutable,
    /// Refused before routing: the number is unknown here or was released.
    Rejected,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Completed,
        CallOutcome::NoAnswer,
        CallOutcome::Busy,
        CallOutcome::Failed,
        CallOutcome::Unroutable,
        CallOutcome::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Completed => "completed",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Busy => "busy",
            CallOutcome::Failed => "failed",
            CallOutcome::Unroutable => "unroutable",
            CallOutcome::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// Whether the call should move on to its next target after an attempt ended so.
    pub fn moves_on(self) -> bool {
        matches!(
            self,
            CallOutcome::NoAnswer | CallOutcome::Busy | CallOutcome::Failed
        )
    }
}
