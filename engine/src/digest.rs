//! A deterministic digest of the whole logical state: schema texts, every row and index
//! entry (through the merged base + delta view, so it does not depend on how the state is
//! layered), AUTOINCREMENT counters and the idempotency table. Two replicas that applied the
//! same log have the same digest; it does not cover the applied index/term, so replaying an
//! already-applied batch leaves it unchanged.

use md5::{Digest as _, Md5};

use crate::state::State;

/// 16-byte MD5 of the state, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateDigest(pub [u8; 16]);

impl std::fmt::Display for StateDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for StateDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateDigest({self})")
    }
}

fn feed(h: &mut Md5, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

pub(crate) fn digest(st: &State) -> StateDigest {
    let mut h = Md5::new();
    let cat = &st.catalog;
    for (key, t) in &cat.tables {
        feed(&mut h, b'T', t.sql.as_bytes());
        for c in &t.columns {
            if !c.fill.is_null() {
                feed(&mut h, b'F', format!("{}={:?}", c.name, c.fill).as_bytes());
            }
        }
        if let Some(td) = st.tables.get(key.as_str()) {
            feed(&mut h, b'A', &td.autoinc_seq.to_le_bytes());
            for (k, v) in td.rows.iter(false) {
                feed(&mut h, b'k', k);
                feed(&mut h, b'v', v);
            }
            for (iname, store) in td.indexes.iter() {
                feed(&mut h, b'I', iname.as_bytes());
                for (k, _) in store.iter(false) {
                    feed(&mut h, b'e', k);
                }
            }
        }
    }
    for (name, ix) in &cat.indexes {
        feed(&mut h, b'X', name.as_bytes());
        feed(&mut h, b'x', ix.sql.as_deref().unwrap_or("").as_bytes());
    }
    for v in cat.views.values() {
        feed(&mut h, b'V', v.sql.as_bytes());
    }
    for t in cat.triggers.values() {
        feed(&mut h, b'R', t.sql.as_bytes());
    }
    for (client, seq, result) in st.dedup.iter() {
        feed(&mut h, b'D', &client.to_le_bytes());
        feed(&mut h, b'd', &seq.to_le_bytes());
        feed(
            &mut h,
            b'r',
            serde_json::to_string(&result.result())
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    StateDigest(h.finalize().into())
}
