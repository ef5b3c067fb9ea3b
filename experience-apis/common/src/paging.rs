//! Cursor paging: every list a view serves takes `first` (1 to [`MAX_PAGE_SIZE`]) and
//! `after` (the previous page's `nextCursor`).
//!
//! A list a system or process API pages itself is read with [`page_request`], and a paging
//! error that API returns is renamed to the caller's arguments by [`rename_paging_fields`]. A
//! list the view computes itself (figures by person, by week) is paged with [`page_of`], whose
//! cursors are opaque, URL-safe keys of the last item read. A view that needs a whole list a
//! backend pages (every project, every person) reads it with [`every_page`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keel_core::Error;
use keel_proto::common::PageRequest;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{ListProjectsRequest, Project};
use std::sync::Arc;
use tonic::transport::Channel;

use crate::Downstream;

/// The most backend pages of a hundred [`every_page`] follows before it refuses rather than
/// read without bound.
pub const MAX_PAGES: usize = 100;

/// Reads every page of a backend's list through `read`, which answers one page's items and
/// the next token (empty on the last); refuses as `UNAVAILABLE`, naming `what`, past
/// [`MAX_PAGES`].
pub async fn every_page<T, F, Fut>(what: &str, mut read: F) -> Result<Vec<T>, Error>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), Error>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    for _ in 0..MAX_PAGES {
        let (page, next) = read(token).await?;
        items.extend(page);
        if next.is_empty() {
            return Ok(items);
        }
        token = next;
    }
    Err(Error::Unavailable(format!(
        "{what} holds more than {} records, more than this view reads at once",
        MAX_PAGES * MAX_PAGE_SIZE as usize
    )))
}

/// The request for one page of a whole-list read: [`MAX_PAGE_SIZE`] items after `token`.
pub fn whole_page(token: String) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: MAX_PAGE_SIZE as u32,
        page_token: token,
    })
}

/// Every PSA project, a hundred a call, read once per request whichever resolver (or view)
/// asks; counted as `PSA ListProjects`.
pub async fn every_psa_project(
    downstream: &Downstream,
    psa: &PsaServiceClient<Channel>,
) -> Result<Arc<Vec<Project>>, Error> {
    downstream
        .once("PSA ListProjects every", || async {
            let projects = every_page("PSA's projects", |token| async move {
                let request = downstream.request(ListProjectsRequest {
                    page: whole_page(token),
                })?;
                let answer = downstream
                    .call("PSA ListProjects", psa.clone().list_projects(request))
                    .await?;
                Ok((
                    answer.projects,
                    answer.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            })
            .await?;
            Ok(Arc::new(projects))
        })
        .await
}

/// Items per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// The most items one page may hold.
pub const MAX_PAGE_SIZE: i32 = 100;

/// Declares a page type: `nodes` and `nextCursor`.
///
/// ```ignore
/// keel_experience_common::connection!(
///     /// A page of projects.
///     ProjectConnection, Project
/// );
/// ```
#[macro_export]
macro_rules! connection {
    ($(#[$meta:meta])* $name:ident, $node:ty) => {
        $(#[$meta])*
        #[derive(async_graphql::SimpleObject, Clone, Debug)]
        pub struct $name {
            /// The items of this page.
            pub nodes: Vec<$node>,
            /// Pass as `after` to read the next page; null on the last page.
            pub next_cursor: Option<String>,
        }
    };
}

/// `first` as a page size, or bad input naming `first`.
pub fn page_size(first: i32) -> Result<u32, Error> {
    match u32::try_from(first) {
        Ok(size) if (1..=MAX_PAGE_SIZE as u32).contains(&size) => Ok(size),
        _ => Err(Error::invalid(
            "first",
            format!("must be between 1 and {MAX_PAGE_SIZE}, got {first}"),
        )),
    }
}

/// A system or process API's page request for `first` and `after`.
pub fn page_request(first: i32, after: Option<String>) -> Result<PageRequest, Error> {
    Ok(PageRequest {
        page_size: page_size(first)?,
        page_token: after.unwrap_or_default(),
    })
}

/// The next page's cursor from an API's page response: `None` on the last page.
pub fn next_cursor(page: Option<keel_proto::common::PageResponse>) -> Option<String> {
    page.map(|p| p.next_page_token).filter(|token| !token.is_empty())
}

/// Renames the paging fields an API rejected to the arguments the caller passed.
pub fn rename_paging_fields(error: Error) -> Error {
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                match violation.field.as_str() {
                    "page.page_token" | "page_token" => violation.field = "after".into(),
                    "page.page_size" | "page_size" => violation.field = "first".into(),
                    _ => {}
                }
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

/// One page of a list the view computed itself: the items whose key sorts after the `after`
/// cursor, `first` of them, in key order, and the cursor of the next page (`None` on the
/// last). Keys must be unique; the cursor is the last item's key, so a page stays correct when
/// items before it come or go.
pub fn page_of<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    first: i32,
    after: Option<&str>,
) -> Result<(Vec<T>, Option<String>), Error> {
    let size = page_size(first)? as usize;
    let after = after.map(decode_cursor).transpose()?;
    items.sort_by_key(|item| key(item));
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|after| key(item) > *after))
        .take(size + 1)
        .collect();
    let more = page.len() > size;
    page.truncate(size);
    let next = if more {
        page.last().map(|item| URL_SAFE_NO_PAD.encode(key(item)))
    } else {
        None
    };
    Ok((page, next))
}

fn decode_cursor(cursor: &str) -> Result<String, Error> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Error::invalid("after", "is not a cursor this list returned"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_outside_one_to_a_hundred_name_first() {
        for (first, ok) in [
            (1, true),
            (50, true),
            (100, true),
            (0, false),
            (-1, false),
            (101, false),
        ] {
            match page_size(first) {
                Ok(size) => assert!(ok && size == first as u32, "{first}"),
                Err(error) => {
                    assert!(!ok, "{first}");
                    assert_eq!(error.field_violations()[0].field, "first");
                }
            }
        }
    }

    #[test]
    fn a_rejected_page_token_names_after() {
        let error = rename_paging_fields(Error::invalid("page.page_token", "is not a token this service issued"));
        assert_eq!(error.field_violations()[0].field, "after");
        let error = rename_paging_fields(Error::invalid("name", "must not be empty"));
        assert_eq!(error.field_violations()[0].field, "name");
    }

    #[test]
    fn computed_lists_page_in_key_order_to_the_end_without_repeats() {
        let items: Vec<u32> = (0..25).rev().collect();
        let key = |n: &u32| format!("{n:04}");
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = page_of(items.clone(), key, 10, after.as_deref()).unwrap();
            assert!(page.len() <= 10);
            seen.extend(page);
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn a_cursor_stays_right_when_earlier_items_go_and_a_forged_one_names_after() {
        let (_, next) = page_of(vec![1, 2, 3, 4], |n| n.to_string(), 2, None).unwrap();
        let (page, next) = page_of(vec![2, 3, 4], |n| n.to_string(), 2, next.as_deref()).unwrap();
        assert_eq!(page, vec![3, 4]);
        assert_eq!(next, None);
        let error = page_of(vec![1], |n| n.to_string(), 2, Some("%%%")).unwrap_err();
        assert_eq!(error.field_violations()[0].field, "after");
    }
}
