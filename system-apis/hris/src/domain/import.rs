//! An HR system's CSV export checked row by row: a bad row is reported with its line, its
//! column and the reason, and never stops the good ones. A missing required column refuses
//! the whole file.

use keel_core::{Error, Violations};
use keel_proto::common::Money as MoneyMessage;
use keel_proto::hris::{
    Certification as CertificationMessage, CreateEmployeeRequest, FieldError, ImportEmployeesRequest,
    Language as LanguageMessage, RejectedRow, Skill as SkillMessage,
};
use sha2::{Digest, Sha256};

use super::NewEmployee;
use super::csv_records::{Record, records};

/// Columns every export must have.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "employee_number",
    "name",
    "email",
    "legal_entity",
    "location",
    "region",
    "labor_category",
    "cost_rate",
    "currency",
    "utilization_target",
];
/// Columns an export may have; when one is absent the import leaves that part of an existing
/// employee as it is.
pub const OPTIONAL_COLUMNS: &[&str] = &[
    "skills",
    "certifications",
    "languages",
    "manager_employee_number",
    "weekly_capacity_hours",
    "active",
];

/// Which optional columns the file has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportColumns {
    pub skills: bool,
    pub certifications: bool,
    pub languages: bool,
    pub manager_employee_number: bool,
    pub weekly_capacity_hours: bool,
    pub active: bool,
}

/// One data row: its line and either the checked employee or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub employee_number: String,
    pub employee: Result<NewEmployee, Vec<FieldError>>,
}

impl ImportRow {
    /// The rejection to report, when the row is bad.
    pub fn rejection(&self) -> Option<RejectedRow> {
        self.employee.as_ref().err().map(|errors| RejectedRow {
            line: self.line,
            employee_number: self.employee_number.clone(),
            errors: errors.clone(),
        })
    }
}

/// A checked import: every row, good or bad, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeImport {
    pub source: String,
    /// SHA-256 of the source name and the file: a reused key with another file is refused.
    pub fingerprint: String,
    pub columns: ImportColumns,
    pub rows: Vec<ImportRow>,
}

impl EmployeeImport {
    pub fn rows_total(&self) -> u64 {
        self.rows.len() as u64
    }

    pub fn parse(request: &ImportEmployeesRequest) -> Result<(String, EmployeeImport), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let source = v.optional_text("source", &request.source);
        let mut records = records(&request.csv).into_iter();
        let header = match records.next() {
            Some(Record { fields: Ok(h), .. }) => h,
            Some(Record { fields: Err(e), .. }) => {
                v.add("csv", format!("the header row is malformed: {e}"));
                Vec::new()
            }
            None => {
                if v.is_empty() {
                    v.add("csv", "is empty; expected a header row");
                }
                Vec::new()
            }
        };
        let header: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        if !header.is_empty() {
            for column in REQUIRED_COLUMNS {
                if !header.iter().any(|h| h == column) {
                    v.add("csv", format!("the header has no {column:?} column"));
                }
            }
        }
        v.finish()?;
        let index = |name: &str| header.iter().position(|h| h == name);
        let layout = Layout {
            width: header.len(),
            required: REQUIRED_COLUMNS.iter().map(|c| index(c).unwrap_or_default()).collect(),
            skills: index("skills"),
            certifications: index("certifications"),
            languages: index("languages"),
            manager: index("manager_employee_number"),
            weekly_hours: index("weekly_capacity_hours"),
            active: index("active"),
        };
        let columns = ImportColumns {
            skills: layout.skills.is_some(),
            certifications: layout.certifications.is_some(),
            languages: layout.languages.is_some(),
            manager_employee_number: layout.manager.is_some(),
            weekly_capacity_hours: layout.weekly_hours.is_some(),
            active: layout.active.is_some(),
        };
        let mut first_line_of: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let rows = records
            .map(|record| {
                let mut row = layout.row(record);
                if let Ok(employee) = &row.employee {
                    if let Some(first) = first_line_of.get(&employee.employee_number) {
                        row.employee = Err(vec![FieldError {
                            field: "employee_number".into(),
                            reason: format!("repeats the employee on line {first}"),
                        }]);
                    } else {
                        first_line_of.insert(employee.employee_number.clone(), row.line);
                    }
                }
                row
            })
            .collect();
        let mut hasher = Sha256::new();
        hasher.update(source.as_bytes());
        hasher.update([0x1f]);
        hasher.update(&request.csv);
        Ok((
            key,
            EmployeeImport {
                source,
                fingerprint: hex::encode(hasher.finalize()),
                columns,
                rows,
            },
        ))
    }
}

/// Where each column sits in the file.
struct Layout {
    width: usize,
    /// Indexes of [`REQUIRED_COLUMNS`], in that order.
    required: Vec<usize>,
    skills: Option<usize>,
    certifications: Option<usize>,
    languages: Option<usize>,
    manager: Option<usize>,
    weekly_hours: Option<usize>,
    active: Option<usize>,
}

impl Layout {
    fn row(&self, record: Record) -> ImportRow {
        let line = record.line;
        let fields = match record.fields {
            Ok(fields) => fields,
            Err(reason) => {
                return ImportRow {
                    line,
                    employee_number: String::new(),
                    employee: Err(vec![FieldError {
                        field: "row".into(),
                        reason,
                    }]),
                };
            }
        };
        let employee_number = fields
            .get(self.required[0])
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if fields.len() != self.width {
            return ImportRow {
                line,
                employee_number,
                employee: Err(vec![FieldError {
                    field: "row".into(),
                    reason: format!("has {} columns; the header has {}", fields.len(), self.width),
                }]),
            };
        }
        let get = |i: usize| fields[self.required[i]].as_str();
        let opt = |i: Option<usize>| i.map(|i| fields[i].as_str()).unwrap_or_default();
        let mut v = Violations::new();
        let mut errors = Vec::new();
        let skills = list(opt(self.skills), "skills", &mut errors, |name, value| {
            let proficiency = value
                .trim()
                .parse::<i32>()
                .map_err(|_| format!("{name}:{value}: the proficiency must be a whole number from 1 to 5"))?;
            Ok(SkillMessage {
                name: name.into(),
                proficiency,
            })
        });
        let certifications = list(
            opt(self.certifications),
            "certifications",
            &mut errors,
            |name, expiry| {
                Ok(CertificationMessage {
                    name: name.into(),
                    issued_on: String::new(),
                    expires_on: expiry.into(),
                })
            },
        );
        let languages = list(opt(self.languages), "languages", &mut errors, |code, level| {
            Ok(LanguageMessage {
                code: code.into(),
                level: level.into(),
            })
        });
        let active = match opt(self.active).trim().to_ascii_lowercase().as_str() {
            "" | "true" | "yes" | "y" | "1" | "active" => true,
            "false" | "no" | "n" | "0" | "inactive" => false,
            other => {
                errors.push(FieldError {
                    field: "active".into(),
                    reason: format!("{other:?} is not true or false"),
                });
                true
            }
        };
        let request = CreateEmployeeRequest {
            idempotency_key: String::new(),
            employee_number: get(0).into(),
            name: get(1).into(),
            email: get(2).into(),
            legal_entity: get(3).into(),
            location: get(4).into(),
            region: get(5).into(),
            labor_category: get(6).into(),
            cost_rate: Some(MoneyMessage {
                amount: get(7).into(),
                currency: get(8).into(),
            }),
            utilization_target: get(9).into(),
            manager_employee_number: opt(self.manager).into(),
            skills,
            certifications,
            languages,
            weekly_capacity_hours: opt(self.weekly_hours).into(),
        };
        let checked = NewEmployee::check(&mut v, &request);
        if let Err(e) = v.finish() {
            errors.extend(e.field_violations().iter().map(|f| {
                let column = column_of(&f.field);
                FieldError {
                    reason: if column == f.field {
                        f.description.clone()
                    } else {
                        format!("{}: {}", f.field, f.description)
                    },
                    field: column.to_string(),
                }
            }));
        }
        let employee = match checked {
            Some(mut employee) if errors.is_empty() => {
                employee.details.active = active;
                Ok(employee)
            }
            _ => Err(errors),
        };
        ImportRow {
            line,
            employee_number,
            employee,
        }
    }
}

/// The CSV column a contract field comes from.
fn column_of(field: &str) -> &str {
    if field == "cost_rate.currency" {
        return "currency";
    }
    let end = field.find(['[', '.']).unwrap_or(field.len());
    &field[..end]
}

/// Parses `a:1;b:2` items with `item`; a malformed item is an error on `column`.
fn list<T>(
    value: &str,
    column: &str,
    errors: &mut Vec<FieldError>,
    item: impl Fn(&str, &str) -> Result<T, String>,
) -> Vec<T> {
    let mut out = Vec::new();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = match part.split_once(':') {
            Some((name, rest)) => item(name.trim(), rest.trim()),
            None => Err(format!("{part:?} is not in name:value form")),
        };
        match parsed {
            Ok(t) => out.push(t),
            Err(reason) => errors.push(FieldError {
                field: column.into(),
                reason,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "employee_number,name,email,legal_entity,location,region,labor_category,cost_rate,currency,utilization_target,skills,certifications,languages";

    fn import(body: &str) -> Result<EmployeeImport, Error> {
        EmployeeImport::parse(&ImportEmployeesRequest {
            idempotency_key: "k".into(),
            csv: format!("{HEADER}\n{body}").into_bytes(),
            source: "test.csv".into(),
        })
        .map(|(_, i)| i)
    }

    fn rejected(i: &EmployeeImport) -> Vec<(u64, String)> {
        i.rows
            .iter()
            .filter_map(|r| r.rejection())
            .map(|r| (r.line, r.errors[0].field.clone()))
            .collect()
    }

    #[test]
    fn good_rows_parse_with_their_profiles() {
        let i = import("E1,Ana Silva,ana@keel.example,KEEL-UK,London,emea,consultant,70.00,GBP,0.8,rust:4;sql:3,aws-sa:2027-05-01,en:native;de:b2\n").unwrap();
        let e = i.rows[0].employee.as_ref().unwrap();
        assert_eq!(e.skills.len(), 2);
        assert_eq!(e.certifications[0].expires_on.unwrap().to_string(), "2027-05-01");
        assert_eq!(e.languages[1].level, crate::domain::LanguageLevel::B2);
        assert!(i.columns.skills && !i.columns.active);
    }

    #[test]
    fn bad_rows_are_named_by_line_and_column() {
        let i = import(concat!(
            "E1,Ana,ana@keel.example,KEEL-UK,London,emea,consultant,70.00,GBP,0.8,,,\n",
            "E2,Ben,not-an-email,KEEL-UK,London,emea,consultant,70.00,GBP,0.8,,,\n",
            "E3,Cy,cy@keel.example,KEEL-UK,London,emea,consultant,-1,GBP,0.8,,,\n",
            "E4,Di,di@keel.example,KEEL-UK,London,mars,consultant,70.00,GBP,0.8,,,\n",
            "E5,Ed,ed@keel.example,KEEL-UK,London,emea,consultant,70.00,QQQ,0.8,rust:9,,\n",
            "E6,too,few\n",
            "E7,Fay \"the\" quote,fay@keel.example,KEEL-UK,London,emea,consultant,70.00,GBP,0.8,,,\n",
            "E1,Ana again,ana@keel.example,KEEL-UK,London,emea,consultant,70.00,GBP,0.8,,,\n",
        ))
        .unwrap();
        assert_eq!(i.rows_total(), 8);
        assert_eq!(
            rejected(&i),
            [
                (3, "email".to_string()),
                (4, "cost_rate".to_string()),
                (5, "region".to_string()),
                (6, "currency".to_string()),
                (7, "row".to_string()),
                (9, "employee_number".to_string()),
            ]
        );
        // A quote inside an unquoted field is kept as written, as spreadsheet exports do.
        let e7 = i.rows[6].employee.as_ref().expect("row 8 is accepted");
        assert_eq!(e7.details.name, "Fay \"the\" quote");
        let e5 = i.rows[4].rejection().unwrap();
        assert_eq!(e5.errors[1].field, "skills");
        assert!(e5.errors[1].reason.contains("skills[0].proficiency"), "{e5:?}");
    }

    #[test]
    fn a_missing_required_column_refuses_the_file() {
        let err = EmployeeImport::parse(&ImportEmployeesRequest {
            idempotency_key: "k".into(),
            csv: b"employee_number,name,legal_entity,location,region,labor_category,cost_rate,currency,utilization_target\n".to_vec(),
            source: String::new(),
        })
        .unwrap_err();
        let v = err.field_violations();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "csv");
        assert!(v[0].description.contains("\"email\""));
    }
}
