//! Delivery templates as versioned files: one TOML file per template under `config/templates/`
//! (`templates.dir`), read and checked at start, and the template policy
//! (`config/policies/templates.toml`) that says which of the firm's policy keys a template may
//! override. A file that does not parse, a template PSA would refuse, two files with one id,
//! or an override the policy does not allow is an error naming the file and the key.
//!
//! PSA versions what these files say: upserting a file's template gives it a new version only
//! when its content changed (see `UpsertDeliveryTemplate`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use keel_proto::psa::{DeliveryTemplate, TemplateMilestone, TemplatePhase, TemplateTask};
use serde::Deserialize;

use crate::domain::TemplateSpec;

/// A template file or the template policy that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {key}: {message}", file.display())]
pub struct TemplateFileError {
    /// The file at fault.
    pub file: PathBuf,
    /// The key at fault in it (`phases[1].tasks[0].hours`, `overrides.rate_card`, ...).
    pub key: String,
    pub message: String,
}

fn fault(file: &Path, key: impl Into<String>, message: impl Into<String>) -> TemplateFileError {
    TemplateFileError {
        file: file.to_path_buf(),
        key: key.into(),
        message: message.into(),
    }
}

/// The template policy: which policy keys a template may override.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatePolicy {
    /// The policy's version, changed whenever the allowance changes.
    pub version: String,
    /// The keys a template's `[overrides]` may set. Default: none.
    #[serde(default)]
    pub overridable: Vec<String>,
}

impl TemplatePolicy {
    /// Reads and checks the policy file.
    pub fn load(path: &Path) -> Result<TemplatePolicy, TemplateFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| fault(path, "", format!("cannot read: {e}")))?;
        TemplatePolicy::parse(path, &text)
    }

    /// Parses and checks the policy's text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<TemplatePolicy, TemplateFileError> {
        let policy: TemplatePolicy = toml::from_str(text).map_err(|e| toml_fault(path, text, &e))?;
        if policy.version.trim().is_empty() {
            return Err(fault(path, "version", "is required"));
        }
        if let Some(i) = policy.overridable.iter().position(|k| k.trim().is_empty()) {
            return Err(fault(path, format!("overridable[{i}]"), "must not be empty"));
        }
        Ok(policy)
    }

    /// Whether a template may override `key`.
    pub fn allows(&self, key: &str) -> bool {
        self.overridable.iter().any(|k| k.trim() == key.trim())
    }
}

/// One template file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    id: String,
    name: String,
    #[serde(default)]
    selector: SelectorFile,
    #[serde(default)]
    phases: Vec<PhaseFile>,
    #[serde(default)]
    milestones: Vec<MilestoneFile>,
    #[serde(default)]
    overrides: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectorFile {
    #[serde(default)]
    service_line: String,
    #[serde(default)]
    contract_type: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    client_tier: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    name: String,
    #[serde(default)]
    tasks: Vec<TaskFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    name: String,
    role: String,
    hours: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MilestoneFile {
    name: String,
    percent_of_fee: String,
    due_after_days: u32,
}

/// A template read from its file: what PSA keeps, and what it overrides of the firm's
/// policies (keys the template policy allows).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedTemplate {
    pub file: PathBuf,
    pub template: DeliveryTemplate,
    pub overrides: BTreeMap<String, toml::Value>,
}

fn toml_fault(path: &Path, text: &str, error: &toml::de::Error) -> TemplateFileError {
    let key = error
        .span()
        .map(|span| {
            let line = text[..span.start].matches('\n').count() + 1;
            format!("line {line}")
        })
        .unwrap_or_default();
    fault(path, key, error.message().to_string())
}

/// Parses and checks one template file's text against `policy` (`path` names it in errors).
pub fn parse(path: &Path, text: &str, policy: &TemplatePolicy) -> Result<LoadedTemplate, TemplateFileError> {
    let file: TemplateFile = toml::from_str(text).map_err(|e| toml_fault(path, text, &e))?;
    let template = DeliveryTemplate {
        id: file.id,
        name: file.name,
        version: 0,
        service_line: file.selector.service_line,
        contract_type: file.selector.contract_type,
        region: file.selector.region,
        client_tier: file.selector.client_tier,
        phases: file
            .phases
            .into_iter()
            .map(|p| TemplatePhase {
                name: p.name,
                tasks: p
                    .tasks
                    .into_iter()
                    .map(|t| TemplateTask {
                        name: t.name,
                        role: t.role,
                        hours: t.hours,
                    })
                    .collect(),
            })
            .collect(),
        milestones: file
            .milestones
            .into_iter()
            .map(|m| TemplateMilestone {
                name: m.name,
                percent_of_fee: m.percent_of_fee,
                due_after_days: m.due_after_days,
            })
            .collect(),
    };
    // The checks PSA makes on an upsert, here at start: the first violation names its key.
    if let Err(error) = TemplateSpec::parse("template", Some(&template)) {
        let (key, message) = error
            .field_violations()
            .first()
            .map(|v| {
                let key = v.field.strip_prefix("template.").unwrap_or(&v.field);
                let key = match key {
                    "service_line" | "contract_type" | "region" | "client_tier" => format!("selector.{key}"),
                    other => other.to_string(),
                };
                (key, v.description.clone())
            })
            .unwrap_or_else(|| (String::new(), error.to_string()));
        return Err(fault(path, key, message));
    }
    if let Some(key) = file.overrides.keys().find(|k| !policy.allows(k)) {
        return Err(fault(
            path,
            format!("overrides.{key}"),
            format!(
                "template {} may not override {key}: the template policy (version {}) allows only {}",
                template.id,
                policy.version,
                if policy.overridable.is_empty() {
                    "none".to_string()
                } else {
                    policy.overridable.join(", ")
                }
            ),
        ));
    }
    Ok(LoadedTemplate {
        file: path.to_path_buf(),
        template,
        overrides: file.overrides,
    })
}

/// Reads and checks every `*.toml` file of `dir`, in file-name order. Two files with one
/// template id are refused.
pub fn load_dir(dir: &Path, policy: &TemplatePolicy) -> Result<Vec<LoadedTemplate>, TemplateFileError> {
    let entries = std::fs::read_dir(dir).map_err(|e| fault(dir, "", format!("cannot read the directory: {e}")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut loaded: Vec<LoadedTemplate> = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| fault(&path, "", format!("cannot read: {e}")))?;
        let template = parse(&path, &text, policy)?;
        if let Some(first) = loaded.iter().find(|t| t.template.id == template.template.id) {
            return Err(fault(
                &path,
                "id",
                format!(
                    "{} is already the id of the template in {}",
                    template.template.id,
                    first.file.display()
                ),
            ));
        }
        loaded.push(template);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TemplatePolicy {
        TemplatePolicy {
            version: "test".into(),
            overridable: vec!["rate_card".into()],
        }
    }

    const GOOD: &str = r#"
id = "small-fixed-fee"
name = "Small fixed fee"
[selector]
service_line = "erp-deployment"
[[phases]]
name = "Do"
tasks = [{ name = "Everything", role = "developer", hours = "10" }]
[[milestones]]
name = "Done"
percent_of_fee = "100"
due_after_days = 30
"#;

    fn error(text: &str) -> TemplateFileError {
        parse(Path::new("config/templates/small.toml"), text, &policy()).unwrap_err()
    }

    #[test]
    fn a_good_file_reads_into_the_template_psa_keeps() {
        let loaded = parse(Path::new("small.toml"), GOOD, &policy()).unwrap();
        assert_eq!(loaded.template.id, "small-fixed-fee");
        assert_eq!(loaded.template.service_line, "erp-deployment");
        assert_eq!(loaded.template.phases[0].tasks[0].hours, "10");
        assert_eq!(loaded.template.milestones[0].due_after_days, 30);
    }

    #[test]
    fn a_bad_file_is_refused_naming_the_file_and_the_key() {
        let bad_hours = error(&GOOD.replace("hours = \"10\"", "hours = \"ten\""));
        assert_eq!(bad_hours.file, Path::new("config/templates/small.toml"));
        assert_eq!(bad_hours.key, "phases[0].tasks[0].hours", "{bad_hours}");
        let bad_split = error(&GOOD.replace("percent_of_fee = \"100\"", "percent_of_fee = \"90\""));
        assert!(bad_split.key.starts_with("milestones"), "{bad_split}");
        let unknown = error(&GOOD.replace("[selector]", "[selector]\nsector = \"x\""));
        assert!(unknown.to_string().contains("sector"), "{unknown}");
        assert!(
            unknown.to_string().starts_with("config/templates/small.toml: line 5"),
            "{unknown}"
        );
    }

    #[test]
    fn an_override_outside_the_policys_allowance_is_refused_naming_the_template_and_the_key() {
        let allowed = format!("{GOOD}\n[overrides]\nrate_card = \"emea-2026\"\n");
        let loaded = parse(Path::new("small.toml"), &allowed, &policy()).unwrap();
        assert_eq!(loaded.overrides["rate_card"].as_str(), Some("emea-2026"));
        let refused = error(&format!(
            "{GOOD}\n[overrides]\n\"time-capture.max_daily_hours\" = \"14\"\n"
        ));
        assert_eq!(refused.key, "overrides.time-capture.max_daily_hours");
        assert!(refused.message.contains("small-fixed-fee"), "{refused}");
        assert!(refused.message.contains("may not override"), "{refused}");
    }

    #[test]
    fn the_shipped_templates_load_under_the_shipped_policy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let policy = TemplatePolicy::load(&root.join("config/policies/templates.toml")).unwrap();
        let loaded = load_dir(&root.join("config/templates"), &policy).unwrap();
        let mut ids: Vec<&str> = loaded.iter().map(|t| t.template.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "ams-tm-any",
                "cloud-fixed-fee-any",
                "crm-fixed-fee-any",
                "data-tm-na",
                "erp-fixed-fee-any",
                "erp-fixed-fee-emea",
                "security-tm-any"
            ]
        );
    }

    #[test]
    fn two_files_with_one_id_are_refused() {
        let dir = std::env::temp_dir().join(format!("keel-templates-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.toml"), GOOD).unwrap();
        std::fs::write(dir.join("b.toml"), GOOD).unwrap();
        let refused = load_dir(&dir, &policy()).unwrap_err();
        assert_eq!((refused.file, refused.key.as_str()), (dir.join("b.toml"), "id"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
