//! keel-psa
