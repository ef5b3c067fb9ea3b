//! SOW intake measured on the held-out part of the labelled data set
//! (`data/sows/heldout.jsonl`, never seen in training): template accuracy, per-template
//! precision and recall, calibration, abstentions, and extraction of the fields a reader
//! checks. The figures in docs/insight.md come from `cargo test -p keel-insight --test
//! sow_intake -- --nocapture`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{NaiveDate, TimeZone, Utc};
use keel_insight::InsightError;
use keel_insight::sow::{
    ContractType, Decision, DeliveryComplexity, LabelledSow, RecommendedTemplate, RecommenderConfig, Region,
    TemplateRecommender, extract,
};
use rust_decimal::Decimal;

fn load(name: &str) -> Vec<LabelledSow> {
    let path = format!("{}/data/sows/{name}", env!("CARGO_MANIFEST_DIR"));
    LabelledSow::read_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn trained() -> &'static (TemplateRecommender, Vec<LabelledSow>) {
    static MODEL: OnceLock<(TemplateRecommender, Vec<LabelledSow>)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let model = TemplateRecommender::train(&load("train.jsonl"), RecommenderConfig::default()).unwrap();
        (model, load("heldout.jsonl"))
    })
}

#[test]
fn the_data_set_has_enough_varied_sows_and_an_honest_split() {
    let train = load("train.jsonl");
    let heldout = load("heldout.jsonl");
    assert!(
        train.len() + heldout.len() >= 600,
        "{} SOWs",
        train.len() + heldout.len()
    );
    let share = heldout.len() as f64 / (train.len() + heldout.len()) as f64;
    assert!((0.18..=0.22).contains(&share), "held-out share {share}");
    let templates: std::collections::BTreeSet<&str> = train.iter().map(|sow| sow.template.as_str()).collect();
    assert!(templates.len() >= 6, "{templates:?}");
    // The PSA demo templates are among them, under their own ids.
    for id in ["erp-fixed-fee-emea", "erp-fixed-fee-any", "data-tm-na"] {
        assert!(templates.contains(id), "{id} missing");
    }
    let train_ids: std::collections::HashSet<&str> = train.iter().map(|sow| sow.id.as_str()).collect();
    assert!(
        heldout.iter().all(|sow| !train_ids.contains(sow.id.as_str())),
        "a held-out SOW is in training"
    );
    // From a note of a dozen lines to SOWs of several pages.
    let lengths: Vec<(usize, usize)> = train
        .iter()
        .map(|sow| (sow.text.lines().count(), sow.text.len()))
        .collect();
    let shortest = lengths.iter().min().unwrap();
    let longest = lengths.iter().max().unwrap();
    assert!(shortest.0 <= 12 && shortest.1 <= 700, "shortest {shortest:?}");
    assert!(longest.0 >= 80 && longest.1 >= 8_000, "longest {longest:?}");
}

#[test]
fn held_out_template_accuracy_precision_recall_calibration_and_abstentions() {
    let (model, heldout) = trained();
    let texts: Vec<&str> = heldout.iter().map(|sow| sow.text.as_str()).collect();
    let probabilities = model.probabilities(&texts).unwrap();
    let templates = model.templates();
    let floor = model.config().confidence_floor;

    let mut correct = 0;
    let mut abstained = 0;
    let mut answered_correct = 0;
    let mut confusion: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    // Ten reliability bins of (count, confidence sum, correct).
    let mut bins = [(0usize, 0.0f64, 0usize); 10];
    for (sow, row) in heldout.iter().zip(probabilities.rows()) {
        let (best, confidence) = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(class, p)| (class, *p))
            .unwrap();
        let predicted = templates[best].as_str();
        let right = predicted == sow.template;
        correct += usize::from(right);
        *confusion.entry((sow.template.as_str(), predicted)).or_default() += 1;
        if confidence < floor {
            abstained += 1;
        } else {
            answered_correct += usize::from(right);
        }
        let bin = &mut bins[((confidence * 10.0) as usize).min(9)];
        bin.0 += 1;
        bin.1 += confidence;
        bin.2 += usize::from(right);
    }
    let total = heldout.len();
    let accuracy = correct as f64 / total as f64;
    let answered = total - abstained;
    let answered_accuracy = answered_correct as f64 / answered as f64;
    let expected_calibration_error: f64 = bins
        .iter()
        .filter(|bin| bin.0 > 0)
        .map(|(count, confidence, right)| {
            (*count as f64 / total as f64) * (confidence / *count as f64 - *right as f64 / *count as f64).abs()
        })
        .sum();

    println!(
        "held-out SOWs: {total}, model {}, temperature {:.3}",
        model.version(),
        model.temperature()
    );
    println!("template accuracy (top choice, all SOWs): {accuracy:.3} ({correct}/{total})");
    println!(
        "abstentions below floor {floor}: {abstained}; accuracy when answering: {answered_accuracy:.3} ({answered_correct}/{answered})"
    );
    println!("expected calibration error (10 bins): {expected_calibration_error:.3}");
    for (index, (count, confidence, right)) in bins.iter().enumerate().filter(|(_, bin)| bin.0 > 0) {
        println!(
            "  bin {:.1}-{:.1}: {count} SOWs, mean confidence {:.3}, accuracy {:.3}",
            index as f64 / 10.0,
            (index + 1) as f64 / 10.0,
            confidence / *count as f64,
            *right as f64 / *count as f64
        );
    }
    println!("| template | precision | recall | support |");
    let mut worst = (1.0f64, 1.0f64);
    for template in templates {
        let template = template.as_str();
        let true_positive = confusion.get(&(template, template)).copied().unwrap_or(0);
        let predicted: usize = confusion
            .iter()
            .filter(|((_, p), _)| *p == template)
            .map(|(_, n)| n)
            .sum();
        let actual: usize = confusion
            .iter()
            .filter(|((t, _), _)| *t == template)
            .map(|(_, n)| n)
            .sum();
        let precision = true_positive as f64 / predicted.max(1) as f64;
        let recall = true_positive as f64 / actual.max(1) as f64;
        println!("| {template} | {precision:.3} | {recall:.3} | {actual} |");
        assert!(actual >= 10, "{template} has only {actual} held-out SOWs");
        worst = (worst.0.min(precision), worst.1.min(recall));
    }
    for ((truth, predicted), count) in confusion.iter().filter(|((t, p), _)| t != p) {
        println!("  confused: {truth} -> {predicted}: {count}");
    }

    assert!(accuracy >= 0.9, "template accuracy {accuracy:.3}");
    assert!(worst.0 >= 0.8, "lowest per-template precision {:.3}", worst.0);
    assert!(worst.1 >= 0.8, "lowest per-template recall {:.3}", worst.1);
    assert!(
        expected_calibration_error <= 0.08,
        "expected calibration error {expected_calibration_error:.3}"
    );
    // Abstentions are counted and stay rare; what the model does recommend is right.
    assert!(abstained <= total / 10, "{abstained} abstentions of {total}");
    assert!(
        answered_accuracy >= 0.95,
        "accuracy when answering {answered_accuracy:.3}"
    );
}

#[test]
fn a_recommendation_explains_itself_and_waits_for_a_named_person() {
    let (model, heldout) = trained();
    let sow = heldout.iter().find(|sow| sow.template == "erp-fixed-fee-emea").unwrap();
    let mut recommendation = model.recommend(&sow.text).unwrap();
    assert_eq!(
        recommendation.output,
        RecommendedTemplate::Template("erp-fixed-fee-emea".into())
    );
    assert!(recommendation.confidence >= model.config().confidence_floor && recommendation.confidence <= 1.0);
    assert_eq!(recommendation.alternatives[0].template, "erp-fixed-fee-emea");
    let probability_sum: f64 = recommendation.alternatives.iter().map(|score| score.probability).sum();
    assert!((probability_sum - 1.0).abs() < 1e-9);
    assert!(!recommendation.explanation.is_empty());
    for term in &recommendation.explanation {
        assert!(term.weight > 0.0);
        assert!(
            sow.text.to_lowercase().contains(term.term.split(' ').next().unwrap()),
            "{} not in the SOW",
            term.term
        );
    }
    assert_eq!(recommendation.model_version, model.version());
    assert_eq!(recommendation.extracted.region, sow.expected.region);

    // Nothing applies itself: no template is approved until a named person decides.
    assert_eq!(recommendation.approved_template(), None);
    let at = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let unnamed = recommendation.record_outcome(Decision::Accept { by: "  ".into() }, at);
    assert!(matches!(unnamed, Err(InsightError::InvalidInput { ref field, .. }) if field == "decided_by"));
    assert_eq!(recommendation.outcome(), None);
    recommendation
        .record_outcome(
            Decision::Accept {
                by: "dana.delivery-lead".into(),
            },
            at,
        )
        .unwrap();
    assert_eq!(recommendation.approved_template(), Some("erp-fixed-fee-emea"));
    let again = recommendation.record_outcome(
        Decision::Override {
            by: "someone.else".into(),
            template: "erp-fixed-fee-any".into(),
            reason: "changed".into(),
        },
        at,
    );
    assert!(matches!(again, Err(InsightError::AlreadyDecided(_))));
    assert_eq!(recommendation.approved_template(), Some("erp-fixed-fee-emea"));
    assert_eq!(
        recommendation.as_training_label(),
        Some((sow.text.as_str(), "erp-fixed-fee-emea"))
    );

    // The record, with its outcome, is kept as JSON for audit and retraining.
    let kept = serde_json::to_string(&recommendation).unwrap();
    let read_back: keel_insight::sow::Recommendation = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        (
            read_back.id,
            &read_back.output,
            &read_back.extracted,
            &read_back.model_version,
            read_back.outcome()
        ),
        (
            recommendation.id,
            &recommendation.output,
            &recommendation.extracted,
            &recommendation.model_version,
            recommendation.outcome()
        )
    );
    assert_eq!(read_back.explanation.len(), recommendation.explanation.len());
    assert!((read_back.confidence - recommendation.confidence).abs() < 1e-12);
}

#[test]
fn sows_that_do_not_settle_the_template_get_lower_confidence_and_abstentions() {
    let (model, heldout) = trained();
    // A fixed-fee ERP deployment that never says where: the EMEA and the standard ERP template
    // both fit, and only the CRM record can tell. The model should be less sure of these.
    let erp: Vec<&LabelledSow> = heldout
        .iter()
        .filter(|sow| sow.template.starts_with("erp-fixed-fee-"))
        .collect();
    let mut unplaced = Vec::new();
    let mut placed = Vec::new();
    let mut abstentions = Vec::new();
    for sow in &erp {
        let recommendation = model.recommend(&sow.text).unwrap();
        let erp_mass: f64 = recommendation
            .alternatives
            .iter()
            .filter(|score| score.template.starts_with("erp-fixed-fee-"))
            .map(|score| score.probability)
            .sum();
        assert!(erp_mass >= 0.9, "{}: the ERP templates hold {erp_mass:.3}", sow.id);
        if sow.expected.region.is_none() {
            &mut unplaced
        } else {
            &mut placed
        }
        .push(recommendation.confidence);
        if let RecommendedTemplate::Abstained { .. } = recommendation.output {
            abstentions.push(recommendation);
        }
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    println!(
        "ERP SOWs: {} stating the region (mean confidence {:.3}), {} not (mean confidence {:.3}); {} abstentions",
        placed.len(),
        mean(&placed),
        unplaced.len(),
        mean(&unplaced),
        abstentions.len()
    );
    assert!(unplaced.len() >= 3, "{} ambiguous ERP SOWs held out", unplaced.len());
    assert!(
        mean(&unplaced) + 0.1 <= mean(&placed),
        "{:.3} vs {:.3}",
        mean(&unplaced),
        mean(&placed)
    );

    let mut recommendation = abstentions
        .into_iter()
        .next()
        .expect("at least one abstention on an ERP SOW");
    let RecommendedTemplate::Abstained { best_guess } = recommendation.output.clone() else {
        unreachable!()
    };
    assert!(recommendation.confidence < model.config().confidence_floor);
    assert!(best_guess.starts_with("erp-fixed-fee-"), "{best_guess}");
    let at = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let accept = recommendation.record_outcome(
        Decision::Accept {
            by: "dana.delivery-lead".into(),
        },
        at,
    );
    assert!(matches!(accept, Err(InsightError::InvalidInput { ref field, .. }) if field == "decision"));
    let unknown = recommendation.record_outcome(
        Decision::Override {
            by: "dana.delivery-lead".into(),
            template: "no-such-template".into(),
            reason: "x".into(),
        },
        at,
    );
    assert!(matches!(unknown, Err(InsightError::InvalidInput { ref field, .. }) if field == "template"));
    assert_eq!(recommendation.approved_template(), None);
    recommendation
        .record_outcome(
            Decision::Override {
                by: "dana.delivery-lead".into(),
                template: "erp-fixed-fee-emea".into(),
                reason: "the client's CRM record is in Frankfurt".into(),
            },
            at,
        )
        .unwrap();
    assert_eq!(recommendation.approved_template(), Some("erp-fixed-fee-emea"));
}

#[test]
fn the_confidence_floor_moves_without_retraining() {
    let small: Vec<LabelledSow> = load("train.jsonl").into_iter().take(70).collect();
    let mut model = TemplateRecommender::train(&small, RecommenderConfig::default()).unwrap();
    let version = model.version().to_string();
    // The held-out SOW this small model is least sure of.
    let heldout = load("heldout.jsonl");
    let (text, confidence) = heldout
        .iter()
        .map(|sow| (&sow.text, model.recommend(&sow.text).unwrap().confidence))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(confidence < 0.99, "{confidence}");
    model
        .set_confidence_floor(confidence + (1.0 - confidence) / 2.0)
        .unwrap();
    assert!(matches!(
        model.recommend(text).unwrap().output,
        RecommendedTemplate::Abstained { .. }
    ));
    model.set_confidence_floor(confidence / 2.0).unwrap();
    assert!(matches!(
        model.recommend(text).unwrap().output,
        RecommendedTemplate::Template(_)
    ));
    let refused = model.set_confidence_floor(1.2);
    assert!(matches!(refused, Err(InsightError::InvalidInput { ref field, .. }) if field == "confidence_floor"));
    assert_eq!(model.config().confidence_floor, confidence / 2.0);
    assert_eq!(model.version(), version);
}

#[test]
fn empty_text_is_refused_naming_the_field() {
    let (model, _) = trained();
    for text in ["", "   \n\t "] {
        let named = |result: Result<(), InsightError>| matches!(result, Err(InsightError::InvalidInput { ref field, .. }) if field == "sow_text");
        assert!(named(model.recommend(text).map(|_| ())), "recommend({text:?})");
        assert!(named(extract(text).map(|_| ())), "extract({text:?})");
        assert!(
            named(model.probabilities(&[text]).map(|_| ())),
            "probabilities({text:?})"
        );
    }
    let bad_floor = TemplateRecommender::train(
        &load("train.jsonl")[..20],
        RecommenderConfig {
            confidence_floor: 1.5,
            ..RecommenderConfig::default()
        },
    );
    assert!(matches!(bad_floor, Err(InsightError::InvalidInput { ref field, .. }) if field == "confidence_floor"));
    let mut examples = load("train.jsonl")[..20].to_vec();
    examples[3].text = " \n ".into();
    let empty_example = TemplateRecommender::train(&examples, RecommenderConfig::default());
    assert!(matches!(empty_example, Err(InsightError::InvalidInput { ref field, .. }) if field == "examples[3].text"));
}

#[test]
fn extraction_reads_known_fields_exactly() {
    let text = "STATEMENT OF WORK - S/4HANA Deployment\n\
        The purpose of this engagement is to deploy a standard ERP core for finance for the EMEA region.\n\
        Work will be led from Frankfurt, with users in Germany.\n\
        The engagement is planned over ten months starting 2 March 2026.\n\
        Deployment across 4 countries. 12 integrations are in scope.\n\
        Fees\nThe services are provided for a fixed fee of €400,000 (EUR), exclusive of taxes.\n\
        Milestone 1 - Blueprint signed: €120,000.00, due 2026-04-30\n\
        | 2 | Go-live | 15 October 2026 | €200,000.50 |\n\
        Upon hypercare exit, the Client will pay €79,999.50.\n\
        Senior consultant: €1,450 per day\n";
    let found = extract(text).unwrap();
    assert_eq!(found.service_type.as_deref(), Some("erp-deployment"));
    assert_eq!(found.region, Some(Region::Emea));
    assert_eq!(found.contract_type, Some(ContractType::FixedFee));
    assert_eq!(
        (found.duration_months, found.sites, found.integrations),
        (Some(10), Some(4), Some(12))
    );
    assert_eq!(found.complexity, DeliveryComplexity::High);
    let milestones: Vec<(Decimal, &str, Option<NaiveDate>)> = found
        .milestones
        .iter()
        .map(|m| (m.amount, m.currency.as_str(), m.date))
        .collect();
    assert_eq!(
        milestones,
        vec![
            (Decimal::new(12_000_000, 2), "EUR", NaiveDate::from_ymd_opt(2026, 4, 30)),
            (
                Decimal::new(20_000_050, 2),
                "EUR",
                NaiveDate::from_ymd_opt(2026, 10, 15)
            ),
            (Decimal::new(7_999_950, 2), "EUR", None),
        ]
    );

    let tm = "Cybersecurity assessment for Asia Pacific, led from Singapore. Three months starting January 5, 2026.\n\
        Charges are T&M, billed monthly in arrears against approved timesheets.\n\
        Penetration Tester: SGD 1,200 per day\nEstimated total: SGD 150,000 (not to exceed without a change request).";
    let found = extract(tm).unwrap();
    assert_eq!(found.service_type.as_deref(), Some("cybersecurity"));
    assert_eq!(found.region, Some(Region::Apac));
    assert_eq!(found.contract_type, Some(ContractType::TimeAndMaterials));
    assert_eq!(found.duration_months, Some(3));
    assert_eq!(found.complexity, DeliveryComplexity::Low);
    assert!(
        found.milestones.is_empty(),
        "rates and caps are not milestones: {:?}",
        found.milestones
    );
}

#[test]
fn extraction_on_the_held_out_sows_matches_their_labels() {
    let heldout = load("heldout.jsonl");
    let mut right = BTreeMap::<&str, usize>::new();
    for sow in &heldout {
        let found = extract(&sow.text).unwrap();
        let expected = &sow.expected;
        let milestones: Vec<_> = found
            .milestones
            .iter()
            .map(|m| (m.amount, m.currency.clone(), m.date))
            .collect();
        let wanted: Vec<_> = expected
            .milestones
            .iter()
            .map(|m| (m.amount, m.currency.clone(), m.date))
            .collect();
        for (field, ok) in [
            (
                "service type",
                found.service_type.as_deref() == Some(expected.service_type.as_str()),
            ),
            ("region", found.region == expected.region),
            ("contract type", found.contract_type == Some(expected.contract_type)),
            ("complexity", found.complexity == expected.complexity),
            ("milestones", milestones == wanted),
        ] {
            *right.entry(field).or_default() += usize::from(ok);
        }
    }
    for (field, count) in &right {
        let share = *count as f64 / heldout.len() as f64;
        println!("extraction {field}: {share:.3} ({count}/{})", heldout.len());
        assert!(share >= 0.9, "{field}: {share:.3}");
    }
}
