//! The reference ledger: legal entities (each seeded with the default chart), exchange rates,
//! accounts, cost centers, journals and the trial balance.
//!
//! Every journal, whoever posts it (a caller, a time posting, an invoice, revenue
//! recognition), goes through [`insert_journal`], which refuses lines that do not balance per
//! legal entity and currency, or that name an account, cost center, legal entity or project
//! code the ledger does not hold.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use keel_core::paging::Page;
use keel_core::time::audit_info;
use keel_core::{Currency, Error, Money, Violations};
use keel_proto::common::PageResponse;
use keel_proto::erp::{
    Account, AccountType, ConvertAmountResponse, CostCenter, CurrencyTotals, ExchangeRate, Journal, JournalPosted,
    LegalEntity as LegalEntityRecord, LegalEntityChanged, ListAccountsResponse, ListJournalsResponse,
    ListLegalEntitiesResponse, TrialBalance, TrialBalanceLine,
};
use keel_store::audit::{self, AuditEntry};
use keel_store::{db_error, is_unique_violation};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ExprTrait, Query};
use sea_orm::{DatabaseConnection, DatabaseTransaction, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::entities::project_code;
use super::ledger_entities::{account, cost_center, exchange_rate, journal, journal_line, legal_entity};
use super::{emit, next_number, now, stored_currency};
use crate::domain::LegalEntity;
use crate::domain::ledger::{
    AccountKind, Conversion, DEFAULT_CHART, JournalFilter, JournalReversal, LedgerLine, LegalEntityUpdate, NewAccount,
    NewCostCenter, NewExchangeRate, Side, convert, convert_inverse, imbalance,
};

const JOURNAL_SEQUENCE: &str = "journal";
const SIDE_DEBIT: &str = "debit";
const SIDE_CREDIT: &str = "credit";

/// A journal about to be posted.
#[derive(Debug, Clone)]
pub(super) struct JournalDraft {
    pub date: NaiveDate,
    pub description: String,
    /// `manual`, `time:<id>`, `invoice:<number>`, ...
    pub source: String,
    pub reverses: Option<String>,
    pub lines: Vec<LedgerLine>,
}

fn parse_uuid(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(Error::internal)
}

fn page_response(page: &Page, returned: usize, last: Option<&str>) -> Result<Option<PageResponse>, Error> {
    let last = last.map(parse_uuid).transpose()?;
    Ok(Some(PageResponse {
        next_page_token: page.next_token(returned, last),
    }))
}

// ---- legal entities ----

pub(super) fn legal_entity_to_proto(row: &legal_entity::Model) -> LegalEntityRecord {
    LegalEntityRecord {
        code: row.code.clone(),
        name: row.name.clone(),
        functional_currency: row.functional_currency.clone(),
        country: row.country.clone(),
        version: row.version,
        audit: Some(audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    }
}

pub(super) async fn find_legal_entity<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Option<legal_entity::Model>, Error> {
    legal_entity::Entity::find()
        .filter(legal_entity::Column::Code.eq(code))
        .one(db)
        .await
        .map_err(db_error)
}

pub(super) async fn require_legal_entity<C: ConnectionTrait>(db: &C, code: &str) -> Result<legal_entity::Model, Error> {
    find_legal_entity(db, code)
        .await?
        .ok_or_else(|| Error::not_found("legal entity", code))
}

pub(super) async fn create_legal_entity(
    txn: &DatabaseTransaction,
    actor: &str,
    new: &crate::domain::ledger::NewLegalEntity,
) -> Result<LegalEntityRecord, Error> {
    let exists = || Error::AlreadyExists(format!("legal entity {} already exists", new.code));
    if find_legal_entity(txn, new.code.as_str()).await?.is_some() {
        return Err(exists());
    }
    let at = now();
    let row = legal_entity::Model {
        id: keel_core::ids::new_id().to_string(),
        code: new.code.to_string(),
        name: new.name.clone(),
        functional_currency: new.functional_currency.code().to_string(),
        country: new.country.clone(),
        version: 1,
        created_at: at,
        created_by: actor.to_string(),
        updated_at: at,
        updated_by: actor.to_string(),
    };
    match legal_entity::Entity::insert(legal_entity::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(exists()),
        Err(e) => return Err(db_error(e)),
    }
    let chart = DEFAULT_CHART.iter().map(|(code, name, kind)| {
        account::ActiveModel::from(account::Model {
            id: keel_core::ids::new_id().to_string(),
            legal_entity: row.code.clone(),
            code: (*code).to_string(),
            name: (*name).to_string(),
            kind: kind.as_str().to_string(),
            version: 1,
            created_at: at,
            created_by: actor.to_string(),
        })
    });
    account::Entity::insert_many(chart).exec(txn).await.map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "legal_entity",
            record_id: &row.id,
            action: "created",
            detail: json!({
                "code": row.code,
                "name": row.name,
                "functional_currency": row.functional_currency,
                "country": row.country,
                "seeded_accounts": DEFAULT_CHART.iter().map(|(code, _, _)| *code).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    let record = legal_entity_to_proto(&row);
    emit(
        txn,
        "erp.legal_entity.created",
        &row.id,
        &LegalEntityChanged {
            legal_entity: Some(record.clone()),
        },
    )
    .await?;
    Ok(record)
}

pub(super) async fn list_legal_entities(
    db: &DatabaseConnection,
    page: Page,
) -> Result<ListLegalEntitiesResponse, Error> {
    let mut query = legal_entity::Entity::find();
    if let Some(after) = page.after {
        query = query.filter(legal_entity::Column::Id.gt(after.to_string()));
    }
    let rows = query
        .order_by_asc(legal_entity::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(ListLegalEntitiesResponse {
        legal_entities: rows.iter().map(legal_entity_to_proto).collect(),
        page: page_response(&page, rows.len(), rows.last().map(|r| r.id.as_str()))?,
    })
}

pub(super) async fn update_legal_entity(
    txn: &DatabaseTransaction,
    actor: &str,
    update: &LegalEntityUpdate,
) -> Result<LegalEntityRecord, Error> {
    let before = require_legal_entity(txn, update.code.as_str()).await?;
    let at = now();
    let changed = legal_entity::Entity::update_many()
        .col_expr(legal_entity::Column::Name, Expr::value(update.name.clone()))
        .col_expr(
            legal_entity::Column::Version,
            Expr::col(legal_entity::Column::Version).add(1),
        )
        .col_expr(legal_entity::Column::UpdatedAt, Expr::value(at))
        .col_expr(legal_entity::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(legal_entity::Column::Id.eq(before.id.as_str()))
        .filter(legal_entity::Column::Version.eq(update.expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if changed.rows_affected != 1 {
        let actual = require_legal_entity(txn, update.code.as_str()).await?.version;
        return Err(Error::stale(
            "legal entity",
            update.code.as_str(),
            update.expected_version,
            actual,
        ));
    }
    let after = require_legal_entity(txn, update.code.as_str()).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "legal_entity",
            record_id: &after.id,
            action: "updated",
            detail: json!({
                "before": { "name": before.name, "version": before.version },
                "after": { "name": after.name, "version": after.version },
            }),
        },
    )
    .await?;
    let record = legal_entity_to_proto(&after);
    emit(
        txn,
        "erp.legal_entity.updated",
        &after.id,
        &LegalEntityChanged {
            legal_entity: Some(record.clone()),
        },
    )
    .await?;
    Ok(record)
}

// ---- exchange rates ----

fn rate_to_proto(row: &exchange_rate::Model) -> ExchangeRate {
    ExchangeRate {
        from_currency: row.from_currency.clone(),
        to_currency: row.to_currency.clone(),
        rate_date: row.rate_date.clone(),
        rate: row.rate.clone(),
        version: row.version,
    }
}

pub(super) async fn set_exchange_rate(
    txn: &DatabaseTransaction,
    actor: &str,
    new: &NewExchangeRate,
) -> Result<ExchangeRate, Error> {
    let row = exchange_rate::Model {
        id: keel_core::ids::new_id().to_string(),
        from_currency: new.from.code().to_string(),
        to_currency: new.to.code().to_string(),
        rate_date: new.date.to_string(),
        rate: new.rate.to_string(),
        version: 1,
        created_at: now(),
        created_by: actor.to_string(),
    };
    match exchange_rate::Entity::insert(exchange_rate::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::AlreadyExists(format!(
                "a {}/{} rate for {} already exists",
                row.from_currency, row.to_currency, row.rate_date
            )));
        }
        Err(e) => return Err(db_error(e)),
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "exchange_rate",
            record_id: &row.id,
            action: "set",
            detail: json!({ "from": row.from_currency, "to": row.to_currency, "date": row.rate_date, "rate": row.rate }),
        },
    )
    .await?;
    let rate = rate_to_proto(&row);
    emit(txn, "erp.exchange_rate.set", &row.id, &rate).await?;
    Ok(rate)
}

async fn latest_rate(
    db: &DatabaseConnection,
    from: Currency,
    to: Currency,
    on: NaiveDate,
) -> Result<Option<exchange_rate::Model>, Error> {
    exchange_rate::Entity::find()
        .filter(exchange_rate::Column::FromCurrency.eq(from.code()))
        .filter(exchange_rate::Column::ToCurrency.eq(to.code()))
        .filter(exchange_rate::Column::RateDate.lte(on.to_string()))
        .order_by_desc(exchange_rate::Column::RateDate)
        .one(db)
        .await
        .map_err(db_error)
}

/// Converts with the latest direct rate on or before the date, else the inverse of the latest
/// opposite rate; rounded half-even to the target's minor unit either way.
pub(super) async fn convert_amount(
    db: &DatabaseConnection,
    conversion: &Conversion,
) -> Result<ConvertAmountResponse, Error> {
    let from = conversion.amount.currency();
    if from == conversion.to {
        return Ok(ConvertAmountResponse {
            converted: Some(conversion.amount.to_proto()),
            rate: None,
        });
    }
    let out_of_range = |e: String| Error::invalid("amount.amount", e);
    if let Some(row) = latest_rate(db, from, conversion.to, conversion.on).await? {
        let rate = row.rate.parse().map_err(Error::internal)?;
        let converted = convert(conversion.amount, rate, conversion.to).map_err(out_of_range)?;
        return Ok(ConvertAmountResponse {
            converted: Some(converted.to_proto()),
            rate: Some(rate_to_proto(&row)),
        });
    }
    if let Some(row) = latest_rate(db, conversion.to, from, conversion.on).await? {
        let rate = row.rate.parse().map_err(Error::internal)?;
        let converted = convert_inverse(conversion.amount, rate, conversion.to).map_err(out_of_range)?;
        return Ok(ConvertAmountResponse {
            converted: Some(converted.to_proto()),
            rate: Some(rate_to_proto(&row)),
        });
    }
    Err(Error::not_found(
        "exchange rate",
        format!("{from}/{} on or before {}", conversion.to, conversion.on),
    ))
}

// ---- accounts and cost centers ----

fn account_to_proto(row: &account::Model) -> Account {
    Account {
        id: row.id.clone(),
        legal_entity: row.legal_entity.clone(),
        code: row.code.clone(),
        name: row.name.clone(),
        r#type: AccountKind::from_stored(&row.kind)
            .map(AccountKind::to_proto)
            .unwrap_or(AccountType::Unspecified) as i32,
        version: row.version,
    }
}

pub(super) async fn create_account(txn: &DatabaseTransaction, actor: &str, new: &NewAccount) -> Result<Account, Error> {
    require_legal_entity(txn, new.legal_entity.as_str()).await?;
    let row = account::Model {
        id: keel_core::ids::new_id().to_string(),
        legal_entity: new.legal_entity.to_string(),
        code: new.code.to_string(),
        name: new.name.clone(),
        kind: new.kind.as_str().to_string(),
        version: 1,
        created_at: now(),
        created_by: actor.to_string(),
    };
    match account::Entity::insert(account::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::AlreadyExists(format!(
                "account {} already exists in {}",
                row.code, row.legal_entity
            )));
        }
        Err(e) => return Err(db_error(e)),
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "account",
            record_id: &row.id,
            action: "created",
            detail: json!({ "legal_entity": row.legal_entity, "code": row.code, "name": row.name, "kind": row.kind }),
        },
    )
    .await?;
    let record = account_to_proto(&row);
    emit(txn, "erp.account.created", &row.id, &record).await?;
    Ok(record)
}

pub(super) async fn list_accounts(
    db: &DatabaseConnection,
    entity: &LegalEntity,
    page: Page,
) -> Result<ListAccountsResponse, Error> {
    require_legal_entity(db, entity.as_str()).await?;
    let mut query = account::Entity::find().filter(account::Column::LegalEntity.eq(entity.as_str()));
    if let Some(after) = page.after {
        query = query.filter(account::Column::Id.gt(after.to_string()));
    }
    let rows = query
        .order_by_asc(account::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(ListAccountsResponse {
        accounts: rows.iter().map(account_to_proto).collect(),
        page: page_response(&page, rows.len(), rows.last().map(|r| r.id.as_str()))?,
    })
}

pub(super) async fn create_cost_center(
    txn: &DatabaseTransaction,
    actor: &str,
    new: &NewCostCenter,
) -> Result<CostCenter, Error> {
    require_legal_entity(txn, new.legal_entity.as_str()).await?;
    let row = cost_center::Model {
        id: keel_core::ids::new_id().to_string(),
        legal_entity: new.legal_entity.to_string(),
        code: new.code.to_string(),
        name: new.name.clone(),
        version: 1,
        created_at: now(),
        created_by: actor.to_string(),
    };
    match cost_center::Entity::insert(cost_center::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::AlreadyExists(format!(
                "cost center {} already exists in {}",
                row.code, row.legal_entity
            )));
        }
        Err(e) => return Err(db_error(e)),
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "cost_center",
            record_id: &row.id,
            action: "created",
            detail: json!({ "legal_entity": row.legal_entity, "code": row.code, "name": row.name }),
        },
    )
    .await?;
    let record = CostCenter {
        id: row.id.clone(),
        legal_entity: row.legal_entity.clone(),
        code: row.code.clone(),
        name: row.name.clone(),
        version: row.version,
    };
    emit(txn, "erp.cost_center.created", &row.id, &record).await?;
    Ok(record)
}

// ---- journals ----

/// Checks that every line names records the ledger holds, naming each bad field
/// (`lines[3].account_code`).
async fn check_references(txn: &DatabaseTransaction, lines: &[LedgerLine]) -> Result<(), Error> {
    let entities: Vec<String> = lines
        .iter()
        .map(|l| l.legal_entity.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let known_entities: HashSet<String> = legal_entity::Entity::find()
        .filter(legal_entity::Column::Code.is_in(entities.clone()))
        .all(txn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| row.code)
        .collect();
    let known_accounts: HashSet<(String, String)> = account::Entity::find()
        .filter(account::Column::LegalEntity.is_in(entities.clone()))
        .all(txn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| (row.legal_entity, row.code))
        .collect();
    let known_cost_centers: HashSet<(String, String)> = if lines.iter().any(|l| l.cost_center.is_some()) {
        cost_center::Entity::find()
            .filter(cost_center::Column::LegalEntity.is_in(entities))
            .all(txn)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| (row.legal_entity, row.code))
            .collect()
    } else {
        HashSet::new()
    };
    let codes: Vec<String> = lines
        .iter()
        .filter_map(|l| l.project_code.as_ref().map(ToString::to_string))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let known_codes: HashSet<String> = if codes.is_empty() {
        HashSet::new()
    } else {
        project_code::Entity::find()
            .filter(project_code::Column::Code.is_in(codes))
            .all(txn)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| row.code)
            .collect()
    };
    let mut violations = Violations::new();
    for (index, line) in lines.iter().enumerate() {
        let entity = line.legal_entity.to_string();
        if !known_entities.contains(&entity) {
            violations.add(
                format!("lines[{index}].legal_entity"),
                format!("no legal entity has code {entity}"),
            );
            continue;
        }
        if !known_accounts.contains(&(entity.clone(), line.account_code.to_string())) {
            violations.add(
                format!("lines[{index}].account_code"),
                format!("{entity} has no account {}", line.account_code),
            );
        }
        if let Some(cost_center) = &line.cost_center
            && !known_cost_centers.contains(&(entity.clone(), cost_center.to_string()))
        {
            violations.add(
                format!("lines[{index}].cost_center"),
                format!("{entity} has no cost center {cost_center}"),
            );
        }
        if let Some(code) = &line.project_code
            && !known_codes.contains(code.as_str())
        {
            violations.add(
                format!("lines[{index}].project_code"),
                format!("no project code {code}"),
            );
        }
    }
    violations.finish()
}

/// Posts `draft` in `txn`: checks its balance and references, numbers it, writes it with its
/// audit entry and its `erp.journal.posted` event.
pub(super) async fn insert_journal(
    txn: &DatabaseTransaction,
    actor: &str,
    draft: JournalDraft,
) -> Result<Journal, Error> {
    if draft.lines.len() < 2 {
        return Err(Error::invalid("lines", "a journal needs at least two lines"));
    }
    // Whoever built the lines, an unbalanced journal is never written.
    if let Some(why) = imbalance(&draft.lines) {
        return Err(Error::invalid("lines", why));
    }
    check_references(txn, &draft.lines).await?;
    let number = format!("JE-{:06}", next_number(txn, JOURNAL_SEQUENCE).await?);
    let row = journal::Model {
        id: keel_core::ids::new_id().to_string(),
        number,
        journal_date: draft.date.to_string(),
        description: draft.description,
        source: draft.source,
        reverses_journal_id: draft.reverses,
        version: 1,
        created_at: now(),
        created_by: actor.to_string(),
    };
    journal::Entity::insert(journal::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let mut line_rows = Vec::with_capacity(draft.lines.len());
    for (index, line) in draft.lines.iter().enumerate() {
        line_rows.push(journal_line::Model {
            id: keel_core::ids::new_id().to_string(),
            journal_id: row.id.clone(),
            line_number: i32::try_from(index).map_err(Error::internal)?,
            legal_entity: line.legal_entity.to_string(),
            account_code: line.account_code.to_string(),
            cost_center: line.cost_center.as_ref().map(ToString::to_string),
            project_code: line.project_code.as_ref().map(ToString::to_string),
            side: match line.side {
                Side::Debit => SIDE_DEBIT,
                Side::Credit => SIDE_CREDIT,
            }
            .to_string(),
            amount_minor_units: line.amount.to_minor_units(),
            currency: line.amount.currency().code().to_string(),
            memo: line.memo.clone(),
        });
    }
    journal_line::Entity::insert_many(line_rows.iter().cloned().map(journal_line::ActiveModel::from))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let posted = journal_to_proto(&row, &line_rows)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "journal",
            record_id: &row.id,
            action: "posted",
            detail: json!({
                "number": row.number,
                "date": row.journal_date,
                "source": row.source,
                "lines": posted.lines.iter().map(|l| json!({
                    "legal_entity": l.legal_entity,
                    "account": l.account_code,
                    "debit": l.debit.as_ref().map(|m| format!("{} {}", m.amount, m.currency)),
                    "credit": l.credit.as_ref().map(|m| format!("{} {}", m.amount, m.currency)),
                })).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    emit(
        txn,
        "erp.journal.posted",
        &row.id,
        &JournalPosted {
            journal: Some(posted.clone()),
        },
    )
    .await?;
    Ok(posted)
}

fn line_to_proto(row: &journal_line::Model) -> Result<keel_proto::erp::JournalLine, Error> {
    let amount = Money::from_minor_units(row.amount_minor_units, stored_currency(&row.currency)?).to_proto();
    let (debit, credit) = if row.side == SIDE_DEBIT {
        (Some(amount), None)
    } else {
        (None, Some(amount))
    };
    Ok(keel_proto::erp::JournalLine {
        legal_entity: row.legal_entity.clone(),
        account_code: row.account_code.clone(),
        cost_center: row.cost_center.clone().unwrap_or_default(),
        project_code: row.project_code.clone().unwrap_or_default(),
        debit,
        credit,
        memo: row.memo.clone(),
    })
}

fn journal_to_proto(row: &journal::Model, lines: &[journal_line::Model]) -> Result<Journal, Error> {
    Ok(Journal {
        id: row.id.clone(),
        number: row.number.clone(),
        journal_date: row.journal_date.clone(),
        description: row.description.clone(),
        source: row.source.clone(),
        lines: lines.iter().map(line_to_proto).collect::<Result<_, _>>()?,
        reverses_journal_id: row.reverses_journal_id.clone().unwrap_or_default(),
        version: row.version,
        audit: Some(audit_info(
            row.created_at,
            &row.created_by,
            row.created_at,
            &row.created_by,
        )),
    })
}

async fn lines_of<C: ConnectionTrait>(db: &C, journal_ids: Vec<String>) -> Result<Vec<journal_line::Model>, Error> {
    journal_line::Entity::find()
        .filter(journal_line::Column::JournalId.is_in(journal_ids))
        .order_by_asc(journal_line::Column::JournalId)
        .order_by_asc(journal_line::Column::LineNumber)
        .all(db)
        .await
        .map_err(db_error)
}

pub(super) async fn get_journal<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Journal, Error> {
    let row = journal::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("journal", id.to_string()))?;
    let lines = lines_of(db, vec![row.id.clone()]).await?;
    journal_to_proto(&row, &lines)
}

pub(super) async fn list_journals(
    db: &DatabaseConnection,
    filter: &JournalFilter,
    page: Page,
) -> Result<ListJournalsResponse, Error> {
    let mut query = journal::Entity::find();
    if filter.legal_entity.is_some() || filter.project_code.is_some() {
        let mut lines = Query::select();
        lines.column(journal_line::Column::JournalId).from(journal_line::Entity);
        if let Some(entity) = &filter.legal_entity {
            lines.and_where(journal_line::Column::LegalEntity.eq(entity.as_str()));
        }
        if let Some(code) = &filter.project_code {
            lines.and_where(journal_line::Column::ProjectCode.eq(code.as_str()));
        }
        query = query.filter(Expr::col((journal::Entity, journal::Column::Id)).in_subquery(lines.to_owned()));
    }
    if let Some(after) = page.after {
        query = query.filter(journal::Column::Id.gt(after.to_string()));
    }
    let rows = query
        .order_by_asc(journal::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(db_error)?;
    let lines = lines_of(db, rows.iter().map(|r| r.id.clone()).collect()).await?;
    let mut by_journal: BTreeMap<&str, Vec<journal_line::Model>> = BTreeMap::new();
    for line in &lines {
        by_journal
            .entry(line.journal_id.as_str())
            .or_default()
            .push(line.clone());
    }
    let journals = rows
        .iter()
        .map(|row| {
            journal_to_proto(
                row,
                by_journal.get(row.id.as_str()).map(Vec::as_slice).unwrap_or_default(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListJournalsResponse {
        journals,
        page: page_response(&page, rows.len(), rows.last().map(|r| r.id.as_str()))?,
    })
}

pub(super) async fn reverse_journal(
    txn: &DatabaseTransaction,
    actor: &str,
    reversal: &JournalReversal,
) -> Result<Journal, Error> {
    let original = get_journal(txn, reversal.journal_id).await?;
    if let Some(earlier) = journal::Entity::find()
        .filter(journal::Column::ReversesJournalId.eq(original.id.as_str()))
        .one(txn)
        .await
        .map_err(db_error)?
    {
        return Err(Error::FailedPrecondition(format!(
            "journal {} is already reversed by {}",
            original.number, earlier.number
        )));
    }
    let mut lines = Vec::with_capacity(original.lines.len());
    for stored in &original.lines {
        let (side, money) = match (&stored.debit, &stored.credit) {
            (Some(m), None) => (Side::Debit, m),
            (None, Some(m)) => (Side::Credit, m),
            _ => {
                return Err(Error::internal(format!(
                    "journal {} has a line without one side",
                    original.number
                )));
            }
        };
        let amount =
            Money::from_proto("amount", Some(money)).map_err(|e| Error::internal(format!("stored amount: {e:?}")))?;
        let line = LedgerLine {
            legal_entity: LegalEntity::parse(&stored.legal_entity).map_err(Error::internal)?,
            account_code: crate::domain::ledger::AccountCode::parse(&stored.account_code).map_err(Error::internal)?,
            cost_center: if stored.cost_center.is_empty() {
                None
            } else {
                Some(crate::domain::ledger::CostCenterCode::parse(&stored.cost_center).map_err(Error::internal)?)
            },
            project_code: if stored.project_code.is_empty() {
                None
            } else {
                Some(crate::domain::ProjectCodeNumber::parse(&stored.project_code).map_err(Error::internal)?)
            },
            side,
            amount,
            memo: stored.memo.clone(),
        };
        lines.push(line.reversed());
    }
    insert_journal(
        txn,
        actor,
        JournalDraft {
            date: reversal.date,
            description: format!("Reversal of {}: {}", original.number, original.description),
            source: format!("reversal:{}", original.number),
            reverses: Some(original.id.clone()),
            lines,
        },
    )
    .await
}

/// Debits, credits and balance per account and currency, and debit and credit totals per
/// currency, summed exactly in `i128` minor units.
pub(super) async fn trial_balance(db: &DatabaseConnection, entity: &LegalEntity) -> Result<TrialBalance, Error> {
    require_legal_entity(db, entity.as_str()).await?;
    let accounts: BTreeMap<String, account::Model> = account::Entity::find()
        .filter(account::Column::LegalEntity.eq(entity.as_str()))
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| (row.code.clone(), row))
        .collect();
    let lines = journal_line::Entity::find()
        .filter(journal_line::Column::LegalEntity.eq(entity.as_str()))
        .all(db)
        .await
        .map_err(db_error)?;
    let mut per_account: BTreeMap<(String, String), (i128, i128)> = BTreeMap::new();
    let mut per_currency: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    for line in &lines {
        let minor = i128::from(line.amount_minor_units);
        let account = per_account
            .entry((line.account_code.clone(), line.currency.clone()))
            .or_default();
        let currency = per_currency.entry(line.currency.clone()).or_default();
        if line.side == SIDE_DEBIT {
            account.0 += minor;
            currency.0 += minor;
        } else {
            account.1 += minor;
            currency.1 += minor;
        }
    }
    let money = |minor: i128, currency: &str| -> Result<keel_proto::common::Money, Error> {
        let minor = i64::try_from(minor).map_err(|_| Error::internal("a trial balance total overflows i64"))?;
        Ok(Money::from_minor_units(minor, stored_currency(currency)?).to_proto())
    };
    let mut balance_lines = Vec::with_capacity(per_account.len());
    for ((code, currency), (debits, credits)) in &per_account {
        let account = accounts.get(code);
        balance_lines.push(TrialBalanceLine {
            account_code: code.clone(),
            account_name: account.map(|a| a.name.clone()).unwrap_or_default(),
            account_type: account
                .and_then(|a| AccountKind::from_stored(&a.kind))
                .map(AccountKind::to_proto)
                .unwrap_or(AccountType::Unspecified) as i32,
            debits: Some(money(*debits, currency)?),
            credits: Some(money(*credits, currency)?),
            balance: Some(money(debits - credits, currency)?),
        });
    }
    let totals = per_currency
        .iter()
        .map(|(currency, (debits, credits))| {
            Ok(CurrencyTotals {
                debits: Some(money(*debits, currency)?),
                credits: Some(money(*credits, currency)?),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(TrialBalance {
        legal_entity: entity.to_string(),
        lines: balance_lines,
        totals,
    })
}
