//! keel-experience-project-manager
