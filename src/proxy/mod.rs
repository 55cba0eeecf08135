//! The decide stage both protocol engines share: routing, access rules, rate limits, backend
//! selection and retry rules, as plain functions of the snapshot and the request's facts.

pub mod access;
pub mod client_ip;
pub mod decide;
pub mod headers;
pub mod path;
pub mod retry;
pub mod retry_budget;
pub mod select;
