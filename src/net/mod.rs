//! Small network value types used by the config and the request path.

pub mod cidr;
