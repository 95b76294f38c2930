//! The mailbox families: one info series per mailbox, its health as 0/1 gauges, its warmup
//! reputation, and its daily sending against its limit.

use crate::exposition::samples::Samples;
use crate::smartlead::mailboxes::Mailbox;
use crate::state::AccountState;

/// Writes `value(mailbox)` for each mailbox that has one, labelled with its id.
fn each<T: Into<crate::exposition::samples::Value>>(
    state: &AccountState,
    samples: &mut Samples<'_>,
    value: impl Fn(&Mailbox) -> Option<T>,
) {
    let mut ids = itoa::Buffer::new();
    for mailbox in state.mailboxes.iter().flat_map(|list| list.iter()) {
        if let Some(value) = value(mailbox) {
            samples.sample(&[("mailbox_id", ids.format(mailbox.id))], value);
        }
    }
}

pub(super) fn info(state: &AccountState, samples: &mut Samples<'_>) {
    let (mut ids, mut clients) = (itoa::Buffer::new(), itoa::Buffer::new());
    for mailbox in state.mailboxes.iter().flat_map(|list| list.iter()) {
        let warmup = mailbox
            .warmup
            .as_ref()
            .and_then(|w| w.status)
            .map_or("", |s| s.label());
        samples.sample(
            &[
                (
                    "client_id",
                    mailbox.client_id.map_or("", |c| clients.format(c)),
                ),
                ("email", &mailbox.email),
                ("mailbox_id", ids.format(mailbox.id)),
                ("type", &mailbox.kind),
                ("warmup_status", warmup),
            ],
            1u64,
        );
    }
}

pub(super) fn smtp_up(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| m.smtp_ok);
}

pub(super) fn imap_up(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| m.imap_ok);
}

pub(super) fn suspended(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| m.suspended);
}

pub(super) fn warmup_blocked(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| {
        m.warmup.as_ref().and_then(|w| w.blocked)
    });
}

pub(super) fn warmup_reputation(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| {
        m.warmup.as_ref().and_then(|w| w.reputation)
    });
}

pub(super) fn daily_sent(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| m.daily_sent);
}

pub(super) fn daily_limit(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| m.daily_limit);
}

pub(super) fn campaigns(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, samples, |m| m.campaigns);
}
