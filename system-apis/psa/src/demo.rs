//! Delivery templates for `keel up --demo` and the tests: the shipped template files
//! (`config/templates/`, read under `config/policies/templates.toml`), built into the crate so
//! tests need no working directory. `keel up` reads the same files from `templates.dir` at
//! start instead. A fixed-fee ERP deployment for EMEA, a smaller fixed-fee ERP deployment for
//! any region, and a time-and-materials data engagement for North America.

use std::path::Path;

use keel_proto::psa::DeliveryTemplate;

use crate::templates::{self, TemplatePolicy};

/// The shipped template files, in the order [`templates`] answers them.
const FILES: [(&str, &str); 7] = [
    (
        "config/templates/erp-fixed-fee-emea.toml",
        include_str!("../../../config/templates/erp-fixed-fee-emea.toml"),
    ),
    (
        "config/templates/erp-fixed-fee-any.toml",
        include_str!("../../../config/templates/erp-fixed-fee-any.toml"),
    ),
    (
        "config/templates/data-tm-na.toml",
        include_str!("../../../config/templates/data-tm-na.toml"),
    ),
    (
        "config/templates/cloud-fixed-fee-any.toml",
        include_str!("../../../config/templates/cloud-fixed-fee-any.toml"),
    ),
    (
        "config/templates/crm-fixed-fee-any.toml",
        include_str!("../../../config/templates/crm-fixed-fee-any.toml"),
    ),
    (
        "config/templates/security-tm-any.toml",
        include_str!("../../../config/templates/security-tm-any.toml"),
    ),
    (
        "config/templates/ams-tm-any.toml",
        include_str!("../../../config/templates/ams-tm-any.toml"),
    ),
];

/// The shipped template policy.
const POLICY: (&str, &str) = (
    "config/policies/templates.toml",
    include_str!("../../../config/policies/templates.toml"),
);

/// The seven shipped templates (`erp-fixed-fee-emea`, `erp-fixed-fee-any`, `data-tm-na`,
/// `cloud-fixed-fee-any`, `crm-fixed-fee-any`, `security-tm-any`, `ams-tm-any`): every template
/// the SOW recommender can answer, so approving any recommendation sets the project up;
/// each passes [`TemplateSpec::parse`](crate::domain::TemplateSpec::parse).
pub fn templates() -> Vec<DeliveryTemplate> {
    // The files are part of the build and checked by this module's tests: a broken one fails
    // them, never a caller.
    let policy = TemplatePolicy::parse(Path::new(POLICY.0), POLICY.1).unwrap_or_default();
    FILES
        .iter()
        .filter_map(|(path, text)| templates::parse(Path::new(path), text, &policy).ok())
        .map(|loaded| loaded.template)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TemplateSpec;

    #[test]
    fn every_demo_template_is_valid_and_has_a_unique_id() {
        let templates = templates();
        let ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "erp-fixed-fee-emea",
                "erp-fixed-fee-any",
                "data-tm-na",
                "cloud-fixed-fee-any",
                "crm-fixed-fee-any",
                "security-tm-any",
                "ams-tm-any"
            ]
        );
        for template in &templates {
            let spec = TemplateSpec::parse("template", Some(template)).unwrap();
            assert_eq!(spec.to_proto(0), *template, "{} is not in canonical form", template.id);
        }
    }

    /// The firm's labelled SOWs the recommender learns from: the templates it can answer.
    const TRAINING_SOWS: &str = include_str!("../../../shared/insight/data/sows/train.jsonl");

    #[test]
    fn every_template_the_recommender_can_answer_is_in_the_demo() {
        let mut labels: Vec<String> = TRAINING_SOWS
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let sow: serde_json::Value = serde_json::from_str(line).unwrap();
                sow["template"].as_str().expect("a labelled template").to_string()
            })
            .collect();
        labels.sort_unstable();
        labels.dedup();
        assert!(labels.len() >= 6, "{labels:?}");
        let demo: Vec<String> = templates().into_iter().map(|t| t.id).collect();
        for label in &labels {
            assert!(
                demo.contains(label),
                "the recommender can answer {label}, which PSA's demo lacks"
            );
        }
        // Each has phases, tasks with hours, and milestones splitting the whole fee.
        for template in templates() {
            assert!(template.phases.len() >= 2, "{}", template.id);
            assert!(template.phases.iter().all(|p| !p.tasks.is_empty()), "{}", template.id);
            assert!(template.milestones.len() >= 3, "{}", template.id);
        }
    }

    #[test]
    fn the_emea_template_matches_the_scenario() {
        let emea = &templates()[0];
        assert_eq!(
            (emea.service_line.as_str(), emea.contract_type.as_str()),
            ("erp-deployment", "fixed-fee")
        );
        assert_eq!((emea.region.as_str(), emea.client_tier.as_str()), ("emea", ""));
        let phases: Vec<&str> = emea.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(phases, ["Discover", "Design", "Build", "Deploy"]);
        let mut roles: Vec<&str> = emea
            .phases
            .iter()
            .flat_map(|p| &p.tasks)
            .map(|t| t.role.as_str())
            .collect();
        roles.sort_unstable();
        roles.dedup();
        assert_eq!(
            roles,
            [
                "developer",
                "engagement-manager",
                "functional-consultant",
                "solution-architect"
            ]
        );
    }
}
