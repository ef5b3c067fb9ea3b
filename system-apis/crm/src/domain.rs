//! CRM requests parsed once into checked values; every bad field is named.

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::crm::{
    AdvanceOpportunityStageRequest, CreateAccountRequest, CreateContactRequest, CreateOpportunityRequest, ExternalId,
    MarkOpportunityLostRequest, OpportunityStage, UpdateOpportunityRequest,
};
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

/// A checked replacement of an open opportunity's commercial fields and external ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityUpdate {
    pub id: Uuid,
    pub expected_version: i64,
    pub name: String,
    pub service_line: String,
    pub contract_type: String,
    pub region: String,
    pub client_tier: String,
    pub amount: Money,
    pub close_date: Option<NaiveDate>,
    pub sow_reference: String,
    /// `(source, id)` pairs, at most one per source, in the order given.
    pub external_ids: Vec<(String, String)>,
}

impl OpportunityUpdate {
    pub fn parse(request: &UpdateOpportunityRequest) -> Result<(String, OpportunityUpdate), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, "expected_version", request.expected_version, true);
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
        let external_ids = external_ids(&mut v, &request.external_ids);
        v.finish()?;
        let (Some(id), Some(expected_version), Some(amount)) = (id, expected_version, amount) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            OpportunityUpdate {
                id,
                expected_version,
                name,
                service_line,
                contract_type,
                region,
                client_tier,
                amount,
                close_date,
                sow_reference,
                external_ids,
            },
        ))
    }
}

/// A checked move of an open opportunity to its next stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageAdvance {
    pub id: Uuid,
    pub expected_version: i64,
    /// `Proposing` or `Negotiating`.
    pub stage: OpportunityStage,
}

impl StageAdvance {
    pub fn parse(request: &AdvanceOpportunityStageRequest) -> Result<(String, StageAdvance), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, "expected_version", request.expected_version, true);
        let stage = match OpportunityStage::try_from(request.stage) {
            Ok(stage @ (OpportunityStage::Proposing | OpportunityStage::Negotiating)) => Some(stage),
            _ => {
                v.add(
                    "stage",
                    "must be OPPORTUNITY_STAGE_PROPOSING or OPPORTUNITY_STAGE_NEGOTIATING; \
                     use MarkOpportunityWon or MarkOpportunityLost to close a deal",
                );
                None
            }
        };
        v.finish()?;
        let (Some(id), Some(expected_version), Some(stage)) = (id, expected_version, stage) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            StageAdvance {
                id,
                expected_version,
                stage,
            },
        ))
    }
}

/// The stage an open opportunity may advance to, if any.
pub fn next_stage(stage: OpportunityStage) -> Option<OpportunityStage> {
    match stage {
        OpportunityStage::Qualifying => Some(OpportunityStage::Proposing),
        OpportunityStage::Proposing => Some(OpportunityStage::Negotiating),
        _ => None,
    }
}

/// A checked request to close an opportunity as lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostOpportunity {
    pub id: Uuid,
    pub reason: String,
    /// `None` closes whatever version is current.
    pub expected_version: Option<i64>,
}

impl LostOpportunity {
    pub fn parse(request: &MarkOpportunityLostRequest) -> Result<(String, LostOpportunity), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let reason = v.required_text("reason", &request.reason);
        let expected_version = expected_version(&mut v, "expected_version", request.expected_version, false);
        v.finish()?;
        let Some(id) = id else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            LostOpportunity {
                id,
                reason,
                expected_version,
            },
        ))
    }
}

/// A checked new contact at an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub account_id: Uuid,
    pub name: String,
    /// Lower-cased.
    pub email: String,
    pub role: String,
}

impl NewContact {
    pub fn parse(request: &CreateContactRequest) -> Result<(String, NewContact), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let account_id = v.uuid("account_id", &request.account_id);
        let name = v.required_text("name", &request.name);
        let email = email(&mut v, "email", &request.email);
        let role = v.optional_text("role", &request.role);
        v.finish()?;
        let Some(account_id) = account_id else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            NewContact {
                account_id,
                name,
                email,
                role,
            },
        ))
    }
}

/// A version the caller read: 1 or more. Zero means "not given", allowed unless `required`.
fn expected_version(v: &mut Violations, field: &str, value: i64, required: bool) -> Option<i64> {
    match value {
        1.. => Some(value),
        0 if !required => None,
        _ => {
            v.add(field, "must be the version you read (1 or more)");
            None
        }
    }
}

/// An address of the form `local@domain.tld`, without spaces, lower-cased.
fn email(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim().to_lowercase();
    let valid = value.len() <= 254
        && !value.chars().any(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !valid {
        v.add(field, "must be an email address such as name@example.com");
    }
    value
}

fn external_ids(v: &mut Violations, ids: &[ExternalId]) -> Vec<(String, String)> {
    let mut checked: Vec<(String, String)> = Vec::with_capacity(ids.len());
    for (index, external) in ids.iter().enumerate() {
        let source = slug(v, &format!("external_ids[{index}].source"), &external.source, true);
        let id = v.required_text(&format!("external_ids[{index}].id"), &external.id);
        if checked.iter().any(|(s, _)| *s == source) {
            v.add(
                format!("external_ids[{index}].source"),
                format!("{source:?} appears twice; an opportunity has at most one id per source"),
            );
        }
        checked.push((source, id));
    }
    checked
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
    fn stage_advances_one_step_at_a_time() {
        let table = [
            (OpportunityStage::Qualifying, Some(OpportunityStage::Proposing)),
            (OpportunityStage::Proposing, Some(OpportunityStage::Negotiating)),
            (OpportunityStage::Negotiating, None),
            (OpportunityStage::Won, None),
            (OpportunityStage::Lost, None),
            (OpportunityStage::Unspecified, None),
        ];
        for (from, to) in table {
            assert_eq!(next_stage(from), to, "from {from:?}");
        }
    }

    #[test]
    fn an_advance_names_each_bad_field() {
        let err = StageAdvance::parse(&AdvanceOpportunityStageRequest {
            idempotency_key: "k".into(),
            id: "x".into(),
            expected_version: 0,
            stage: OpportunityStage::Won as i32,
        })
        .unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["id", "expected_version", "stage"]);
    }

    #[test]
    fn an_update_checks_versions_and_external_ids() {
        let request = UpdateOpportunityRequest {
            idempotency_key: "k".into(),
            id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            expected_version: -1,
            name: "Deal".into(),
            amount: Some(MoneyMessage {
                amount: "10.00".into(),
                currency: "EUR".into(),
            }),
            external_ids: vec![
                ExternalId {
                    source: "hubspot".into(),
                    id: "123".into(),
                },
                ExternalId {
                    source: "hubspot".into(),
                    id: "456".into(),
                },
                ExternalId {
                    source: "HubSpot".into(),
                    id: String::new(),
                },
            ],
            ..Default::default()
        };
        let err = OpportunityUpdate::parse(&request).unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "expected_version",
                "external_ids[1].source",
                "external_ids[2].source",
                "external_ids[2].id"
            ]
        );
    }

    #[test]
    fn a_contact_needs_a_real_email() {
        for (email, ok) in [
            ("Ana.Silva@Northwind.example", true),
            ("ana@northwind", false),
            ("ana northwind@x.io", false),
            ("@x.io", false),
            ("ana@@x.io", false),
            ("", false),
        ] {
            let parsed = NewContact::parse(&CreateContactRequest {
                idempotency_key: "k".into(),
                account_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
                name: "Ana Silva".into(),
                email: email.into(),
                role: "sponsor".into(),
            });
            assert_eq!(parsed.is_ok(), ok, "{email}");
            if let Ok((_, contact)) = parsed {
                assert_eq!(contact.email, "ana.silva@northwind.example");
            }
        }
    }

    #[test]
    fn a_lost_deal_needs_a_reason_and_version_is_optional() {
        let (_, lost) = LostOpportunity::parse(&MarkOpportunityLostRequest {
            idempotency_key: "k".into(),
            id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            reason: "went with a competitor".into(),
            expected_version: 0,
        })
        .unwrap();
        assert_eq!(lost.expected_version, None);
        let err = LostOpportunity::parse(&MarkOpportunityLostRequest {
            idempotency_key: "k".into(),
            id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            reason: " ".into(),
            expected_version: -3,
        })
        .unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["reason", "expected_version"]);
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
