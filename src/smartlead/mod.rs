//! Everything that speaks SmartLead: the API key, the response model and the HTTP client.

pub mod client;
pub mod key;
pub mod model;
