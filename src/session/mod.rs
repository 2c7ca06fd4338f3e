//! Everything a run does besides computing: recordings and their file
//! format ([`record`]), replaying them ([`replay`]), scripted scenarios
//! ([`scenario`]), asciicasts ([`cast`]), injected slow subscribers
//! ([`slow`]) and the headless JSON [`summary`].

pub mod cast;
pub mod record;
pub mod replay;
pub mod scenario;
pub mod slow;
pub mod summary;
