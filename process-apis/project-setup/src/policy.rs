//! The deterministic rules of project setup: which commercial fields a won deal must carry,
//! which delivery template fits it, and which legal entity books it.

use keel_core::{Money, Violations};
use keel_proto::crm::Opportunity;
use keel_proto::psa::DeliveryTemplate;

/// A won deal that passed validation: every field project setup needs, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidDeal {
    pub opportunity_id: String,
    pub account_id: String,
    pub name: String,
    pub service_line: String,
    pub contract_type: String,
    pub region: String,
    pub client_tier: String,
    pub amount: Money,
    pub close_date: chrono::NaiveDate,
    pub sow_reference: String,
}

/// Why a deal cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `MISSING_FIELD` or `INVALID_FIELD`.
    pub code: &'static str,
    pub reason: String,
    pub fields: Vec<String>,
}

/// The commercial fields a won deal must carry before a project is made from it.
pub const MANDATORY_FIELDS: &[&str] = &[
    "service_line",
    "contract_type",
    "region",
    "client_tier",
    "amount",
    "close_date",
    "sow_reference",
];

/// Checks the mandatory commercial fields of a won deal.
pub fn validate_deal(opportunity: &Opportunity) -> Result<ValidDeal, Rejection> {
    let blank = |value: &str| value.trim().is_empty();
    let mut missing: Vec<String> = Vec::new();
    for (field, value) in [
        ("service_line", opportunity.service_line.as_str()),
        ("contract_type", &opportunity.contract_type),
        ("region", &opportunity.region),
        ("client_tier", &opportunity.client_tier),
        ("close_date", &opportunity.close_date),
        ("sow_reference", &opportunity.sow_reference),
    ] {
        if blank(value) {
            missing.push(field.to_string());
        }
    }
    if opportunity.amount.as_ref().is_none_or(|m| blank(&m.amount)) {
        missing.push("amount".to_string());
    }
    if !missing.is_empty() {
        missing.sort_by_key(|f| MANDATORY_FIELDS.iter().position(|m| m == f));
        return Err(Rejection {
            code: "MISSING_FIELD",
            reason: format!(
                "the won opportunity lacks mandatory commercial fields: {}",
                missing.join(", ")
            ),
            fields: missing,
        });
    }
    let mut v = Violations::new();
    let amount = v.non_negative_money("amount", opportunity.amount.as_ref());
    let close_date = v.date("close_date", &opportunity.close_date);
    if let Some(amount) = &amount
        && amount.amount().is_zero()
    {
        v.add("amount.amount", "a won deal must have a contract value above zero");
    }
    if let Err(error) = v.finish() {
        let fields: Vec<String> = error.field_violations().iter().map(|f| f.field.clone()).collect();
        return Err(Rejection {
            code: "INVALID_FIELD",
            reason: error.to_string(),
            fields,
        });
    }
    let (Some(amount), Some(close_date)) = (amount, close_date) else {
        return Err(Rejection {
            code: "INVALID_FIELD",
            reason: "amount or close_date did not parse".into(),
            fields: vec![],
        });
    };
    Ok(ValidDeal {
        opportunity_id: opportunity.id.clone(),
        account_id: opportunity.account_id.clone(),
        name: opportunity.name.clone(),
        service_line: opportunity.service_line.trim().to_string(),
        contract_type: opportunity.contract_type.trim().to_string(),
        region: opportunity.region.trim().to_string(),
        client_tier: opportunity.client_tier.trim().to_string(),
        amount,
        close_date,
        sow_reference: opportunity.sow_reference.trim().to_string(),
    })
}

/// Picks the delivery template for a deal. A template's selector left empty matches any
/// value; of the templates that match, the most specific (most selectors set) wins, and
/// among equally specific ones the lowest id, so the choice never depends on list order.
pub fn select_template<'t>(
    deal: &ValidDeal,
    templates: &'t [DeliveryTemplate],
) -> Result<&'t DeliveryTemplate, Rejection> {
    let fits = |selector: &str, value: &str| selector.is_empty() || selector == value;
    templates
        .iter()
        .filter(|t| {
            fits(&t.service_line, &deal.service_line)
                && fits(&t.contract_type, &deal.contract_type)
                && fits(&t.region, &deal.region)
                && fits(&t.client_tier, &deal.client_tier)
        })
        .max_by(|a, b| specificity(a).cmp(&specificity(b)).then_with(|| b.id.cmp(&a.id)))
        .ok_or_else(|| Rejection {
            code: "NO_TEMPLATE",
            reason: format!(
                "no delivery template matches service line {:?}, contract type {:?}, region {:?}, client tier {:?}",
                deal.service_line, deal.contract_type, deal.region, deal.client_tier
            ),
            fields: vec![
                "service_line".into(),
                "contract_type".into(),
                "region".into(),
                "client_tier".into(),
            ],
        })
}

fn specificity(template: &DeliveryTemplate) -> usize {
    [
        &template.service_line,
        &template.contract_type,
        &template.region,
        &template.client_tier,
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .count()
}

/// The legal entity that books a project, by delivery region.
/// How long a statement of work is kept after the deal closes, in years.
pub const SOW_RETENTION_YEARS: u32 = 7;

/// The date a deal's statement of work is retained until: [`SOW_RETENTION_YEARS`] after the
/// close date (29 February falls back to 28 February).
pub fn sow_retained_until(close_date: chrono::NaiveDate) -> chrono::NaiveDate {
    close_date
        .checked_add_months(chrono::Months::new(12 * SOW_RETENTION_YEARS))
        .unwrap_or(close_date)
}

pub fn legal_entity_for(region: &str) -> &'static str {
    match region {
        "emea" => "UK01",
        "apac" => "AU01",
        "latam" => "BR01",
        _ => "US01",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::common::Money as MoneyMessage;

    fn won() -> Opportunity {
        Opportunity {
            id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            account_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ac".into(),
            name: "Northwind S/4 finance rollout".into(),
            stage: 4,
            service_line: "erp-deployment".into(),
            contract_type: "fixed-fee".into(),
            region: "emea".into(),
            client_tier: "enterprise".into(),
            amount: Some(MoneyMessage {
                amount: "1250000.00".into(),
                currency: "EUR".into(),
            }),
            close_date: "2026-11-20".into(),
            sow_reference: "SOW-2026-118".into(),
            audit: None,
            ..Default::default()
        }
    }

    #[test]
    fn each_missing_field_is_named() {
        type Edit = fn(&mut Opportunity);
        let table: &[(Edit, &[&str])] = &[
            (|o| o.service_line.clear(), &["service_line"]),
            (|o| o.contract_type.clear(), &["contract_type"]),
            (|o| o.region.clear(), &["region"]),
            (|o| o.client_tier.clear(), &["client_tier"]),
            (|o| o.amount = None, &["amount"]),
            (|o| o.close_date.clear(), &["close_date"]),
            (|o| o.sow_reference = "  ".into(), &["sow_reference"]),
            (
                |o| {
                    o.sow_reference.clear();
                    o.service_line.clear();
                    o.amount = None;
                },
                &["service_line", "amount", "sow_reference"],
            ),
        ];
        for (edit, fields) in table {
            let mut o = won();
            edit(&mut o);
            let rejection = validate_deal(&o).unwrap_err();
            assert_eq!(rejection.code, "MISSING_FIELD");
            assert_eq!(rejection.fields, *fields);
            for field in *fields {
                assert!(rejection.reason.contains(field), "{}", rejection.reason);
            }
        }
    }

    #[test]
    fn a_zero_contract_value_is_invalid() {
        let mut o = won();
        o.amount = Some(MoneyMessage {
            amount: "0".into(),
            currency: "EUR".into(),
        });
        let rejection = validate_deal(&o).unwrap_err();
        assert_eq!(
            (rejection.code, rejection.fields.as_slice()),
            ("INVALID_FIELD", ["amount.amount".to_string()].as_slice())
        );
    }

    fn template(id: &str, service_line: &str, contract_type: &str, region: &str, tier: &str) -> DeliveryTemplate {
        DeliveryTemplate {
            id: id.into(),
            service_line: service_line.into(),
            contract_type: contract_type.into(),
            region: region.into(),
            client_tier: tier.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_most_specific_matching_template_wins() {
        let deal = validate_deal(&won()).unwrap();
        let templates = vec![
            template("erp-any", "erp-deployment", "fixed-fee", "", ""),
            template("erp-emea", "erp-deployment", "fixed-fee", "emea", ""),
            template("erp-emea-strategic", "erp-deployment", "fixed-fee", "emea", "strategic"),
            template("data-tm", "data-analytics", "time-and-materials", "", ""),
        ];
        assert_eq!(select_template(&deal, &templates).unwrap().id, "erp-emea");
        let mut reversed = templates.clone();
        reversed.reverse();
        assert_eq!(select_template(&deal, &reversed).unwrap().id, "erp-emea");

        let mut apac = deal.clone();
        apac.region = "apac".into();
        assert_eq!(select_template(&apac, &templates).unwrap().id, "erp-any");

        let mut tm = deal.clone();
        tm.contract_type = "time-and-materials".into();
        let rejection = select_template(&tm, &templates).unwrap_err();
        assert_eq!(rejection.code, "NO_TEMPLATE");
        assert!(rejection.reason.contains("time-and-materials"));
    }

    #[test]
    fn ties_break_on_the_lowest_id() {
        let deal = validate_deal(&won()).unwrap();
        let templates = vec![
            template("b", "erp-deployment", "", "", ""),
            template("a", "erp-deployment", "", "", ""),
        ];
        assert_eq!(select_template(&deal, &templates).unwrap().id, "a");
    }
}
