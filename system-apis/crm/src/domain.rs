//! CRM requests parsed once into checked values; every bad field is named.

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::crm::{CreateAccountRequest, CreateOpportunityRequest};
use uuid::Uuid;

/// Client tiers Keel knows.
pub const CLIENT_TIERS: &[&str] = &["strategic", "enterprise", "growth"];
/// Contract types Keel knows.
pub const CONTRACT_TYPES: &[&str] = &["fixed-fee", "time-and-materials"];

/// A checked new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub name: String,
    pub tier: String,
    pub region: String,
}

impl NewAccount {
    pub fn parse(request: &CreateAccountRequest) -> Result<(String, NewAccount), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let name = v.required_text("name", &request.name);
        let tier = one_of(&mut v, "tier", &request.tier, CLIENT_TIERS, true);
        let region = slug(&mut v, "region", &request.region, true);
        v.finish()?;
        Ok((key, NewAccount { name, tier, region }))
    }
}

/// A checked new opportunity. Commercial fields may be blank while the deal is open;
/// project setup insists on them once it is won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOpportunity {
    pub account_id: Uuid,
    pub name: String,
    pub service_line: String,
    pub contract_type: String,
    pub region: String,
    pub client_tier: String,
    pub amount: Money,
    pub close_date: Option<NaiveDate>,
    pub sow_reference: String,
}

impl NewOpportunity {
    pub fn parse(request: &CreateOpportunityRequest) -> Result<(String, NewOpportunity), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let account_id = v.uuid("account_id", &request.account_id);
        let name = v.required_text("name", &request.name);
        let service_line = slug(&mut v, "service_line", &request.service_line, false);
        let contract_type = one_of(&mut v, "contract_type", &request.contract_type, CONTRACT_TYPES, false);
        let region = slug(&mut v, "region", &request.region, false);
        let client_tier = one_of(&mut v, "client_tier", &request.client_tier, CLIENT_TIERS, false);
        let amount = v.non_negative_money("amount", request.amount.as_ref());
        let close_date = if request.close_date.trim().is_empty() {
            None
        } else {
            v.date("close_date", &request.close_date)
        };
        let sow_reference = v.optional_text("sow_reference", &request.sow_reference);
        v.finish()?;
        let (Some(account_id), Some(amount)) = (account_id, amount) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            NewOpportunity {
                account_id,
                name,
                service_line,
                contract_type,
                region,
                client_tier,
                amount,
                close_date,
                sow_reference,
            },
        ))
    }
}

/// Lower-case words joined by `-` (`erp-deployment`, `emea`).
fn slug(v: &mut Violations, field: &str, value: &str, required: bool) -> String {
    let value = value.trim();
    if value.is_empty() {
        if required {
            v.add(field, "must not be empty");
        }
        return String::new();
    }
    let valid = value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !valid {
        v.add(
            field,
            format!("{value:?} must be lower-case letters, digits and dashes, at most 64 characters"),
        );
    }
    value.to_string()
}

fn one_of(v: &mut Violations, field: &str, value: &str, allowed: &[&str], required: bool) -> String {
    let value = value.trim();
    if value.is_empty() {
        if required {
            v.add(field, format!("must be one of {}", allowed.join(", ")));
        }
        return String::new();
    }
    if !allowed.contains(&value) {
        v.add(field, format!("{value:?} is not one of {}", allowed.join(", ")));
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::common::Money as MoneyMessage;

    fn good() -> CreateOpportunityRequest {
        CreateOpportunityRequest {
            idempotency_key: "k1".into(),
            account_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            name: "Northwind ERP rollout".into(),
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
        }
    }

    #[test]
    fn a_complete_opportunity_parses() {
        let (key, opp) = NewOpportunity::parse(&good()).unwrap();
        assert_eq!(key, "k1");
        assert_eq!(opp.amount.to_minor_units(), 125_000_000);
        assert_eq!(opp.close_date, NaiveDate::from_ymd_opt(2026, 11, 20));
    }

    #[test]
    fn commercial_fields_may_be_blank_while_open() {
        let mut r = good();
        r.service_line.clear();
        r.sow_reference.clear();
        r.close_date.clear();
        assert!(NewOpportunity::parse(&r).is_ok());
    }

    #[test]
    fn each_bad_field_is_named() {
        type Edit = fn(&mut CreateOpportunityRequest);
        let table: &[(Edit, &str)] = &[
            (|r| r.name = "  ".into(), "name"),
            (|r| r.name = "n".repeat(201), "name"),
            (|r| r.account_id = "42".into(), "account_id"),
            (
                |r| {
                    r.amount = Some(MoneyMessage {
                        amount: "-1.00".into(),
                        currency: "EUR".into(),
                    })
                },
                "amount.amount",
            ),
            (
                |r| {
                    r.amount = Some(MoneyMessage {
                        amount: "1.00".into(),
                        currency: "EURO".into(),
                    })
                },
                "amount.currency",
            ),
            (|r| r.amount = None, "amount"),
            (|r| r.contract_type = "fixed".into(), "contract_type"),
            (|r| r.client_tier = "gold".into(), "client_tier"),
            (|r| r.region = "EMEA".into(), "region"),
            (|r| r.close_date = "20/11/2026".into(), "close_date"),
            (|r| r.idempotency_key.clear(), "idempotency_key"),
        ];
        for (edit, field) in table {
            let mut r = good();
            edit(&mut r);
            let err = NewOpportunity::parse(&r).unwrap_err();
            let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
            assert_eq!(fields, [*field]);
        }
    }

    #[test]
    fn account_requires_name_tier_and_region() {
        let err = NewAccount::parse(&CreateAccountRequest {
            idempotency_key: "k".into(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "tier", "region"]);
    }
}
