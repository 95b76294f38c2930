//! The web layer: everything between a TCP connection and the exposition.
//!
//! - [`server`]: the accept loop, each connection's task and its timeouts, graceful shutdown;
//!   [`serve`] for the main listener, [`serve_health`] for `--web.health-listen-address`.
//! - [`conn_limit`]: the connection cap, which connection makes room for a new one, when a
//!   response has stopped moving, and the file-descriptor budget.
//! - [`handler`]: the routes (`/metrics`, `/`, `/-/healthy`, `/-/ready`) and the response body.
//! - [`accept_encoding`]: whether a request's `Accept-Encoding` asks for gzip, q-values honoured.
//! - [`landing`]: the page on `/`, every account's state in words.
//! - [`config`]: `--web.config.file` (exporter-toolkit format): TLS, basic auth, rate limit,
//!   extra headers, reloaded when the files change.

mod accept_encoding;
mod config;
mod conn_limit;
mod handler;
mod landing;
mod server;

pub use config::{WebConfig, WebSecurity};
pub use conn_limit::{raise_fd_limit, MAX_CONNECTIONS};
pub use landing::{Landing, Page};
pub use server::{bind, serve, serve_health};
