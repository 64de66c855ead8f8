//! End-to-end tests of the `s3` cache: the real `qik` binary against a real
//! S3-compatible server (`s3s-fs`, installed on first use) on loopback, with
//! a fault-injecting proxy in between where a test needs one.

mod config;
mod faults;
mod integrity;
mod round_trip;
mod scale;
mod support;
