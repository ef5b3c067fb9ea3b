//! keel-events
