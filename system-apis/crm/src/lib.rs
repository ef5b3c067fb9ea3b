//! keel-crm
