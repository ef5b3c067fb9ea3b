//! A believable small book of business for `keel up --demo`: clients across regions and
//! tiers, and open opportunities ready to be won.

use keel_proto::common::Money;
use keel_proto::crm::{CreateAccountRequest, CreateOpportunityRequest};

/// A demo account with its opportunities.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub account: CreateAccountRequest,
    pub opportunities: Vec<CreateOpportunityRequest>,
}

fn money(amount: &str, currency: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: currency.into(),
    })
}

/// The demo firm's clients. Idempotency keys are fixed, so seeding twice changes nothing;
/// `account_id` of each opportunity is filled in once its account exists.
pub fn accounts() -> Vec<DemoAccount> {
    let account = |key: &str, name: &str, tier: &str, region: &str| CreateAccountRequest {
        idempotency_key: format!("demo-account-{key}"),
        name: name.into(),
        tier: tier.into(),
        region: region.into(),
    };
    #[allow(clippy::too_many_arguments)] // a table row
    let opportunity = |key: &str,
                       name: &str,
                       service_line: &str,
                       contract_type: &str,
                       amount: &str,
                       currency: &str,
                       close_date: &str,
                       sow: &str| CreateOpportunityRequest {
        idempotency_key: format!("demo-opportunity-{key}"),
        account_id: String::new(),
        name: name.into(),
        service_line: service_line.into(),
        contract_type: contract_type.into(),
        region: String::new(),
        client_tier: String::new(),
        amount: money(amount, currency),
        close_date: close_date.into(),
        sow_reference: sow.into(),
    };
    vec![
        DemoAccount {
            account: account("northwind", "Northwind Logistics GmbH", "enterprise", "emea"),
            opportunities: vec![
                opportunity(
                    "northwind-erp",
                    "Northwind S/4 finance rollout",
                    "erp-deployment",
                    "fixed-fee",
                    "1250000.00",
                    "EUR",
                    "2026-11-20",
                    "SOW-2026-118",
                ),
                opportunity(
                    "northwind-wms",
                    "Northwind warehouse integration",
                    "erp-deployment",
                    "fixed-fee",
                    "310000.00",
                    "EUR",
                    "",
                    "",
                ),
            ],
        },
        DemoAccount {
            account: account("contoso", "Contoso Health Inc.", "strategic", "na"),
            opportunities: vec![opportunity(
                "contoso-analytics",
                "Contoso claims analytics platform",
                "data-analytics",
                "time-and-materials",
                "480000.00",
                "USD",
                "2026-12-05",
                "SOW-2026-131",
            )],
        },
        DemoAccount {
            account: account("fabrikam", "Fabrikam Retail Ltd", "growth", "apac"),
            opportunities: vec![opportunity(
                "fabrikam-erp",
                "Fabrikam ERP phase 1",
                "erp-deployment",
                "fixed-fee",
                "640000.00",
                "AUD",
                "2026-12-12",
                "SOW-2026-140",
            )],
        },
    ]
}
