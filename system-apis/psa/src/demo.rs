//! Delivery templates for `keel up --demo` and the tests: the shipped template files
//! (`config/templates/`, read under `config/policies/templates.toml`), built into the crate so
//! tests need no working directory. `keel up` reads the same files from `templates.dir` at
//! start instead. A fixed-fee ERP deployment for EMEA, a smaller fixed-fee ERP deployment for
//! any region, and a time-and-materials data engagement for North America.

use std::path::Path;

use keel_proto::psa::DeliveryTemplate;

use crate::templates::{self, TemplatePolicy};

/// The shipped template files, in the order [`templates`] answers them.
const FILES: [(&str, &str); 3] = [
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
];

/// The shipped template policy.
const POLICY: (&str, &str) = (
    "config/policies/templates.toml",
    include_str!("../../../config/policies/templates.toml"),
);

/// The three shipped templates (`erp-fixed-fee-emea`, `erp-fixed-fee-any`, `data-tm-na`);
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
        assert_eq!(ids, ["erp-fixed-fee-emea", "erp-fixed-fee-any", "data-tm-na"]);
        for template in &templates {
            let spec = TemplateSpec::parse("template", Some(template)).unwrap();
            assert_eq!(spec.to_proto(0), *template, "{} is not in canonical form", template.id);
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
