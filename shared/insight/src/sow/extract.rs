//! Reading the commercial and delivery fields out of a SOW's text with rules a reviewer can
//! check: weighted cue lists for service type, region and contract type, the stated duration,
//! sites and interfaces for complexity, and payment lines for milestones. Rules, not a model:
//! each field says which words it came from, and the figures (amounts, dates) must be exact.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ContractType, DeliveryComplexity, Region};
use crate::InsightError;

/// The most text one SOW may have (about 200 pages), so that a call stays bounded.
pub const MAX_SOW_CHARS: usize = 1_000_000;

/// A payment milestone found in the text, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractedMilestone {
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
    pub date: Option<NaiveDate>,
    pub source_line: String,
}

/// What [`extract`] found; a field the text does not settle is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractedSow {
    /// A PSA service line: `erp-deployment`, `data-analytics`, `cloud-migration`,
    /// `cybersecurity`, `crm-implementation` or `managed-services`.
    pub service_type: Option<String>,
    pub complexity: DeliveryComplexity,
    pub duration_months: Option<u32>,
    pub sites: Option<u32>,
    pub integrations: Option<u32>,
    pub region: Option<Region>,
    pub contract_type: Option<ContractType>,
    pub milestones: Vec<ExtractedMilestone>,
}

/// Checks a SOW's text: not empty, not over [`MAX_SOW_CHARS`].
pub(crate) fn check_text(text: &str) -> Result<(), InsightError> {
    if text.trim().is_empty() {
        return Err(InsightError::invalid("sow_text", "must not be empty"));
    }
    if text.chars().count() > MAX_SOW_CHARS {
        return Err(InsightError::invalid(
            "sow_text",
            format!("must be at most {MAX_SOW_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Reads the fields out of a SOW's text. Empty text is [`InsightError::InvalidInput`] on
/// `sow_text`.
pub fn extract(text: &str) -> Result<ExtractedSow, InsightError> {
    check_text(text)?;
    let lower = text.to_lowercase();
    let duration_months = first_number(&DURATION, &lower);
    let sites = first_number(&SITES, &lower);
    let integrations = first_number(&INTEGRATIONS, &lower);
    Ok(ExtractedSow {
        service_type: best(&SERVICE_CUES, &lower).map(str::to_string),
        complexity: DeliveryComplexity::from_drivers(duration_months, sites, integrations),
        duration_months,
        sites,
        integrations,
        region: best(&REGION_CUES, &lower),
        contract_type: best(&CONTRACT_CUES, &lower),
        milestones: text.lines().filter_map(milestone).collect(),
    })
}

const NUMBER: &str = r"(\d+|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)";

static DURATION: LazyLock<Regex> = LazyLock::new(|| word_regex(&format!(r"{NUMBER}[\s-]+months?")));
static SITES: LazyLock<Regex> = LazyLock::new(|| word_regex(&format!(r"{NUMBER}\s+(?:sites|locations|countries)")));
static INTEGRATIONS: LazyLock<Regex> =
    LazyLock::new(|| word_regex(&format!(r"{NUMBER}\s+(?:interfaces|integrations)")));

fn word_regex(pattern: &str) -> Regex {
    Regex::new(&format!(r"\b{pattern}\b")).expect("a valid built-in pattern")
}

fn first_number(regex: &Regex, lower: &str) -> Option<u32> {
    let word = regex.captures(lower)?.get(1)?.as_str();
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    ];
    WORDS
        .iter()
        .position(|candidate| *candidate == word)
        .map(|index| index as u32)
        .or_else(|| word.parse().ok())
}

/// Cue lists per value, each cue with its weight, compiled once.
struct Cues<T: 'static> {
    values: Vec<(T, Vec<(Regex, u32)>)>,
}

impl<T: Copy> Cues<T> {
    fn new(table: &[(T, &[(&str, u32)])]) -> Self {
        Cues {
            values: table
                .iter()
                .map(|(value, cues)| {
                    let compiled = cues
                        .iter()
                        .map(|(cue, weight)| {
                            let escaped = regex::escape(cue);
                            // Word boundaries only where the cue starts or ends with a word character.
                            let start = if cue.starts_with(|c: char| c.is_alphanumeric()) {
                                r"\b"
                            } else {
                                ""
                            };
                            let end = if cue.ends_with(|c: char| c.is_alphanumeric()) {
                                r"\b"
                            } else {
                                ""
                            };
                            (
                                Regex::new(&format!("{start}{escaped}{end}")).expect("a valid cue"),
                                *weight,
                            )
                        })
                        .collect();
                    (*value, compiled)
                })
                .collect(),
        }
    }
}

/// The value whose cues weigh most in the text; `None` when no cue is present or two values tie.
fn best<T: Copy>(cues: &Cues<T>, lower: &str) -> Option<T> {
    let mut scores: Vec<(T, u32)> = cues
        .values
        .iter()
        .map(|(value, cues)| {
            (
                *value,
                cues.iter()
                    .map(|(regex, weight)| regex.find_iter(lower).count() as u32 * weight)
                    .sum(),
            )
        })
        .collect();
    scores.sort_by_key(|score| std::cmp::Reverse(score.1));
    match scores.as_slice() {
        [(value, top), rest @ ..] if *top > 0 && rest.first().is_none_or(|(_, second)| second < top) => Some(*value),
        _ => None,
    }
}

static SERVICE_CUES: LazyLock<Cues<&'static str>> = LazyLock::new(|| {
    Cues::new(&[
        (
            "erp-deployment",
            &[
                ("erp", 2),
                ("s/4hana", 3),
                ("general ledger", 1),
                ("chart of accounts", 2),
                ("procure-to-pay", 2),
                ("order-to-cash", 2),
                ("record-to-report", 2),
                ("ricefw", 3),
                ("fit-gap", 2),
                ("blueprint", 2),
                ("finance & operations", 2),
                ("month-end close", 2),
                ("enterprise resource planning", 3),
            ],
        ),
        (
            "data-analytics",
            &[
                ("analytics", 2),
                ("data platform", 2),
                ("dashboards", 1),
                ("data warehouse", 2),
                ("lakehouse", 3),
                ("data pipelines", 2),
                ("semantic", 2),
                ("power bi", 1),
                ("tableau", 2),
                ("snowflake", 2),
                ("databricks", 2),
                ("dbt", 3),
                ("kpi", 1),
                ("data quality", 2),
                ("reporting", 1),
            ],
        ),
        (
            "cloud-migration",
            &[
                ("cloud migration", 3),
                ("landing zone", 3),
                ("rehost", 3),
                ("data centre", 2),
                ("aws", 1),
                ("azure", 1),
                ("google cloud", 2),
                ("terraform", 2),
                ("workloads", 2),
                ("migration waves", 3),
                ("kubernetes", 2),
                ("finops", 2),
                ("public cloud", 2),
                ("server estate", 2),
            ],
        ),
        (
            "cybersecurity",
            &[
                ("penetration", 3),
                ("vulnerability", 2),
                ("security posture", 3),
                ("siem", 3),
                ("iso 27001", 3),
                ("soc 2", 3),
                ("incident response", 2),
                ("phishing", 3),
                ("zero trust", 3),
                ("mfa", 2),
                ("privileged access", 2),
                ("cybersecurity", 3),
                ("threat", 2),
            ],
        ),
        (
            "crm-implementation",
            &[
                ("crm", 2),
                ("salesforce", 3),
                ("sales cloud", 3),
                ("service cloud", 3),
                ("opportunities", 2),
                ("leads", 2),
                ("lead", 1),
                ("cpq", 3),
                ("case management", 2),
                ("contact-centre", 2),
                ("customer portal", 2),
                ("pipeline stages", 2),
                ("one view of the customer", 3),
            ],
        ),
        (
            "managed-services",
            &[
                ("managed services", 3),
                ("application support", 3),
                ("slas", 2),
                ("service levels", 2),
                ("incident management", 2),
                ("problem management", 3),
                ("level 2", 2),
                ("level 3", 2),
                ("service desk", 2),
                ("run and maintain", 3),
                ("on-call", 2),
                ("service reports", 2),
                ("ams", 3),
                ("support and maintenance", 3),
            ],
        ),
    ])
});

static REGION_CUES: LazyLock<Cues<Region>> = LazyLock::new(|| {
    Cues::new(&[
        (
            Region::Emea,
            &[
                ("emea", 3),
                ("europe", 3),
                ("european", 3),
                ("london", 2),
                ("frankfurt", 2),
                ("paris", 2),
                ("amsterdam", 2),
                ("madrid", 2),
                ("milan", 2),
                ("dublin", 2),
                ("zurich", 2),
                ("stockholm", 2),
                ("dubai", 2),
                ("johannesburg", 2),
                ("warsaw", 2),
                ("germany", 2),
                ("united kingdom", 2),
                ("france", 2),
                ("netherlands", 2),
                ("spain", 2),
                ("italy", 2),
                ("ireland", 2),
                ("switzerland", 2),
                ("sweden", 2),
                ("poland", 2),
                ("england and wales", 1),
                ("german law", 1),
                ("french law", 1),
                ("gdpr", 1),
                ("eur", 1),
                ("gbp", 1),
                ("€", 1),
                ("£", 1),
            ],
        ),
        (
            Region::NorthAmerica,
            &[
                ("north america", 3),
                ("north american", 3),
                ("na", 3),
                ("the us and canada", 3),
                ("new york", 2),
                ("chicago", 2),
                ("toronto", 2),
                ("austin", 2),
                ("atlanta", 2),
                ("boston", 2),
                ("seattle", 2),
                ("denver", 2),
                ("montreal", 2),
                ("dallas", 2),
                ("united states", 2),
                ("canada", 2),
                ("delaware", 1),
                ("ontario", 1),
                ("texas", 1),
                ("cad", 1),
            ],
        ),
        (
            Region::Apac,
            &[
                ("apac", 3),
                ("asia pacific", 3),
                ("asia-pacific", 3),
                ("south-east asia", 3),
                ("anz", 3),
                ("singapore", 2),
                ("sydney", 2),
                ("melbourne", 2),
                ("tokyo", 2),
                ("auckland", 2),
                ("hong kong", 2),
                ("kuala lumpur", 2),
                ("bangalore", 2),
                ("australia", 2),
                ("japan", 2),
                ("new zealand", 2),
                ("malaysia", 2),
                ("india", 2),
                ("new south wales", 1),
                ("sgd", 1),
                ("aud", 1),
                ("a$", 1),
            ],
        ),
        (
            Region::Latam,
            &[
                ("latam", 3),
                ("latin america", 3),
                ("latin american", 3),
                ("south america", 3),
                ("são paulo", 2),
                ("mexico city", 2),
                ("bogotá", 2),
                ("santiago", 2),
                ("buenos aires", 2),
                ("lima", 2),
                ("monterrey", 2),
                ("brazil", 2),
                ("mexico", 2),
                ("colombia", 2),
                ("chile", 2),
                ("argentina", 2),
                ("peru", 2),
                ("brl", 1),
                ("mxn", 1),
            ],
        ),
    ])
});

static CONTRACT_CUES: LazyLock<Cues<ContractType>> = LazyLock::new(|| {
    Cues::new(&[
        (
            ContractType::FixedFee,
            &[
                ("fixed fee", 3),
                ("fixed price", 3),
                ("fixed-price", 3),
                ("lump-sum", 3),
                ("lump sum", 3),
            ],
        ),
        (
            ContractType::TimeAndMaterials,
            &[
                ("time and materials", 3),
                ("time-and-materials", 3),
                ("time & materials", 3),
                ("t&m", 3),
                ("per hour", 1),
                ("per day", 1),
                ("daily rate", 1),
                ("hourly rate", 1),
            ],
        ),
    ])
});

/// A line that states a payment milestone: a milestone cue and an amount, and no rate, total
/// or cap (those are not milestones).
static MILESTONE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bmilestone\b|\bpayment\b|\bupon\b|\binstal?lment\b|\bon acceptance\b|\bdue\b|^\s*\|\s*\d+\s*\|")
        .expect("a valid pattern")
});
static NOT_A_MILESTONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)per (?:day|hour)|/\s*(?:day|hr|hour)\b|daily rate|hourly|\btotal\b|not to exceed|rate card")
        .expect("a valid pattern")
});
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(EUR|GBP|USD|CAD|SGD|AUD|BRL|MXN|A\$|€|£|\$)\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?")
        .expect("a valid pattern")
});
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    let month = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?";
    Regex::new(&format!(
        r"(?i)\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}} {month} \d{{4}}\b|\b{month} \d{{1,2}}, \d{{4}}\b"
    ))
    .expect("a valid pattern")
});

fn milestone(line: &str) -> Option<ExtractedMilestone> {
    if !MILESTONE_CUE.is_match(line) || NOT_A_MILESTONE.is_match(line) {
        return None;
    }
    let captures = AMOUNT.captures(line)?;
    let currency = match &captures[1] {
        "€" => "EUR",
        "£" => "GBP",
        "$" => "USD",
        "A$" => "AUD",
        code => code,
    };
    let digits = format!(
        "{}{}",
        captures[2].replace(',', ""),
        captures.get(3).map_or("", |m| m.as_str())
    );
    let amount: Decimal = digits.parse().ok()?;
    let date = DATE.find(line).and_then(|found| parse_date(found.as_str()));
    Some(ExtractedMilestone {
        amount,
        currency: currency.to_string(),
        date,
        source_line: line.trim().to_string(),
    })
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.replace('.', "");
    ["%Y-%m-%d", "%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(&text, format).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_counts_the_stated_drivers() {
        let found = extract("A twelve-month programme across 5 countries with 3 interfaces.").unwrap();
        assert_eq!(
            (found.duration_months, found.sites, found.integrations),
            (Some(12), Some(5), Some(3))
        );
        assert_eq!(found.complexity, DeliveryComplexity::High);
    }

    #[test]
    fn a_rate_line_is_not_a_milestone() {
        assert_eq!(milestone("Payment terms: Senior consultant USD 1,450 per day"), None);
        let found = milestone("Payment 2: $45,500.50 on Go-live (March 3, 2027)").unwrap();
        assert_eq!(found.amount, Decimal::new(4_550_050, 2));
        assert_eq!(found.date, NaiveDate::from_ymd_opt(2027, 3, 3));
    }
}
