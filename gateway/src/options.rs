//! The gateway's limits, handed in by the composition root from configuration.

/// The most directives accepted on one field: a query flooding a field with directives is
/// refused before it runs.
pub const MAX_DIRECTIVES_PER_FIELD: usize = 5;

/// What the gateway accepts and tells. The defaults are those of Keel's configuration when
/// every service runs in one process (`keel up`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Largest HTTP request body, in bytes; a larger one is answered 413.
    pub max_body_bytes: usize,
    /// Deepest nesting of data fields a GraphQL operation may have (introspection fields are
    /// not counted, so GraphiQL's schema query passes).
    pub max_depth: usize,
    /// Largest complexity (fields selected) a GraphQL operation may have.
    pub max_complexity: usize,
    /// Whether `__schema` and `__type` are answered; when off they resolve to null.
    pub introspection: bool,
    /// Whether an unknown field's error suggests the fields it may have meant.
    pub suggestions: bool,
    /// Whether each response carries `extensions.backendCalls`: the calls the request made to
    /// process and system APIs, by service and kind of lookup.
    pub report_backend_calls: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            max_body_bytes: 64 * 1024,
            max_depth: 10,
            max_complexity: 500,
            introspection: true,
            suggestions: true,
            report_backend_calls: true,
        }
    }
}
