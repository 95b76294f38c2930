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

pub mod accept_encoding;
pub mod config;
pub mod conn_limit;
pub mod handler;
pub mod landing;
pub mod server;

pub use config::{WebConfig, WebConfigError, WebSecurity};
pub use conn_limit::{connection_cap, fd_limit, raise_fd_limit, FdLimit, MAX_CONNECTIONS};
pub use landing::{Landing, Page};
pub use server::{bind, serve, serve_health};
