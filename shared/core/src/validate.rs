//! Collecting field violations while parsing a request, so one answer names every field at
//! fault rather than the first.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{Error, FieldViolation};
use crate::money::Money;

/// The longest free-text field Keel accepts (names, references), in characters.
pub const MAX_TEXT_LEN: usize = 200;
/// The longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Violations gathered while parsing one request.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub fn extend(&mut self, violations: Vec<FieldViolation>) {
        self.0.extend(violations);
    }

    /// Keeps the value of a check, or records its violations and gives `None`.
    pub fn take<T>(&mut self, result: Result<T, Vec<FieldViolation>>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(v) => {
                self.0.extend(v);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was found, else the error naming every field.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidInput(self.0))
        }
    }

    /// Required non-blank text of at most [`MAX_TEXT_LEN`] characters, trimmed.
    pub fn required_text(&mut self, field: &str, value: &str) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "must not be empty");
        } else if trimmed.chars().count() > MAX_TEXT_LEN {
            self.add(field, format!("must be at most {MAX_TEXT_LEN} characters"));
        }
        trimmed.to_string()
    }

    /// Optional text: empty is allowed, longer than [`MAX_TEXT_LEN`] is not.
    pub fn optional_text(&mut self, field: &str, value: &str) -> String {
        let trimmed = value.trim();
        if trimmed.chars().count() > MAX_TEXT_LEN {
            self.add(field, format!("must be at most {MAX_TEXT_LEN} characters"));
        }
        trimmed.to_string()
    }

    /// The idempotency key every mutating call carries.
    pub fn idempotency_key(&mut self, value: &str) -> String {
        let field = "idempotency_key";
        if value.trim().is_empty() {
            self.add(
                field,
                "is required on every change; a replay with the same key returns the first result",
            );
        } else if value.chars().count() > MAX_IDEMPOTENCY_KEY_LEN {
            self.add(field, format!("must be at most {MAX_IDEMPOTENCY_KEY_LEN} characters"));
        }
        value.trim().to_string()
    }

    /// A required id in UUID form.
    pub fn uuid(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.trim().is_empty() {
            self.add(field, "is required");
            return None;
        }
        match Uuid::parse_str(value.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.add(field, format!("{:?} is not a valid id (a UUID)", truncate(value)));
                None
            }
        }
    }

    /// Money that must not be negative.
    pub fn non_negative_money(&mut self, field: &str, money: Option<&keel_proto::common::Money>) -> Option<Money> {
        let money = self.take(Money::from_proto(field, money))?;
        if money.is_negative() {
            self.add(format!("{field}.amount"), "must not be negative");
            return None;
        }
        Some(money)
    }

    /// A calendar date in `YYYY-MM-DD` form.
    pub fn date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.add(field, format!("{:?} is not a date in YYYY-MM-DD form", truncate(value)));
                None
            }
        }
    }

    /// A non-negative decimal such as hours or a percentage.
    pub fn non_negative_decimal(&mut self, field: &str, value: &str) -> Option<Decimal> {
        match Decimal::from_str(value.trim()) {
            Ok(d) if d.is_sign_negative() && !d.is_zero() => {
                self.add(field, "must not be negative");
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.add(field, format!("{:?} is not a decimal number", truncate(value)));
                None
            }
        }
    }
}

/// Echoes at most 40 characters of bad input back to the caller.
fn truncate(value: &str) -> String {
    value.chars().take(40).collect()
}

/// One id field on its own: a UUID, or `InvalidInput` naming `field`.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, Error> {
    let mut v = Violations::new();
    let id = v.uuid(field, value);
    v.finish()?;
    id.ok_or_else(|| Error::invalid(field, "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_at_fault_is_named_once() {
        let mut v = Violations::new();
        v.required_text("name", "   ");
        v.uuid("account_id", "not-a-uuid");
        v.non_negative_money(
            "amount",
            Some(&keel_proto::common::Money {
                amount: "-5".into(),
                currency: "USD".into(),
            }),
        );
        v.date("close_date", "2026-13-01");
        v.idempotency_key("");
        v.required_text("sow_reference", &"x".repeat(MAX_TEXT_LEN + 1));
        let err = v.finish().unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "account_id",
                "amount.amount",
                "close_date",
                "idempotency_key",
                "sow_reference"
            ]
        );
    }

    #[test]
    fn good_input_passes() {
        let mut v = Violations::new();
        assert_eq!(v.required_text("name", "  Northwind ERP  "), "Northwind ERP");
        assert!(v.uuid("id", "0193b2a4-6f1e-7c3a-9f00-1234567890ab").is_some());
        assert!(v.date("d", "2026-11-25").is_some());
        assert!(v.finish().is_ok());
    }
}
