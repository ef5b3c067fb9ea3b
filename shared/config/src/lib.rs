//! keel-config
