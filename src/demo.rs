//! `keel up --demo` and `keel seed`: seeds a small firm through the real gRPC APIs, as an
//! administrator. Every call carries a fixed idempotency key, so seeding again changes nothing.

use anyhow::Context;
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::psa::UpsertDeliveryTemplateRequest;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use tonic::Request;
use tonic::transport::Channel;

/// What was seeded, for the start-up message.
#[derive(Debug, Default)]
pub struct Seeded {
    pub templates: usize,
    pub accounts: usize,
    pub employees: usize,
    /// (name, id) of each opportunity.
    pub opportunities: Vec<(String, String)>,
}

fn authorized<T>(token: &str, message: T) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// Where the seeded systems answer: one channel each (the same one under `keel up`).
#[derive(Debug, Clone)]
pub struct SeedTargets {
    pub psa: Channel,
    pub hris: Channel,
    pub crm: Channel,
}

/// Delivery templates into PSA, employees into HRIS, accounts and their opportunities into CRM.
pub async fn seed(targets: SeedTargets, token: &str) -> anyhow::Result<Seeded> {
    let mut psa = PsaServiceClient::new(targets.psa);
    let mut hris = HrisServiceClient::new(targets.hris);
    let mut crm = CrmServiceClient::new(targets.crm);
    let mut seeded = Seeded::default();

    for template in keel_psa::demo::templates() {
        let request = UpsertDeliveryTemplateRequest {
            idempotency_key: format!("demo-template-{}-v{}", template.id, template.version),
            template: Some(template),
        };
        psa.upsert_delivery_template(authorized(token, request)?)
            .await
            .context("seeding delivery templates")?;
        seeded.templates += 1;
    }
    for employee in keel_hris::demo::employees() {
        hris.create_employee(authorized(token, employee)?)
            .await
            .context("seeding employees")?;
        seeded.employees += 1;
    }
    for demo in keel_crm::demo::accounts() {
        let account = crm
            .create_account(authorized(token, demo.account)?)
            .await
            .context("seeding accounts")?
            .into_inner();
        seeded.accounts += 1;
        for mut opportunity in demo.opportunities {
            opportunity.account_id = account.id.clone();
            let created = crm
                .create_opportunity(authorized(token, opportunity)?)
                .await
                .context("seeding opportunities")?
                .into_inner();
            seeded.opportunities.push((created.name, created.id));
        }
    }
    Ok(seeded)
}
