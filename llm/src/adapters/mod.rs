//! Provider adapters. Each adapter owns its vendor's wire types privately; only the types of
//! [`crate::types`] leave it.

pub mod anthropic;
pub mod gemini;
#[cfg(feature = "local")]
pub mod local;
pub mod openai;
pub mod scripted;
