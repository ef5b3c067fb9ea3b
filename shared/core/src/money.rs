//! Money: an exact decimal amount in an ISO 4217 currency. Never a float.
//!
//! Amounts carry at most the currency's minor-unit digits (2 for USD, 0 for JPY) and are
//! stored as integer minor units, which is exact on SQLite and PostgreSQL alike.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::error::FieldViolation;

/// The largest amount Keel accepts, in major units: 10^13 (ten trillion).
const MAX_ABS_AMOUNT: i64 = 10_000_000_000_000;

/// An ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses an upper-case ISO 4217 code such as `USD`.
    pub fn parse(code: &str) -> Result<Currency, String> {
        if code.is_empty() {
            return Err("is required (an ISO 4217 code such as USD)".into());
        }
        iso_currency::Currency::from_code(code)
            .map(Currency)
            .ok_or_else(|| format!("{code:?} is not an ISO 4217 currency code"))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point of this currency's minor unit.
    pub fn minor_unit_digits(&self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(0)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An exact amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Checks the amount against the currency: no more decimals than its minor unit, within
    /// Keel's range.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Money, String> {
        let digits = currency.minor_unit_digits();
        let normalized = amount.normalize();
        if normalized.scale() > digits {
            return Err(format!(
                "{amount} has more than {digits} decimal places, the minor unit of {currency}"
            ));
        }
        if normalized.abs() > Decimal::from(MAX_ABS_AMOUNT) {
            return Err(format!("{amount} is beyond the largest amount Keel accepts"));
        }
        let mut amount = normalized;
        amount.rescale(digits);
        Ok(Money { amount, currency })
    }

    /// Parses a decimal string and a currency code, naming `field.amount` or
    /// `field.currency` in the violations.
    pub fn parse(field: &str, amount: &str, currency: &str) -> Result<Money, Vec<FieldViolation>> {
        let mut violations = Vec::new();
        let currency = match Currency::parse(currency.trim()) {
            Ok(c) => Some(c),
            Err(e) => {
                violations.push(FieldViolation::new(format!("{field}.currency"), e));
                None
            }
        };
        let trimmed = amount.trim();
        let decimal = if trimmed.is_empty() {
            violations.push(FieldViolation::new(
                format!("{field}.amount"),
                "is required (a decimal string such as \"1250.00\")",
            ));
            None
        } else {
            match Decimal::from_str(trimmed) {
                Ok(d) => Some(d),
                Err(_) => {
                    violations.push(FieldViolation::new(
                        format!("{field}.amount"),
                        format!("{trimmed:?} is not a decimal number"),
                    ));
                    None
                }
            }
        };
        match (decimal, currency) {
            (Some(d), Some(c)) => Money::new(d, c).map_err(|e| vec![FieldViolation::new(format!("{field}.amount"), e)]),
            _ => Err(violations),
        }
    }

    /// Parses the contract's `Money` message. `None` is a missing required field.
    pub fn from_proto(field: &str, money: Option<&keel_proto::common::Money>) -> Result<Money, Vec<FieldViolation>> {
        match money {
            Some(m) => Money::parse(field, &m.amount, &m.currency),
            None => Err(vec![FieldViolation::new(field, "is required")]),
        }
    }

    pub fn to_proto(&self) -> keel_proto::common::Money {
        keel_proto::common::Money {
            amount: self.amount.to_string(),
            currency: self.currency.code().to_string(),
        }
    }

    pub fn zero(currency: Currency) -> Money {
        let mut amount = Decimal::ZERO;
        amount.rescale(currency.minor_unit_digits());
        Money { amount, currency }
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    /// The amount in minor units (cents for USD), the form Keel stores.
    pub fn to_minor_units(&self) -> i64 {
        let scaled = self.amount * Decimal::from(10_i64.pow(self.currency.minor_unit_digits()));
        // The range check in `new` keeps this within i64.
        i64::try_from(scaled.trunc()).unwrap_or(i64::MAX)
    }

    /// Reads back an amount stored in minor units.
    pub fn from_minor_units(minor: i64, currency: Currency) -> Money {
        let amount = Decimal::new(minor, currency.minor_unit_digits());
        Money { amount, currency }
    }

    /// Adds two amounts of the same currency.
    pub fn checked_add(&self, other: &Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Money::new(self.amount.checked_add(other.amount)?, self.currency).ok()
    }

    /// Splits this amount by non-negative weights with the largest-remainder method: each
    /// share is rounded down to the minor unit, then the minor units left over go one by one
    /// to the shares that lost the most to rounding (ties to the earlier share). The shares
    /// always sum to exactly this amount, each has this amount's sign, and no share is more
    /// than one minor unit from its exact value. Zero, negative or empty weights give an
    /// empty split.
    pub fn allocate(&self, weights: &[Decimal]) -> Vec<Money> {
        let total: Decimal = weights.iter().copied().sum();
        if weights.is_empty() || total <= Decimal::ZERO || weights.iter().any(|w| w.is_sign_negative() && !w.is_zero())
        {
            return Vec::new();
        }
        let minor = self.to_minor_units();
        let units = Decimal::from(minor.unsigned_abs());
        let mut floors: Vec<i64> = Vec::with_capacity(weights.len());
        let mut remainders: Vec<(Decimal, usize)> = Vec::with_capacity(weights.len());
        for (index, weight) in weights.iter().enumerate() {
            let exact = units * *weight / total;
            let floor = exact.floor();
            floors.push(i64::try_from(floor).unwrap_or(0));
            remainders.push((exact - floor, index));
        }
        let allocated: i64 = floors.iter().sum();
        let mut left = i64::try_from(minor.unsigned_abs()).unwrap_or(i64::MAX) - allocated;
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, index) in remainders.iter().cycle() {
            if left <= 0 {
                break;
            }
            floors[*index] += 1;
            left -= 1;
        }
        let sign = if minor < 0 { -1 } else { 1 };
        floors
            .into_iter()
            .map(|units| Money::from_minor_units(sign * units, self.currency))
            .collect()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn parse_names_the_field_at_fault() {
        let table: &[(&str, &str, &str)] = &[
            ("", "USD", "amount.amount"),
            ("12.5.1", "USD", "amount.amount"),
            ("100", "XYZ", "amount.currency"),
            ("100", "usd", "amount.currency"),
            ("100", "", "amount.currency"),
            ("10.001", "USD", "amount.amount"),
            ("1.5", "JPY", "amount.amount"),
            ("99999999999999", "USD", "amount.amount"),
        ];
        for (amount, currency, field) in table {
            let err = Money::parse("amount", amount, currency).unwrap_err();
            assert_eq!(err[0].field, *field, "{amount:?} {currency:?}");
        }
    }

    #[test]
    fn amounts_are_exact_at_the_minor_unit() {
        let m = Money::parse("amount", "12345678901.23", "USD").unwrap();
        assert_eq!(m.to_minor_units(), 1_234_567_890_123);
        assert_eq!(Money::from_minor_units(m.to_minor_units(), usd()), m);
        assert_eq!(m.to_proto().amount, "12345678901.23");
        assert_eq!(Money::parse("a", "5", "USD").unwrap().to_proto().amount, "5.00");
        assert_eq!(Money::parse("a", "5", "JPY").unwrap().to_proto().amount, "5");
    }

    #[test]
    fn negative_is_detected() {
        assert!(Money::parse("a", "-0.01", "USD").unwrap().is_negative());
        assert!(!Money::parse("a", "0", "USD").unwrap().is_negative());
    }

    #[test]
    fn allocation_gives_leftover_cents_to_the_largest_remainders() {
        let fee = Money::parse("fee", "100.00", "USD").unwrap();
        let shares = fee.allocate(&[Decimal::ONE, Decimal::ONE, Decimal::ONE]);
        let amounts: Vec<String> = shares.iter().map(|m| m.amount().to_string()).collect();
        assert_eq!(amounts, ["33.34", "33.33", "33.33"]);
    }

    #[test]
    fn no_share_goes_negative_for_tiny_amounts_or_weights() {
        let tiny = Money::parse("fee", "0.02", "USD").unwrap();
        let weights = [Decimal::ONE, Decimal::ONE, Decimal::ONE, Decimal::new(1, 2)];
        let shares: Vec<i64> = tiny.allocate(&weights).iter().map(Money::to_minor_units).collect();
        assert_eq!(shares, [1, 1, 0, 0]);
    }

    proptest! {
        #[test]
        fn allocation_neither_creates_nor_loses_money(
            cents in 0_i64..1_000_000_000_000,
            weights in proptest::collection::vec(1_u32..10_000, 1..12),
        ) {
            let fee = Money::from_minor_units(cents, usd());
            let weights: Vec<Decimal> = weights.into_iter().map(Decimal::from).collect();
            let shares = fee.allocate(&weights);
            prop_assert_eq!(shares.len(), weights.len());
            let sum: i64 = shares.iter().map(Money::to_minor_units).sum();
            prop_assert_eq!(sum, cents);
            let total: Decimal = weights.iter().copied().sum();
            for (share, weight) in shares.iter().zip(&weights) {
                prop_assert!(!share.is_negative());
                let exact = Decimal::from(cents) * *weight / total;
                prop_assert!((Decimal::from(share.to_minor_units()) - exact).abs() < Decimal::ONE);
            }
        }

        #[test]
        fn minor_units_round_trip(cents in -1_000_000_000_000_i64..1_000_000_000_000) {
            let m = Money::from_minor_units(cents, usd());
            let parsed = Money::parse("a", &m.to_proto().amount, "USD").unwrap();
            prop_assert_eq!(parsed.to_minor_units(), cents);
        }
    }
}
