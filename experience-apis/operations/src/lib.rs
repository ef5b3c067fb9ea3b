//! keel-experience-operations
