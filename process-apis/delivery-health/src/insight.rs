//! Insight in delivery health: on each evaluation, the margin forecast at completion
//! (`keel_insight::margin::forecast`) and the time-entry anomaly detector
//! (`keel_insight::anomaly::detect`), each behind the firm's `[insight]` switch.
//!
//! - A forecast is recorded on every evaluation (its input, its output with the interval, the
//!   model and both policies' versions) and shown on the evaluation; when its point margin is
//!   below the policy's floor it becomes the `MARGIN_EROSION` breach, so it travels the
//!   ordinary alert path (one open alert per project and kind, to the PM and finance).
//! - A flag is stored once per project, kind and subject (an entry, or a consultant's week),
//!   OPEN until the project's manager confirms or dismisses it, once, audited. A flag never
//!   changes or rejects an entry.
//!
//! What is read (see [`project_burn`]): the plan is PSA's baseline hours per role spread
//! evenly over the weeks from the project's start to its last dated milestone; the burn is
//! the approved and posted time of each complete week; the cost of an hour is ERP's time cost
//! on the project code over PSA's posted hours (one blended rate: ERP books no role); revenue
//! is the fixed fee, or for time and materials the billed value of the time so far plus the
//! remaining hours at the rate card's bill rates.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_insight::anomaly::{self, AnomalyConfig, AnomalyFlag, AnomalyKind, Subject};
use keel_insight::margin::{MarginConfig, MarginForecast, PeriodBurn, ProjectBurn, RoleBurn};
use keel_insight::sow::ContractType;
use keel_insight::{Capability, Insight, InsightError, InsightPolicy};
use keel_proto::health as pb;
use keel_proto::psa::{Assignment, Project, TimeEntry, TimeEntryState};
use keel_store::audit::{self, AuditEntry};
use prost::Message;
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryOrder, QuerySelect};
use serde_json::json;

use crate::alerts::{self, Recipient};
use crate::health::{Breach, Facts, kind};
use crate::policy::HealthPolicy;

/// The margin model as recorded with each forecast.
pub const MARGIN_MODEL_VERSION: &str = "keel-insight/margin-eac-t/1";
/// The anomaly rules as recorded with each flag.
pub const ANOMALY_MODEL_VERSION: &str = "keel-insight/time-anomaly-rules/1";

/// The firm's `[insight]` switches and the version of the file they came from
/// (`config/policies/insight.toml`). Everything is on by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightSettings {
    pub switches: InsightPolicy,
    pub version: String,
}

impl Default for InsightSettings {
    fn default() -> Self {
        InsightSettings {
            switches: InsightPolicy::default(),
            version: "default".into(),
        }
    }
}

impl InsightSettings {
    /// `Ok` when `capability` is on; FAILED_PRECONDITION naming the switch otherwise.
    pub fn require(&self, capability: Capability) -> Result<(), Error> {
        self.switches.require(capability).map_err(insight_error)
    }
}

/// Maps the library's errors to Keel's at this edge (as project setup's intake does).
pub fn insight_error(error: InsightError) -> Error {
    match error {
        InsightError::Disabled(switch) => {
            Error::FailedPrecondition(format!("disabled by policy {switch}; the capability records nothing"))
        }
        InsightError::InvalidInput { field, reason } => Error::invalid(field, reason),
        other => Error::internal(other.to_string()),
    }
}

/// What the evaluation reads for insight, beyond the health facts.
#[derive(Debug, Clone, Default)]
pub struct InsightReads {
    pub project: Project,
    /// The project's SUBMITTED, APPROVED and POSTED entries.
    pub entries: Vec<TimeEntry>,
    /// The project's active assignments.
    pub assignments: Vec<Assignment>,
    /// The rate card's bill rate per role.
    pub bill_rates: HashMap<String, Decimal>,
    /// ERP's time cost booked to the project code; `None` without a code.
    pub time_cost: Option<Decimal>,
}

/// A forecast made by this evaluation, not yet stored.
#[derive(Debug, Clone)]
pub struct ForecastMade {
    pub view: pb::MarginForecast,
    pub input: serde_json::Value,
    pub output: serde_json::Value,
    pub breach: Option<Breach>,
}

/// What insight found on one evaluation.
#[derive(Debug, Clone, Default)]
pub struct InsightOutcome {
    pub forecast: Option<ForecastMade>,
    pub flags: Vec<AnomalyFlag>,
    /// Why a switched-on capability could not run, for the evaluation's `not_measured`.
    pub not_measured: Vec<String>,
}

fn decimal(text: &str) -> Option<Decimal> {
    text.trim().parse().ok()
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// A share (0.2) as a percent to 2 places ("20.00").
fn percent_of_share(share: Decimal) -> Decimal {
    let mut value = (share * Decimal::ONE_HUNDRED).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    value.rescale(2);
    value
}

/// Money to exactly 2 places ("64000.00").
fn cents(value: Decimal) -> Decimal {
    let mut value = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    value.rescale(2);
    value
}

fn money_range(range: &keel_insight::margin::Range) -> pb::Range {
    pb::Range {
        low: cents(range.low).to_string(),
        point: cents(range.point).to_string(),
        high: cents(range.high).to_string(),
    }
}

fn is_actual(entry: &TimeEntry) -> bool {
    entry.state == TimeEntryState::Approved as i32 || entry.state == TimeEntryState::Posted as i32
}

/// The plan's weeks and how many of them are complete on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanWeeks {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub weeks: u32,
    pub complete: u32,
}

impl PlanWeeks {
    /// Weeks of seven days from the project's start to its last dated milestone (the plan's
    /// end); a week is complete once its last day is before `today`.
    pub fn of(project: &Project, today: NaiveDate) -> Result<PlanWeeks, String> {
        let start = date(&project.start_date).ok_or("the PSA project has no start date")?;
        let end = project
            .milestones
            .iter()
            .filter_map(|m| date(&m.due_date))
            .max()
            .ok_or("the PSA project has no dated milestone, so the plan has no end")?;
        if end < start {
            return Err("the PSA project's last milestone is before its start".into());
        }
        let days = (end - start).num_days() + 1;
        let weeks = u32::try_from((days + 6) / 7).unwrap_or(u32::MAX);
        let elapsed = (today - start).num_days().max(0) / 7;
        let complete = u32::try_from(elapsed).unwrap_or(u32::MAX).min(weeks);
        Ok(PlanWeeks {
            start,
            end,
            weeks,
            complete,
        })
    }

    /// The first day of week `index` (from 0).
    fn week_start(&self, index: u32) -> NaiveDate {
        self.start + Duration::days(7 * i64::from(index))
    }

    /// The last day of the last complete week.
    pub fn measured_through(&self) -> NaiveDate {
        self.week_start(self.complete) - Duration::days(1)
    }
}

/// The cost of an hour: ERP's time cost over PSA's posted hours.
fn cost_rate(reads: &InsightReads) -> Result<Decimal, String> {
    let posted: Decimal = reads
        .entries
        .iter()
        .filter(|e| e.state == TimeEntryState::Posted as i32)
        .filter_map(|e| decimal(&e.hours))
        .sum();
    match reads.time_cost {
        None => Err("ERP has no project code for the project, so no cost is booked".into()),
        Some(cost) if cost <= Decimal::ZERO || posted <= Decimal::ZERO => {
            Err("no time is posted to ERP yet, so the cost of an hour is unknown".into())
        }
        Some(cost) => Ok(cost / posted),
    }
}

/// The project's plan and burn as the margin model reads it (see the module's notes), and the
/// cost rate it used. An `Err` says in words why the forecast cannot be made.
pub fn project_burn(
    facts: &Facts,
    reads: &InsightReads,
    today: NaiveDate,
) -> Result<(ProjectBurn, PlanWeeks, Decimal), String> {
    let project = &reads.project;
    let contract_type = match project.contract_type.as_str() {
        "fixed-fee" => ContractType::FixedFee,
        "time-and-materials" => ContractType::TimeAndMaterials,
        other => {
            return Err(format!(
                "the contract type {other:?} is neither fixed-fee nor time-and-materials"
            ));
        }
    };
    let plan = PlanWeeks::of(project, today)?;
    if plan.complete < 2 {
        return Err(format!(
            "{} complete week(s) of the plan have passed; the burn rate's spread needs 2",
            plan.complete
        ));
    }
    let rate = cost_rate(reads)?;
    let through = plan.measured_through();
    let share_to_date = Decimal::from(plan.complete) / Decimal::from(plan.weeks);

    let mut actual_by_role: HashMap<&str, Decimal> = HashMap::new();
    let mut period_actuals = vec![Decimal::ZERO; plan.complete as usize];
    let mut billed_to_date = Decimal::ZERO;
    for entry in reads.entries.iter().filter(|e| is_actual(e)) {
        let (Some(day), Some(hours)) = (date(&entry.date), decimal(&entry.hours)) else {
            continue;
        };
        if day < plan.start || day > through {
            continue;
        }
        *actual_by_role.entry(entry.role.as_str()).or_default() += hours;
        let week = usize::try_from((day - plan.start).num_days() / 7).unwrap_or(usize::MAX);
        if let Some(slot) = period_actuals.get_mut(week) {
            *slot += hours;
        }
        billed_to_date += entry
            .amount
            .as_ref()
            .and_then(|m| decimal(&m.amount))
            .unwrap_or_default();
    }

    let mut roles: Vec<RoleBurn> = Vec::new();
    for line in &facts.roles {
        let actual = actual_by_role.remove(line.role.as_str()).unwrap_or_default();
        if line.baseline_hours <= Decimal::ZERO && actual.is_zero() {
            continue;
        }
        let bill_rate = reads.bill_rates.get(&line.role).copied().unwrap_or_else(|| {
            if line.baseline_hours > Decimal::ZERO {
                line.baseline_amount / line.baseline_hours
            } else {
                Decimal::ZERO
            }
        });
        roles.push(RoleBurn {
            role: line.role.clone(),
            cost_rate: rate,
            bill_rate,
            baseline_hours: line.baseline_hours,
            planned_hours_to_date: line.baseline_hours * share_to_date,
            actual_hours_to_date: actual,
            actual_cost_to_date: actual * rate,
        });
    }
    let mut unplanned: Vec<(&str, Decimal)> = actual_by_role.into_iter().collect();
    unplanned.sort();
    for (role, actual) in unplanned {
        roles.push(RoleBurn {
            role: role.to_string(),
            cost_rate: rate,
            bill_rate: reads.bill_rates.get(role).copied().unwrap_or_default(),
            baseline_hours: Decimal::ZERO,
            planned_hours_to_date: Decimal::ZERO,
            actual_hours_to_date: actual,
            actual_cost_to_date: actual * rate,
        });
    }
    let planned_per_week = facts.total.baseline_hours / Decimal::from(plan.weeks);
    let periods = period_actuals
        .into_iter()
        .enumerate()
        .map(|(week, actual)| PeriodBurn {
            period_end: plan.week_start(u32::try_from(week).unwrap_or(0) + 1) - Duration::days(1),
            planned_hours: planned_per_week,
            actual_hours: actual,
        })
        .collect();
    let contract_value = project
        .contract_value
        .as_ref()
        .and_then(|m| decimal(&m.amount))
        .unwrap_or_default();
    let burn = ProjectBurn {
        project: project.name.clone(),
        contract_type,
        contract_value,
        cap: None,
        revenue_recognised: match contract_type {
            ContractType::TimeAndMaterials => billed_to_date,
            ContractType::FixedFee => Decimal::ZERO,
        },
        as_of: today,
        remaining_periods: plan.weeks - plan.complete,
        roles,
        periods,
    };
    Ok((burn, plan, rate))
}

fn contract_type_name(contract_type: ContractType) -> &'static str {
    match contract_type {
        ContractType::FixedFee => "fixed-fee",
        ContractType::TimeAndMaterials => "time-and-materials",
    }
}

/// The forecast in words, with its numbers.
fn explanation(forecast: &MarginForecast, currency: &str, floor: Decimal, confidence: Decimal, weeks: u32) -> String {
    let pct = |share: Decimal| percent_of_share(share);
    let cost = &forecast.cost_at_completion;
    let mut text = format!(
        "margin at completion forecast at {}% (interval {}% to {}%, {}% confidence) against a floor of {}%: \
         cost at completion (EAC) {} {currency} (interval {} to {}) against a budgeted cost of {} {currency}, \
         revenue at completion {} {currency}; burn {} × plan over {weeks} complete weeks",
        pct(forecast.margin_percent.point),
        pct(forecast.margin_percent.low),
        pct(forecast.margin_percent.high),
        confidence,
        floor,
        cents(cost.point),
        cents(cost.low),
        cents(cost.high),
        cents(forecast.planned.cost),
        cents(forecast.revenue_at_completion.point),
        forecast.burn_ratio,
    );
    if let Some(alert) = &forecast.alert {
        let basis = match alert.basis {
            keel_insight::margin::AlertBasis::UpperBound => "even the interval's best margin is below the floor",
            keel_insight::margin::AlertBasis::Point => "the interval's best margin still clears the floor",
        };
        text.push_str(&format!(
            "; {} {currency} short of the floor ({basis}), {} days before the month end of {}",
            cents(alert.shortfall),
            alert.days_before_month_end,
            alert.month_end
        ));
    }
    text
}

/// The margin forecast of one evaluation, when the switch is on and the numbers allow it.
fn forecast_margin(
    facts: &Facts,
    reads: &InsightReads,
    policy: &HealthPolicy,
    settings: &InsightSettings,
    today: NaiveDate,
) -> Result<ForecastMade, String> {
    let (burn, plan, rate) = project_burn(facts, reads, today)?;
    let thresholds = &policy.insight;
    let config = MarginConfig {
        floor: thresholds.margin_floor_percent / Decimal::ONE_HUNDRED,
        confidence: thresholds.margin_confidence_percent / Decimal::ONE_HUNDRED,
    };
    let mut insight = Insight::new(settings.switches);
    let forecast = insight.forecast_margin(&burn, &config).map_err(|e| match e {
        InsightError::InvalidInput { field, reason } => format!("{field}: {reason}"),
        other => other.to_string(),
    })?;
    let record = insight.take_records().pop().unwrap_or(keel_insight::InsightRecord {
        capability: Capability::MarginForecast,
        input: serde_json::Value::Null,
        output: serde_json::Value::Null,
    });
    let currency = facts.total.currency.clone();
    let explanation = explanation(
        &forecast,
        &currency,
        thresholds.margin_floor_percent,
        thresholds.margin_confidence_percent,
        plan.complete,
    );
    let point = percent_of_share(forecast.margin_percent.point);
    let breach = forecast.alert.as_ref().map(|_| Breach {
        kind: kind::MARGIN_EROSION.into(),
        measured: point,
        threshold: thresholds.margin_floor_percent,
        summary: explanation.clone(),
    });
    let view = pb::MarginForecast {
        id: String::new(),
        project_id: facts.project_id.clone(),
        contract_type: contract_type_name(forecast.contract_type).into(),
        as_of: today.to_string(),
        measured_through: plan.measured_through().to_string(),
        currency,
        cost_at_completion: Some(money_range(&forecast.cost_at_completion)),
        revenue_at_completion: Some(money_range(&forecast.revenue_at_completion)),
        margin_at_completion: Some(money_range(&forecast.margin_at_completion)),
        margin_percent: Some(pb::Range {
            low: percent_of_share(forecast.margin_percent.low).to_string(),
            point: point.to_string(),
            high: percent_of_share(forecast.margin_percent.high).to_string(),
        }),
        budget_cost: cents(forecast.planned.cost).to_string(),
        planned_margin_percent: percent_of_share(forecast.planned.margin_percent).to_string(),
        burn_ratio: forecast.burn_ratio.to_string(),
        cost_rate: cents(rate).to_string(),
        floor_percent: thresholds.margin_floor_percent.to_string(),
        confidence_percent: thresholds.margin_confidence_percent.to_string(),
        alert_basis: match forecast.alert.as_ref().map(|a| a.basis) {
            None => String::new(),
            Some(keel_insight::margin::AlertBasis::Point) => "POINT".into(),
            Some(keel_insight::margin::AlertBasis::UpperBound) => "UPPER_BOUND".into(),
        },
        shortfall: forecast
            .alert
            .as_ref()
            .map(|a| cents(a.shortfall).to_string())
            .unwrap_or_default(),
        explanation,
        past_periods: plan.complete,
        remaining_periods: plan.weeks - plan.complete,
        model_version: MARGIN_MODEL_VERSION.into(),
        policy_version: policy.version.clone(),
        insight_policy_version: settings.version.clone(),
        forecast_at: None,
    };
    Ok(ForecastMade {
        view,
        input: record.input,
        output: record.output,
        breach,
    })
}

/// The anomaly detector's input: the entries, and each consultant's weekly allocation
/// (allocation percent of the policy's working week, summed over their assignments).
pub fn anomaly_input(
    project_id: &str,
    reads: &InsightReads,
    week_hours: Decimal,
) -> (Vec<anomaly::TimeEntry>, Vec<anomaly::Allocation>) {
    let entries = reads
        .entries
        .iter()
        .filter_map(|e| {
            Some(anomaly::TimeEntry {
                id: e.id.clone(),
                consultant: e.employee_id.clone(),
                project: project_id.to_string(),
                date: date(&e.date)?,
                hours: decimal(&e.hours)?,
                narrative: e.narrative.clone(),
            })
        })
        .collect();
    let mut weekly: HashMap<&str, Decimal> = HashMap::new();
    for a in &reads.assignments {
        if let Some(percent) = decimal(&a.allocation_percent) {
            *weekly.entry(a.employee_id.as_str()).or_default() += percent * week_hours / Decimal::ONE_HUNDRED;
        }
    }
    let mut allocations: Vec<anomaly::Allocation> = weekly
        .into_iter()
        .filter(|(_, hours)| *hours > Decimal::ZERO)
        .map(|(consultant, weekly_hours)| anomaly::Allocation {
            consultant: consultant.to_string(),
            project: project_id.to_string(),
            weekly_hours,
        })
        .collect();
    allocations.sort_by(|a, b| a.consultant.cmp(&b.consultant));
    (entries, allocations)
}

/// Runs each switched-on capability over the facts and reads of one evaluation.
pub fn assess(
    facts: &Facts,
    reads: Option<&InsightReads>,
    policy: &HealthPolicy,
    settings: &InsightSettings,
    today: NaiveDate,
) -> InsightOutcome {
    let mut outcome = InsightOutcome::default();
    let Some(reads) = reads else {
        return outcome;
    };
    if settings.switches.allows(Capability::MarginForecast) {
        match forecast_margin(facts, reads, policy, settings, today) {
            Ok(made) => outcome.forecast = Some(made),
            Err(why) => outcome.not_measured.push(format!("margin forecast: {why}")),
        }
    }
    if settings.switches.allows(Capability::Anomalies) {
        let (entries, allocations) = anomaly_input(&facts.project_id, reads, policy.insight.week_hours);
        let mut insight = Insight::new(settings.switches);
        match insight.detect_anomalies(&entries, &allocations, &AnomalyConfig::default()) {
            Ok(flags) => outcome.flags = flags,
            Err(error) => outcome.not_measured.push(format!("time-entry anomalies: {error}")),
        }
    }
    outcome
}

// ---- The records ----

pub mod forecast_entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "health_margin_forecasts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub as_of: String,
        pub margin_percent: String,
        pub alert_basis: Option<String>,
        /// What the model was given (`keel_insight::margin::ProjectBurn` and its config), JSON.
        pub input: String,
        /// All it answered (`keel_insight::margin::MarginForecast`), JSON.
        pub output: String,
        /// The forecast as `keel.health.v1.MarginForecast`.
        pub view: Vec<u8>,
        pub model_version: String,
        pub policy_version: String,
        pub insight_policy_version: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod anomaly_entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "health_time_anomalies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub kind: String,
        pub subject: String,
        pub employee_id: String,
        /// JSON array of time entry ids.
        pub entry_ids: String,
        pub reason: String,
        /// JSON array of `{name, value}` with decimal strings.
        pub figures: String,
        /// JSON array of [`Recipient`](crate::alerts::Recipient): who may review it.
        pub reviewers: String,
        pub status: String,
        pub reviewed_by: Option<String>,
        pub review_note: Option<String>,
        pub reviewed_at: Option<DateTimeUtc>,
        pub model_version: String,
        pub insight_policy_version: String,
        pub detected_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The statuses of a flag.
pub mod status {
    pub const OPEN: &str = "OPEN";
    pub const CONFIRMED: &str = "CONFIRMED";
    pub const DISMISSED: &str = "DISMISSED";
    pub const ALL: [&str; 3] = [OPEN, CONFIRMED, DISMISSED];
}

/// The record type of a flag's review in audit entries.
const ANOMALY_RECORD_TYPE: &str = "time_anomaly";

/// Records a forecast inside the evaluation's transaction; answers it with its id and time.
/// A forecast the same as the project's latest (same input, output and versions: nothing it
/// reads has moved since) is not recorded again, and the latest is answered: the sweep
/// re-evaluates every project every few minutes, and the history keeps what changed.
pub async fn save_forecast<C: ConnectionTrait>(txn: &C, made: &ForecastMade) -> Result<pb::MarginForecast, Error> {
    let latest = forecast_entity::Entity::find()
        .filter(forecast_entity::Column::ProjectId.eq(made.view.project_id.as_str()))
        .order_by_desc(forecast_entity::Column::CreatedAt)
        .order_by_desc(forecast_entity::Column::Id)
        .one(txn)
        .await
        .map_err(keel_store::db_error)?;
    if let Some(latest) = latest {
        let same_json = |stored: &str, made: &serde_json::Value| {
            serde_json::from_str::<serde_json::Value>(stored).is_ok_and(|stored| stored == *made)
        };
        let unchanged = same_json(&latest.input, &made.input)
            && same_json(&latest.output, &made.output)
            && latest.model_version == made.view.model_version
            && latest.policy_version == made.view.policy_version
            && latest.insight_policy_version == made.view.insight_policy_version;
        if unchanged {
            return pb::MarginForecast::decode(latest.view.as_slice()).map_err(Error::internal);
        }
    }
    let now = Utc::now();
    let mut view = made.view.clone();
    view.id = keel_core::ids::new_id().to_string();
    view.forecast_at = Some(keel_core::time::to_timestamp(now));
    let row = forecast_entity::ActiveModel {
        id: Set(view.id.clone()),
        project_id: Set(view.project_id.clone()),
        as_of: Set(view.as_of.clone()),
        margin_percent: Set(view
            .margin_percent
            .as_ref()
            .map(|r| r.point.clone())
            .unwrap_or_default()),
        alert_basis: Set(Some(view.alert_basis.clone()).filter(|b| !b.is_empty())),
        input: Set(made.input.to_string()),
        output: Set(made.output.to_string()),
        view: Set(view.encode_to_vec()),
        model_version: Set(view.model_version.clone()),
        policy_version: Set(view.policy_version.clone()),
        insight_policy_version: Set(view.insight_policy_version.clone()),
        created_at: Set(now),
    };
    forecast_entity::Entity::insert(row)
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    Ok(view)
}

fn kind_name(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::Duplicate => "DUPLICATE",
        AnomalyKind::HoursOutlier => "HOURS_OUTLIER",
        AnomalyKind::UnusualWeekday => "UNUSUAL_WEEKDAY",
        AnomalyKind::RoundNumberPadding => "ROUND_NUMBER_PADDING",
        AnomalyKind::AboveAllocation => "ABOVE_ALLOCATION",
    }
}

fn subject_key(subject: &Subject) -> String {
    match subject {
        Subject::Entry(id) => format!("entry:{id}"),
        Subject::Week {
            consultant,
            iso_year,
            iso_week,
            ..
        } => format!("week:{consultant}:{iso_year}-W{iso_week:02}"),
    }
}

/// Stores each flag not stored before (by project, kind and subject), OPEN, reviewable by
/// `reviewers`; answers how many were new. A flag already stored keeps its figures and its
/// review.
pub async fn save_flags<C: ConnectionTrait>(
    txn: &C,
    project_id: &str,
    flags: &[AnomalyFlag],
    reviewers: &[Recipient],
    settings: &InsightSettings,
) -> Result<usize, Error> {
    let reviewers = serde_json::to_string(reviewers).map_err(Error::internal)?;
    let now = Utc::now();
    let mut new = 0;
    for flag in flags {
        let kind = kind_name(flag.kind);
        let subject = subject_key(&flag.subject);
        let exists = anomaly_entity::Entity::find()
            .filter(anomaly_entity::Column::ProjectId.eq(project_id))
            .filter(anomaly_entity::Column::Kind.eq(kind))
            .filter(anomaly_entity::Column::Subject.eq(subject.as_str()))
            .one(txn)
            .await
            .map_err(keel_store::db_error)?;
        if exists.is_some() {
            continue;
        }
        let figures: Vec<serde_json::Value> = flag
            .figures
            .iter()
            .map(|f| json!({ "name": f.name, "value": f.value.normalize().to_string() }))
            .collect();
        let row = anomaly_entity::ActiveModel {
            id: Set(keel_core::ids::new_id().to_string()),
            project_id: Set(project_id.to_string()),
            kind: Set(kind.to_string()),
            subject: Set(subject),
            employee_id: Set(flag.consultant.clone()),
            entry_ids: Set(json!(flag.entries).to_string()),
            reason: Set(flag.reason.clone()),
            figures: Set(serde_json::Value::Array(figures).to_string()),
            reviewers: Set(reviewers.clone()),
            status: Set(status::OPEN.into()),
            reviewed_by: Set(None),
            review_note: Set(None),
            reviewed_at: Set(None),
            model_version: Set(ANOMALY_MODEL_VERSION.into()),
            insight_policy_version: Set(settings.version.clone()),
            detected_at: Set(now),
        };
        // A concurrent evaluation that stored the same flag first wins; this one adds nothing.
        let inserted = anomaly_entity::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    anomaly_entity::Column::ProjectId,
                    anomaly_entity::Column::Kind,
                    anomaly_entity::Column::Subject,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await
            .map_err(keel_store::db_error)?;
        new += usize::try_from(inserted).unwrap_or(0);
    }
    Ok(new)
}

/// The gRPC view of a stored flag.
pub fn anomaly_to_proto(row: &anomaly_entity::Model) -> pb::TimeAnomaly {
    let figures: Vec<serde_json::Value> = serde_json::from_str(&row.figures).unwrap_or_default();
    pb::TimeAnomaly {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        kind: row.kind.clone(),
        subject: row.subject.clone(),
        employee_id: row.employee_id.clone(),
        entry_ids: serde_json::from_str(&row.entry_ids).unwrap_or_default(),
        reason: row.reason.clone(),
        figures: figures
            .iter()
            .map(|f| pb::Figure {
                name: f["name"].as_str().unwrap_or_default().to_string(),
                value: f["value"].as_str().unwrap_or_default().to_string(),
            })
            .collect(),
        status: row.status.clone(),
        reviewed_by: row.reviewed_by.clone().unwrap_or_default(),
        review_note: row.review_note.clone().unwrap_or_default(),
        detected_at: Some(keel_core::time::to_timestamp(row.detected_at)),
        reviewed_at: row.reviewed_at.map(keel_core::time::to_timestamp),
        model_version: row.model_version.clone(),
        insight_policy_version: row.insight_policy_version.clone(),
    }
}

/// A page of the forecasts recorded for a project, newest first.
pub async fn list_forecasts<C: ConnectionTrait>(
    db: &C,
    project_id: &str,
    page: &Page,
) -> Result<Vec<pb::MarginForecast>, Error> {
    let mut query = forecast_entity::Entity::find().filter(forecast_entity::Column::ProjectId.eq(project_id));
    if let Some(after) = page.after {
        query = query.filter(forecast_entity::Column::Id.lt(after.to_string()));
    }
    let rows = query
        .order_by_desc(forecast_entity::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(keel_store::db_error)?;
    rows.iter()
        .map(|row| pb::MarginForecast::decode(row.view.as_slice()).map_err(Error::internal))
        .collect()
}

/// A page of the flags of `project_ids`, newest first, optionally of one status.
pub async fn list_anomalies<C: ConnectionTrait>(
    db: &C,
    project_ids: &[String],
    status: Option<&str>,
    page: &Page,
) -> Result<Vec<anomaly_entity::Model>, Error> {
    let mut query =
        anomaly_entity::Entity::find().filter(anomaly_entity::Column::ProjectId.is_in(project_ids.iter().cloned()));
    if let Some(status) = status {
        query = query.filter(anomaly_entity::Column::Status.eq(status));
    }
    if let Some(after) = page.after {
        query = query.filter(anomaly_entity::Column::Id.lt(after.to_string()));
    }
    query
        .order_by_desc(anomaly_entity::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}

/// Decides an OPEN flag once, by one of its reviewers (the project's manager), audited in the
/// same transaction. The time entry is never touched.
pub async fn review<C: ConnectionTrait>(
    txn: &C,
    id: &str,
    decision: &str,
    note: &str,
    caller: &keel_auth::Identity,
) -> Result<anomaly_entity::Model, Error> {
    let row = anomaly_entity::Entity::find_by_id(id.to_string())
        .one(txn)
        .await
        .map_err(keel_store::db_error)?
        .ok_or_else(|| Error::not_found("time anomaly", id))?;
    if !alerts::is_recipient(&alerts::recipients_of(&row.reviewers), caller) {
        return Err(Error::Forbidden(format!(
            "{} is not the manager of project {}, so may not review time anomaly {id}",
            caller.subject, row.project_id
        )));
    }
    if row.status != status::OPEN {
        return Err(Error::FailedPrecondition(format!(
            "time anomaly {id} was already reviewed ({} by {})",
            row.status,
            row.reviewed_by.clone().unwrap_or_default()
        )));
    }
    let now = Utc::now();
    let mut active: anomaly_entity::ActiveModel = row.into();
    active.status = Set(decision.to_string());
    active.reviewed_by = Set(Some(caller.subject.clone()));
    active.review_note = Set(Some(note.to_string()));
    active.reviewed_at = Set(Some(now));
    let row = active.update(txn).await.map_err(keel_store::db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor: &caller.subject,
            record_type: ANOMALY_RECORD_TYPE,
            record_id: &row.id,
            action: "reviewed",
            detail: json!({
                "project_id": row.project_id,
                "kind": row.kind,
                "subject": row.subject,
                "decision": decision,
                "note": note,
                "model_version": row.model_version,
            }),
        },
    )
    .await?;
    Ok(row)
}
