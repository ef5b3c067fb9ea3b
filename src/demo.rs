//! `keel up --demo` and `keel seed`: seeds a small firm through the real gRPC APIs, as an
//! administrator. Every call carries a fixed idempotency key, so seeding again changes nothing.
//! The delivery templates come from the template files (`templates.dir`), read and checked at
//! start by [`load_templates`]; [`push_templates`] upserts them into PSA, which versions them.

use anyhow::Context;
use keel_config::KeelConfig;
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::psa::DeliveryTemplate;
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

/// The delivery templates of `templates.dir`, each file checked, and its overrides checked
/// against the template policy (`templates.toml` under `templates.policies_dir`; absent, a
/// template may override nothing). An error names the file and the key. A missing
/// `templates.dir` leaves the templates built into Keel (the shipped files).
pub fn load_templates(config: &KeelConfig) -> anyhow::Result<Vec<DeliveryTemplate>> {
    let dir = &config.templates.dir;
    if !dir.is_dir() {
        tracing::warn!(dir = %dir.display(), "template directory not found; using the built-in delivery templates");
        return Ok(keel_psa::demo::templates());
    }
    let policy_path = config.templates.policies_dir.join("templates.toml");
    let policy = if policy_path.is_file() {
        keel_psa::templates::TemplatePolicy::load(&policy_path)?
    } else {
        keel_psa::templates::TemplatePolicy {
            version: "default".into(),
            overridable: Vec::new(),
        }
    };
    let loaded = keel_psa::templates::load_dir(dir, &policy)?;
    tracing::info!(dir = %dir.display(), templates = loaded.len(), policy = %policy.version, "delivery templates loaded");
    Ok(loaded.into_iter().map(|t| t.template).collect())
}

/// Upserts `templates` into PSA, each keyed by its id and content: PSA answers the same
/// version for a file that did not change, and a new version for one that did.
pub async fn push_templates(psa: Channel, token: &str, templates: &[DeliveryTemplate]) -> anyhow::Result<usize> {
    let mut psa = PsaServiceClient::new(psa);
    for template in templates {
        let content = keel_store::idempotency::fingerprint(template);
        let request = UpsertDeliveryTemplateRequest {
            idempotency_key: format!("template-{}-{}", template.id, &content[..32]),
            template: Some(template.clone()),
        };
        psa.upsert_delivery_template(authorized(token, request)?)
            .await
            .with_context(|| format!("upserting delivery template {}", template.id))?;
    }
    Ok(templates.len())
}

/// Delivery templates into PSA, employees into HRIS, accounts and their opportunities into CRM.
pub async fn seed(targets: SeedTargets, token: &str, templates: &[DeliveryTemplate]) -> anyhow::Result<Seeded> {
    let mut hris = HrisServiceClient::new(targets.hris);
    let mut crm = CrmServiceClient::new(targets.crm);
    let mut seeded = Seeded {
        templates: push_templates(targets.psa, token, templates)
            .await
            .context("seeding delivery templates")?,
        ..Seeded::default()
    };
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
