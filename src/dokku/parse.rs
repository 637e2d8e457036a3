//! Parsers for Dokku output (in progress).
