//! What every role view of Keel's GraphQL gateway shares.
//!
//! - [`Downstream`]: the verified caller of one GraphQL request and the calls made on their
//!   behalf: each carries the caller's token and a deadline, and is counted in the request's
//!   [`BackendCalls`], so a test (and the gateway's `extensions.backendCalls`) can see that a
//!   view makes at most one call per service and kind of lookup.
//! - [`paging`]: `first`/`after` checked and turned into a system API's page request, or into
//!   a page of a list the view computed itself; the [`connection!`] macro declares a page type.
//! - [`Money`]: an exact amount, a decimal string and its currency, as every view shows it.
//! - [`actions`]: a mutation's idempotency key (the client's, or derived from the caller and
//!   the arguments) and its bad input renamed to the GraphQL arguments.
//! - [`FieldPolicy`]: the shape of the role × field table each view exports and the gateway
//!   enforces on every field it resolves.
//!
//! What this crate does not know: any view's types, the gateway's HTTP side, or any database.

#![forbid(unsafe_code)]

pub mod actions;
mod calls;
mod downstream;
mod money;
pub mod paging;
mod policy;
mod poll;

pub use calls::{BackendCalls, RequestMemo};
pub use downstream::Downstream;
pub use money::{Money, non_empty};
pub use policy::FieldPolicy;
pub use poll::poll_stream;
