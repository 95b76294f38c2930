//! The campaign families: campaigns by status, one info series per campaign, and each
//! selected campaign's lifetime funnel and lead states.

use crate::exposition::samples::Samples;
use crate::smartlead::campaigns::{CampaignStatus, Event, LeadState, UniqueEvent};
use crate::state::{status_counts, AccountState, CampaignEntry};

/// Each campaign of the account, with its id as a label value.
fn each(state: &AccountState, mut write: impl FnMut(&str, &CampaignEntry)) {
    let mut ids = itoa::Buffer::new();
    for entry in state.campaigns.iter().flat_map(|list| list.iter()) {
        write(ids.format(entry.campaign.id), entry);
    }
}

pub(super) fn by_status(state: &AccountState, samples: &mut Samples<'_>) {
    let Some(list) = &state.campaigns else {
        return;
    };
    let counts = status_counts(list);
    let mut labels = CampaignStatus::LABELS;
    labels.sort_unstable();
    for label in labels {
        let at = CampaignStatus::LABELS
            .iter()
            .position(|&l| l == label)
            .unwrap_or_default();
        samples.sample(&[("status", label)], counts[at]);
    }
}

pub(super) fn info(state: &AccountState, samples: &mut Samples<'_>) {
    let mut clients = itoa::Buffer::new();
    each(state, |id, entry| {
        let campaign = &entry.campaign;
        let client = campaign.client_id.map_or("", |c| clients.format(c));
        samples.sample(
            &[
                ("campaign", &campaign.name),
                ("campaign_id", id),
                ("client_id", client),
                ("status", campaign.status.label()),
            ],
            1u64,
        );
    });
}

pub(super) fn emails(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, |id, entry| {
        if let Some(analytics) = &entry.analytics {
            for event in Event::ALL {
                if let Some(count) = analytics.event(event) {
                    samples.sample(&[("campaign_id", id), ("event", event.label())], count);
                }
            }
        }
    });
}

pub(super) fn unique_leads(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, |id, entry| {
        if let Some(analytics) = &entry.analytics {
            for event in UniqueEvent::ALL {
                if let Some(count) = analytics.unique(event) {
                    samples.sample(&[("campaign_id", id), ("event", event.label())], count);
                }
            }
        }
    });
}

pub(super) fn leads(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, |id, entry| {
        if let Some(analytics) = &entry.analytics {
            for lead_state in LeadState::ALL {
                if let Some(count) = analytics.leads(lead_state) {
                    samples.sample(&[("campaign_id", id), ("state", lead_state.label())], count);
                }
            }
        }
    });
}

pub(super) fn interested_leads(state: &AccountState, samples: &mut Samples<'_>) {
    each(state, |id, entry| {
        if let Some(count) = entry.analytics.as_ref().and_then(|a| a.interested) {
            samples.sample(&[("campaign_id", id)], count);
        }
    });
}
