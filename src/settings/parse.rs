//! The parsers of settings written as text, shared by the flags and the accounts file, and
//! the way values are shown back in messages.

use std::time::Duration;

use reqwest::Url;

use super::MAX_NAME_LEN;
use super::MAX_STATUS_LEN;

/// A duration as written in flags (`5m`, `1h 30m`).
pub(crate) fn show_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A byte count as written in flags: `16MiB` when it is a whole number of a binary unit,
/// else in bytes.
pub(crate) fn show_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// Parses a duration (`30s`, `5m`, `1h30m`); values too large for any bound are refused by
/// [`super::Settings::validate`], never overflow.
///
/// # Errors
/// The parser's message with examples.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{e} (examples: 30s, 5m, 1h30m)"))
}

/// Parses a size (`512KiB`, `16MiB`, `2MB`).
///
/// # Errors
/// The parser's message with examples.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text.trim()).map_err(|e| format!("{e} (examples: 512KiB, 16MiB)"))
}

/// Parses an API root: http or https, a host, no query, fragment or credentials.
///
/// # Errors
/// What is wrong with it.
pub(crate) fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: the scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(format!("{text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment: the exporter adds the key itself".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(url)
}

/// Parses one host name of `--smartlead.allowed-hosts` into the form [`Url::host_str`] gives
/// (lower case, IDNA, IPv6 in brackets).
///
/// # Errors
/// Why it is not a bare host name.
pub(crate) fn parse_host(text: &str) -> Result<String, String> {
    let text = text.trim();
    let invalid = || format!("{text:?} is not a host name (give it without scheme or port)");
    if text.is_empty() || text.contains(['/', '@', '?', '#']) {
        return Err(invalid());
    }
    let url = Url::parse(&format!("http://{text}/")).map_err(|_| invalid())?;
    if url.port().is_some() {
        return Err(invalid());
    }
    url.host_str().map(str::to_owned).ok_or_else(invalid)
}

/// Parses a comma-separated list of host names.
///
/// # Errors
/// The first entry that is not a host name, or an empty list.
pub(crate) fn parse_hosts(text: &str) -> Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    for entry in text.split(',') {
        let host = parse_host(entry)?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

/// Whether `url`'s host is one of `allowed`.
///
/// # Errors
/// Why not, naming the host and the flag that lists the allowed ones.
pub(crate) fn check_host(url: &Url, allowed: &[String]) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    if allowed.iter().any(|a| a == host) {
        return Ok(());
    }
    Err(format!(
        "the host {host:?} is not one of --smartlead.allowed-hosts ({}): the key is sent only \
         to the hosts listed there",
        allowed.join(",")
    ))
}

/// Checks one campaign status and returns it in upper case: letters and `_`, as SmartLead
/// writes them (`ACTIVE`, `PAUSED`).
///
/// # Errors
/// Why the token is refused.
pub(crate) fn parse_status(token: &str) -> Result<String, String> {
    let status = token.trim().to_ascii_uppercase();
    if status.is_empty() {
        return Err("an empty status (two commas in a row, or one at an end?)".into());
    }
    if status.len() > MAX_STATUS_LEN || !status.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    {
        return Err(format!(
            "{token:?} is not a campaign status: letters and '_', at most {MAX_STATUS_LEN} \
             (e.g. ACTIVE, PAUSED)"
        ));
    }
    Ok(status)
}

/// Parses `--collector.campaigns.statuses`: a comma-separated list of statuses.
///
/// # Errors
/// The first malformed status.
pub(crate) fn parse_statuses(text: &str) -> Result<Vec<String>, String> {
    let mut statuses = Vec::new();
    for token in text.split(',') {
        let status = parse_status(token)?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

/// Checks an account name: `[a-z0-9_-]{1,63}`, since it becomes the `account` label and part
/// of Kubernetes object names in the chart.
///
/// # Errors
/// Why the name is refused.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{name:?}: a name has 1 to {MAX_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(format!(
            "{name:?}: {bad:?} is not allowed; use lower-case letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_hosts_parse() {
        assert_eq!(
            parse_statuses(" active,PAUSED ,active").unwrap(),
            ["ACTIVE", "PAUSED"]
        );
        for bad in [
            "",
            "ACTIVE,",
            "ACTIVE,,PAUSED",
            "ACT IVE",
            "ACTIVE;PAUSED",
            "É",
        ] {
            assert!(parse_statuses(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_hosts("Server.SmartLead.ai, 127.0.0.1,[::1]").unwrap(),
            ["server.smartlead.ai", "127.0.0.1", "[::1]"]
        );
        for bad in ["", "https://x", "x:443", "x/y", "a b", "u@x"] {
            assert!(parse_hosts(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_label_safe() {
        assert!(check_name("acme-corp_2").is_ok());
        for bad in ["", "ACME", "a b", "é", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
