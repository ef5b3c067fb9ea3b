//! keel-project-setup
