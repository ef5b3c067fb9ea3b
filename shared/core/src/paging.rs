//! Paging for list calls: a bounded page size and an opaque token.
//!
//! The token encodes the last id of the previous page (keyset paging over UUIDv7 ids), so
//! pages stay stable while records are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::Error;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Larger requests are served this many records, with a token for the rest.
pub const MAX_PAGE_SIZE: u64 = 100;

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub size: u64,
    /// List records with ids strictly after this one.
    pub after: Option<Uuid>,
}

impl Page {
    /// Parses size and token. Zero means the default; above the maximum is capped to it.
    pub fn parse(page_size: u32, page_token: &str) -> Result<Page, Error> {
        let size = match u64::from(page_size) {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let bytes = URL_SAFE_NO_PAD
                .decode(page_token)
                .map_err(|_| Error::invalid("page.page_token", "is not a token this service issued"))?;
            Some(
                Uuid::from_slice(&bytes)
                    .map_err(|_| Error::invalid("page.page_token", "is not a token this service issued"))?,
            )
        };
        Ok(Page { size, after })
    }

    pub fn from_proto(page: Option<&keel_proto::common::PageRequest>) -> Result<Page, Error> {
        match page {
            Some(p) => Page::parse(p.page_size, &p.page_token),
            None => Page::parse(0, ""),
        }
    }

    /// The token for the page after one whose last id is `last`, if the page was full.
    pub fn next_token(&self, returned: usize, last: Option<Uuid>) -> String {
        match last {
            Some(id) if returned as u64 == self.size => URL_SAFE_NO_PAD.encode(id.as_bytes()),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_bad_tokens_name_the_field() {
        let id = Uuid::now_v7();
        let page = Page::parse(2, "").unwrap();
        let token = page.next_token(2, Some(id));
        assert_eq!(Page::parse(2, &token).unwrap().after, Some(id));
        assert_eq!(page.next_token(1, Some(id)), "");
        let err = Page::parse(10, "%%%").unwrap_err();
        assert_eq!(err.field_violations()[0].field, "page.page_token");
        assert_eq!(Page::parse(0, "").unwrap().size, 50);
        assert_eq!(Page::parse(101, "").unwrap().size, 100);
        assert_eq!(Page::parse(u32::MAX, "").unwrap().size, 100);
    }
}
