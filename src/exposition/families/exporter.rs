//! The exporter's own families: build, reload and shard facts.

use super::collectors::unix_seconds;
use super::Context;
use crate::exposition::samples::Samples;

pub(super) fn build_info(context: &Context<'_>, samples: &mut Samples<'_>) {
    let build = context.build;
    samples.sample(
        &[
            ("revision", &build.revision),
            ("rustversion", &build.rust_version),
            ("version", &build.version),
        ],
        1u64,
    );
}

pub(super) fn reload_time(context: &Context<'_>, samples: &mut Samples<'_>) {
    samples.sample(&[], unix_seconds(context.exporter.reload_time));
}

pub(super) fn reload_ok(context: &Context<'_>, samples: &mut Samples<'_>) {
    samples.sample(&[], context.exporter.reload_ok);
}

pub(super) fn shard_accounts(context: &Context<'_>, samples: &mut Samples<'_>) {
    if let Some(shard) = context.exporter.shard {
        let (mut index, mut total) = (itoa::Buffer::new(), itoa::Buffer::new());
        samples.sample(
            &[
                ("shard", index.format(shard.index)),
                ("total_shards", total.format(shard.total)),
            ],
            shard.accounts as u64,
        );
    }
}
