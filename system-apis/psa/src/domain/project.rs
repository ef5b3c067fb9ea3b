//! Creating a project from a won deal, and finding one.

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::psa::{CreateProjectRequest, GetProjectRequest};
use uuid::Uuid;

use super::{Selector, TemplateId};

/// A checked `CreateProject` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// The replay key of this change.
    pub idempotency_key: String,
    /// The won opportunity; a project per opportunity.
    pub opportunity_id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    /// The template to instantiate, at its current version.
    pub template_id: TemplateId,
    /// The deal's selector values, recorded on the project.
    pub selector: Selector,
    /// Not negative.
    pub contract_value: Money,
    pub start_date: NaiveDate,
}

impl NewProject {
    /// Checks the request, naming every field at fault.
    pub fn parse(request: &CreateProjectRequest) -> Result<NewProject, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let opportunity_id = v.uuid("opportunity_id", &request.opportunity_id);
        let account_id = v.uuid("account_id", &request.account_id);
        let name = v.required_text("name", &request.name);
        let template_id = TemplateId::parse(&mut v, "template_id", &request.template_id);
        let selector = Selector::parse(
            &mut v,
            "",
            &request.service_line,
            &request.contract_type,
            &request.region,
            &request.client_tier,
        );
        let contract_value = v.non_negative_money("contract_value", request.contract_value.as_ref());
        let start_date = if request.start_date.trim().is_empty() {
            v.add("start_date", "is required (a date in YYYY-MM-DD form)");
            None
        } else {
            v.date("start_date", &request.start_date)
        };
        v.finish()?;
        match (opportunity_id, account_id, template_id, contract_value, start_date) {
            (Some(opportunity_id), Some(account_id), Some(template_id), Some(contract_value), Some(start_date)) => {
                Ok(NewProject {
                    idempotency_key,
                    opportunity_id,
                    account_id,
                    name,
                    template_id,
                    selector,
                    contract_value,
                    start_date,
                })
            }
            // Each `None` above recorded a violation, so `finish` has already returned.
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    /// The request in canonical form (trimmed, amounts and dates normalized): equal inputs
    /// give equal requests, which is what an idempotency fingerprint needs.
    pub fn to_request(&self) -> CreateProjectRequest {
        CreateProjectRequest {
            idempotency_key: self.idempotency_key.clone(),
            opportunity_id: self.opportunity_id.to_string(),
            account_id: self.account_id.to_string(),
            name: self.name.clone(),
            template_id: self.template_id.as_str().to_string(),
            service_line: self.selector.service_line.clone(),
            contract_type: self.selector.contract_type.clone(),
            region: self.selector.region.clone(),
            client_tier: self.selector.client_tier.clone(),
            contract_value: Some(self.contract_value.to_proto()),
            start_date: self.start_date.format("%Y-%m-%d").to_string(),
        }
    }
}

/// Which project a `GetProject` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectLookup {
    Id(Uuid),
    OpportunityId(Uuid),
}

impl ProjectLookup {
    /// Exactly one of `id` and `opportunity_id` must be set; otherwise the violation names `id`.
    pub fn parse(request: &GetProjectRequest) -> Result<ProjectLookup, Error> {
        let id = request.id.trim();
        let opportunity_id = request.opportunity_id.trim();
        let mut v = Violations::new();
        let lookup = match (id.is_empty(), opportunity_id.is_empty()) {
            (true, true) => {
                v.add("id", "is required: set either id or opportunity_id");
                None
            }
            (false, false) => {
                v.add("id", "set either id or opportunity_id, not both");
                None
            }
            (false, true) => v.uuid("id", id).map(ProjectLookup::Id),
            (true, false) => v
                .uuid("opportunity_id", opportunity_id)
                .map(ProjectLookup::OpportunityId),
        };
        v.finish()?;
        lookup.ok_or_else(|| Error::invalid("id", "is required"))
    }
}

#[cfg(test)]
mod tests {
    use keel_proto::common::Money as MoneyMessage;

    use super::*;

    const OPPORTUNITY: &str = "0193b2a4-6f1e-7c3a-9f00-1234567890ab";
    const ACCOUNT: &str = "0193b2a4-6f1e-7c3a-9f00-0000000000cd";

    fn good() -> CreateProjectRequest {
        CreateProjectRequest {
            idempotency_key: "setup-1".into(),
            opportunity_id: OPPORTUNITY.into(),
            account_id: ACCOUNT.into(),
            name: "Northwind ERP rollout".into(),
            template_id: "erp-fixed-fee-emea".into(),
            service_line: "erp-deployment".into(),
            contract_type: "fixed-fee".into(),
            region: "emea".into(),
            client_tier: "strategic".into(),
            contract_value: Some(MoneyMessage {
                amount: "1250000".into(),
                currency: "EUR".into(),
            }),
            start_date: "2026-12-01".into(),
        }
    }

    #[test]
    fn a_good_request_parses() {
        let project = NewProject::parse(&good()).unwrap();
        assert_eq!(project.opportunity_id.to_string(), OPPORTUNITY);
        assert_eq!(project.template_id.as_str(), "erp-fixed-fee-emea");
        assert_eq!(project.contract_value.to_proto().amount, "1250000.00");
        assert_eq!(project.start_date, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(project.selector.client_tier, "strategic");
        let canonical = project.to_request();
        assert_eq!(canonical.contract_value.unwrap().amount, "1250000.00");
        // Selectors are optional.
        let mut any = good();
        any.client_tier.clear();
        any.region.clear();
        assert!(NewProject::parse(&any).is_ok());
    }

    #[test]
    fn every_bad_field_is_named() {
        type Change = fn(&mut CreateProjectRequest);
        let table: &[(Change, &[&str])] = &[
            (|r| r.idempotency_key.clear(), &["idempotency_key"]),
            (|r| r.opportunity_id.clear(), &["opportunity_id"]),
            (|r| r.opportunity_id = "opp-1".into(), &["opportunity_id"]),
            (|r| r.account_id = "acme".into(), &["account_id"]),
            (|r| r.name = " ".into(), &["name"]),
            (|r| r.template_id.clear(), &["template_id"]),
            (|r| r.template_id = "ERP Fixed".into(), &["template_id"]),
            (|r| r.region = "EMEA".into(), &["region"]),
            (|r| r.contract_value = None, &["contract_value"]),
            (
                |r| {
                    r.contract_value = Some(MoneyMessage {
                        amount: "-1".into(),
                        currency: "EUR".into(),
                    })
                },
                &["contract_value.amount"],
            ),
            (
                |r| {
                    r.contract_value = Some(MoneyMessage {
                        amount: "10".into(),
                        currency: "eur".into(),
                    })
                },
                &["contract_value.currency"],
            ),
            (
                |r| {
                    r.contract_value = Some(MoneyMessage {
                        amount: "10.001".into(),
                        currency: "EUR".into(),
                    })
                },
                &["contract_value.amount"],
            ),
            (|r| r.start_date.clear(), &["start_date"]),
            (|r| r.start_date = "2026-02-30".into(), &["start_date"]),
            (|r| r.start_date = "01/12/2026".into(), &["start_date"]),
            (
                |r| {
                    r.name.clear();
                    r.account_id.clear();
                    r.start_date = "soon".into();
                },
                &["account_id", "name", "start_date"],
            ),
        ];
        for (change, expected) in table {
            let mut request = good();
            change(&mut request);
            let error = NewProject::parse(&request).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, *expected, "{request:?}");
        }
    }

    #[test]
    fn a_zero_contract_value_is_allowed() {
        let mut request = good();
        request.contract_value = Some(MoneyMessage {
            amount: "0".into(),
            currency: "USD".into(),
        });
        assert!(NewProject::parse(&request).is_ok());
    }

    #[test]
    fn lookups_need_exactly_one_key() {
        let id = "0193b2a4-6f1e-7c3a-9f00-1234567890ab";
        let table: &[(&str, &str, Result<&str, &str>)] = &[
            (id, "", Ok("id")),
            ("", id, Ok("opportunity_id")),
            ("", "", Err("id")),
            (id, id, Err("id")),
            ("p-1", "", Err("id")),
            ("", "o-1", Err("opportunity_id")),
        ];
        for (given_id, given_opportunity, expected) in table {
            let request = GetProjectRequest {
                id: (*given_id).into(),
                opportunity_id: (*given_opportunity).into(),
            };
            match (ProjectLookup::parse(&request), expected) {
                (Ok(ProjectLookup::Id(_)), Ok("id")) | (Ok(ProjectLookup::OpportunityId(_)), Ok("opportunity_id")) => {}
                (Err(error), Err(field)) => assert_eq!(error.field_violations()[0].field, *field),
                (got, _) => panic!("{request:?} gave {got:?}"),
            }
        }
    }
}
