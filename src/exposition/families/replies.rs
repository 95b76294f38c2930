//! Replies by category over the last 30 days.

use crate::exposition::samples::Samples;
use crate::state::AccountState;

pub(super) fn replies(state: &AccountState, samples: &mut Samples<'_>) {
    for count in state.replies.iter().flat_map(|list| list.iter()) {
        samples.sample(
            &[
                ("category", &count.category),
                ("sentiment", count.sentiment.as_str()),
            ],
            count.replies,
        );
    }
}
