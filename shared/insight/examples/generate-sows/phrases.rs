//! The phrasing the generator draws on: places and currencies per region, the vocabulary of
//! each service line, phrases borrowed from neighbouring lines, and boilerplate every SOW shares.

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use keel_insight::sow::Region;

use super::Service;

pub(crate) struct Place {
    pub(crate) cities: &'static [&'static str],
    pub(crate) countries: &'static [&'static str],
    pub(crate) currencies: &'static [(&'static str, &'static str)],
    pub(crate) law: &'static [&'static str],
}

pub(crate) fn place(region: Region) -> Place {
    match region {
        Region::Emea => Place {
            cities: &[
                "London",
                "Frankfurt",
                "Paris",
                "Amsterdam",
                "Madrid",
                "Milan",
                "Dublin",
                "Zurich",
                "Stockholm",
                "Dubai",
                "Johannesburg",
                "Warsaw",
            ],
            countries: &[
                "Germany",
                "the United Kingdom",
                "France",
                "the Netherlands",
                "Spain",
                "Italy",
                "Ireland",
                "Switzerland",
                "Sweden",
                "Poland",
            ],
            currencies: &[("EUR", "€"), ("GBP", "£"), ("EUR", "EUR ")],
            law: &[
                "the laws of England and Wales",
                "German law",
                "the laws of Ireland",
                "French law",
                "GDPR and applicable EU data-protection law",
            ],
        },
        Region::NorthAmerica => Place {
            cities: &[
                "New York", "Chicago", "Toronto", "Austin", "Atlanta", "Boston", "Seattle", "Denver", "Montreal",
                "Dallas",
            ],
            countries: &["the United States", "Canada"],
            currencies: &[("USD", "$"), ("USD", "USD "), ("CAD", "CAD ")],
            law: &[
                "the laws of the State of New York",
                "Delaware law",
                "the laws of the Province of Ontario",
                "the laws of the State of Texas",
            ],
        },
        Region::Apac => Place {
            cities: &[
                "Singapore",
                "Sydney",
                "Melbourne",
                "Tokyo",
                "Auckland",
                "Hong Kong",
                "Kuala Lumpur",
                "Bangalore",
            ],
            countries: &["Singapore", "Australia", "Japan", "New Zealand", "Malaysia", "India"],
            currencies: &[("SGD", "SGD "), ("AUD", "AUD "), ("AUD", "A$")],
            law: &[
                "the laws of Singapore",
                "the laws of New South Wales",
                "the laws of New Zealand",
            ],
        },
        Region::Latam => Place {
            cities: &[
                "São Paulo",
                "Mexico City",
                "Bogotá",
                "Santiago",
                "Buenos Aires",
                "Lima",
                "Monterrey",
            ],
            countries: &["Brazil", "Mexico", "Colombia", "Chile", "Argentina", "Peru"],
            currencies: &[("USD", "USD "), ("BRL", "BRL "), ("MXN", "MXN ")],
            law: &[
                "the laws of Brazil",
                "the laws of Mexico",
                "the laws of the State of New York",
            ],
        },
    }
}

pub(crate) fn region_phrase(rng: &mut ChaCha8Rng, region: Region) -> String {
    match region {
        Region::Emea => ["EMEA", "Europe", "the EMEA region", "European operations"]
            .choose(rng)
            .unwrap()
            .to_string(),
        Region::NorthAmerica => ["North America", "the US and Canada", "North American operations", "NA"]
            .choose(rng)
            .unwrap()
            .to_string(),
        Region::Apac => [
            "APAC",
            "Asia Pacific",
            "the Asia-Pacific region",
            "ANZ and South-East Asia",
        ]
        .choose(rng)
        .unwrap()
        .to_string(),
        Region::Latam => ["LATAM", "Latin America", "the Latin American region", "South America"]
            .choose(rng)
            .unwrap()
            .to_string(),
    }
}

pub(crate) struct Vocabulary {
    pub(crate) titles: &'static [&'static str],
    pub(crate) objectives: &'static [&'static str],
    pub(crate) scope: &'static [&'static str],
    pub(crate) deliverables: &'static [&'static str],
    pub(crate) milestones: &'static [&'static str],
    pub(crate) roles: &'static [&'static str],
}

pub(crate) fn vocabulary(service: Service) -> Vocabulary {
    match service {
        Service::Erp => Vocabulary {
            titles: &[
                "ERP Implementation",
                "S/4HANA Deployment",
                "Finance and Supply Chain ERP Rollout",
                "Oracle Cloud ERP Implementation",
                "Dynamics 365 Finance & Operations Deployment",
                "ERP Transformation Programme",
                "Core ERP Go-Live",
            ],
            objectives: &[
                "replace the legacy general ledger and order-to-cash processes with a single ERP platform",
                "deploy a standard ERP core for finance, procurement and inventory",
                "consolidate several ledgers into one enterprise resource planning system",
                "implement the new ERP template for record-to-report, procure-to-pay and order-to-cash",
                "move the finance and supply-chain processes onto S/4HANA",
            ],
            scope: &[
                "fit-gap workshops for finance, procurement and inventory",
                "configuration of the chart of accounts, cost centres and legal entities",
                "design of the solution blueprint and functional design documents",
                "build of RICEFW objects: reports, interfaces, conversions, enhancements, forms and workflows",
                "data migration of open items, vendor and customer masters",
                "system integration testing and user acceptance testing support",
                "cut-over planning, go-live and hypercare",
                "configuration of order-to-cash, procure-to-pay and record-to-report processes",
                "design authority and solution architecture reviews",
                "end-user training for finance and warehouse staff",
                "month-end close configuration and intercompany postings",
            ],
            deliverables: &[
                "Solution blueprint",
                "Functional design documents",
                "Configured ERP system",
                "Data-migration tooling",
                "Cut-over plan",
                "Go-live readiness assessment",
                "Hypercare report",
                "Configuration workbook",
            ],
            milestones: &[
                "Blueprint signed",
                "Design approved",
                "Build complete",
                "SIT exit",
                "UAT sign-off",
                "Go-live",
                "Hypercare exit",
                "Project close",
            ],
            roles: &[
                "Solution Architect",
                "Functional Consultant",
                "ERP Developer",
                "Engagement Manager",
            ],
        },
        Service::Data => Vocabulary {
            titles: &[
                "Data and Analytics Services",
                "Data Platform Build",
                "Analytics Modernisation",
                "Enterprise Data Warehouse and BI",
                "Lakehouse Implementation",
                "Reporting and Dashboard Services",
            ],
            objectives: &[
                "build a modern data platform and self-service analytics",
                "consolidate reporting into a governed semantic layer and dashboards",
                "stand up data pipelines from operational systems into a cloud data warehouse",
                "deliver executive dashboards and a single source of truth for KPIs",
                "modernise the legacy reporting estate onto a lakehouse",
            ],
            scope: &[
                "data landscape assessment and stakeholder interviews",
                "design of ingestion pipelines and ELT jobs",
                "build of a dimensional model and semantic layer",
                "Power BI and Tableau dashboards for finance and sales",
                "data quality rules, lineage and a data catalogue",
                "machine-learning feature store and forecasting notebooks",
                "Snowflake and Databricks workspace configuration",
                "training and enablement for analysts and data stewards",
                "dbt models, orchestration and monitoring of data pipelines",
                "KPI definitions and metric governance",
            ],
            deliverables: &[
                "Data landscape assessment",
                "Pipeline code and runbooks",
                "Semantic model",
                "Dashboards",
                "Data quality report",
                "Enablement materials",
            ],
            milestones: &[
                "Assessment report",
                "Pipelines in production",
                "Dashboards live",
                "Adoption complete",
            ],
            roles: &[
                "Data Architect",
                "Data Engineer",
                "Analytics Consultant",
                "BI Developer",
            ],
        },
        Service::Cloud => Vocabulary {
            titles: &[
                "Cloud Migration",
                "Data Centre Exit and Cloud Migration",
                "AWS Migration Services",
                "Azure Landing Zone and Migration",
                "Application Rehosting to Cloud",
                "Infrastructure Modernisation",
            ],
            objectives: &[
                "migrate the on-premises application estate to the public cloud",
                "exit the current data centre before the lease expires",
                "build a secure landing zone and rehost workloads onto AWS",
                "move production workloads to Azure with minimal downtime",
                "re-platform the server estate onto Google Cloud",
            ],
            scope: &[
                "discovery of servers, applications and dependencies",
                "landing zone design with networking, identity and guardrails",
                "migration waves planning and runbooks",
                "rehost, replatform and refactor of workloads",
                "infrastructure as code with Terraform",
                "backup, disaster recovery and failover testing",
                "decommissioning of data-centre hardware",
                "cost optimisation and FinOps tagging",
                "migration of virtual machines and databases with minimal downtime",
                "Kubernetes cluster build and container platform",
            ],
            deliverables: &[
                "Discovery report",
                "Landing zone",
                "Migration wave plans",
                "Migrated workloads",
                "Runbooks",
                "Decommissioning certificate",
            ],
            milestones: &[
                "Landing zone ready",
                "Wave 1 migrated",
                "Wave 2 migrated",
                "Final wave migrated",
                "Data centre exit",
            ],
            roles: &[
                "Cloud Architect",
                "Migration Engineer",
                "Platform Engineer",
                "Engagement Manager",
            ],
        },
        Service::Security => Vocabulary {
            titles: &[
                "Cybersecurity Assessment Services",
                "Security Operations Support",
                "Penetration Testing and Remediation",
                "Identity and Access Management Services",
                "Security Posture Review",
                "Managed Threat Assessment",
            ],
            objectives: &[
                "assess the security posture and remediate critical vulnerabilities",
                "perform penetration testing of external and internal applications",
                "strengthen identity and access management and privileged access",
                "prepare for ISO 27001 certification and a SOC 2 audit",
                "improve incident response readiness and threat detection",
            ],
            scope: &[
                "external and internal penetration testing",
                "vulnerability scanning and remediation guidance",
                "identity and access management review, MFA and privileged access",
                "SIEM tuning and threat detection use cases",
                "incident response playbooks and tabletop exercises",
                "ISO 27001 gap assessment and SOC 2 readiness",
                "firewall rule review and network segmentation",
                "secure code review of critical applications",
                "phishing simulation and security awareness training",
                "zero trust architecture roadmap",
            ],
            deliverables: &[
                "Penetration test report",
                "Risk register",
                "Remediation roadmap",
                "Incident response playbooks",
                "Gap assessment",
            ],
            milestones: &["Assessment complete", "Test report issued", "Remediation verified"],
            roles: &[
                "Security Architect",
                "Penetration Tester",
                "Security Analyst",
                "GRC Consultant",
            ],
        },
        Service::Crm => Vocabulary {
            titles: &[
                "CRM Implementation",
                "Salesforce Sales Cloud Deployment",
                "Customer Engagement Platform Rollout",
                "Dynamics 365 Sales Implementation",
                "Service Cloud and Contact Centre Deployment",
                "CRM Transformation",
            ],
            objectives: &[
                "implement a CRM for sales pipeline, accounts and opportunities",
                "deploy Salesforce Sales Cloud and Service Cloud for the customer teams",
                "give the sales organisation one view of the customer",
                "replace the legacy contact-centre tooling with a case management platform",
                "automate lead management, quoting and forecasting",
            ],
            scope: &[
                "configuration of accounts, contacts, leads and opportunities",
                "sales pipeline stages, forecasting and territory management",
                "case management, queues and service-level entitlements",
                "CPQ quoting and approval flows",
                "marketing automation and campaign integration",
                "migration of customer records and activity history",
                "contact-centre telephony (CTI) integration",
                "sales and service user training",
                "customer portal and self-service knowledge base",
                "lead scoring and routing rules",
            ],
            deliverables: &[
                "CRM design",
                "Configured CRM org",
                "Customer data migration",
                "Training materials",
                "Release notes",
            ],
            milestones: &[
                "Design approved",
                "Sprint 3 demo accepted",
                "CRM go-live",
                "Adoption review",
            ],
            roles: &[
                "CRM Architect",
                "Salesforce Consultant",
                "CRM Developer",
                "Business Analyst",
            ],
        },
        Service::ManagedServices => Vocabulary {
            titles: &[
                "Application Managed Services",
                "Application Support and Maintenance",
                "AMS Support Services",
                "Run and Maintain Services",
                "Level 2 and Level 3 Application Support",
                "Managed Support Agreement",
            ],
            objectives: &[
                "provide ongoing application support and maintenance after go-live",
                "take over level 2 and level 3 support of the business applications",
                "run and maintain the application landscape against agreed service levels",
                "provide incident, problem and change management for business applications",
                "support and continuously improve the applications in production",
            ],
            scope: &[
                "incident management against agreed SLAs",
                "problem management and root-cause analysis",
                "minor enhancements and change requests from a monthly hours pool",
                "release management and regression testing",
                "monitoring, batch job support and on-call coverage",
                "service desk for level 2 and level 3 tickets",
                "monthly service reports and KPI reviews",
                "knowledge transfer and transition from the incumbent provider",
                "patching, upgrades and technical housekeeping",
                "continuous service improvement plan",
            ],
            deliverables: &[
                "Transition plan",
                "Service reports",
                "Runbooks",
                "Known-error database",
                "Continuous improvement plan",
            ],
            milestones: &["Transition complete", "Steady state", "Annual service review"],
            roles: &[
                "Service Delivery Manager",
                "Support Analyst",
                "Application Engineer",
                "On-call Engineer",
            ],
        },
    }
}

/// A phrase from a neighbouring service line, so that templates share vocabulary.
pub(crate) fn neighbour_phrase(rng: &mut ChaCha8Rng, service: Service) -> &'static str {
    let pool: &[&str] = match service {
        Service::Erp => &[
            "data migration and reporting dashboards",
            "integration with the CRM for customer masters",
            "hosting of the ERP on the cloud",
            "security roles and segregation of duties",
        ],
        Service::Data => &[
            "extracts from the ERP general ledger",
            "CRM pipeline data for sales dashboards",
            "a cloud data warehouse on AWS",
            "data access controls and privacy",
        ],
        Service::Cloud => &[
            "migration of the ERP workloads",
            "a data platform landing area",
            "security guardrails and identity",
            "ongoing support after the migration",
        ],
        Service::Security => &[
            "review of ERP security roles",
            "cloud security posture on AWS and Azure",
            "access reviews in the CRM",
            "data loss prevention for the data warehouse",
        ],
        Service::Crm => &[
            "integration with the ERP for orders and invoices",
            "sales dashboards in Power BI",
            "single sign-on and security roles",
            "migration of data from the legacy system",
        ],
        Service::ManagedServices => &[
            "support of the ERP finance modules",
            "support of the CRM and integrations",
            "monitoring of the cloud infrastructure",
            "security patching",
        ],
    };
    pool.choose(rng).unwrap()
}

pub(crate) const FIRMS: &[&str] = &[
    "Keel Consulting",
    "Northwind Advisory",
    "Harbour Partners",
    "Meridian Digital",
];
pub(crate) const CLIENTS: &[&str] = &[
    "Acme Manufacturing",
    "Globex Retail",
    "Initech Insurance",
    "Umbrella Pharma",
    "Stark Logistics",
    "Wayne Utilities",
    "Soylent Foods",
    "Hooli Media",
    "Vandelay Industries",
    "Tyrell Energy",
    "Cyberdyne Health",
    "Wonka Confectionery",
    "Oscorp Chemicals",
    "Aperture Labs",
];
pub(crate) const INDUSTRIES: &[&str] = &[
    "manufacturing",
    "retail",
    "insurance",
    "life sciences",
    "logistics",
    "utilities",
    "consumer goods",
    "media",
    "energy",
    "healthcare",
    "public sector",
    "banking",
];

pub(crate) const BOILERPLATE: &[&str] = &[
    "This Statement of Work is governed by the Master Services Agreement between the parties; where they conflict, the Master Services Agreement prevails.",
    "The Client will provide timely access to its staff, systems and facilities, and will nominate a single point of contact with authority to make decisions.",
    "Changes to scope, schedule or fees follow the change control procedure and take effect only once both parties sign a change request.",
    "Each party keeps confidential the other's confidential information and uses it only for this engagement.",
    "Travel and expenses are charged at cost in line with the Client's travel policy, unless stated otherwise below.",
    "Acceptance of each deliverable is deemed given ten business days after submission unless the Client raises a material defect in writing.",
    "Work is performed remotely unless on-site presence is agreed in advance.",
    "The Client remains responsible for its third-party licences, hardware and vendor contracts.",
    "Either party may terminate this SOW for convenience with thirty days' written notice; fees for work performed up to termination remain payable.",
    "Invoices are payable within thirty days of receipt.",
    "Key personnel will not be replaced without reasonable notice to the Client.",
];

pub(crate) const GOVERNANCE: &[&str] = &[
    "A steering committee of the Client's sponsor, the Supplier's engagement partner and the programme leads meets monthly to review progress, risks and decisions.",
    "The project managers of both parties hold a weekly status meeting and keep a shared log of risks, assumptions, issues and dependencies.",
    "Issues that the project managers cannot resolve within five business days are escalated to the steering committee.",
    "Decisions that change scope, schedule or budget are recorded in the decision log and follow change control.",
    "The Supplier reports progress against the plan every two weeks, with a forecast of effort to complete.",
    "Quality reviews of each deliverable are carried out by a reviewer who did not author it.",
];
