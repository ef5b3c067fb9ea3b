//! How long each type of document is kept after its project closes, and whether a document
//! may be deleted today.

use chrono::{Months, NaiveDate};
use keel_proto::documents::DocumentType;

/// The retention rule applied at project close-out: years kept after the close date, by
/// document type. Contracts follow the limitation period for contract claims; invoice backup
/// follows the longest tax record-keeping period the firm operates under.
pub const RETENTION_YEARS: &[(DocumentType, u32)] = &[
    (DocumentType::Sow, 7),
    (DocumentType::ChangeOrder, 7),
    (DocumentType::InvoiceBackup, 10),
    (DocumentType::Other, 3),
];

/// Years a document of `document_type` is kept after close-out.
pub fn retention_years(document_type: DocumentType) -> Option<u32> {
    RETENTION_YEARS
        .iter()
        .find(|(t, _)| *t == document_type)
        .map(|(_, years)| *years)
}

/// The date until which a document of `document_type` is kept when its project closed on
/// `close_date` (29 February rolls back to 28 February in a common year).
pub fn retain_until(document_type: DocumentType, close_date: NaiveDate) -> Option<NaiveDate> {
    let years = retention_years(document_type)?;
    close_date.checked_add_months(Months::new(years * 12))
}

/// Why a document may not be deleted on `today`, if it may not.
pub fn deletion_blocked(
    retain_until: Option<NaiveDate>,
    legal_hold: bool,
    out_for_signature: bool,
    today: NaiveDate,
) -> Option<String> {
    if legal_hold {
        return Some("it is under legal hold".to_string());
    }
    if let Some(until) = retain_until
        && until >= today
    {
        return Some(format!("it is retained until {until}"));
    }
    if out_for_signature {
        return Some("it is out for signature".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_document_type_has_a_rule() {
        for t in [
            DocumentType::Sow,
            DocumentType::ChangeOrder,
            DocumentType::InvoiceBackup,
            DocumentType::Other,
        ] {
            assert!(retention_years(t).is_some(), "{t:?} has no retention rule");
        }
        assert_eq!(retention_years(DocumentType::Unspecified), None);
    }

    #[test]
    fn close_out_dates_follow_the_table() {
        let table = [
            (DocumentType::Sow, "2026-11-30", "2033-11-30"),
            (DocumentType::ChangeOrder, "2026-11-30", "2033-11-30"),
            (DocumentType::InvoiceBackup, "2026-11-30", "2036-11-30"),
            (DocumentType::Other, "2026-11-30", "2029-11-30"),
            (DocumentType::Sow, "2028-02-29", "2035-02-28"),
        ];
        for (t, close, until) in table {
            assert_eq!(retain_until(t, date(close)), Some(date(until)), "{t:?} closed {close}");
        }
    }

    #[test]
    fn deletion_is_blocked_by_hold_retention_or_signature() {
        let today = date("2026-11-26");
        let table = [
            (None, false, false, None),
            (Some("2026-11-25"), false, false, None),
            (Some("2026-11-26"), false, false, Some("retained until 2026-11-26")),
            (Some("2033-01-01"), false, false, Some("retained until 2033-01-01")),
            (None, true, false, Some("legal hold")),
            (Some("2020-01-01"), true, false, Some("legal hold")),
            (None, false, true, Some("out for signature")),
        ];
        for (until, hold, signing, why) in table {
            let found = deletion_blocked(until.map(date), hold, signing, today);
            match (why, found) {
                (None, None) => {}
                (Some(expected), Some(found)) => assert!(found.contains(expected), "{found}"),
                (expected, found) => panic!("{until:?} {hold} {signing}: expected {expected:?}, got {found:?}"),
            }
        }
    }
}
