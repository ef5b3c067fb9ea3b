//! keel-gateway
