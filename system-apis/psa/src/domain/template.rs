//! Delivery templates: a standard plan (phases of tasks by labor role and hours) and billing
//! milestones (shares of the fee, due some days after the start), with the selector values
//! (service line, contract type, region, client tier) the template is for.

use keel_core::{Error, Violations};
use keel_proto::psa::{
    DeliveryTemplate, TemplateMilestone, TemplatePhase, TemplateTask, UpsertDeliveryTemplateRequest,
};
use rust_decimal::Decimal;

use super::{Selector, TemplateId, decimal_text, parse_role, positive_decimal};

/// The most phases one template may hold.
pub const MAX_PHASES: usize = 50;
/// The most tasks one template may hold, over all its phases.
pub const MAX_TASKS: usize = 500;
/// The most milestones one template may hold.
pub const MAX_MILESTONES: usize = 50;
/// The most hours one task may plan.
pub const MAX_TASK_HOURS: i64 = 10_000;
/// The latest a milestone may fall due, in days after the start (about ten years).
pub const MAX_DUE_AFTER_DAYS: u32 = 3_660;
/// Hours are planned to the hundredth.
pub const HOURS_DECIMAL_PLACES: u32 = 2;
/// Milestone percentages are given to at most this many decimal places.
pub const PERCENT_DECIMAL_PLACES: u32 = 4;

/// One task of a template phase: who does it and for how many hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateTaskSpec {
    pub name: String,
    pub role: String,
    /// Greater than 0, at most two decimal places.
    pub hours: Decimal,
}

/// One phase of a template, with at least one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePhaseSpec {
    pub name: String,
    pub tasks: Vec<TemplateTaskSpec>,
}

/// One billing milestone of a template: a share of the fee, due some days after the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMilestoneSpec {
    pub name: String,
    /// Greater than 0; a template's percentages sum to exactly 100.
    pub percent_of_fee: Decimal,
    pub due_after_days: u32,
}

/// A checked delivery template (without its version, which the store assigns).
///
/// Only [`TemplateSpec::parse`] makes one, so it always holds at least one phase, every
/// phase at least one task, and milestones summing to 100 percent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    id: TemplateId,
    name: String,
    selector: Selector,
    phases: Vec<TemplatePhaseSpec>,
    milestones: Vec<TemplateMilestoneSpec>,
}

impl TemplateSpec {
    /// Checks a template message; `field` is its path in the request (`template`), and each
    /// violation is named below it (`template.phases[1].tasks[0].hours`).
    pub fn parse(field: &str, template: Option<&DeliveryTemplate>) -> Result<TemplateSpec, Error> {
        let mut violations = Violations::new();
        let spec = Self::parse_into(&mut violations, field, template);
        violations.finish()?;
        spec.ok_or_else(|| Error::invalid(field, "is required"))
    }

    fn parse_into(
        violations: &mut Violations,
        field: &str,
        template: Option<&DeliveryTemplate>,
    ) -> Option<TemplateSpec> {
        let Some(template) = template else {
            violations.add(field, "is required");
            return None;
        };
        let id = TemplateId::parse(violations, &format!("{field}.id"), &template.id);
        let name = violations.required_text(&format!("{field}.name"), &template.name);
        let selector = Selector::parse(
            violations,
            &format!("{field}."),
            &template.service_line,
            &template.contract_type,
            &template.region,
            &template.client_tier,
        );
        let phases = parse_phases(violations, field, &template.phases);
        let milestones = parse_milestones(violations, field, &template.milestones);
        if !violations.is_empty() {
            return None;
        }
        Some(TemplateSpec {
            id: id?,
            name,
            selector,
            phases,
            milestones,
        })
    }

    /// The stable key.
    pub fn id(&self) -> &TemplateId {
        &self.id
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the template is for; empty values match any.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The phases, each with at least one task.
    pub fn phases(&self) -> &[TemplatePhaseSpec] {
        &self.phases
    }

    /// The billing milestones; their percentages sum to 100.
    pub fn milestones(&self) -> &[TemplateMilestoneSpec] {
        &self.milestones
    }

    /// The contract's form, at `version`. Decimals are written normalized (`8`, `12.5`).
    pub fn to_proto(&self, version: u32) -> DeliveryTemplate {
        DeliveryTemplate {
            id: self.id.as_str().to_string(),
            name: self.name.clone(),
            version,
            service_line: self.selector.service_line.clone(),
            contract_type: self.selector.contract_type.clone(),
            region: self.selector.region.clone(),
            client_tier: self.selector.client_tier.clone(),
            phases: self
                .phases
                .iter()
                .map(|phase| TemplatePhase {
                    name: phase.name.clone(),
                    tasks: phase
                        .tasks
                        .iter()
                        .map(|task| TemplateTask {
                            name: task.name.clone(),
                            role: task.role.clone(),
                            hours: decimal_text(task.hours),
                        })
                        .collect(),
                })
                .collect(),
            milestones: self
                .milestones
                .iter()
                .map(|milestone| TemplateMilestone {
                    name: milestone.name.clone(),
                    percent_of_fee: decimal_text(milestone.percent_of_fee),
                    due_after_days: milestone.due_after_days,
                })
                .collect(),
        }
    }
}

fn parse_phases(violations: &mut Violations, field: &str, phases: &[TemplatePhase]) -> Vec<TemplatePhaseSpec> {
    let field = format!("{field}.phases");
    if phases.is_empty() {
        violations.add(&field, "must list at least one phase");
        return Vec::new();
    }
    if phases.len() > MAX_PHASES {
        violations.add(
            &field,
            format!("must list at most {MAX_PHASES} phases, it lists {}", phases.len()),
        );
        return Vec::new();
    }
    let task_count: usize = phases.iter().map(|p| p.tasks.len()).sum();
    if task_count > MAX_TASKS {
        violations.add(
            &field,
            format!("must hold at most {MAX_TASKS} tasks in all, they hold {task_count}"),
        );
        return Vec::new();
    }
    let max_hours = Decimal::from(MAX_TASK_HOURS);
    phases
        .iter()
        .enumerate()
        .map(|(p, phase)| {
            let phase_field = format!("{field}[{p}]");
            let name = violations.required_text(&format!("{phase_field}.name"), &phase.name);
            if phase.tasks.is_empty() {
                violations.add(format!("{phase_field}.tasks"), "must list at least one task");
            }
            let tasks = phase
                .tasks
                .iter()
                .enumerate()
                .map(|(t, task)| {
                    let task_field = format!("{phase_field}.tasks[{t}]");
                    TemplateTaskSpec {
                        name: violations.required_text(&format!("{task_field}.name"), &task.name),
                        role: parse_role(violations, &format!("{task_field}.role"), &task.role),
                        hours: positive_decimal(
                            violations,
                            &format!("{task_field}.hours"),
                            &task.hours,
                            HOURS_DECIMAL_PLACES,
                            max_hours,
                        )
                        .unwrap_or_default(),
                    }
                })
                .collect();
            TemplatePhaseSpec { name, tasks }
        })
        .collect()
}

fn parse_milestones(
    violations: &mut Violations,
    field: &str,
    milestones: &[TemplateMilestone],
) -> Vec<TemplateMilestoneSpec> {
    let field = format!("{field}.milestones");
    if milestones.is_empty() {
        violations.add(&field, "must list at least one milestone");
        return Vec::new();
    }
    if milestones.len() > MAX_MILESTONES {
        violations.add(
            &field,
            format!(
                "must list at most {MAX_MILESTONES} milestones, it lists {}",
                milestones.len()
            ),
        );
        return Vec::new();
    }
    let hundred = Decimal::ONE_HUNDRED;
    let mut all_percentages_valid = true;
    let parsed: Vec<TemplateMilestoneSpec> = milestones
        .iter()
        .enumerate()
        .map(|(m, milestone)| {
            let milestone_field = format!("{field}[{m}]");
            let name = violations.required_text(&format!("{milestone_field}.name"), &milestone.name);
            let percent = positive_decimal(
                violations,
                &format!("{milestone_field}.percent_of_fee"),
                &milestone.percent_of_fee,
                PERCENT_DECIMAL_PLACES,
                hundred,
            );
            all_percentages_valid &= percent.is_some();
            if milestone.due_after_days > MAX_DUE_AFTER_DAYS {
                violations.add(
                    format!("{milestone_field}.due_after_days"),
                    format!("must be at most {MAX_DUE_AFTER_DAYS} days"),
                );
            }
            TemplateMilestoneSpec {
                name,
                percent_of_fee: percent.unwrap_or_default(),
                due_after_days: milestone.due_after_days,
            }
        })
        .collect();
    if all_percentages_valid {
        let sum: Decimal = parsed.iter().map(|m| m.percent_of_fee).sum();
        if sum != hundred {
            violations.add(
                &field,
                format!("percent_of_fee must sum to 100, they sum to {}", decimal_text(sum)),
            );
        }
    }
    parsed
}

/// A checked `UpsertDeliveryTemplate` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTemplate {
    /// The replay key of this change.
    pub idempotency_key: String,
    pub template: TemplateSpec,
}

impl NewTemplate {
    /// Checks the request, naming every field at fault. The request's `template.version` is
    /// ignored: the store assigns versions.
    pub fn parse(request: &UpsertDeliveryTemplateRequest) -> Result<NewTemplate, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let template = TemplateSpec::parse_into(&mut violations, "template", request.template.as_ref());
        violations.finish()?;
        let template = template.ok_or_else(|| Error::invalid("template", "is required"))?;
        Ok(NewTemplate {
            idempotency_key,
            template,
        })
    }

    /// The request in canonical form (trimmed, decimals normalized, version 0): equal inputs
    /// give equal requests, which is what an idempotency fingerprint needs.
    pub fn to_request(&self) -> UpsertDeliveryTemplateRequest {
        UpsertDeliveryTemplateRequest {
            idempotency_key: self.idempotency_key.clone(),
            template: Some(self.template.to_proto(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, role: &str, hours: &str) -> TemplateTask {
        TemplateTask {
            name: name.into(),
            role: role.into(),
            hours: hours.into(),
        }
    }

    fn milestone(name: &str, percent: &str, days: u32) -> TemplateMilestone {
        TemplateMilestone {
            name: name.into(),
            percent_of_fee: percent.into(),
            due_after_days: days,
        }
    }

    fn good() -> DeliveryTemplate {
        DeliveryTemplate {
            id: "erp-fixed-fee-emea".into(),
            name: "ERP fixed fee (EMEA)".into(),
            version: 7,
            service_line: "erp-deployment".into(),
            contract_type: "fixed-fee".into(),
            region: "emea".into(),
            client_tier: String::new(),
            phases: vec![
                TemplatePhase {
                    name: "Discover".into(),
                    tasks: vec![
                        task("Kick-off", "engagement-manager", "8"),
                        task("Workshops", "solution-architect", "40"),
                    ],
                },
                TemplatePhase {
                    name: "Build".into(),
                    tasks: vec![task("Configure", "functional-consultant", "120.5")],
                },
            ],
            milestones: vec![milestone("Blueprint signed", "20", 30), milestone("Go-live", "80", 150)],
        }
    }

    fn request(template: DeliveryTemplate) -> UpsertDeliveryTemplateRequest {
        UpsertDeliveryTemplateRequest {
            idempotency_key: "k-1".into(),
            template: Some(template),
        }
    }

    fn fields(error: &Error) -> Vec<String> {
        error.field_violations().iter().map(|v| v.field.clone()).collect()
    }

    #[test]
    fn a_good_template_parses_and_round_trips() {
        let parsed = NewTemplate::parse(&request(good())).unwrap();
        assert_eq!(parsed.idempotency_key, "k-1");
        let spec = &parsed.template;
        assert_eq!(spec.id().as_str(), "erp-fixed-fee-emea");
        assert_eq!(spec.phases()[1].tasks[0].hours, Decimal::new(1205, 1));
        let mut expected = good();
        expected.version = 3;
        assert_eq!(spec.to_proto(3), expected);
        // Parsing the proto form gives the same checked template.
        assert_eq!(TemplateSpec::parse("template", Some(&spec.to_proto(3))).unwrap(), *spec);
    }

    #[test]
    fn equivalent_spellings_give_equal_templates() {
        let mut spelled = good();
        spelled.name = "  ERP fixed fee (EMEA) ".into();
        spelled.phases[0].tasks[0].hours = "8.00".into();
        spelled.milestones[0].percent_of_fee = "20.0".into();
        let a = NewTemplate::parse(&request(good())).unwrap();
        let b = NewTemplate::parse(&request(spelled)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_request(), b.to_request());
    }

    #[test]
    fn every_bad_field_is_named_with_its_path() {
        type Change = fn(&mut DeliveryTemplate);
        let table: &[(Change, &[&str])] = &[
            (|t| t.id = String::new(), &["template.id"]),
            (|t| t.id = "ERP-Fixed".into(), &["template.id"]),
            (|t| t.id = "x".repeat(65), &["template.id"]),
            (|t| t.name = "  ".into(), &["template.name"]),
            (|t| t.region = "EMEA".into(), &["template.region"]),
            (|t| t.client_tier = "tier one".into(), &["template.client_tier"]),
            (|t| t.service_line = "erp_deployment".into(), &["template.service_line"]),
            (|t| t.contract_type = "Fixed".into(), &["template.contract_type"]),
            (|t| t.phases.clear(), &["template.phases"]),
            (|t| t.phases[1].name = String::new(), &["template.phases[1].name"]),
            (|t| t.phases[1].tasks.clear(), &["template.phases[1].tasks"]),
            (
                |t| t.phases[1].tasks[0].hours = "0".into(),
                &["template.phases[1].tasks[0].hours"],
            ),
            (
                |t| t.phases[1].tasks[0].hours = "-4".into(),
                &["template.phases[1].tasks[0].hours"],
            ),
            (
                |t| t.phases[1].tasks[0].hours = "1.125".into(),
                &["template.phases[1].tasks[0].hours"],
            ),
            (
                |t| t.phases[1].tasks[0].hours = "lots".into(),
                &["template.phases[1].tasks[0].hours"],
            ),
            (
                |t| t.phases[1].tasks[0].hours = String::new(),
                &["template.phases[1].tasks[0].hours"],
            ),
            (
                |t| t.phases[1].tasks[0].hours = "10000.01".into(),
                &["template.phases[1].tasks[0].hours"],
            ),
            (
                |t| t.phases[0].tasks[1].role = "Solution Architect".into(),
                &["template.phases[0].tasks[1].role"],
            ),
            (
                |t| t.phases[0].tasks[1].role = String::new(),
                &["template.phases[0].tasks[1].role"],
            ),
            (
                |t| t.phases[0].tasks[1].name = String::new(),
                &["template.phases[0].tasks[1].name"],
            ),
            (|t| t.milestones.clear(), &["template.milestones"]),
            (
                |t| t.milestones[0].name = String::new(),
                &["template.milestones[0].name"],
            ),
            (
                |t| t.milestones[0].percent_of_fee = "10".into(),
                &["template.milestones"],
            ),
            (
                |t| t.milestones[0].percent_of_fee = "0".into(),
                &["template.milestones[0].percent_of_fee"],
            ),
            (
                |t| t.milestones[0].percent_of_fee = "x".into(),
                &["template.milestones[0].percent_of_fee"],
            ),
            (
                |t| t.milestones[0].percent_of_fee = "120".into(),
                &["template.milestones[0].percent_of_fee"],
            ),
            (
                |t| t.milestones[0].percent_of_fee = "20.00001".into(),
                &["template.milestones[0].percent_of_fee"],
            ),
            (
                |t| t.milestones[1].due_after_days = 100_000,
                &["template.milestones[1].due_after_days"],
            ),
            (
                |t| {
                    t.name.clear();
                    t.phases[0].tasks[0].hours = "0".into();
                    t.milestones[1].name.clear();
                },
                &[
                    "template.name",
                    "template.phases[0].tasks[0].hours",
                    "template.milestones[1].name",
                ],
            ),
            (
                |t| t.phases = vec![t.phases[0].clone(); MAX_PHASES + 1],
                &["template.phases"],
            ),
            (
                |t| t.phases[0].tasks = vec![task("t", "developer", "1"); MAX_TASKS + 1],
                &["template.phases"],
            ),
            (
                |t| t.milestones = vec![milestone("m", "1", 1); MAX_MILESTONES + 1],
                &["template.milestones"],
            ),
        ];
        for (change, expected) in table {
            let mut template = good();
            change(&mut template);
            let error = NewTemplate::parse(&request(template.clone())).unwrap_err();
            assert_eq!(fields(&error), *expected, "{template:?}");
        }
    }

    #[test]
    fn percentages_must_sum_to_exactly_100() {
        let mut template = good();
        template.milestones = vec![milestone("a", "20", 1), milestone("b", "70", 2)];
        let error = NewTemplate::parse(&request(template)).unwrap_err();
        assert_eq!(error.field_violations()[0].field, "template.milestones");
        assert_eq!(
            error.field_violations()[0].description,
            "percent_of_fee must sum to 100, they sum to 90"
        );

        let mut template = good();
        template.milestones = vec![
            milestone("a", "33.3333", 1),
            milestone("b", "33.3333", 2),
            milestone("c", "33.3334", 3),
        ];
        assert!(NewTemplate::parse(&request(template)).is_ok());
    }

    #[test]
    fn a_missing_template_or_key_is_named() {
        let error = NewTemplate::parse(&UpsertDeliveryTemplateRequest::default()).unwrap_err();
        assert_eq!(fields(&error), ["idempotency_key", "template"]);
    }
}
