//! Which blobs travel together in one batch RPC, and which alone over
//! ByteStream.
//!
//! A batch request holds its blobs' bytes plus a digest and framing per
//! blob; the server refuses requests over its `max_batch_total_size_bytes`.
//! So a blob goes into a batch only with room for that overhead, batches are
//! filled in order, and anything that would not fit even alone is streamed.

/// Bytes each blob adds to a batch request besides its data: the digest
/// (64 hex digits and a size), a status or compressor field, and protobuf
/// framing, rounded up generously.
pub(crate) const PER_BLOB: u64 = 160;
/// The request's own framing (instance name, digest function).
pub(crate) const PER_REQUEST: u64 = 1024;
/// What servers that report no limit get: REAPI's suggested default.
pub(crate) const DEFAULT_LIMIT: u64 = 4 * 1024 * 1024;
/// At most this many digests per FindMissingBlobs or BatchReadBlobs
/// request, so huge entries do not make huge requests either.
pub(crate) const MAX_PER_BATCH: usize = 4096;

/// The plan for a list of blobs, by index into the list.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) batches: Vec<Vec<usize>>,
    pub(crate) streamed: Vec<usize>,
}

/// The limit to plan with: the server's, or the default when it reports
/// none (0), never more than the default's 16-fold (tonic's message limits
/// are set from it).
pub(crate) fn effective_limit(server: i64) -> u64 {
    match u64::try_from(server) {
        Ok(0) | Err(_) => DEFAULT_LIMIT,
        Ok(limit) => limit.min(DEFAULT_LIMIT * 16),
    }
}

pub(crate) fn plan(sizes: &[u64], limit: u64) -> Plan {
    let room = limit.saturating_sub(PER_REQUEST);
    let mut plan = Plan::default();
    let mut current = Vec::new();
    let mut used = 0u64;
    for (index, &size) in sizes.iter().enumerate() {
        let cost = size.saturating_add(PER_BLOB);
        if cost > room {
            plan.streamed.push(index);
            continue;
        }
        if used + cost > room || current.len() == MAX_PER_BATCH {
            plan.batches.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(index);
        used += cost;
    }
    if !current.is_empty() {
        plan.batches.push(current);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blobs_share_batches_under_the_limit() {
        let limit = 10_000;
        let sizes = vec![1_000u64; 30];
        let plan = plan(&sizes, limit);
        assert!(plan.streamed.is_empty());
        let mut seen: Vec<usize> = plan.batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..30).collect::<Vec<_>>(), "every blob once");
        for batch in &plan.batches {
            let total: u64 = batch.iter().map(|&i| sizes[i] + PER_BLOB).sum::<u64>() + PER_REQUEST;
            assert!(total <= limit, "{batch:?} is {total} bytes");
        }
        // 7 of (1,000 + 160) fit in 10,000 - 1,024.
        assert_eq!(plan.batches.len(), 5);
    }

    #[test]
    fn blobs_too_big_for_a_batch_are_streamed() {
        let limit = 4_193_280;
        let plan = plan(
            &[10, 20_000_000, limit, 30, limit - PER_REQUEST - PER_BLOB],
            limit,
        );
        assert_eq!(plan.streamed, [1, 2]);
        // 0 and 3 share a batch; 4 fills one alone.
        assert_eq!(plan.batches, [vec![0, 3], vec![4]]);
    }

    #[test]
    fn many_tiny_blobs_are_capped_per_request() {
        let plan = plan(&vec![0; MAX_PER_BATCH * 2 + 1], u64::MAX / 2);
        let lens: Vec<usize> = plan.batches.iter().map(Vec::len).collect();
        assert_eq!(lens, [MAX_PER_BATCH, MAX_PER_BATCH, 1]);
    }

    #[test]
    fn limits() {
        assert_eq!(effective_limit(0), DEFAULT_LIMIT);
        assert_eq!(effective_limit(-5), DEFAULT_LIMIT);
        assert_eq!(effective_limit(4_193_280), 4_193_280);
        assert_eq!(effective_limit(i64::MAX), DEFAULT_LIMIT * 16);
    }
}
