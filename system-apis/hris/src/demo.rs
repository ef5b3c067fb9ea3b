//! A believable small staff for `keel up --demo`, and realistic HR exports for imports.

use keel_proto::common::Money;
use keel_proto::hris::{Certification, CreateEmployeeRequest, Language, Skill};

/// Columns [`csv`] writes, in order.
pub const CSV_HEADER: &str = "employee_number,name,email,legal_entity,location,region,labor_category,cost_rate,currency,utilization_target,skills,certifications,languages,manager_employee_number,weekly_capacity_hours";

/// What [`csv`] spoils in a bad row, cycling through the list: `(column, bad value)`.
pub const BAD_ROW_KINDS: [(&str, &str); 3] = [
    ("email", "not-an-email-address"),
    ("cost_rate", "-55.00"),
    ("region", "mars"),
];

struct Entity {
    code: &'static str,
    cities: &'static [&'static str],
    region: &'static str,
    currency: &'static str,
    languages: &'static [&'static str],
}

const ENTITIES: &[Entity] = &[
    Entity {
        code: "KEEL-UK",
        cities: &["London", "Manchester", "Edinburgh"],
        region: "emea",
        currency: "GBP",
        languages: &["en:native", "en:native;fr:b1"],
    },
    Entity {
        code: "KEEL-DE",
        cities: &["Berlin", "Munich", "Frankfurt"],
        region: "emea",
        currency: "EUR",
        languages: &["de:native;en:c1", "de:native;en:b2;fr:a2"],
    },
    Entity {
        code: "KEEL-US",
        cities: &["New York", "Chicago", "Austin"],
        region: "na",
        currency: "USD",
        languages: &["en:native", "en:native;es:b2"],
    },
    Entity {
        code: "KEEL-SG",
        cities: &["Singapore"],
        region: "apac",
        currency: "SGD",
        languages: &["en:c2;zh:native", "en:native;ms:b1"],
    },
];

/// Labor category, hourly cost in the entity's currency, utilization target.
const CATEGORIES: &[(&str, &str, &str)] = &[
    ("analyst", "45.00", "0.85"),
    ("consultant", "62.50", "0.8"),
    ("senior-consultant", "80.00", "0.75"),
    ("manager", "105.00", "0.65"),
    ("senior-manager", "130.00", "0.55"),
    ("director", "160.00", "0.4"),
];

const SKILLS: &[&str] = &[
    "sap-fico",
    "sap-mm",
    "salesforce",
    "workday-hcm",
    "sql",
    "python",
    "rust",
    "java",
    "azure",
    "aws",
    "power-bi",
    "change-management",
    "project-management",
];

const CERTIFICATIONS: &[&str] = &[
    "aws-sa",
    "azure-ar",
    "pmp",
    "prince2",
    "sap-s4-fin",
    "safe-agile",
    "csm",
];

const FIRST: &[&str] = &[
    "Amelia", "Ben", "Chloe", "Daniel", "Elif", "Farah", "Georg", "Hannah", "Ivan", "Julia", "Kenji", "Lena", "Mateo",
    "Nadia", "Oliver", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wei", "Yara", "Zoe",
];
const LAST: &[&str] = &[
    "Adams", "Becker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hoffmann", "Iyer", "Jensen", "Kowalski", "Lim",
    "Martin", "Nakamura", "O'Brien", "Patel", "Quinn", "Rossi", "Schmidt", "Tan", "Ueda", "Varga", "Wagner", "Young",
];

/// A deterministic mix for row `i`.
fn mix(i: usize, salt: u64) -> usize {
    let mut x = (i as u64).wrapping_add(salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    x as usize
}

/// The employee number of data row `i` (0-based).
pub fn employee_number(i: usize) -> String {
    format!("E{:06}", i + 1)
}

/// A CSV export of `rows` employees as an HR system writes it (header first; data row `i`,
/// 0-based, is on line `i + 2`). Each index in `bad_rows` gets one bad value, cycling
/// through [`BAD_ROW_KINDS`]: a bad email, a negative cost rate, an unknown region.
pub fn csv(rows: usize, bad_rows: &[usize]) -> String {
    let mut out = String::with_capacity(rows * 180 + CSV_HEADER.len());
    out.push_str(CSV_HEADER);
    out.push('\n');
    for i in 0..rows {
        let entity = &ENTITIES[mix(i, 1) % ENTITIES.len()];
        let (category, rate, utilization) = CATEGORIES[mix(i, 2) % CATEGORIES.len()];
        let first = FIRST[mix(i, 3) % FIRST.len()];
        let last = LAST[mix(i, 4) % LAST.len()];
        let city = entity.cities[mix(i, 5) % entity.cities.len()];
        let skills: Vec<String> = (0..1 + mix(i, 6) % 3)
            .map(|k| SKILLS[(mix(i, 7) + k * 5) % SKILLS.len()])
            .enumerate()
            .map(|(k, s)| format!("{s}:{}", 1 + mix(i, 8 + k as u64) % 5))
            .collect();
        let certifications = match mix(i, 11) % 4 {
            0 => String::new(),
            n => format!(
                "{}:{}-{:02}-01",
                CERTIFICATIONS[mix(i, 12) % CERTIFICATIONS.len()],
                2024 + n,
                1 + mix(i, 13) % 12
            ),
        };
        let languages = entity.languages[mix(i, 14) % entity.languages.len()];
        let manager = match i {
            0 => String::new(),
            1..8 => employee_number(0),
            _ => employee_number(i / 8),
        };
        let capacity = if mix(i, 15).is_multiple_of(10) { "32" } else { "40" };
        let mut email = format!(
            "{}.{}.{:06}@keel.example",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', ""),
            i + 1
        );
        let (mut rate, mut region) = (rate.to_string(), entity.region.to_string());
        if let Some(k) = bad_rows.iter().position(|b| *b == i) {
            let (column, bad) = BAD_ROW_KINDS[k % BAD_ROW_KINDS.len()];
            match column {
                "email" => email = bad.to_string(),
                "cost_rate" => rate = bad.to_string(),
                _ => region = bad.to_string(),
            }
        }
        let fields = [
            employee_number(i),
            format!("{first} {last}"),
            email,
            entity.code.to_string(),
            city.to_string(),
            region,
            category.to_string(),
            rate,
            entity.currency.to_string(),
            utilization.to_string(),
            skills.join(";"),
            certifications,
            languages.to_string(),
            manager,
            capacity.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Quotes a field when it needs it.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn money(amount: &str, currency: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: currency.into(),
    })
}

fn skill(name: &str, proficiency: i32) -> Skill {
    Skill {
        name: name.into(),
        proficiency,
    }
}

fn language(code: &str, level: &str) -> Language {
    Language {
        code: code.into(),
        level: level.into(),
    }
}

/// The demo firm's people across three legal entities. Idempotency keys are fixed, so
/// seeding twice changes nothing.
pub fn employees() -> Vec<CreateEmployeeRequest> {
    #[allow(clippy::too_many_arguments)] // a table row
    let employee = |number: &str,
                    name: &str,
                    entity: &str,
                    location: &str,
                    region: &str,
                    category: &str,
                    rate: &str,
                    currency: &str,
                    utilization: &str,
                    manager: &str| CreateEmployeeRequest {
        idempotency_key: format!("demo-employee-{number}"),
        employee_number: number.into(),
        name: name.into(),
        email: format!("{}@keel.example", name.to_lowercase().replace(' ', ".")),
        legal_entity: entity.into(),
        location: location.into(),
        region: region.into(),
        labor_category: category.into(),
        cost_rate: money(rate, currency),
        utilization_target: utilization.into(),
        manager_employee_number: manager.into(),
        skills: vec![],
        certifications: vec![],
        languages: vec![],
        weekly_capacity_hours: "40".into(),
    };
    let mut people = vec![
        employee(
            "UK-1001",
            "Harriet Cole",
            "KEEL-UK",
            "London",
            "emea",
            "director",
            "165.00",
            "GBP",
            "0.4",
            "",
        ),
        employee(
            "UK-1002",
            "Samuel Okafor",
            "KEEL-UK",
            "London",
            "emea",
            "senior-consultant",
            "82.00",
            "GBP",
            "0.75",
            "UK-1001",
        ),
        employee(
            "UK-1003",
            "Isla Murray",
            "KEEL-UK",
            "Manchester",
            "emea",
            "consultant",
            "61.00",
            "GBP",
            "0.8",
            "UK-1001",
        ),
        employee(
            "DE-2001",
            "Katrin Vogel",
            "KEEL-DE",
            "Berlin",
            "emea",
            "manager",
            "110.00",
            "EUR",
            "0.65",
            "",
        ),
        employee(
            "DE-2002",
            "Jonas Weber",
            "KEEL-DE",
            "Munich",
            "emea",
            "senior-consultant",
            "88.00",
            "EUR",
            "0.75",
            "DE-2001",
        ),
        employee(
            "US-3001",
            "Maya Thompson",
            "KEEL-US",
            "New York",
            "na",
            "senior-manager",
            "140.00",
            "USD",
            "0.55",
            "",
        ),
        employee(
            "US-3002",
            "Luis Ortega",
            "KEEL-US",
            "Chicago",
            "na",
            "consultant",
            "70.00",
            "USD",
            "0.8",
            "US-3001",
        ),
    ];
    let profiles: [(&[Skill], &[Certification], &[Language]); 7] = [
        (
            &[skill("project-management", 5), skill("change-management", 4)],
            &[],
            &[language("en", "native")],
        ),
        (
            &[skill("sap-fico", 4), skill("sql", 3)],
            &[],
            &[language("en", "native"), language("fr", "b2")],
        ),
        (
            &[skill("power-bi", 3), skill("sql", 4)],
            &[],
            &[language("en", "native")],
        ),
        (
            &[skill("sap-mm", 4), skill("project-management", 4)],
            &[],
            &[language("de", "native"), language("en", "c1")],
        ),
        (
            &[skill("rust", 4), skill("aws", 3)],
            &[],
            &[language("de", "native"), language("en", "c2")],
        ),
        (
            &[skill("salesforce", 4)],
            &[],
            &[language("en", "native"), language("es", "b1")],
        ),
        (
            &[skill("python", 4), skill("azure", 3)],
            &[],
            &[language("en", "native"), language("es", "native")],
        ),
    ];
    let certifications = [
        vec![Certification {
            name: "prince2".into(),
            issued_on: "2021-03-01".into(),
            expires_on: String::new(),
        }],
        vec![Certification {
            name: "sap-s4-fin".into(),
            issued_on: "2024-06-15".into(),
            expires_on: "2027-06-15".into(),
        }],
        vec![],
        vec![Certification {
            name: "pmp".into(),
            issued_on: "2022-01-10".into(),
            expires_on: "2025-01-10".into(),
        }],
        vec![Certification {
            name: "aws-sa".into(),
            issued_on: "2025-05-01".into(),
            expires_on: "2028-05-01".into(),
        }],
        vec![],
        vec![Certification {
            name: "azure-ar".into(),
            issued_on: "2025-09-01".into(),
            expires_on: "2026-09-01".into(),
        }],
    ];
    for ((person, (skills, _, languages)), certs) in people.iter_mut().zip(profiles).zip(certifications) {
        person.skills = skills.to_vec();
        person.languages = languages.to_vec();
        person.certifications = certs;
    }
    people
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmployeeImport, NewEmployee};
    use keel_proto::hris::ImportEmployeesRequest;

    #[test]
    fn every_demo_employee_is_valid() {
        for e in employees() {
            NewEmployee::parse(&e).unwrap();
        }
    }

    #[test]
    fn the_generated_export_is_valid_but_for_the_bad_rows() {
        let (_, import) = EmployeeImport::parse(&ImportEmployeesRequest {
            idempotency_key: "k".into(),
            csv: csv(500, &[3, 100, 499]).into_bytes(),
            source: String::new(),
        })
        .unwrap();
        let bad: Vec<(u64, String)> = import
            .rows
            .iter()
            .filter_map(|r| r.rejection())
            .map(|r| (r.line, r.errors[0].field.clone()))
            .collect();
        assert_eq!(
            bad,
            [
                (5, "email".to_string()),
                (102, "cost_rate".to_string()),
                (501, "region".to_string())
            ]
        );
    }
}
