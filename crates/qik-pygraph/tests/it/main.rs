//! qik.pygraph engine tests: the semantics document item by item on small
//! fixtures, bad input, the cache, lock and check, and the graph of real
//! packages compared with grimp's.

mod ast_parity;
mod bad_input;
mod cache;
mod grimp;
mod lock_check;
mod semantics;
mod support;
