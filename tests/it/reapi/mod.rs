//! The `reapi` cache: the real `qik` against a real REAPI server (BuildGrid,
//! cache-only) on loopback.

mod casd;
mod config;
mod distribute;
mod execute;
mod faults;
mod grid;
mod round_trip;
mod scale;
mod secrets;
mod server;
mod streams;
mod support;
mod tls;
