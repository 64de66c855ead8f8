//! The `s3` cache: the real `qik` against a real S3-compatible server
//! (`s3s-fs`) on loopback, with a fault-injecting proxy in between where a
//! test needs one.

mod config;
mod faults;
mod integrity;
mod proxy;
mod round_trip;
mod scale;
mod server;
mod support;
