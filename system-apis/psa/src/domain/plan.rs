//! Instantiating a delivery template for a deal: the project's phases and tasks, its billing
//! milestones (the contract value split by each milestone's share of the fee) and its budget
//! baseline (hours by role, and the contract value split across roles by hours).
//!
//! Every split goes through [`Money::allocate`] (largest remainder), which never loses or makes a
//! cent: milestones and baseline lines always sum to exactly the contract value.

use chrono::NaiveDate;
use keel_core::{Error, Money};
use rust_decimal::Decimal;

use super::template::TemplateSpec;

/// A project task, planned from a template task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    pub name: String,
    pub role: String,
    pub planned_hours: Decimal,
}

/// A project phase, planned from a template phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPhase {
    pub name: String,
    pub tasks: Vec<PlannedTask>,
}

/// A billing milestone: its share of the contract value and when it falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMilestone {
    pub name: String,
    pub amount: Money,
    pub due_date: NaiveDate,
}

/// The hours and money one labor role is budgeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineLine {
    pub role: String,
    pub hours: Decimal,
    pub amount: Money,
}

/// The budget a project is measured against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// One line per role, in the order the role first appears in the plan.
    pub lines: Vec<BaselineLine>,
    pub total_hours: Decimal,
    /// Always the contract value.
    pub total: Money,
}

/// Everything a project gets from its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPlan {
    pub phases: Vec<PlannedPhase>,
    pub milestones: Vec<PlannedMilestone>,
    pub baseline: Baseline,
}

impl ProjectPlan {
    /// Plans a project of `contract_value` starting on `start_date` from `template`.
    ///
    /// Fails only when a milestone would fall due beyond the calendar (a start date near
    /// the end of time), naming `start_date`.
    pub fn instantiate(
        template: &TemplateSpec,
        contract_value: Money,
        start_date: NaiveDate,
    ) -> Result<ProjectPlan, Error> {
        let phases: Vec<PlannedPhase> = template
            .phases()
            .iter()
            .map(|phase| PlannedPhase {
                name: phase.name.clone(),
                tasks: phase
                    .tasks
                    .iter()
                    .map(|task| PlannedTask {
                        name: task.name.clone(),
                        role: task.role.clone(),
                        planned_hours: task.hours,
                    })
                    .collect(),
            })
            .collect();

        let percentages: Vec<Decimal> = template.milestones().iter().map(|m| m.percent_of_fee).collect();
        let amounts = split(contract_value, &percentages)?;
        let milestones = template
            .milestones()
            .iter()
            .zip(amounts)
            .map(|(milestone, amount)| {
                let due_date = start_date
                    .checked_add_days(chrono::Days::new(u64::from(milestone.due_after_days)))
                    .ok_or_else(|| Error::invalid("start_date", "puts a milestone's due date beyond the calendar"))?;
                Ok(PlannedMilestone {
                    name: milestone.name.clone(),
                    amount,
                    due_date,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;

        let mut hours_by_role: Vec<(String, Decimal)> = Vec::new();
        for task in phases.iter().flat_map(|phase| &phase.tasks) {
            match hours_by_role.iter_mut().find(|(role, _)| *role == task.role) {
                Some((_, hours)) => *hours += task.planned_hours,
                None => hours_by_role.push((task.role.clone(), task.planned_hours)),
            }
        }
        let role_hours: Vec<Decimal> = hours_by_role.iter().map(|(_, hours)| *hours).collect();
        let role_amounts = split(contract_value, &role_hours)?;
        let lines: Vec<BaselineLine> = hours_by_role
            .into_iter()
            .zip(role_amounts)
            .map(|((role, hours), amount)| BaselineLine { role, hours, amount })
            .collect();
        let total_hours = lines.iter().map(|line| line.hours).sum();

        Ok(ProjectPlan {
            phases,
            milestones,
            baseline: Baseline {
                lines,
                total_hours,
                total: contract_value,
            },
        })
    }
}

/// `amount` split by `weights` (all positive), one share per weight.
fn split(amount: Money, weights: &[Decimal]) -> Result<Vec<Money>, Error> {
    let shares = amount.allocate(weights);
    if shares.len() != weights.len() {
        return Err(Error::internal(format!(
            "allocating {amount} over {} weights gave {} shares",
            weights.len(),
            shares.len()
        )));
    }
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use keel_proto::psa::{DeliveryTemplate, TemplateMilestone, TemplatePhase, TemplateTask};
    use proptest::prelude::*;

    use super::*;

    fn template(phases: &[&[(&str, &str)]], milestones: &[(&str, u32)]) -> TemplateSpec {
        let proto = DeliveryTemplate {
            id: "t".into(),
            name: "T".into(),
            phases: phases
                .iter()
                .enumerate()
                .map(|(p, tasks)| TemplatePhase {
                    name: format!("Phase {p}"),
                    tasks: tasks
                        .iter()
                        .enumerate()
                        .map(|(t, (role, hours))| TemplateTask {
                            name: format!("Task {t}"),
                            role: (*role).into(),
                            hours: (*hours).into(),
                        })
                        .collect(),
                })
                .collect(),
            milestones: milestones
                .iter()
                .enumerate()
                .map(|(m, (percent, days))| TemplateMilestone {
                    name: format!("Milestone {m}"),
                    percent_of_fee: (*percent).into(),
                    due_after_days: *days,
                })
                .collect(),
            ..Default::default()
        };
        TemplateSpec::parse("template", Some(&proto)).unwrap()
    }

    fn money(amount: &str, currency: &str) -> Money {
        Money::parse("m", amount, currency).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn amounts(moneys: impl IntoIterator<Item = Money>) -> Vec<String> {
        moneys.into_iter().map(|m| m.to_proto().amount).collect()
    }

    #[test]
    fn milestones_split_the_fee_by_percentage_and_fall_due_after_the_start() {
        let fixed_fee = template(
            &[&[("developer", "10")]],
            &[("20", 30), ("40", 90), ("30", 150), ("10", 180)],
        );
        struct Case {
            contract: (&'static str, &'static str),
            expected: &'static [&'static str],
        }
        let table = [
            Case {
                contract: ("1000000", "USD"),
                expected: &["200000.00", "400000.00", "300000.00", "100000.00"],
            },
            Case {
                contract: ("0.01", "USD"),
                expected: &["0.00", "0.01", "0.00", "0.00"],
            },
            Case {
                contract: ("999.99", "EUR"),
                expected: &["200.00", "399.99", "300.00", "100.00"],
            },
            Case {
                contract: ("12345", "JPY"),
                expected: &["2469", "4938", "3704", "1234"],
            },
            Case {
                contract: ("0", "USD"),
                expected: &["0.00", "0.00", "0.00", "0.00"],
            },
        ];
        for case in table {
            let value = money(case.contract.0, case.contract.1);
            let plan = ProjectPlan::instantiate(&fixed_fee, value, date("2026-12-01")).unwrap();
            let got = amounts(plan.milestones.iter().map(|m| m.amount));
            assert_eq!(got, case.expected, "{:?}", case.contract);
            let dates: Vec<String> = plan.milestones.iter().map(|m| m.due_date.to_string()).collect();
            assert_eq!(dates, ["2026-12-31", "2027-03-01", "2027-04-30", "2027-05-30"]);
        }
    }

    #[test]
    fn thirds_give_the_leftover_cent_to_the_largest_share() {
        let thirds = template(
            &[&[("developer", "1")]],
            &[("33.3333", 0), ("33.3333", 0), ("33.3334", 0)],
        );
        let plan = ProjectPlan::instantiate(&thirds, money("100", "USD"), date("2026-01-01")).unwrap();
        assert_eq!(
            amounts(plan.milestones.iter().map(|m| m.amount)),
            ["33.33", "33.33", "33.34"]
        );
    }

    #[test]
    fn the_baseline_sums_hours_by_role_in_order_of_first_appearance() {
        let plan_of = template(
            &[
                &[("engagement-manager", "8"), ("solution-architect", "40")],
                &[
                    ("developer", "100.5"),
                    ("solution-architect", "20"),
                    ("developer", "59.5"),
                ],
                &[("engagement-manager", "12")],
            ],
            &[("100", 30)],
        );
        struct Case {
            contract: &'static str,
            expected: &'static [(&'static str, &'static str, &'static str)],
        }
        // 240 hours: engagement-manager 20, solution-architect 60, developer 160.
        let table = [
            Case {
                contract: "240000",
                expected: &[
                    ("engagement-manager", "20", "20000.00"),
                    ("solution-architect", "60", "60000.00"),
                    ("developer", "160", "160000.00"),
                ],
            },
            Case {
                contract: "100",
                expected: &[
                    ("engagement-manager", "20", "8.33"),
                    ("solution-architect", "60", "25.00"),
                    ("developer", "160", "66.67"),
                ],
            },
        ];
        for case in table {
            let value = money(case.contract, "USD");
            let plan = ProjectPlan::instantiate(&plan_of, value, date("2026-01-01")).unwrap();
            let lines: Vec<(String, String, String)> = plan
                .baseline
                .lines
                .iter()
                .map(|l| {
                    (
                        l.role.clone(),
                        super::super::decimal_text(l.hours),
                        l.amount.to_proto().amount,
                    )
                })
                .collect();
            let expected: Vec<(String, String, String)> = case
                .expected
                .iter()
                .map(|(r, h, a)| (r.to_string(), h.to_string(), a.to_string()))
                .collect();
            assert_eq!(lines, expected, "{}", case.contract);
            assert_eq!(plan.baseline.total_hours, Decimal::from(240));
            assert_eq!(plan.baseline.total, value);
        }
    }

    #[test]
    fn phases_and_tasks_are_copied_with_their_hours() {
        let spec = template(
            &[&[("developer", "7.25"), ("tester", "3")], &[("developer", "1")]],
            &[("100", 0)],
        );
        let plan = ProjectPlan::instantiate(&spec, money("10", "USD"), date("2026-01-01")).unwrap();
        assert_eq!(plan.phases.len(), 2);
        assert_eq!(plan.phases[0].name, "Phase 0");
        assert_eq!(plan.phases[0].tasks[0].planned_hours, Decimal::new(725, 2));
        assert_eq!(plan.phases[0].tasks[1].role, "tester");
        assert_eq!(plan.phases[1].tasks.len(), 1);
    }

    #[test]
    fn a_due_date_beyond_the_calendar_names_the_start_date() {
        let spec = template(&[&[("developer", "1")]], &[("100", 30)]);
        let error = ProjectPlan::instantiate(&spec, money("10", "USD"), NaiveDate::MAX).unwrap_err();
        assert_eq!(error.field_violations()[0].field, "start_date");
    }

    fn sum_minor(moneys: impl IntoIterator<Item = Money>) -> i64 {
        moneys.into_iter().map(|m| m.to_minor_units()).sum()
    }

    proptest! {
        #[test]
        fn milestones_and_baseline_always_sum_to_the_contract_value(
            cents in 0_i64..1_000_000_000_000_000,
            // Percentages in hundredths of a percent, made to sum to exactly 100 below.
            shares in proptest::collection::vec(1_u32..10_000, 1..12),
            // Tasks as (role index, hours in hundredths).
            tasks in proptest::collection::vec((0_usize..6, 1_u32..1_000_000), 1..40),
            currency in prop_oneof![Just("USD"), Just("JPY"), Just("BHD")],
        ) {
            let total: u32 = shares.iter().sum();
            // Scale each share to basis points of 100% (4 decimals), the last takes the rest.
            let mut percents: Vec<Decimal> = shares
                .iter()
                .map(|s| (Decimal::from(*s) * Decimal::from(100) / Decimal::from(total)).round_dp(4))
                .collect();
            let head: Decimal = percents[..percents.len() - 1].iter().copied().sum();
            let last = Decimal::ONE_HUNDRED - head;
            prop_assume!(last > Decimal::ZERO && percents.iter().all(|p| *p > Decimal::ZERO));
            *percents.last_mut().unwrap() = last;
            let milestones: Vec<(String, u32)> = percents.iter().map(|p| (p.to_string(), 10)).collect();
            let milestone_refs: Vec<(&str, u32)> = milestones.iter().map(|(p, d)| (p.as_str(), *d)).collect();
            let task_texts: Vec<(String, String)> = tasks
                .iter()
                .map(|(role, hours)| (format!("role-{role}"), Decimal::new(i64::from(*hours), 2).to_string()))
                .collect();
            let task_refs: Vec<(&str, &str)> = task_texts.iter().map(|(r, h)| (r.as_str(), h.as_str())).collect();
            let spec = template(&[&task_refs], &milestone_refs);

            let currency = keel_core::Currency::parse(currency).unwrap();
            let minor = cents / 10_i64.pow(3 - currency.minor_unit_digits().min(3));
            let value = Money::from_minor_units(minor, currency);
            let plan = ProjectPlan::instantiate(&spec, value, date("2026-01-01")).unwrap();

            prop_assert_eq!(plan.milestones.len(), percents.len());
            prop_assert_eq!(sum_minor(plan.milestones.iter().map(|m| m.amount)), value.to_minor_units());
            prop_assert_eq!(sum_minor(plan.baseline.lines.iter().map(|l| l.amount)), value.to_minor_units());
            let planned: Decimal = plan.phases.iter().flat_map(|p| &p.tasks).map(|t| t.planned_hours).sum();
            prop_assert_eq!(plan.baseline.total_hours, planned);
            let by_lines: Decimal = plan.baseline.lines.iter().map(|l| l.hours).sum();
            prop_assert_eq!(by_lines, planned);
            prop_assert!(plan.milestones.iter().all(|m| m.amount.currency() == currency));
        }
    }
}
