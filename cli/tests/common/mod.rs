//! Helpers shared by the CLI's integration tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses some of them

pub mod anthropic;
pub mod rpc;
