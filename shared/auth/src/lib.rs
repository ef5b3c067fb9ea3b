//! keel-auth
