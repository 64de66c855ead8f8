//! The `s3` cache: the real `qik` against a real S3-compatible server
//! (`s3s-fs`) on loopback, with a fault-injecting proxy in between where a
//! test needs one; moto for STS, bucket policies and TLS, and a metadata
//! server of our own for the credential chain.

mod config;
mod credentials;
mod faults;
mod integrity;
mod metadata;
mod moto;
mod proxy;
mod round_trip;
mod scale;
mod server;
mod support;
