//! The check the accounts file's text passes before `serde_yaml_ng` sees it.
//!
//! `serde_yaml_ng` loads every event of a document (aliases expanded) before it hands out the
//! first one, and its scanner slows down with the nesting depth; so a small file can cost
//! gigabytes or minutes before any limit of its own applies. [`guard`] walks the text with a
//! pull parser whose cost is linear in the text and stops at the first alias, at a nesting
//! deeper than [`MAX_DEPTH`], past [`MAX_NODES`] nodes or at a syntax error. What it lets
//! through costs the parser time and memory in proportion to its size.

use saphyr_parser::{Event, Parser};

/// The deepest nesting accepted. The file needs four levels (the top, `accounts:`, an account,
/// `collectors:`, a collector); anything deeper is a mistake, and a deep flow sequence is what
/// makes a YAML scanner slow.
pub(crate) const MAX_DEPTH: usize = 16;

/// The most YAML nodes (scalars, sequences, mappings) in one file: what the most accounts
/// need when each sets every setting (about sixty nodes). The parser holds every node in
/// memory at once, about 200 bytes each.
pub(crate) const MAX_NODES: usize = 64 * super::MAX_ACCOUNTS;

/// Refuses, before any parser loads it whole, a text with an alias, a nesting deeper than
/// [`MAX_DEPTH`], more than [`MAX_NODES`] nodes, or a syntax error.
///
/// # Errors
/// What is wrong, and where (line and column).
pub(super) fn guard(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut nodes = 0usize;
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(|e| {
            format!(
                "line {} column {}: not valid YAML: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )
        })?;
        let at = || format!("line {} column {}", span.start.line(), span.start.col() + 1);
        match event {
            Event::Alias(_) => {
                return Err(format!(
                    "{}: YAML aliases (*name) are not accepted in the accounts file, since a \
                     few of them can expand a small file to gigabytes; write the value out, \
                     or put what accounts share under `defaults:`",
                    at()
                ))
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "{}: nested more than {MAX_DEPTH} levels deep; the accounts file needs \
                         five",
                        at()
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        if matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) {
            nodes += 1;
            if nodes > MAX_NODES {
                return Err(format!(
                    "{}: more than {MAX_NODES} YAML values; that is more than {} accounts can \
                     need",
                    at(),
                    super::MAX_ACCOUNTS
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_guard_passes_a_plain_file_and_stops_early_on_hostile_ones() {
        let plain = "defaults:\n  collectors: {campaigns: {enabled: true, interval: 5m}}\n\
                     accounts:\n  - name: a\n    api_key_env: A\n    campaign_statuses: [ACTIVE]\n";
        assert_eq!(guard(plain), Ok(()));
        let cases = [
            ("a: &x [1]\nb: *x\n", "line 2 column 4", "aliases"),
            (
                &format!("accounts: {}", "[".repeat(160_000))[..],
                "line 1",
                "recursion limit",
            ),
            (
                &format!("accounts:\n{}", "  - ".repeat(40_000))[..],
                "line 2",
                "nested",
            ),
            ("accounts: [\n", "line 2", "not valid YAML"),
        ];
        for (text, at, what) in cases {
            let started = Instant::now();
            let error = guard(text).unwrap_err();
            assert!(
                started.elapsed().as_millis() < 100,
                "{what}: {:?}",
                started.elapsed()
            );
            assert!(error.contains(at) && error.contains(what), "{error}");
        }
        let many = format!("accounts: [{}]", "1,".repeat(MAX_NODES + 1));
        assert!(guard(&many).unwrap_err().contains("more than"));
    }
}
