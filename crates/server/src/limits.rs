//! Limits on the request head, answered in the error envelope (the request log checks every
//! head): a URI over 8 KiB is a 414, headers over 16 KiB in all or more than 100 of them a
//! 431, a declared body over 64 KiB a 413 — at once, before anything reads the body, so a client that sent `Expect:
//! 100-continue` is told 413 instead of being invited to send it.
//!
//! hyper refuses heads over its own read buffer (about 400 KiB) or with more headers than
//! [`HYPER_MAX_HEADERS`] before any of this runs, with a bodiless 431; these limits sit far
//! below that, so every client that a real limit stops reads why.

/// Longest accepted path and query, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest accepted sum of header names and values, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most headers a request may have.
pub const MAX_HEADERS: usize = 100;
/// How many headers hyper itself parses before it refuses the head (bodiless); far above
/// [`MAX_HEADERS`], and within [`MAX_HEADER_BYTES`]'s reach of its read buffer.
pub const HYPER_MAX_HEADERS: usize = 4096;
/// Largest accepted request body (SPEC §3). Bigger is a 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
