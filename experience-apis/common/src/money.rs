//! Exact money as every view shows it.

use async_graphql::SimpleObject;
use keel_proto::common;

/// An exact amount of money: a decimal string, never a float, and its ISO 4217 currency.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct Money {
    /// A decimal string such as `1250000.00`.
    pub amount: String,
    /// An ISO 4217 code such as `USD`.
    pub currency: String,
}

impl From<common::Money> for Money {
    fn from(money: common::Money) -> Money {
        Money {
            amount: money.amount,
            currency: money.currency,
        }
    }
}

impl From<&keel_core::Money> for Money {
    fn from(money: &keel_core::Money) -> Money {
        Money::from(money.to_proto())
    }
}

/// Proto3 strings are empty when unset; GraphQL says null.
pub fn non_empty(text: String) -> Option<String> {
    if text.is_empty() { None } else { Some(text) }
}
