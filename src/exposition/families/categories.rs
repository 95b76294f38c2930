//! The lead-category families: counts by sentiment and origin, and one series per category.

use crate::exposition::samples::Samples;
use crate::smartlead::categories::{Origin, Sentiment};
use crate::state::AccountState;

pub(super) fn counts(state: &AccountState, samples: &mut Samples<'_>) {
    let Some(categories) = &state.categories else {
        return;
    };
    let counts = categories.counts();
    let mut origins = Origin::ALL;
    origins.sort_unstable_by_key(|o| o.as_str());
    let mut sentiments = Sentiment::ALL;
    sentiments.sort_unstable_by_key(|s| s.as_str());
    for origin in origins {
        for sentiment in sentiments {
            samples.sample(
                &[
                    ("origin", origin.as_str()),
                    ("sentiment", sentiment.as_str()),
                ],
                counts[sentiment.index()][origin.index()],
            );
        }
    }
}

pub(super) fn created(state: &AccountState, samples: &mut Samples<'_>) {
    let Some(categories) = &state.categories else {
        return;
    };
    let mut ids = itoa::Buffer::new();
    for category in categories.list.iter() {
        if let Some(at) = category.created_unix {
            samples.sample(&[("id", ids.format(category.id))], at);
        }
    }
}

pub(super) fn info(state: &AccountState, samples: &mut Samples<'_>) {
    let Some(categories) = &state.categories else {
        return;
    };
    let mut ids = itoa::Buffer::new();
    for category in categories.list.iter() {
        let origin = Origin::of(category.id, categories.global_max_id);
        samples.sample(
            &[
                ("id", ids.format(category.id)),
                ("name", &category.name),
                ("origin", origin.as_str()),
                ("sentiment", category.sentiment.as_str()),
            ],
            1u64,
        );
    }
}
