//! Insight in delivery health, over the real PSA, ERP and support reference adapters on
//! loopback gRPC: a project burning faster than planned raises MARGIN_EROSION with the numbers
//! its own entries give, and one on plan does not; injected time-entry anomalies are flagged
//! once with their reason and figures while a normal history is not; only the project's
//! manager reviews a flag, once, audited, and the entry never changes; with the `[insight]`
//! switches off nothing is computed or recorded and the RPCs answer FAILED_PRECONDITION naming
//! the switch.
//!
//! The project (the conformance kit's) is a fixed fee of 100,000.00 EUR with a baseline of
//! 100 architect hours and 300 consultant hours, started 2026-12-01, its last milestone due
//! 2027-03-01: 13 weeks, of which 2 are complete on 2026-12-20. Time is posted to ERP at a
//! cost of 160.00 EUR an hour.

mod support;

use std::collections::HashMap;

use keel_auth::Role;
use keel_delivery_health::insight::{anomaly_entity, forecast_entity};
use keel_delivery_health::{HealthPolicy, InsightSettings};
use keel_insight::InsightPolicy;
use keel_proto::common::PageRequest;
use keel_proto::health::{
    EvaluateProjectRequest, GetProjectHealthRequest, ListMarginForecastsRequest, ListTimeAnomaliesRequest,
    ProjectHealth, ReviewTimeAnomalyRequest, TimeAnomaly,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{GetTimeEntryRequest, TimeEntry};
use keel_store::audit::{self, ChainReport};
use rust_decimal::Decimal;
use sea_orm::{EntityTrait, PaginatorTrait};
use support::Platform;
use tonic::Code;

const ARCHITECT: &str = "solution-architect";
const CONSULTANT: &str = "consultant";
const FEE: i64 = 100_000;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap_or_else(|_| panic!("{text:?} is not a decimal"))
}

fn cost_rate() -> Decimal {
    Decimal::from(160)
}

async fn evaluate(platform: &Platform, key: &str) -> ProjectHealth {
    platform
        .health()
        .evaluate_project(platform.as_role(
            Role::Finance,
            EvaluateProjectRequest {
                idempotency_key: key.into(),
                project_id: platform.project_id(),
            },
        ))
        .await
        .expect("evaluate")
        .into_inner()
}

/// The first two weeks of the plan, each entry on its own weekday (Tuesday 1 and 8 December
/// onwards), for the architect and a consultant; one more consultant day in the week not yet
/// complete (15 December). Everything approved and posted at 160.00 an hour.
async fn burn(platform: &Platform, architect: [&[&str]; 2], consultant: [&[&str]; 2]) -> Vec<TimeEntry> {
    let weeks = [
        ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"],
        ["2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"],
    ];
    let consultant_id = platform.assign(CONSULTANT, "100").await;
    let mut architect_days = Vec::new();
    let mut consultant_days = Vec::new();
    for (week, days) in weeks.iter().enumerate() {
        for (day, hours) in days.iter().zip(architect[week]) {
            architect_days.push((*day, *hours, "Solution design"));
        }
        for (day, hours) in days.iter().zip(consultant[week]) {
            consultant_days.push((*day, *hours, "Configuration"));
        }
    }
    consultant_days.push(("2026-12-15", "7", "Configuration"));
    let mut entries = platform.log(&platform.staffed.employee_id, &architect_days).await;
    entries.extend(platform.log(&consultant_id, &consultant_days).await);
    platform.post(&entries, cost_rate()).await
}

/// Cost at completion and margin percent worked out from `entries` by the method docs/insight.md
/// states: each role's remaining baseline scaled by its burn ratio over the complete weeks, at
/// the cost of an hour; revenue is the fee.
fn expected(entries: &[TimeEntry]) -> (Decimal, Decimal) {
    let baseline: HashMap<&str, Decimal> = [(ARCHITECT, Decimal::from(100)), (CONSULTANT, Decimal::from(300))].into();
    let share_to_date = Decimal::from(2) / Decimal::from(13);
    let mut actual: HashMap<&str, Decimal> = HashMap::new();
    for entry in entries.iter().filter(|e| e.date.as_str() <= "2026-12-14") {
        *actual.entry(entry.role.as_str()).or_default() += dec(&entry.hours);
    }
    let mut hours_at_completion = Decimal::ZERO;
    for (role, baseline) in &baseline {
        let planned = baseline * share_to_date;
        let done = actual.get(role).copied().unwrap_or_default();
        hours_at_completion += done + (baseline - planned) * (done / planned);
    }
    let cost = (hours_at_completion * cost_rate()).round_dp(2);
    let fee = Decimal::from(FEE);
    let margin = ((fee - cost) / fee * Decimal::ONE_HUNDRED).round_dp(2);
    (cost, margin)
}

async fn forecasts(platform: &Platform) -> Result<Vec<keel_proto::health::MarginForecast>, tonic::Status> {
    platform
        .health()
        .list_margin_forecasts(platform.as_role(
            Role::Finance,
            ListMarginForecastsRequest {
                project_id: platform.project_id(),
                page: None,
            },
        ))
        .await
        .map(|r| r.into_inner().forecasts)
}

async fn anomalies(platform: &Platform, status: &str) -> Result<Vec<TimeAnomaly>, tonic::Status> {
    platform
        .health()
        .list_time_anomalies(platform.as_role(
            Role::ProjectManager,
            ListTimeAnomaliesRequest {
                project_ids: vec![platform.project_id()],
                status: status.into(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            },
        ))
        .await
        .map(|r| r.into_inner().anomalies)
}

#[tokio::test]
async fn a_project_burning_faster_than_planned_raises_margin_erosion_with_its_numbers() {
    let platform = Platform::start().await;
    // A quarter over the plan's 7.69 architect and 23.08 consultant hours a week.
    let entries = burn(
        &platform,
        [&["4.8", "4.8"], &["5", "4.7"]],
        [&["7.2", "7.2", "7.2", "7.2"], &["7.3", "7.2", "7.2", "7.2"]],
    )
    .await;
    let (cost, margin) = expected(&entries);
    assert!(margin < Decimal::from(25), "the scenario is below the floor: {margin}");

    let health = evaluate(&platform, "eval-1").await;
    assert_eq!(health.status, "RED");
    let forecast = health.margin_forecast.clone().expect("a forecast on the evaluation");
    let range = |r: &Option<keel_proto::health::Range>| {
        let r = r.as_ref().expect("range");
        (dec(&r.low), dec(&r.point), dec(&r.high))
    };
    let (cost_low, cost_point, cost_high) = range(&forecast.cost_at_completion);
    assert_eq!(cost_point, cost, "EAC from the entries");
    assert!(cost_low < cost_point && cost_point < cost_high, "{forecast:?}");
    let (margin_low, margin_point, margin_high) = range(&forecast.margin_percent);
    assert_eq!(margin_point, margin);
    assert!(margin_low < margin_point && margin_point < margin_high);
    assert!(margin_high < Decimal::from(25), "even the best case is below the floor");
    let (money_low, _, money_high) = range(&forecast.margin_at_completion);
    assert_eq!(
        money_low,
        Decimal::from(FEE) - cost_high,
        "a fixed fee: the margin moves with the cost"
    );
    assert_eq!(money_high, Decimal::from(FEE) - cost_low);
    assert_eq!(
        (
            forecast.contract_type.as_str(),
            forecast.alert_basis.as_str(),
            forecast.measured_through.as_str(),
            forecast.past_periods,
            forecast.remaining_periods,
        ),
        ("fixed-fee", "UPPER_BOUND", "2026-12-14", 2, 11)
    );
    assert_eq!(dec(&forecast.budget_cost), Decimal::from(400) * cost_rate());
    assert_eq!(dec(&forecast.cost_rate), cost_rate());
    assert_eq!(dec(&forecast.planned_margin_percent), Decimal::from(36));
    let shortfall = Decimal::from(FEE) * Decimal::new(25, 2) - (Decimal::from(FEE) - cost);
    assert_eq!(dec(&forecast.shortfall), shortfall);
    assert_eq!(forecast.policy_version, HealthPolicy::shipped().unwrap().version);
    assert_eq!(
        forecast.model_version,
        keel_delivery_health::insight::MARGIN_MODEL_VERSION
    );

    let breach = health
        .breaches
        .iter()
        .find(|b| b.kind == "MARGIN_EROSION")
        .expect("breach");
    assert_eq!((dec(&breach.measured), breach.threshold.as_str()), (margin, "25"));
    let alerts = platform.alerts().await;
    let erosion: Vec<_> = alerts.iter().filter(|a| a.kind == "MARGIN_EROSION").collect();
    assert_eq!(erosion.len(), 1, "{alerts:?}");
    let alert = erosion[0];
    for number in [
        format!("{margin}%"),
        format!("{cost} EUR"),
        format!("{}.00 EUR", 400 * 160),
        format!("{shortfall} EUR short of the floor"),
        "against a floor of 25%".to_string(),
    ] {
        assert!(alert.summary.contains(&number), "{number} in {}", alert.summary);
    }
    let recipients: Vec<(&str, &str)> = alert
        .recipients
        .iter()
        .map(|r| (r.role.as_str(), r.employee_id.as_str()))
        .collect();
    assert_eq!(
        recipients,
        vec![
            ("project_manager", platform.project_manager_id.as_str()),
            ("finance", "")
        ]
    );
    let notifications = platform.notifications().await;
    let notified: Vec<_> = notifications.iter().filter(|n| n.subject_id == alert.id).collect();
    assert_eq!(notified.len(), 1);
    assert!(notified[0].text.contains(&format!("{margin}%")), "{}", notified[0].text);

    // Evaluated again with nothing moved: the same one alert, and the same forecast (the
    // history keeps what changed), recorded with its input.
    let again = evaluate(&platform, "eval-2").await;
    assert_eq!(again.margin_forecast, health.margin_forecast);
    let alerts = platform.alerts().await;
    let erosion: Vec<_> = alerts.iter().filter(|a| a.kind == "MARGIN_EROSION").collect();
    assert_eq!((erosion.len(), erosion[0].evaluations), (1, 2));
    let recorded = forecasts(&platform).await.expect("forecasts");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].id, forecast.id);
    let rows = forecast_entity::Entity::find().all(&platform.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    let input: serde_json::Value = serde_json::from_str(&rows[0].input).unwrap();
    assert_eq!(input[0]["contract_type"], "fixed-fee");
    assert_eq!(input[0]["roles"].as_array().map(Vec::len), Some(2), "{input}");
    assert_eq!(input[1]["floor"], "0.25");
    let output: serde_json::Value = serde_json::from_str(&rows[0].output).unwrap();
    assert_eq!(output["alert"]["basis"], "upper-bound");
}

#[tokio::test]
async fn a_project_on_plan_has_its_forecast_and_no_margin_alert() {
    let platform = Platform::start().await;
    let entries = burn(
        &platform,
        [&["3.8", "3.8"], &["3.9", "3.9"]],
        [&["7.7", "7.7", "7.6"], &["7.7", "7.8", "7.7"]],
    )
    .await;
    let (cost, margin) = expected(&entries);

    let health = evaluate(&platform, "eval-1").await;
    let forecast = health.margin_forecast.clone().expect("a forecast");
    let point = |r: &Option<keel_proto::health::Range>| dec(&r.as_ref().unwrap().point);
    assert_eq!(point(&forecast.cost_at_completion), cost);
    assert_eq!(point(&forecast.margin_percent), margin);
    assert!(margin > Decimal::from(35), "on plan: {margin}");
    assert_eq!(forecast.alert_basis, "");
    assert!(health.breaches.iter().all(|b| b.kind != "MARGIN_EROSION"));
    assert!(platform.alerts().await.iter().all(|a| a.kind != "MARGIN_EROSION"));
    let read = platform
        .health()
        .get_project_health(platform.as_role(
            Role::Executive,
            GetProjectHealthRequest {
                project_id: platform.project_id(),
            },
        ))
        .await
        .expect("read")
        .into_inner();
    assert_eq!(
        read.margin_forecast, health.margin_forecast,
        "the latest forecast is read back"
    );

    // Evaluated again with nothing moved (as the sweep does), the forecast is the same one:
    // the history records what changed, not every evaluation.
    let again = evaluate(&platform, "eval-2").await;
    assert_eq!(again.margin_forecast, health.margin_forecast);
    let history = forecasts(&platform).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].id, forecast.id);
}

#[tokio::test]
async fn a_forecast_needs_a_cost_and_says_so_when_none_is_posted() {
    let platform = Platform::start().await;
    platform.time(&["8", "8"], true).await;
    let health = evaluate(&platform, "eval-1").await;
    assert!(health.margin_forecast.is_none());
    assert!(
        health
            .not_measured
            .iter()
            .any(|n| n.starts_with("margin forecast: no time is posted to ERP yet")),
        "{:?}",
        health.not_measured
    );
    assert_eq!(forecasts(&platform).await.unwrap().len(), 0);
}

/// Fourteen working days of December (1 to 18) for one consultant.
const DAYS: [&str; 14] = [
    "2026-12-01",
    "2026-12-02",
    "2026-12-03",
    "2026-12-04",
    "2026-12-07",
    "2026-12-08",
    "2026-12-09",
    "2026-12-10",
    "2026-12-11",
    "2026-12-14",
    "2026-12-15",
    "2026-12-16",
    "2026-12-17",
    "2026-12-18",
];

#[tokio::test]
async fn injected_anomalies_are_flagged_once_and_only_the_projects_manager_reviews_them() {
    let platform = Platform::start().await;
    // Eight-hour days, one of them 14 hours, and one day logged twice.
    let flagged_id = platform.assign(CONSULTANT, "100").await;
    let mut days: Vec<(&str, &str, &str)> = DAYS
        .iter()
        .map(|d| (*d, if *d == "2026-12-10" { "14" } else { "8" }, "Build sprint"))
        .collect();
    days.push(("2026-12-03", "8", "Build sprint"));
    let flagged_entries = platform.log(&flagged_id, &days).await;
    let long_day = flagged_entries.iter().find(|e| e.hours == "14").unwrap().id.clone();
    let copy = flagged_entries.last().unwrap().id.clone();
    // A normal history: 7.5 to 8.5 hour days.
    let normal_id = platform.assign(CONSULTANT, "100").await;
    let normal: Vec<(&str, &str, &str)> = DAYS
        .iter()
        .zip(["7.5", "8", "8.5"].iter().cycle())
        .map(|(d, h)| (*d, *h, "Data migration"))
        .collect();
    platform.log(&normal_id, &normal).await;

    evaluate(&platform, "eval-1").await;
    let flags = anomalies(&platform, "").await.expect("flags");
    let mut found: Vec<(&str, &str, &str)> = flags
        .iter()
        .map(|f| (f.kind.as_str(), f.subject.as_str(), f.employee_id.as_str()))
        .collect();
    found.sort();
    let (copy_subject, long_subject) = (format!("entry:{copy}"), format!("entry:{long_day}"));
    assert_eq!(
        found,
        vec![
            ("DUPLICATE", copy_subject.as_str(), flagged_id.as_str()),
            ("HOURS_OUTLIER", long_subject.as_str(), flagged_id.as_str()),
        ],
        "the normal history is not flagged: {flags:?}"
    );
    let outlier = flags.iter().find(|f| f.kind == "HOURS_OUTLIER").unwrap();
    let figure = |name: &str| {
        outlier
            .figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| dec(&f.value))
            .unwrap_or_else(|| panic!("{name} in {:?}", outlier.figures))
    };
    // Median 8, MAD 0 floored to 0.5: z = 0.6745 × 6 / 0.5.
    assert_eq!(
        (figure("hours"), figure("median_hours"), figure("scale_hours")),
        (dec("14"), dec("8"), dec("0.5"))
    );
    assert_eq!(figure("robust_z"), (dec("0.6745") * dec("6") / dec("0.5")).round_dp(2));
    assert!(outlier.reason.contains("14"), "{}", outlier.reason);
    assert_eq!(
        (outlier.status.as_str(), outlier.entry_ids.clone()),
        ("OPEN", vec![long_day.clone()])
    );
    let duplicate = flags.iter().find(|f| f.kind == "DUPLICATE").unwrap().clone();
    assert!(!duplicate.reason.is_empty());

    // Evaluated again: the same two flags, not two more.
    evaluate(&platform, "eval-2").await;
    assert_eq!(anomalies(&platform, "").await.unwrap().len(), 2);

    // Finance, and another project manager, may not review; nothing changes.
    let review = |subject: &str, role: Role, key: &str, decision: &str| {
        platform.service.request_as(
            subject,
            role,
            ReviewTimeAnomalyRequest {
                idempotency_key: key.into(),
                anomaly_id: duplicate.id.clone(),
                decision: decision.into(),
                note: "Logged twice by mistake; the consultant will delete the copy".into(),
            },
        )
    };
    let refused = platform
        .health()
        .review_time_anomaly(review("fiona", Role::Finance, "r-1", "CONFIRMED"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = platform
        .health()
        .review_time_anomaly(review("another-pm", Role::ProjectManager, "r-2", "CONFIRMED"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(anomalies(&platform, "OPEN").await.unwrap().len(), 2);
    let bad = platform
        .health()
        .review_time_anomaly(review(
            &platform.project_manager_id,
            Role::ProjectManager,
            "r-3",
            "MAYBE",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("decision"), "{}", bad.message());

    // The project's manager confirms it, once.
    let pm = platform.project_manager_id.clone();
    let reviewed = platform
        .health()
        .review_time_anomaly(review(&pm, Role::ProjectManager, "r-4", "confirmed"))
        .await
        .expect("reviewed")
        .into_inner();
    assert_eq!(
        (reviewed.status.as_str(), reviewed.reviewed_by.as_str()),
        ("CONFIRMED", pm.as_str())
    );
    assert!(reviewed.reviewed_at.is_some());
    let replay = platform
        .health()
        .review_time_anomaly(review(&pm, Role::ProjectManager, "r-4", "confirmed"))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replay, reviewed);
    let twice = platform
        .health()
        .review_time_anomaly(review(&pm, Role::ProjectManager, "r-5", "DISMISSED"))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    assert_eq!(anomalies(&platform, "CONFIRMED").await.unwrap(), vec![reviewed.clone()]);
    assert_eq!(anomalies(&platform, "OPEN").await.unwrap().len(), 1);

    // Audited once, in the chain; the entry itself unchanged.
    let trail = audit::history(&platform.db, "time_anomaly", &duplicate.id)
        .await
        .unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(
        (trail[0].action.as_str(), trail[0].actor.as_str()),
        ("reviewed", pm.as_str())
    );
    assert!(matches!(
        audit::verify(&platform.db).await.unwrap(),
        ChainReport::Intact { .. }
    ));
    let entry = PsaServiceClient::new(platform.psa.harness.channel())
        .get_time_entry(platform.psa.harness.service(GetTimeEntryRequest { id: copy.clone() }))
        .await
        .unwrap()
        .into_inner();
    let before = flagged_entries.last().unwrap();
    assert_eq!(
        (entry.state, entry.hours.as_str(), entry.version),
        (before.state, "8", before.version)
    );

    // A re-evaluation keeps the decision.
    evaluate(&platform, "eval-3").await;
    assert_eq!(anomalies(&platform, "CONFIRMED").await.unwrap().len(), 1);
}

#[tokio::test]
async fn switched_off_insight_computes_and_records_nothing_and_its_rpcs_name_the_switch() {
    let off = InsightSettings {
        switches: InsightPolicy {
            margin_forecast: false,
            anomalies: false,
            ..InsightPolicy::default()
        },
        version: "2026-11".into(),
    };
    let platform = Platform::start_with_insight(support::policy(), false, off).await;
    burn(
        &platform,
        [&["4.8", "4.8"], &["5", "4.7"]],
        [&["7.2", "7.2", "7.2", "7.2"], &["7.3", "7.2", "7.2", "7.2"]],
    )
    .await;
    let consultant = platform.assign(CONSULTANT, "100").await;
    platform
        .log(&consultant, &[("2026-12-03", "8", "Copy"), ("2026-12-03", "8", "Copy")])
        .await;

    let health = evaluate(&platform, "eval-1").await;
    assert!(health.margin_forecast.is_none());
    assert!(health.breaches.iter().all(|b| b.kind != "MARGIN_EROSION"));
    assert!(
        health.not_measured.iter().all(|n| !n.starts_with("margin forecast")),
        "switched off is not a failure to measure: {:?}",
        health.not_measured
    );
    assert!(platform.alerts().await.iter().all(|a| a.kind != "MARGIN_EROSION"));
    assert_eq!(forecast_entity::Entity::find().count(&platform.db).await.unwrap(), 0);
    assert_eq!(anomaly_entity::Entity::find().count(&platform.db).await.unwrap(), 0);

    let margin = forecasts(&platform).await.unwrap_err();
    assert_eq!(margin.code(), Code::FailedPrecondition);
    assert!(
        margin.message().contains("insight.margin_forecast"),
        "{}",
        margin.message()
    );
    let flags = anomalies(&platform, "").await.unwrap_err();
    assert_eq!(flags.code(), Code::FailedPrecondition);
    assert!(flags.message().contains("insight.anomalies"), "{}", flags.message());
    let review = platform
        .health()
        .review_time_anomaly(platform.service.request_as(
            &platform.project_manager_id,
            Role::ProjectManager,
            ReviewTimeAnomalyRequest {
                idempotency_key: "r-1".into(),
                anomaly_id: uuid::Uuid::now_v7().to_string(),
                decision: "CONFIRMED".into(),
                note: "n".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(review.code(), Code::FailedPrecondition);
    assert!(review.message().contains("insight.anomalies"), "{}", review.message());
}

#[tokio::test]
async fn anomaly_reads_refuse_bad_requests_naming_the_field() {
    let platform = Platform::start().await;
    let bad = platform
        .health()
        .list_time_anomalies(platform.as_role(
            Role::ProjectManager,
            ListTimeAnomaliesRequest {
                project_ids: vec!["not-a-uuid".into()],
                status: "LOST".into(),
                page: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    for field in ["project_ids[0]", "status"] {
        assert!(bad.message().contains(field), "{field} in {}", bad.message());
    }
    let empty_note = platform
        .health()
        .review_time_anomaly(platform.service.request_as(
            &platform.project_manager_id,
            Role::ProjectManager,
            ReviewTimeAnomalyRequest {
                idempotency_key: "r-1".into(),
                anomaly_id: uuid::Uuid::now_v7().to_string(),
                decision: "DISMISSED".into(),
                note: " ".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(empty_note.code(), Code::InvalidArgument);
    assert!(empty_note.message().contains("note"), "{}", empty_note.message());
}
