//! qik.pygraph engine tests: the semantics document item by item on small
//! fixtures, bad input, the cache, lock and check. (The comparisons with
//! Python's `ast` and with grimp on real packages need installed tools and
//! live with the end-to-end tests, in `tests/it/pygraph/`.)

mod bad_input;
mod cache;
mod lock_check;
mod semantics;
mod support;
