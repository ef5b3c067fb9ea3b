//! Delivery templates for `keel up --demo` and the end-to-end tests: a fixed-fee ERP
//! deployment for EMEA, a smaller fixed-fee ERP deployment for any region, and a
//! time-and-materials data engagement for North America.

use keel_proto::psa::{DeliveryTemplate, TemplateMilestone, TemplatePhase, TemplateTask};

/// The three demo templates, in id order of no importance; each passes
/// [`TemplateSpec::parse`](crate::domain::TemplateSpec::parse).
pub fn templates() -> Vec<DeliveryTemplate> {
    vec![erp_fixed_fee_emea(), erp_fixed_fee_any(), data_tm_na()]
}

/// A task as (name, role, hours).
type TaskRow<'a> = (&'a str, &'a str, &'a str);
/// A phase as (name, tasks).
type PhaseRow<'a> = (&'a str, &'a [TaskRow<'a>]);

fn template(
    id: &str,
    name: &str,
    selector: [&str; 4],
    phases: &[PhaseRow<'_>],
    milestones: &[(&str, &str, u32)],
) -> DeliveryTemplate {
    let [service_line, contract_type, region, client_tier] = selector;
    DeliveryTemplate {
        id: id.into(),
        name: name.into(),
        version: 0,
        service_line: service_line.into(),
        contract_type: contract_type.into(),
        region: region.into(),
        client_tier: client_tier.into(),
        phases: phases
            .iter()
            .map(|(phase, tasks)| TemplatePhase {
                name: (*phase).into(),
                tasks: tasks
                    .iter()
                    .map(|(task, role, hours)| TemplateTask {
                        name: (*task).into(),
                        role: (*role).into(),
                        hours: (*hours).into(),
                    })
                    .collect(),
            })
            .collect(),
        milestones: milestones
            .iter()
            .map(|(milestone, percent, days)| TemplateMilestone {
                name: (*milestone).into(),
                percent_of_fee: (*percent).into(),
                due_after_days: *days,
            })
            .collect(),
    }
}

fn erp_fixed_fee_emea() -> DeliveryTemplate {
    template(
        "erp-fixed-fee-emea",
        "ERP deployment, fixed fee (EMEA)",
        ["erp-deployment", "fixed-fee", "emea", ""],
        &[
            (
                "Discover",
                &[
                    ("Kick-off and governance set-up", "engagement-manager", "16"),
                    ("Current-state process workshops", "solution-architect", "40"),
                    ("Requirements and fit-gap analysis", "functional-consultant", "80"),
                ],
            ),
            (
                "Design",
                &[
                    ("Solution blueprint", "solution-architect", "80"),
                    ("Functional design documents", "functional-consultant", "120"),
                    ("Integration and data-migration design", "developer", "40"),
                    ("Blueprint sign-off", "engagement-manager", "8"),
                ],
            ),
            (
                "Build",
                &[
                    ("System configuration", "functional-consultant", "240"),
                    ("Extensions and integrations", "developer", "320"),
                    ("Data-migration tooling", "developer", "120"),
                    ("Design authority reviews", "solution-architect", "40"),
                    ("Delivery management", "engagement-manager", "60"),
                ],
            ),
            (
                "Deploy",
                &[
                    ("User acceptance testing support", "functional-consultant", "80"),
                    ("Cut-over rehearsal and go-live", "developer", "60"),
                    ("Go-live readiness review", "solution-architect", "16"),
                    ("Hypercare and handover", "engagement-manager", "24"),
                ],
            ),
        ],
        &[
            ("Blueprint signed", "20", 30),
            ("Build complete", "40", 90),
            ("Go-live", "30", 150),
            ("Hypercare exit", "10", 180),
        ],
    )
}

fn erp_fixed_fee_any() -> DeliveryTemplate {
    template(
        "erp-fixed-fee-any",
        "ERP deployment, fixed fee (standard)",
        ["erp-deployment", "fixed-fee", "", ""],
        &[
            (
                "Design",
                &[
                    ("Kick-off and fit-gap workshops", "engagement-manager", "8"),
                    ("Solution design", "solution-architect", "40"),
                    ("Configuration workbook", "functional-consultant", "40"),
                ],
            ),
            (
                "Build and deploy",
                &[
                    ("System configuration", "functional-consultant", "120"),
                    ("Integrations", "developer", "80"),
                    ("Go-live and handover", "engagement-manager", "16"),
                ],
            ),
        ],
        &[
            ("Design approved", "30", 30),
            ("Go-live", "50", 90),
            ("Project close", "20", 120),
        ],
    )
}

fn data_tm_na() -> DeliveryTemplate {
    template(
        "data-tm-na",
        "Data and analytics, time and materials (North America)",
        ["data-analytics", "time-and-materials", "na", ""],
        &[
            (
                "Assess",
                &[
                    ("Stakeholder interviews", "engagement-manager", "12"),
                    ("Data landscape assessment", "data-architect", "40"),
                ],
            ),
            (
                "Build",
                &[
                    ("Data pipelines", "data-engineer", "160"),
                    ("Semantic model and dashboards", "analytics-consultant", "120"),
                    ("Architecture reviews", "data-architect", "24"),
                ],
            ),
            (
                "Adopt",
                &[
                    ("Training and enablement", "analytics-consultant", "32"),
                    ("Engagement close-out", "engagement-manager", "8"),
                ],
            ),
        ],
        &[
            ("Assessment report", "25", 30),
            ("Pipelines in production", "50", 90),
            ("Adoption complete", "25", 120),
        ],
    )
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
