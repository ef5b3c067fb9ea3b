//! keel-erp
