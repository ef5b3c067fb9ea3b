//! The policy switch per capability: read from a TOML section, every capability on unless
//! switched off; a switched-off capability answers "disabled by policy <name>" and records
//! nothing, while the others answer and record as usual.

use chrono::NaiveDate;
use keel_insight::anomaly::{AnomalyConfig, TimeEntry};
use keel_insight::margin::{MarginConfig, PeriodBurn, ProjectBurn, RoleBurn};
use keel_insight::sow::{ContractType, LabelledSow, RecommenderConfig, TemplateRecommender};
use keel_insight::staffing::{Assignment, Person, ProjectStaffing};
use keel_insight::{Capability, Insight, InsightError, InsightPolicy};
use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Deserialize)]
struct FirmConfig {
    insight: InsightPolicy,
}

fn policy(toml_text: &str) -> Result<InsightPolicy, toml::de::Error> {
    toml::from_str::<FirmConfig>(toml_text).map(|config| config.insight)
}

fn recommender() -> TemplateRecommender {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sows/train.jsonl");
    let examples = LabelledSow::read_jsonl(&std::fs::read_to_string(path).unwrap()).unwrap();
    TemplateRecommender::train(&examples[..20], RecommenderConfig::default()).unwrap()
}

fn entries() -> Vec<TimeEntry> {
    (0..10)
        .map(|i| TimeEntry {
            id: format!("te-{i}"),
            consultant: "ana".into(),
            project: "PRJ-1".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap() + chrono::Duration::days(i),
            hours: Decimal::new(75, 1),
            narrative: "Build".into(),
        })
        .collect()
}

fn burn() -> ProjectBurn {
    let d = |text: &str| text.parse::<Decimal>().unwrap();
    ProjectBurn {
        project: "PRJ-1".into(),
        contract_type: ContractType::FixedFee,
        contract_value: d("10000"),
        cap: None,
        revenue_recognised: d("0"),
        as_of: NaiveDate::from_ymd_opt(2026, 11, 18).unwrap(),
        remaining_periods: 2,
        roles: vec![RoleBurn {
            role: "consultant".into(),
            cost_rate: d("50"),
            bill_rate: d("0"),
            baseline_hours: d("100"),
            planned_hours_to_date: d("50"),
            actual_hours_to_date: d("50"),
            actual_cost_to_date: d("2500"),
        }],
        periods: ["24", "26"]
            .iter()
            .map(|hours| PeriodBurn {
                period_end: NaiveDate::from_ymd_opt(2026, 11, 13).unwrap(),
                planned_hours: d("25"),
                actual_hours: d(hours),
            })
            .collect(),
    }
}

fn staffing() -> (ProjectStaffing, Vec<Person>, Vec<Assignment>) {
    let day = |text: &str| text.parse::<NaiveDate>().unwrap();
    (
        ProjectStaffing {
            project: "PRJ-1".into(),
            starts: day("2026-12-07"),
            ends: day("2027-01-29"),
            roles: vec![],
            critical_skills: vec!["abap".into()],
        },
        vec![Person {
            id: "ana".into(),
            skills: vec!["abap".into()],
            certifications: vec![],
        }],
        vec![Assignment {
            person: "ana".into(),
            project: "PRJ-1".into(),
            role: "developer".into(),
            from: day("2026-12-07"),
            to: day("2027-01-29"),
            percent: Decimal::from(100),
        }],
    )
}

#[test]
fn the_policy_reads_from_a_toml_section_with_every_capability_on_by_default() {
    assert_eq!(policy("[insight]\n").unwrap(), InsightPolicy::default());
    let switched = policy("[insight]\nmargin_forecast = false\nstaffing_risk = false\n").unwrap();
    assert!(switched.allows(Capability::Intake) && switched.allows(Capability::Anomalies));
    assert!(!switched.allows(Capability::MarginForecast) && !switched.allows(Capability::StaffingRisk));
    let typo = policy("[insight]\nmargin_forcast = false\n").unwrap_err();
    assert!(typo.to_string().contains("margin_forcast"), "{typo}");
}

#[test]
fn a_switched_off_capability_answers_disabled_and_records_nothing() {
    let recommender = recommender();
    let (project, people, assignments) = staffing();
    let sow = "Statement of work: SAP S/4HANA finance deployment for three sites in Germany, fixed fee.";

    // Everything on: each capability answers and records its input and output.
    let mut insight = Insight::new(InsightPolicy::default());
    insight.recommend_template(&recommender, sow).unwrap();
    insight
        .detect_anomalies(&entries(), &[], &AnomalyConfig::default())
        .unwrap();
    let forecast = insight.forecast_margin(&burn(), &MarginConfig::default()).unwrap();
    assert_eq!(forecast.cost_at_completion.point, Decimal::from(5000));
    let flags = insight.assess_staffing(&project, &people, &assignments).unwrap();
    assert_eq!(flags.len(), 1, "ana alone holds abap");
    let recorded: Vec<Capability> = insight.take_records().iter().map(|r| r.capability).collect();
    assert_eq!(
        recorded,
        [
            Capability::Intake,
            Capability::Anomalies,
            Capability::MarginForecast,
            Capability::StaffingRisk
        ]
    );
    assert!(insight.records().is_empty(), "taken");

    // Each switched off in turn: that one is refused by name, the others still answer.
    for off in [
        Capability::Intake,
        Capability::Anomalies,
        Capability::MarginForecast,
        Capability::StaffingRisk,
    ] {
        let policy = InsightPolicy {
            intake: off != Capability::Intake,
            anomalies: off != Capability::Anomalies,
            margin_forecast: off != Capability::MarginForecast,
            staffing_risk: off != Capability::StaffingRisk,
        };
        let mut insight = Insight::new(policy);
        let answers: Vec<(Capability, Result<(), InsightError>)> = vec![
            (
                Capability::Intake,
                insight.recommend_template(&recommender, sow).map(drop),
            ),
            (
                Capability::Anomalies,
                insight
                    .detect_anomalies(&entries(), &[], &AnomalyConfig::default())
                    .map(drop),
            ),
            (
                Capability::MarginForecast,
                insight.forecast_margin(&burn(), &MarginConfig::default()).map(drop),
            ),
            (
                Capability::StaffingRisk,
                insight.assess_staffing(&project, &people, &assignments).map(drop),
            ),
        ];
        for (capability, answer) in answers {
            if capability == off {
                let error = answer.unwrap_err();
                assert_eq!(error, InsightError::Disabled(off.policy_name().to_string()));
                assert_eq!(error.to_string(), format!("disabled by policy {}", off.policy_name()));
            } else {
                answer.unwrap();
            }
        }
        let recorded: Vec<Capability> = insight.records().iter().map(|r| r.capability).collect();
        assert_eq!(recorded.len(), 3);
        assert!(!recorded.contains(&off), "{off:?} recorded while switched off");
    }
}

#[test]
fn a_switched_off_capability_does_not_read_its_input() {
    let mut insight = Insight::new(InsightPolicy {
        margin_forecast: false,
        ..InsightPolicy::default()
    });
    let broken = ProjectBurn {
        project: String::new(),
        ..burn()
    };
    assert_eq!(
        insight.forecast_margin(&broken, &MarginConfig::default()).unwrap_err(),
        InsightError::Disabled("insight.margin_forecast".into())
    );
    // Switched on, the same input is refused for what it is, and nothing is recorded.
    let mut insight = Insight::new(InsightPolicy::default());
    assert!(matches!(
        insight.forecast_margin(&broken, &MarginConfig::default()),
        Err(InsightError::InvalidInput { field, .. }) if field == "project"
    ));
    assert!(insight.records().is_empty());
}
