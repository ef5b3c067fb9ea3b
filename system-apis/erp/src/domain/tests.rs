//! Table-driven checks of request parsing, and the budget total property.

use keel_proto::common::Money as MoneyMessage;
use proptest::prelude::*;

use super::*;

const PROJECT: &str = "0193b2a4-6f1e-7c3a-9f00-1234567890ab";

fn fields(error: &Error) -> Vec<&str> {
    error.field_violations().iter().map(|v| v.field.as_str()).collect()
}

fn good_code_request() -> CreateProjectCodeRequest {
    CreateProjectCodeRequest {
        idempotency_key: "key-1".into(),
        project_id: PROJECT.into(),
        name: "Northwind ERP rollout".into(),
        legal_entity: "US01".into(),
        currency: "USD".into(),
    }
}

fn line(role: &str, hours: &str, amount: &str, currency: &str) -> BudgetLine {
    BudgetLine {
        role: role.into(),
        hours: hours.into(),
        amount: Some(MoneyMessage {
            amount: amount.into(),
            currency: currency.into(),
        }),
    }
}

fn good_budget_request() -> PostBudgetRequest {
    PostBudgetRequest {
        idempotency_key: "key-2".into(),
        project_code: "PRJ-000001".into(),
        lines: vec![
            line("senior-consultant", "120", "30000.00", "USD"),
            line("consultant", "200.5", "35087.50", "USD"),
        ],
    }
}

#[test]
fn project_codes_are_prj_and_six_zero_padded_digits() {
    let table: &[(i64, &str)] = &[
        (1, "PRJ-000001"),
        (42, "PRJ-000042"),
        (999_999, "PRJ-999999"),
        (1_000_000, "PRJ-1000000"),
    ];
    for (sequence, code) in table {
        let number = ProjectCodeNumber::from_sequence(*sequence).unwrap();
        assert_eq!(number.as_str(), *code);
        assert_eq!(
            ProjectCodeNumber::parse(code).unwrap(),
            number,
            "{code} does not parse back"
        );
    }
    assert!(ProjectCodeNumber::from_sequence(0).is_err());
}

#[test]
fn project_code_parsing() {
    let table: &[(&str, Option<&str>)] = &[
        ("PRJ-000042", Some("PRJ-000042")),
        ("  prj-000042 ", Some("PRJ-000042")),
        ("PRJ-1234567", Some("PRJ-1234567")),
        ("", None),
        ("PRJ-42", None),
        ("PRJ-00004x", None),
        ("PRJ000042", None),
        ("ABC-000042", None),
        ("PRJ-0000000000001", None),
        ("PRJ--00042", None),
    ];
    for (input, expected) in table {
        let parsed = ProjectCodeNumber::parse(input);
        assert_eq!(
            parsed.as_ref().ok().map(ProjectCodeNumber::as_str),
            *expected,
            "{input:?}: {parsed:?}"
        );
    }
}

#[test]
fn legal_entity_parsing() {
    let table: &[(&str, bool)] = &[
        ("US01", true),
        (" UK01 ", true),
        ("DE-02", true),
        ("AB", true),
        ("ABCDEFGHIJKLMNOP", true),
        ("", false),
        ("A", false),
        ("ABCDEFGHIJKLMNOPQ", false),
        ("us01", false),
        ("US 01", false),
        ("US_01", false),
        ("ÜS01", false),
    ];
    for (input, ok) in table {
        assert_eq!(LegalEntity::parse(input).is_ok(), *ok, "{input:?}");
    }
}

#[test]
fn role_parsing() {
    let max = "r".repeat(MAX_ROLE_LEN);
    let too_long = "r".repeat(MAX_ROLE_LEN + 1);
    let table: &[(&str, bool)] = &[
        ("senior-consultant", true),
        ("architect2", true),
        (" pm ", true),
        (&max, true),
        ("", false),
        ("Senior-Consultant", false),
        ("senior consultant", false),
        ("senior_consultant", false),
        (&too_long, false),
    ];
    for (input, ok) in table {
        assert_eq!(BudgetRole::parse(input).is_ok(), *ok, "{input:?}");
    }
}

#[test]
fn a_good_project_code_request_parses_into_canonical_form() {
    let mut request = good_code_request();
    request.name = "  Northwind ERP rollout  ".into();
    request.legal_entity = " US01".into();
    let parsed = NewProjectCode::parse(&request).unwrap();
    assert_eq!(parsed.name, "Northwind ERP rollout");
    assert_eq!(parsed.currency.code(), "USD");
    assert_eq!(parsed.to_request(), good_code_request());
}

#[test]
fn each_bad_project_code_field_is_named() {
    type Change = fn(&mut CreateProjectCodeRequest);
    let table: &[(Change, &str)] = &[
        (|r| r.idempotency_key = String::new(), "idempotency_key"),
        (|r| r.idempotency_key = "k".repeat(129), "idempotency_key"),
        (|r| r.project_id = String::new(), "project_id"),
        (|r| r.project_id = "project-1".into(), "project_id"),
        (|r| r.name = "   ".into(), "name"),
        (|r| r.name = "n".repeat(201), "name"),
        (|r| r.legal_entity = String::new(), "legal_entity"),
        (|r| r.legal_entity = "us01".into(), "legal_entity"),
        (|r| r.currency = String::new(), "currency"),
        (|r| r.currency = "usd".into(), "currency"),
        (|r| r.currency = "XYZ".into(), "currency"),
    ];
    for (change, field) in table {
        let mut request = good_code_request();
        change(&mut request);
        let error = NewProjectCode::parse(&request).unwrap_err();
        assert_eq!(fields(&error), [*field], "{request:?}");
    }
}

#[test]
fn every_bad_project_code_field_is_named_at_once() {
    let error = NewProjectCode::parse(&CreateProjectCodeRequest::default()).unwrap_err();
    assert_eq!(
        fields(&error),
        ["idempotency_key", "project_id", "name", "legal_entity", "currency"]
    );
}

#[test]
fn lookup_needs_exactly_one_of_code_and_project_id() {
    let table: &[(&str, &str, Result<ProjectCodeLookup, &str>)] = &[
        (
            "PRJ-000007",
            "",
            Ok(ProjectCodeLookup::Code(ProjectCodeNumber("PRJ-000007".into()))),
        ),
        (
            "",
            PROJECT,
            Ok(ProjectCodeLookup::ProjectId(Uuid::parse_str(PROJECT).unwrap())),
        ),
        ("", "", Err("code")),
        ("PRJ-000007", PROJECT, Err("code")),
        ("PRJ-7", "", Err("code")),
        ("", "not-a-uuid", Err("project_id")),
    ];
    for (code, project_id, expected) in table {
        let request = GetProjectCodeRequest {
            code: code.to_string(),
            project_id: project_id.to_string(),
        };
        match (ProjectCodeLookup::parse(&request), expected) {
            (Ok(lookup), Ok(want)) => assert_eq!(&lookup, want),
            (Err(error), Err(field)) => assert_eq!(fields(&error), [*field], "{request:?}"),
            (got, want) => panic!("{request:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_good_budget_parses_with_its_exact_total() {
    let budget = NewBudget::parse(&good_budget_request()).unwrap();
    assert_eq!(budget.project_code.as_str(), "PRJ-000001");
    assert_eq!(budget.lines.len(), 2);
    assert_eq!(budget.total().to_proto().amount, "65087.50");
    assert_eq!(budget.currency().code(), "USD");
    assert_eq!(budget.lines[1].hours.to_string(), "200.5");
    assert_eq!(NewBudget::parse(&budget.to_request()).unwrap(), budget);
}

#[test]
fn each_bad_budget_field_is_named() {
    type Change = fn(&mut PostBudgetRequest);
    let table: &[(Change, &[&str])] = &[
        (|r| r.idempotency_key = String::new(), &["idempotency_key"]),
        (|r| r.project_code = String::new(), &["project_code"]),
        (|r| r.project_code = "PRJ-1".into(), &["project_code"]),
        (|r| r.lines.clear(), &["lines"]),
        (
            |r| r.lines = vec![line("pm", "1", "1.00", "USD"); MAX_BUDGET_LINES + 1],
            &["lines"],
        ),
        (|r| r.lines[0].role = String::new(), &["lines[0].role"]),
        (|r| r.lines[1].role = "Consultant".into(), &["lines[1].role"]),
        (|r| r.lines[1].role = "senior-consultant".into(), &["lines[1].role"]),
        (|r| r.lines[0].hours = String::new(), &["lines[0].hours"]),
        (|r| r.lines[0].hours = "-1".into(), &["lines[0].hours"]),
        (|r| r.lines[0].hours = "ten".into(), &["lines[0].hours"]),
        (|r| r.lines[1].amount = None, &["lines[1].amount"]),
        (
            |r| r.lines[1].amount.as_mut().unwrap().amount = "-0.01".into(),
            &["lines[1].amount.amount"],
        ),
        (
            |r| r.lines[1].amount.as_mut().unwrap().amount = "1.001".into(),
            &["lines[1].amount.amount"],
        ),
        (
            |r| r.lines[1].amount.as_mut().unwrap().amount = String::new(),
            &["lines[1].amount.amount"],
        ),
        (
            |r| r.lines[1].amount.as_mut().unwrap().currency = "XYZ".into(),
            &["lines[1].amount.currency"],
        ),
        (
            |r| r.lines[1].amount.as_mut().unwrap().currency = "EUR".into(),
            &["lines[1].amount.currency"],
        ),
        (
            |r| {
                r.lines[0].role = "x y".into();
                r.lines[1].hours = "-2".into();
            },
            &["lines[0].role", "lines[1].hours"],
        ),
    ];
    for (change, expected) in table {
        let mut request = good_budget_request();
        change(&mut request);
        let error = NewBudget::parse(&request).unwrap_err();
        assert_eq!(fields(&error), *expected, "{:?}", error.field_violations());
    }
}

#[test]
fn zero_hours_and_zero_amounts_are_allowed() {
    let mut request = good_budget_request();
    request.lines = vec![line("pm", "-0", "0", "USD")];
    let budget = NewBudget::parse(&request).unwrap();
    assert_eq!(budget.lines[0].hours.to_string(), "0");
    assert_eq!(budget.total().to_minor_units(), 0);
}

proptest! {
    #[test]
    fn a_budget_total_is_the_exact_sum_of_its_lines(
        currency in prop::sample::select(vec!["USD", "JPY", "BHD", "EUR"]),
        amounts in prop::collection::vec(0_i64..1_000_000_000_000, 1..60),
    ) {
        let currency = Currency::parse(currency).unwrap();
        let request = PostBudgetRequest {
            idempotency_key: "k".into(),
            project_code: "PRJ-000001".into(),
            lines: amounts
                .iter()
                .enumerate()
                .map(|(i, minor)| BudgetLine {
                    role: format!("role-{i}"),
                    hours: "8".into(),
                    amount: Some(Money::from_minor_units(*minor, currency).to_proto()),
                })
                .collect(),
        };
        let budget = NewBudget::parse(&request).unwrap();
        let expected: i64 = amounts.iter().sum();
        prop_assert_eq!(budget.total().to_minor_units(), expected);
        prop_assert_eq!(budget.total(), Money::from_minor_units(expected, currency));
        let line_sum: i64 = budget.lines.iter().map(|l| l.amount.to_minor_units()).sum();
        prop_assert_eq!(line_sum, expected);
    }
}

mod ledger_rules {
    use std::str::FromStr;

    use keel_core::{Currency, Money};
    use keel_proto::erp::{JournalLine, PostJournalRequest};
    use rust_decimal::Decimal;

    use crate::domain::billing::percent_of;
    use crate::domain::ledger::{NewJournal, convert, convert_inverse};

    fn gbp(amount: &str) -> Money {
        Money::new(Decimal::from_str(amount).unwrap(), Currency::parse("GBP").unwrap()).unwrap()
    }

    fn line(entity: &str, debit: Option<&str>, credit: Option<&str>, currency: &str) -> JournalLine {
        let money = |a: &str| keel_proto::common::Money {
            amount: a.into(),
            currency: currency.into(),
        };
        JournalLine {
            legal_entity: entity.into(),
            account_code: "1000".into(),
            debit: debit.map(money),
            credit: credit.map(money),
            ..Default::default()
        }
    }

    #[test]
    fn journals_balance_per_entity_and_currency_or_name_lines() {
        let table: &[(&[JournalLine], Option<&str>)] = &[
            (
                &[
                    line("UK01", Some("10.00"), None, "GBP"),
                    line("UK01", None, Some("10"), "GBP"),
                ],
                None,
            ),
            (
                &[
                    line("UK01", Some("10.00"), None, "GBP"),
                    line("UK01", None, Some("9.99"), "GBP"),
                ],
                Some("lines"),
            ),
            (
                &[
                    line("UK01", Some("10.00"), None, "GBP"),
                    line("US01", None, Some("10.00"), "GBP"),
                ],
                Some("lines"),
            ),
            (
                &[
                    line("UK01", Some("10.00"), None, "GBP"),
                    line("UK01", None, Some("10.00"), "USD"),
                ],
                Some("lines"),
            ),
            (
                &[
                    line("UK01", Some("10.00"), Some("10.00"), "GBP"),
                    line("UK01", None, Some("10.00"), "GBP"),
                ],
                Some("lines[0]"),
            ),
            (
                &[
                    line("UK01", Some("0"), None, "GBP"),
                    line("UK01", None, Some("0"), "GBP"),
                ],
                Some("lines[0].debit.amount"),
            ),
            (&[line("UK01", Some("10.00"), None, "GBP")], Some("lines")),
        ];
        for (lines, expected) in table {
            let request = PostJournalRequest {
                idempotency_key: "k".into(),
                journal_date: "2026-11-30".into(),
                description: "d".into(),
                lines: lines.to_vec(),
            };
            match (NewJournal::parse(&request), expected) {
                (Ok(_), None) => {}
                (Err(error), Some(field)) => {
                    let fields: Vec<&str> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
                    assert!(fields.contains(field), "{lines:?}: {fields:?}");
                }
                (answer, expected) => panic!("{lines:?}: expected {expected:?}, got {answer:?}"),
            }
        }
    }

    #[test]
    fn conversions_round_half_even_to_the_minor_unit() {
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let table: &[(&str, &str, Currency, &str)] = &[
            ("0.01", "0.5", usd, "0.00"),
            ("0.03", "0.5", usd, "0.02"),
            ("0.05", "0.5", usd, "0.02"),
            ("0.07", "0.5", usd, "0.04"),
            ("10.05", "1.2345", usd, "12.41"),
            ("1.00", "150.5", jpy, "150"),
            ("3.00", "150.5", jpy, "452"),
        ];
        for (amount, rate, to, expected) in table {
            let converted = convert(gbp(amount), Decimal::from_str(rate).unwrap(), *to).unwrap();
            assert_eq!(converted.amount().to_string(), *expected, "{amount} x {rate}");
        }
        let inverse = convert_inverse(gbp("100.00"), Decimal::from_str("1.2345").unwrap(), usd).unwrap();
        assert_eq!(inverse.amount().to_string(), "81.00");
    }

    #[test]
    fn percent_complete_shares_round_half_even() {
        let table: &[(&str, &str, &str)] = &[
            ("100000.00", "25", "25000.00"),
            ("100000.00", "33.333", "33333.00"),
            ("0.03", "50", "0.02"),
            ("0.01", "50", "0.00"),
            ("999.99", "100", "999.99"),
        ];
        for (contract, percent, expected) in table {
            let share = percent_of(gbp(contract), Decimal::from_str(percent).unwrap());
            assert_eq!(share.amount().to_string(), *expected, "{percent}% of {contract}");
        }
    }
}

#[test]
fn a_batch_names_one_to_a_hundred_projects_by_uuid_without_repeats() {
    let a = "0193b2a4-6f1e-7c3a-9f00-1234567890ab".to_string();
    let b = "0193b2a4-6f1e-7c3a-9f00-0000000000cd".to_string();
    let ids = parse_project_ids(&[a.clone(), b.clone(), a.clone()]).unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0].to_string(), a);
    let error = parse_project_ids(&[]).unwrap_err();
    assert_eq!(error.field_violations()[0].field, "project_ids");
    let error = parse_project_ids(&vec![a.clone(); MAX_BATCH_PROJECTS + 1]).unwrap_err();
    assert_eq!(error.field_violations()[0].field, "project_ids");
    let error = parse_project_ids(&[a, "p-1".into()]).unwrap_err();
    assert_eq!(error.field_violations()[0].field, "project_ids[1]");
}
