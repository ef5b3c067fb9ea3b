//! The gateway's limits, handed in by the composition root from configuration.

/// The most directives accepted on one field: a query flooding a field with directives is
/// refused before it runs.
pub const MAX_DIRECTIVES_PER_FIELD: usize = 4;

/// What the gateway accepts. The defaults are those of Keel's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Largest HTTP request body, in bytes; a larger one is answered 413.
    pub max_body_bytes: usize,
    /// Deepest field nesting a GraphQL operation may have.
    pub max_depth: usize,
    /// Largest complexity (fields selected) a GraphQL operation may have.
    pub max_complexity: usize,
    /// Whether `__schema` and `__type` are answered; when off they resolve to null.
    pub introspection: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            max_body_bytes: 256 * 1024,
            max_depth: 15,
            max_complexity: 500,
            introspection: true,
        }
    }
}
