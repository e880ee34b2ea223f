//! The two-layer ordered byte store under every table and index.
//!
//! A [`Layered`] store is a read-only **base** ([`BaseLayer`]: today [`EmptyBase`]; the next
//! issue adds a memory-mapped rkyv snapshot) under a **delta**: a persistent ordered map
//! (`imbl::OrdMap`, structurally shared, `Arc`-based) from key to either a new value or a
//! tombstone. Reads merge the two in key order with the delta winning; writes touch only the
//! delta. Cloning a store is O(1), which is what makes a published view cheap and lets a
//! statement or transaction take a savepoint by cloning.
//!
//! Keys and values are byte strings (see `codec`), so a base layer serves `&[u8]` slices
//! straight out of its archive without deserializing.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use imbl::OrdMap;

/// A stored key: short keys (every rowid, most index keys) live inline so cloning one during
/// structural sharing is a copy, not an allocation or atomic increment.
#[derive(Clone)]
pub struct Key(KeyRepr);

const INLINE: usize = 30;

#[derive(Clone)]
enum KeyRepr {
    Inline(u8, [u8; INLINE]),
    Heap(Arc<[u8]>),
}

impl Key {
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE {
            let mut b = [0u8; INLINE];
            b[..bytes.len()].copy_from_slice(bytes);
            Key(KeyRepr::Inline(bytes.len() as u8, b))
        } else {
            Key(KeyRepr::Heap(Arc::from(bytes)))
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            KeyRepr::Inline(n, b) => &b[..*n as usize],
            KeyRepr::Heap(a) => a,
        }
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}
impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        self.as_bytes() == o.as_bytes()
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Key) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Key) -> Ordering {
        self.as_bytes().cmp(o.as_bytes())
    }
}
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:02x?})", self.as_bytes())
    }
}

/// An encoded row (or an empty value for index entries), shared between versions.
pub type RowBytes = Arc<[u8]>;

pub(crate) fn empty_row() -> RowBytes {
    static EMPTY: OnceLock<RowBytes> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from(&[][..])).clone()
}

/// A delta entry: a value written since the base, or a deletion of a base key.
#[derive(Clone, Debug)]
pub enum Slot {
    Put(RowBytes),
    Tombstone,
}

/// Ordered key/value pairs borrowed from a layer.
pub type BaseIter<'a> = Box<dyn Iterator<Item = (&'a [u8], &'a [u8])> + 'a>;

/// The read-only bottom layer of a store: point lookups and ordered range scans over
/// encoded keys. Implementations must return keys in strictly ascending byte order from
/// `range` (descending when `reverse`), and be immutable once shared.
pub trait BaseLayer: Send + Sync + fmt::Debug {
    fn get(&self, key: &[u8]) -> Option<&[u8]>;
    fn range<'a>(&'a self, lo: Bound<&[u8]>, hi: Bound<&[u8]>, reverse: bool) -> BaseIter<'a>;
    /// Number of entries.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The base of a store that has never had a snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyBase;

impl BaseLayer for EmptyBase {
    fn get(&self, _key: &[u8]) -> Option<&[u8]> {
        None
    }
    fn range<'a>(&'a self, _lo: Bound<&[u8]>, _hi: Bound<&[u8]>, _reverse: bool) -> BaseIter<'a> {
        Box::new(std::iter::empty())
    }
    fn len(&self) -> u64 {
        0
    }
}

/// A table's rows or an index's entries: base layer plus delta.
#[derive(Clone)]
pub struct Layered {
    base: Arc<dyn BaseLayer>,
    /// True when `base` is known to be empty, so scans skip the merge entirely.
    base_empty: bool,
    delta: OrdMap<Key, Slot>,
    len: u64,
}

impl fmt::Debug for Layered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("base", &self.base)
            .field("delta_entries", &self.delta.len())
            .field("len", &self.len)
            .finish()
    }
}

impl Default for Layered {
    fn default() -> Self {
        Layered::new()
    }
}

impl Layered {
    pub fn new() -> Layered {
        Layered {
            base: Arc::new(EmptyBase),
            base_empty: true,
            delta: OrdMap::new(),
            len: 0,
        }
    }

    /// A store over `base` with an empty delta (how a snapshot is installed).
    pub fn with_base(base: Arc<dyn BaseLayer>) -> Layered {
        let len = base.len();
        Layered {
            base_empty: len == 0,
            base,
            delta: OrdMap::new(),
            len,
        }
    }

    pub fn base(&self) -> &Arc<dyn BaseLayer> {
        &self.base
    }

    /// The delta's entries, tombstones included (what a snapshot build merges down).
    pub fn delta(&self) -> &OrdMap<Key, Slot> {
        &self.delta
    }

    /// Number of live entries.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        match self.delta.get(key) {
            Some(Slot::Put(v)) => Some(v),
            Some(Slot::Tombstone) => None,
            None if self.base_empty => None,
            None => self.base.get(key),
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Insert or overwrite; returns whether the key already held a live value.
    pub fn put(&mut self, key: &[u8], value: RowBytes) -> bool {
        let existed = match self.delta.insert(Key::new(key), Slot::Put(value)) {
            Some(Slot::Put(_)) => true,
            Some(Slot::Tombstone) => false,
            None => !self.base_empty && self.base.get(key).is_some(),
        };
        if !existed {
            self.len += 1;
        }
        existed
    }

    /// Delete; returns whether a live value was removed.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        let in_base = !self.base_empty && self.base.get(key).is_some();
        let existed = if in_base {
            !matches!(
                self.delta.insert(Key::new(key), Slot::Tombstone),
                Some(Slot::Tombstone)
            )
        } else {
            matches!(self.delta.remove(key), Some(Slot::Put(_)))
        };
        if existed {
            self.len -= 1;
        }
        existed
    }

    /// Live entries with keys in `[lo, hi]` bounds, ascending or descending.
    pub fn range<'a>(&'a self, lo: Bound<&[u8]>, hi: Bound<&[u8]>, reverse: bool) -> RangeIter<'a> {
        let d = self.delta.range::<_, [u8]>((lo, hi));
        if self.base_empty {
            return RangeIter {
                inner: Inner::Delta(d, reverse),
            };
        }
        let b = self.base.range(lo, hi, reverse);
        RangeIter {
            inner: Inner::Merge {
                delta: d,
                base: b,
                reverse,
                dnext: None,
                bnext: None,
                started: false,
            },
        }
    }

    /// Live entries whose key starts with `prefix`, ascending or descending.
    pub fn prefix<'a>(&'a self, prefix: &[u8], reverse: bool) -> RangeIter<'a> {
        match crate::codec::key::prefix_successor(prefix) {
            Some(end) => self.range(Bound::Included(prefix), Bound::Excluded(&end), reverse),
            None => self.range(Bound::Included(prefix), Bound::Unbounded, reverse),
        }
    }

    pub fn iter(&self, reverse: bool) -> RangeIter<'_> {
        self.range(Bound::Unbounded, Bound::Unbounded, reverse)
    }

    /// The greatest live key (a table's max rowid).
    pub fn last_key(&self) -> Option<&[u8]> {
        self.iter(true).next().map(|(k, _)| k)
    }
}

type DeltaIter<'a> = imbl::ordmap::RangedIter<'a, Key, Slot, imbl::shared_ptr::DefaultSharedPtr>;

pub struct RangeIter<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Delta(DeltaIter<'a>, bool),
    Merge {
        delta: DeltaIter<'a>,
        base: BaseIter<'a>,
        reverse: bool,
        dnext: Option<(&'a [u8], &'a Slot)>,
        bnext: Option<(&'a [u8], &'a [u8])>,
        started: bool,
    },
}

impl<'a> Iterator for RangeIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Delta(it, rev) => loop {
                let (k, s) = if *rev { it.next_back()? } else { it.next()? };
                if let Slot::Put(v) = s {
                    return Some((k.as_bytes(), v));
                }
            },
            Inner::Merge {
                delta,
                base,
                reverse,
                dnext,
                bnext,
                started,
            } => {
                let rev = *reverse;
                if !*started {
                    *started = true;
                    *dnext = if rev { delta.next_back() } else { delta.next() }
                        .map(|(k, s)| (k.as_bytes(), s));
                    *bnext = base.next();
                }
                loop {
                    let take_delta = match (&*dnext, &*bnext) {
                        (None, None) => return None,
                        (Some(_), None) => true,
                        (None, Some(_)) => false,
                        (Some((dk, _)), Some((bk, _))) => {
                            let o = dk.cmp(bk);
                            if o == Ordering::Equal {
                                // The delta shadows the base entry.
                                *bnext = base.next();
                                true
                            } else {
                                (o == Ordering::Less) != rev
                            }
                        }
                    };
                    if take_delta {
                        let (k, s) = dnext.take().expect("checked above");
                        *dnext = if rev { delta.next_back() } else { delta.next() }
                            .map(|(k, s)| (k.as_bytes(), s));
                        if let Slot::Put(v) = s {
                            return Some((k, v));
                        }
                    } else {
                        return bnext.take().inspect(|_| {
                            *bnext = base.next();
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A base layer over a sorted in-memory map, standing in for the snapshot archive.
    #[derive(Debug)]
    struct MapBase(BTreeMap<Vec<u8>, Vec<u8>>);

    impl BaseLayer for MapBase {
        fn get(&self, key: &[u8]) -> Option<&[u8]> {
            self.0.get(key).map(|v| v.as_slice())
        }
        fn range<'a>(&'a self, lo: Bound<&[u8]>, hi: Bound<&[u8]>, reverse: bool) -> BaseIter<'a> {
            let lo = lo.map(|b| b.to_vec());
            let hi = hi.map(|b| b.to_vec());
            let it = self
                .0
                .range::<Vec<u8>, _>((lo, hi))
                .map(|(k, v)| (k.as_slice(), v.as_slice()));
            if reverse {
                Box::new(it.rev())
            } else {
                Box::new(it)
            }
        }
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, u8),
        Del(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..40, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            (0u8..40).prop_map(Op::Del)
        ]
    }

    proptest! {
        /// Base + delta behaves exactly like one ordered map, for gets, scans and ranges.
        #[test]
        fn layered_matches_model(base in proptest::collection::btree_map(0u8..40, any::<u8>(), 0..30),
                                 ops in proptest::collection::vec(op(), 0..60),
                                 lo in 0u8..40, hi in 0u8..40) {
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
                base.iter().map(|(k, v)| (vec![*k], vec![*v])).collect();
            let mut s = Layered::with_base(Arc::new(MapBase(model.clone())));
            for o in &ops {
                match o {
                    Op::Put(k, v) => {
                        let existed = s.put(&[*k], Arc::from(&[*v][..]));
                        prop_assert_eq!(existed, model.insert(vec![*k], vec![*v]).is_some());
                    }
                    Op::Del(k) => {
                        prop_assert_eq!(s.delete(&[*k]), model.remove(&vec![*k]).is_some());
                    }
                }
            }
            prop_assert_eq!(s.len(), model.len() as u64);
            for k in 0u8..40 {
                prop_assert_eq!(s.get(&[k]), model.get(&vec![k]).map(|v| v.as_slice()));
            }
            let fwd: Vec<_> = s.iter(false).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(&fwd, &want);
            let back: Vec<_> = s.iter(true).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            let want_back: Vec<_> = want.iter().rev().cloned().collect();
            prop_assert_eq!(back, want_back);
            let (l, h) = (lo.min(hi), lo.max(hi));
            let r: Vec<_> = s.range(Bound::Included(&[l][..]), Bound::Excluded(&[h][..]), false).map(|(k, _)| k.to_vec()).collect();
            let wr: Vec<_> = model.range(vec![l]..vec![h]).map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(r, wr);
        }
    }

    #[test]
    fn prefix_scans_both_directions() {
        let mut s = Layered::new();
        for k in [&[1u8, 1][..], &[1, 2], &[2, 0], &[2, 1], &[2, 0xFF], &[3]] {
            s.put(k, empty_row());
        }
        let f: Vec<_> = s.prefix(&[2], false).map(|(k, _)| k.to_vec()).collect();
        assert_eq!(f, vec![vec![2, 0], vec![2, 1], vec![2, 0xFF]]);
        let b: Vec<_> = s.prefix(&[2], true).map(|(k, _)| k.to_vec()).collect();
        assert_eq!(b, vec![vec![2, 0xFF], vec![2, 1], vec![2, 0]]);
    }
}
