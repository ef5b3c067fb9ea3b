//! Parse-once input of the ledger: legal entities, exchange rates, accounts, cost centers and
//! journals. The balancing rule lives here: a journal whose lines do not balance per legal
//! entity and currency cannot be built.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use keel_core::{Currency, Error, Money, Violations};
use keel_proto::erp::{
    AccountType, ConvertAmountRequest, CreateAccountRequest, CreateCostCenterRequest, CreateLegalEntityRequest,
    JournalLine, PostJournalRequest, ReverseJournalRequest, SetExchangeRateRequest, UpdateLegalEntityRequest,
};
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use super::{LegalEntity, ProjectCodeNumber, check, truncate, unrecorded_violation};

/// The most lines one journal may hold.
pub const MAX_JOURNAL_LINES: usize = 500;
/// Account codes are 3 to 10 digits.
const ACCOUNT_CODE_LEN: std::ops::RangeInclusive<usize> = 3..=10;
/// Cost center codes are 2 to 32 characters of A-Z, 0-9 and -.
const COST_CENTER_LEN: std::ops::RangeInclusive<usize> = 2..=32;

/// A checked `expected_version`: a version a record can have (1 or more).
pub fn expected_version(violations: &mut Violations, value: i64) -> i64 {
    if value < 1 {
        violations.add(
            "expected_version",
            "is required: the version of the record you read (1 or more)",
        );
    }
    value
}

/// A legal entity code given by the caller, checked and named by `field`.
pub fn legal_entity(violations: &mut Violations, field: &str, value: &str) -> Option<LegalEntity> {
    check(violations, field, LegalEntity::parse(value))
}

/// An ISO 4217 currency code named by `field`.
pub fn currency(violations: &mut Violations, field: &str, value: &str) -> Option<Currency> {
    check(violations, field, Currency::parse(value.trim()))
}

/// A project code named by `field`.
pub fn project_code(violations: &mut Violations, field: &str, value: &str) -> Option<ProjectCodeNumber> {
    check(violations, field, ProjectCodeNumber::parse(value))
}

/// Money that must be more than zero.
pub fn positive_money(
    violations: &mut Violations,
    field: &str,
    money: Option<&keel_proto::common::Money>,
) -> Option<Money> {
    let money = violations.non_negative_money(field, money)?;
    if money.amount().is_zero() {
        violations.add(format!("{field}.amount"), "must be more than zero");
        return None;
    }
    Some(money)
}

/// A checked `CreateLegalEntityRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLegalEntity {
    pub idempotency_key: String,
    pub code: LegalEntity,
    pub name: String,
    pub functional_currency: Currency,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

impl NewLegalEntity {
    pub fn parse(request: &CreateLegalEntityRequest) -> Result<NewLegalEntity, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let code = legal_entity(&mut violations, "code", &request.code);
        let name = violations.required_text("name", &request.name);
        let functional_currency = currency(&mut violations, "functional_currency", &request.functional_currency);
        let country = request.country.trim().to_string();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            violations.add(
                "country",
                format!("{:?} is not an ISO 3166-1 alpha-2 code such as GB", truncate(&country)),
            );
        }
        violations.finish()?;
        let (Some(code), Some(functional_currency)) = (code, functional_currency) else {
            return Err(unrecorded_violation());
        };
        Ok(NewLegalEntity {
            idempotency_key,
            code,
            name,
            functional_currency,
            country,
        })
    }

    pub fn to_request(&self) -> CreateLegalEntityRequest {
        CreateLegalEntityRequest {
            idempotency_key: self.idempotency_key.clone(),
            code: self.code.to_string(),
            name: self.name.clone(),
            functional_currency: self.functional_currency.code().to_string(),
            country: self.country.clone(),
        }
    }
}

/// A checked `UpdateLegalEntityRequest` (renames the entity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalEntityUpdate {
    pub idempotency_key: String,
    pub code: LegalEntity,
    pub expected_version: i64,
    pub name: String,
}

impl LegalEntityUpdate {
    pub fn parse(request: &UpdateLegalEntityRequest) -> Result<LegalEntityUpdate, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let code = legal_entity(&mut violations, "code", &request.code);
        let expected_version = expected_version(&mut violations, request.expected_version);
        let name = violations.required_text("name", &request.name);
        violations.finish()?;
        let Some(code) = code else {
            return Err(unrecorded_violation());
        };
        Ok(LegalEntityUpdate {
            idempotency_key,
            code,
            expected_version,
            name,
        })
    }

    pub fn to_request(&self) -> UpdateLegalEntityRequest {
        UpdateLegalEntityRequest {
            idempotency_key: self.idempotency_key.clone(),
            code: self.code.to_string(),
            expected_version: self.expected_version,
            name: self.name.clone(),
        }
    }
}

/// A checked `SetExchangeRateRequest`: 1 `from` = `rate` `to` on `date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExchangeRate {
    pub idempotency_key: String,
    pub from: Currency,
    pub to: Currency,
    pub date: NaiveDate,
    pub rate: Decimal,
}

impl NewExchangeRate {
    pub fn parse(request: &SetExchangeRateRequest) -> Result<NewExchangeRate, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let from = currency(&mut violations, "from_currency", &request.from_currency);
        let to = currency(&mut violations, "to_currency", &request.to_currency);
        if let (Some(from), Some(to)) = (from, to)
            && from == to
        {
            violations.add("to_currency", "must differ from from_currency");
        }
        let date = violations.date("rate_date", &request.rate_date);
        let rate = violations.non_negative_decimal("rate", &request.rate);
        if rate.is_some_and(|r| r.is_zero()) {
            violations.add("rate", "must be more than zero");
        }
        violations.finish()?;
        let (Some(from), Some(to), Some(date), Some(rate)) = (from, to, date, rate) else {
            return Err(unrecorded_violation());
        };
        Ok(NewExchangeRate {
            idempotency_key,
            from,
            to,
            date,
            rate: rate.normalize(),
        })
    }

    pub fn to_request(&self) -> SetExchangeRateRequest {
        SetExchangeRateRequest {
            idempotency_key: self.idempotency_key.clone(),
            from_currency: self.from.code().to_string(),
            to_currency: self.to.code().to_string(),
            rate_date: self.date.to_string(),
            rate: self.rate.to_string(),
        }
    }
}

/// A checked `ConvertAmountRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub amount: Money,
    pub to: Currency,
    pub on: NaiveDate,
}

impl Conversion {
    pub fn parse(request: &ConvertAmountRequest) -> Result<Conversion, Error> {
        let mut violations = Violations::new();
        let amount = violations.take(Money::from_proto("amount", request.amount.as_ref()));
        let to = currency(&mut violations, "to_currency", &request.to_currency);
        let on = violations.date("on_date", &request.on_date);
        violations.finish()?;
        let (Some(amount), Some(to), Some(on)) = (amount, to, on) else {
            return Err(unrecorded_violation());
        };
        Ok(Conversion { amount, to, on })
    }
}

/// `amount` times `rate` in `to`, rounded half-even (banker's rounding) to `to`'s minor unit.
/// The product is exact in decimal before the one rounding; an amount beyond what Keel holds
/// is an error.
pub fn convert(amount: Money, rate: Decimal, to: Currency) -> Result<Money, String> {
    let product = amount
        .amount()
        .checked_mul(rate)
        .ok_or_else(|| format!("{amount} times {rate} is beyond what Keel can hold"))?;
    let rounded = product.round_dp_with_strategy(to.minor_unit_digits(), RoundingStrategy::MidpointNearestEven);
    Money::new(rounded, to)
}

/// `amount` divided by `rate` (the inverse of a stored rate), rounded half-even to `to`'s
/// minor unit.
pub fn convert_inverse(amount: Money, rate: Decimal, to: Currency) -> Result<Money, String> {
    let quotient = amount
        .amount()
        .checked_div(rate)
        .ok_or_else(|| format!("{amount} divided by {rate} is beyond what Keel can hold"))?;
    let rounded = quotient.round_dp_with_strategy(to.minor_unit_digits(), RoundingStrategy::MidpointNearestEven);
    Money::new(rounded, to)
}

/// The five kinds of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

impl AccountKind {
    pub fn from_proto(value: i32) -> Option<AccountKind> {
        match AccountType::try_from(value).ok()? {
            AccountType::Asset => Some(AccountKind::Asset),
            AccountType::Liability => Some(AccountKind::Liability),
            AccountType::Equity => Some(AccountKind::Equity),
            AccountType::Revenue => Some(AccountKind::Revenue),
            AccountType::Expense => Some(AccountKind::Expense),
            AccountType::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> AccountType {
        match self {
            AccountKind::Asset => AccountType::Asset,
            AccountKind::Liability => AccountType::Liability,
            AccountKind::Equity => AccountType::Equity,
            AccountKind::Revenue => AccountType::Revenue,
            AccountKind::Expense => AccountType::Expense,
        }
    }

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Asset => "asset",
            AccountKind::Liability => "liability",
            AccountKind::Equity => "equity",
            AccountKind::Revenue => "revenue",
            AccountKind::Expense => "expense",
        }
    }

    pub fn from_stored(value: &str) -> Option<AccountKind> {
        [
            AccountKind::Asset,
            AccountKind::Liability,
            AccountKind::Equity,
            AccountKind::Revenue,
            AccountKind::Expense,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// An account code such as `1200`: 3 to 10 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountCode(String);

impl AccountCode {
    pub fn parse(value: &str) -> Result<AccountCode, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("is required (an account code such as 1200)".into());
        }
        if !ACCOUNT_CODE_LEN.contains(&trimmed.len()) || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{:?} is not an account code: 3 to 10 digits, such as 1200",
                truncate(trimmed)
            ));
        }
        Ok(AccountCode(trimmed.to_string()))
    }

    /// A code Keel itself uses (the seeded chart).
    pub fn known(code: &'static str) -> AccountCode {
        AccountCode(code.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The chart every legal entity starts with: code, name, kind.
pub const DEFAULT_CHART: &[(&str, &str, AccountKind)] = &[
    (accounts::CASH, "Cash at bank", AccountKind::Asset),
    (accounts::RECEIVABLES, "Accounts receivable", AccountKind::Asset),
    (accounts::UNBILLED_WIP, "Unbilled work in progress", AccountKind::Asset),
    (
        accounts::INTERCOMPANY_RECEIVABLE,
        "Intercompany receivable",
        AccountKind::Asset,
    ),
    (accounts::ACCRUED_LABOUR, "Accrued labour cost", AccountKind::Liability),
    (accounts::EXPENSES_PAYABLE, "Expenses payable", AccountKind::Liability),
    (
        accounts::INTERCOMPANY_PAYABLE,
        "Intercompany payable",
        AccountKind::Liability,
    ),
    (accounts::DEFERRED_REVENUE, "Deferred revenue", AccountKind::Liability),
    (accounts::RETAINED_EARNINGS, "Retained earnings", AccountKind::Equity),
    (accounts::SERVICES_REVENUE, "Services revenue", AccountKind::Revenue),
    (accounts::COST_OF_SERVICES, "Cost of services", AccountKind::Expense),
    (accounts::PROJECT_EXPENSES, "Project expenses", AccountKind::Expense),
];

/// The seeded account codes the ERP posts to itself.
pub mod accounts {
    pub const CASH: &str = "1000";
    pub const RECEIVABLES: &str = "1200";
    pub const UNBILLED_WIP: &str = "1250";
    pub const INTERCOMPANY_RECEIVABLE: &str = "1300";
    pub const ACCRUED_LABOUR: &str = "2100";
    pub const EXPENSES_PAYABLE: &str = "2200";
    pub const INTERCOMPANY_PAYABLE: &str = "2300";
    pub const DEFERRED_REVENUE: &str = "2400";
    pub const RETAINED_EARNINGS: &str = "3000";
    pub const SERVICES_REVENUE: &str = "4000";
    pub const COST_OF_SERVICES: &str = "5000";
    pub const PROJECT_EXPENSES: &str = "5100";
}

/// A checked `CreateAccountRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub idempotency_key: String,
    pub legal_entity: LegalEntity,
    pub code: AccountCode,
    pub name: String,
    pub kind: AccountKind,
}

impl NewAccount {
    pub fn parse(request: &CreateAccountRequest) -> Result<NewAccount, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let legal_entity = legal_entity(&mut violations, "legal_entity", &request.legal_entity);
        let code = check(&mut violations, "code", AccountCode::parse(&request.code));
        let name = violations.required_text("name", &request.name);
        let kind = AccountKind::from_proto(request.r#type);
        if kind.is_none() {
            violations.add("type", "must be ASSET, LIABILITY, EQUITY, REVENUE or EXPENSE");
        }
        violations.finish()?;
        let (Some(legal_entity), Some(code), Some(kind)) = (legal_entity, code, kind) else {
            return Err(unrecorded_violation());
        };
        Ok(NewAccount {
            idempotency_key,
            legal_entity,
            code,
            name,
            kind,
        })
    }

    pub fn to_request(&self) -> CreateAccountRequest {
        CreateAccountRequest {
            idempotency_key: self.idempotency_key.clone(),
            legal_entity: self.legal_entity.to_string(),
            code: self.code.to_string(),
            name: self.name.clone(),
            r#type: self.kind.to_proto() as i32,
        }
    }
}

/// A cost center code such as `CC-DELIVERY`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CostCenterCode(String);

impl CostCenterCode {
    pub fn parse(value: &str) -> Result<CostCenterCode, String> {
        let trimmed = value.trim();
        let well_formed = COST_CENTER_LEN.contains(&trimmed.len())
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            return Err(format!(
                "{:?} is not a cost center code: 2 to 32 characters of A-Z, 0-9 and -, such as CC-DELIVERY",
                truncate(trimmed)
            ));
        }
        Ok(CostCenterCode(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CostCenterCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A checked `CreateCostCenterRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCostCenter {
    pub idempotency_key: String,
    pub legal_entity: LegalEntity,
    pub code: CostCenterCode,
    pub name: String,
}

impl NewCostCenter {
    pub fn parse(request: &CreateCostCenterRequest) -> Result<NewCostCenter, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let legal_entity = legal_entity(&mut violations, "legal_entity", &request.legal_entity);
        let code = check(&mut violations, "code", CostCenterCode::parse(&request.code));
        let name = violations.required_text("name", &request.name);
        violations.finish()?;
        let (Some(legal_entity), Some(code)) = (legal_entity, code) else {
            return Err(unrecorded_violation());
        };
        Ok(NewCostCenter {
            idempotency_key,
            legal_entity,
            code,
            name,
        })
    }

    pub fn to_request(&self) -> CreateCostCenterRequest {
        CreateCostCenterRequest {
            idempotency_key: self.idempotency_key.clone(),
            legal_entity: self.legal_entity.to_string(),
            code: self.code.to_string(),
            name: self.name.clone(),
        }
    }
}

/// Which side of the ledger a line is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Debit,
    Credit,
}

/// One checked journal line: a positive amount on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    pub legal_entity: LegalEntity,
    pub account_code: AccountCode,
    pub cost_center: Option<CostCenterCode>,
    pub project_code: Option<ProjectCodeNumber>,
    pub side: Side,
    /// More than zero.
    pub amount: Money,
    pub memo: String,
}

impl LedgerLine {
    /// A line the ERP writes itself (time postings, invoices, revenue).
    pub fn new(
        legal_entity: &LegalEntity,
        account_code: &'static str,
        project_code: Option<&ProjectCodeNumber>,
        side: Side,
        amount: Money,
        memo: impl Into<String>,
    ) -> LedgerLine {
        LedgerLine {
            legal_entity: legal_entity.clone(),
            account_code: AccountCode::known(account_code),
            cost_center: None,
            project_code: project_code.cloned(),
            side,
            amount,
            memo: memo.into(),
        }
    }

    pub fn to_proto(&self) -> JournalLine {
        let (debit, credit) = match self.side {
            Side::Debit => (Some(self.amount.to_proto()), None),
            Side::Credit => (None, Some(self.amount.to_proto())),
        };
        JournalLine {
            legal_entity: self.legal_entity.to_string(),
            account_code: self.account_code.to_string(),
            cost_center: self.cost_center.as_ref().map(ToString::to_string).unwrap_or_default(),
            project_code: self.project_code.as_ref().map(ToString::to_string).unwrap_or_default(),
            debit,
            credit,
            memo: self.memo.clone(),
        }
    }

    /// The same line on the other side, for a reversal.
    pub fn reversed(&self) -> LedgerLine {
        LedgerLine {
            side: match self.side {
                Side::Debit => Side::Credit,
                Side::Credit => Side::Debit,
            },
            ..self.clone()
        }
    }
}

/// Why lines do not balance, or `None` when every (legal entity, currency) group's debits
/// equal its credits exactly. Sums are in `i128` minor units, so no set of lines overflows.
pub fn imbalance(lines: &[LedgerLine]) -> Option<String> {
    let mut groups: BTreeMap<(String, &'static str), (i128, i128)> = BTreeMap::new();
    for line in lines {
        let totals = groups
            .entry((line.legal_entity.to_string(), line.amount.currency().code()))
            .or_default();
        let minor = i128::from(line.amount.to_minor_units());
        match line.side {
            Side::Debit => totals.0 += minor,
            Side::Credit => totals.1 += minor,
        }
    }
    let unbalanced: Vec<String> = groups
        .iter()
        .filter(|(_, (debits, credits))| debits != credits)
        .map(|((entity, currency), (debits, credits))| {
            let currency = Currency::parse(currency).ok();
            let show = |minor: i128| match (currency, i64::try_from(minor)) {
                (Some(c), Ok(m)) => Money::from_minor_units(m, c).amount().to_string(),
                _ => minor.to_string(),
            };
            format!(
                "{entity} {}: debits {} but credits {}",
                currency.map(|c| c.code()).unwrap_or("?"),
                show(*debits),
                show(*credits)
            )
        })
        .collect();
    if unbalanced.is_empty() {
        None
    } else {
        Some(format!(
            "the journal does not balance per legal entity and currency ({})",
            unbalanced.join("; ")
        ))
    }
}

/// A checked `PostJournalRequest`: 2 to [`MAX_JOURNAL_LINES`] lines that balance per legal
/// entity and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJournal {
    pub idempotency_key: String,
    pub date: NaiveDate,
    pub description: String,
    pub lines: Vec<LedgerLine>,
}

impl NewJournal {
    pub fn parse(request: &PostJournalRequest) -> Result<NewJournal, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let date = violations.date("journal_date", &request.journal_date);
        let description = violations.required_text("description", &request.description);
        if request.lines.len() < 2 {
            violations.add("lines", "must hold at least two lines (a debit and a credit)");
        } else if request.lines.len() > MAX_JOURNAL_LINES {
            violations.add("lines", format!("must hold at most {MAX_JOURNAL_LINES} lines"));
        }
        let readable = if request.lines.len() > MAX_JOURNAL_LINES {
            &[][..]
        } else {
            &request.lines[..]
        };
        let mut lines = Vec::with_capacity(readable.len());
        for (index, line) in readable.iter().enumerate() {
            if let Some(line) = parse_line(&mut violations, &format!("lines[{index}]"), line) {
                lines.push(line);
            }
        }
        // Balance is judged once every line parsed and there are at least two of them.
        if lines.len() == readable.len()
            && lines.len() >= 2
            && let Some(why) = imbalance(&lines)
        {
            violations.add("lines", why);
        }
        violations.finish()?;
        let Some(date) = date else {
            return Err(unrecorded_violation());
        };
        Ok(NewJournal {
            idempotency_key,
            date,
            description,
            lines,
        })
    }

    pub fn to_request(&self) -> PostJournalRequest {
        PostJournalRequest {
            idempotency_key: self.idempotency_key.clone(),
            journal_date: self.date.to_string(),
            description: self.description.clone(),
            lines: self.lines.iter().map(LedgerLine::to_proto).collect(),
        }
    }
}

fn given(money: Option<&keel_proto::common::Money>) -> bool {
    money.is_some_and(|m| !m.amount.trim().is_empty() || !m.currency.trim().is_empty())
}

fn parse_line(violations: &mut Violations, field: &str, line: &JournalLine) -> Option<LedgerLine> {
    let legal_entity = legal_entity(violations, &format!("{field}.legal_entity"), &line.legal_entity);
    let account_code = check(
        violations,
        &format!("{field}.account_code"),
        AccountCode::parse(&line.account_code),
    );
    let cost_center = if line.cost_center.trim().is_empty() {
        Some(None)
    } else {
        check(
            violations,
            &format!("{field}.cost_center"),
            CostCenterCode::parse(&line.cost_center),
        )
        .map(Some)
    };
    let project_code = if line.project_code.trim().is_empty() {
        Some(None)
    } else {
        project_code(violations, &format!("{field}.project_code"), &line.project_code).map(Some)
    };
    let memo = violations.optional_text(&format!("{field}.memo"), &line.memo);
    let side_and_amount = match (given(line.debit.as_ref()), given(line.credit.as_ref())) {
        (true, false) => {
            positive_money(violations, &format!("{field}.debit"), line.debit.as_ref()).map(|m| (Side::Debit, m))
        }
        (false, true) => {
            positive_money(violations, &format!("{field}.credit"), line.credit.as_ref()).map(|m| (Side::Credit, m))
        }
        (true, true) => {
            violations.add(field, "give either debit or credit, not both");
            None
        }
        (false, false) => {
            violations.add(field, "give a debit or a credit");
            None
        }
    };
    let (legal_entity, account_code, cost_center, project_code, (side, amount)) = (
        legal_entity?,
        account_code?,
        cost_center?,
        project_code?,
        side_and_amount?,
    );
    Some(LedgerLine {
        legal_entity,
        account_code,
        cost_center,
        project_code,
        side,
        amount,
        memo,
    })
}

/// A checked `ReverseJournalRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalReversal {
    pub idempotency_key: String,
    pub journal_id: Uuid,
    pub date: NaiveDate,
}

impl JournalReversal {
    pub fn parse(request: &ReverseJournalRequest) -> Result<JournalReversal, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let journal_id = violations.uuid("journal_id", &request.journal_id);
        let date = violations.date("journal_date", &request.journal_date);
        violations.finish()?;
        let (Some(journal_id), Some(date)) = (journal_id, date) else {
            return Err(unrecorded_violation());
        };
        Ok(JournalReversal {
            idempotency_key,
            journal_id,
            date,
        })
    }

    pub fn to_request(&self) -> ReverseJournalRequest {
        ReverseJournalRequest {
            idempotency_key: self.idempotency_key.clone(),
            journal_id: self.journal_id.to_string(),
            journal_date: self.date.to_string(),
        }
    }
}

/// Optional filters of a journal list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JournalFilter {
    pub legal_entity: Option<LegalEntity>,
    pub project_code: Option<ProjectCodeNumber>,
}

impl JournalFilter {
    pub fn parse(legal_entity_value: &str, project_code_value: &str) -> Result<JournalFilter, Error> {
        let mut violations = Violations::new();
        let legal_entity = if legal_entity_value.trim().is_empty() {
            None
        } else {
            legal_entity(&mut violations, "legal_entity", legal_entity_value)
        };
        let project_code = if project_code_value.trim().is_empty() {
            None
        } else {
            project_code(&mut violations, "project_code", project_code_value)
        };
        violations.finish()?;
        Ok(JournalFilter {
            legal_entity,
            project_code,
        })
    }
}

/// A required legal entity code alone (`GetLegalEntity`, `ListAccounts`, `GetTrialBalance`).
pub fn required_legal_entity(field: &str, value: &str) -> Result<LegalEntity, Error> {
    LegalEntity::parse(value).map_err(|description| Error::invalid(field, description))
}

/// A required id alone.
pub fn required_id(field: &str, value: &str) -> Result<Uuid, Error> {
    let mut violations = Violations::new();
    let id = violations.uuid(field, value);
    violations.finish()?;
    id.ok_or_else(unrecorded_violation)
}

/// A decimal percentage from 0 to 100.
pub fn percent(violations: &mut Violations, field: &str, value: &str) -> Option<Decimal> {
    if value.trim().is_empty() {
        violations.add(field, "is required (a percentage from 0 to 100, such as 37.5)");
        return None;
    }
    let percent = violations.non_negative_decimal(field, value)?;
    if percent > Decimal::ONE_HUNDRED {
        violations.add(field, "must be at most 100");
        return None;
    }
    let mut percent = percent.normalize();
    percent.set_sign_positive(true);
    Some(percent)
}
