//! Fuzz target for virtual check conditions: parsing never panics or overflows the
//! stack, errors point inside the text, canonical text round-trips, and resolving and
//! evaluating whatever parses never panics and is deterministic.
#![no_main]

use std::collections::HashSet;

use bergamot_config::condition::{self, CheckRef, Member, PoolRef, Reference, Resolver};
use bergamot_config::status::Status;
use libfuzzer_sys::fuzz_target;

/// FNV-1a: a fixed, dependency-free hash so runs are reproducible.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A model where about one check in seven is missing and ids collide often (16 ids),
/// so de-duplication and error collection are exercised.
struct Fake;

impl Resolver for Fake {
    type Id = u64;

    fn check(&self, r: &CheckRef) -> Option<u64> {
        let h = fnv(&r.to_string());
        (h % 7 != 0).then_some(h % 16)
    }

    fn pool(&self, p: &PoolRef) -> Vec<u64> {
        let h = fnv(&p.to_string());
        (0..h % 5).map(|i| (h >> (i * 4)) % 16).collect()
    }
}

/// A deterministic member state derived from its id.
fn member(id: u64) -> Member {
    let h = fnv(&id.to_string());
    Member {
        status: Status::ALL[(h % 10) as usize],
        hard: h & 0x10 != 0,
        acknowledged: h & 0x20 != 0,
        suppressed: h & 0x40 != 0,
        in_downtime: h & 0x80 != 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let c = match condition::parse(text) {
        Ok(c) => c,
        Err(e) => {
            assert!(e.offset <= text.len() && text.is_char_boundary(e.offset), "{e} in {text:?}");
            let _ = e.to_string();
            return;
        }
    };

    let canonical = c.to_string();
    let again = condition::parse(&canonical).unwrap_or_else(|e| panic!("{canonical:?} from {text:?}: {e}"));
    assert_eq!(again, c, "{canonical:?}");
    assert_eq!(again.to_string(), canonical);

    for r in c.references() {
        let offset = match r {
            Reference::Check(c) => c.offset,
            Reference::Pool(p) => p.offset,
        };
        assert!(offset < text.len() && text.is_char_boundary(offset));
    }

    match condition::resolve(&c, &Fake) {
        Err(missing) => {
            assert!(!missing.is_empty());
            assert!(missing.iter().all(|m| m.offset < text.len() && Fake.check(&m.check).is_none()));
        }
        Ok(resolved) => {
            let distinct: HashSet<_> = resolved.members().iter().collect();
            assert_eq!(distinct.len(), resolved.members().len());
            let first = resolved.evaluate(&member);
            assert_eq!(resolved.evaluate(&member), first);
            let all_hard = resolved.members().iter().all(|&id| member(id).hard);
            assert_eq!(first.hard, all_hard);
        }
    }
});
