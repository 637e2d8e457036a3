//! Dokku: typed command lines and parsers for what Dokku prints.
//!
//! [`command`] builds every command roomctl sends; [`envfile`] models the
//! ENV file Dokku keeps per app; [`observe`] reads the raw Dokku files that
//! roomctl's plugin prints for every app in one pass; [`parse`] turns Dokku
//! 0.38 output (as recorded in `tests/fixtures/dokku-transcripts/`) into
//! typed facts. Neither does I/O.

pub mod command;
pub mod envfile;
pub mod observe;
pub mod parse;

pub use command::{CommandLine, Token, TokenError};
