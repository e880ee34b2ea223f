//! The two-layer ordered byte store under every table and index.
//!
//! A [`Layered`] store is a read-only **base** ([`BaseLayer`]: [`EmptyBase`], or a sorted
//! run of a memory-mapped rkyv snapshot, `snapshot::RunBase`) under a **delta**: a
//! persistent ordered map ([`PMap`], a copy-on-write B+tree behind `Arc`s) from key to
//! either a new value or a tombstone. Reads merge the two in key order with the delta
//! winning; writes touch only the delta. Cloning a store is O(1), which is what makes a published view cheap and lets a
//! statement or transaction take a savepoint by cloning.
//!
//! Keys and values are byte strings (see `codec`), so a base layer serves `&[u8]` slices
//! straight out of its archive without deserializing.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use crate::pmap::{self, PMap};

/// A key type a delta map can hold: ordered exactly as its byte encoding.
pub trait StoreKey: Ord + Clone + Borrow<[u8]> + fmt::Debug + Send + Sync + 'static {
    /// The key for these bytes, if this key type can hold them.
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
    /// A key for a lookup, only when it is free to build (no allocation).
    fn probe(bytes: &[u8]) -> Option<Self> {
        Self::from_bytes(bytes)
    }
    fn as_bytes(&self) -> &[u8];
    /// Whether keys map monotonically onto integers through `num` (then lookups search
    /// nodes by interpolation).
    const NUMERIC: bool = false;
    fn num(&self) -> u64 {
        0
    }
}

/// A rowid key: the 8-byte big-endian, sign-flipped encoding. Compared as an integer, it is
/// what most lookups and all row inserts search by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowKey([u8; 8]);

impl RowKey {
    #[inline]
    fn num(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }
}

impl PartialOrd for RowKey {
    fn partial_cmp(&self, o: &RowKey) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for RowKey {
    #[inline]
    fn cmp(&self, o: &RowKey) -> Ordering {
        self.num().cmp(&o.num())
    }
}
impl Borrow<[u8]> for RowKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}
impl fmt::Debug for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowKey({:02x?})", self.0)
    }
}
impl StoreKey for RowKey {
    #[inline]
    fn from_bytes(bytes: &[u8]) -> Option<RowKey> {
        bytes.try_into().ok().map(RowKey)
    }
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    const NUMERIC: bool = true;
    #[inline]
    fn num(&self) -> u64 {
        RowKey::num(self)
    }
}

/// A general key: short keys (most index keys) live inline so cloning one during
/// structural sharing is a copy, not an allocation or atomic increment.
#[derive(Clone)]
pub struct Key(KeyRepr);

const INLINE: usize = 22;

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
    #[inline]
    fn cmp(&self, o: &Key) -> Ordering {
        self.as_bytes().cmp(o.as_bytes())
    }
}
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:02x?})", self.as_bytes())
    }
}
impl StoreKey for Key {
    fn from_bytes(bytes: &[u8]) -> Option<Key> {
        Some(Key::new(bytes))
    }
    #[inline]
    fn probe(bytes: &[u8]) -> Option<Key> {
        (bytes.len() <= INLINE).then(|| Key::new(bytes))
    }
    fn as_bytes(&self) -> &[u8] {
        Key::as_bytes(self)
    }
}

/// An encoded row (or an empty value for index entries), shared between versions.
pub type RowBytes = Arc<[u8]>;

/// Values up to this many bytes are stored inline in the slot: copying a map node during
/// structural sharing then copies them instead of touching a reference count, and reading
/// one costs no extra pointer chase.
const SMALL: usize = 22;

/// A delta entry: a value written since the base, or a deletion of a base key.
#[derive(Clone)]
pub enum Slot {
    Small(u8, [u8; SMALL]),
    Put(RowBytes),
    Tombstone,
}

impl Slot {
    pub(crate) fn value(bytes: &[u8]) -> Slot {
        if bytes.len() <= SMALL {
            let mut b = [0u8; SMALL];
            b[..bytes.len()].copy_from_slice(bytes);
            Slot::Small(bytes.len() as u8, b)
        } else {
            Slot::Put(Arc::from(bytes))
        }
    }

    /// The value, or None for a tombstone.
    #[inline]
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Slot::Small(n, b) => Some(&b[..*n as usize]),
            Slot::Put(v) => Some(v),
            Slot::Tombstone => None,
        }
    }

    fn is_live(&self) -> bool {
        !matches!(self, Slot::Tombstone)
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bytes() {
            Some(b) => write!(f, "Value({:02x?})", b),
            None => write!(f, "Tombstone"),
        }
    }
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

/// How to undo one delta change (statement rollback without copying the store).
#[derive(Debug)]
pub struct Undo<K> {
    key: K,
    /// The delta's previous entry for the key (None: there was none).
    prev: Option<Slot>,
    /// Change in the live-entry count to reverse.
    len_delta: i64,
}

/// A table's rows or an index's entries: base layer plus delta.
#[derive(Clone)]
pub struct Layered<K: StoreKey = Key> {
    base: Arc<dyn BaseLayer>,
    /// True when `base` is known to be empty, so scans skip the merge entirely.
    base_empty: bool,
    delta: PMap<K, Slot>,
    len: u64,
}

/// A table's rows, keyed by rowid.
pub type RowStore = Layered<RowKey>;
/// An index's entries, keyed by (index key ++ rowid).
pub type IndexStore = Layered<Key>;

impl<K: StoreKey> fmt::Debug for Layered<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("base", &self.base)
            .field("delta_entries", &self.delta.len())
            .field("len", &self.len)
            .finish()
    }
}

impl<K: StoreKey> Default for Layered<K> {
    fn default() -> Self {
        Layered::new()
    }
}

impl<K: StoreKey> Layered<K> {
    pub fn new() -> Layered<K> {
        Layered {
            base: Arc::new(EmptyBase),
            base_empty: true,
            delta: PMap::new(),
            len: 0,
        }
    }

    /// A store over `base` with an empty delta (how a snapshot is installed).
    pub fn with_base(base: Arc<dyn BaseLayer>) -> Layered<K> {
        let len = base.len();
        Layered {
            base_empty: len == 0,
            base,
            delta: PMap::new(),
            len,
        }
    }

    /// A store from a base, a delta over it and the live count of the two merged (how a
    /// store is re-based onto a new snapshot).
    pub(crate) fn from_parts(
        base: Arc<dyn BaseLayer>,
        delta: PMap<K, Slot>,
        len: u64,
    ) -> Layered<K> {
        Layered {
            base_empty: base.is_empty(),
            base,
            delta,
            len,
        }
    }

    pub fn base(&self) -> &Arc<dyn BaseLayer> {
        &self.base
    }

    /// The delta's entries, tombstones included (what a snapshot build merges down).
    pub fn delta(&self) -> &PMap<K, Slot> {
        &self.delta
    }

    /// Number of live entries.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn delta_get(&self, key: &[u8]) -> Option<&Slot> {
        // Search with a `K` so comparisons use its (integer, inline) ordering.
        match K::probe(key) {
            Some(k) if K::NUMERIC => self.delta.get_numeric(&k, |k: &K| k.num()),
            Some(k) => self.delta.get::<K>(&k),
            None => self.delta.get(key),
        }
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        match self.delta_get(key) {
            Some(slot) => slot.bytes(),
            None if self.base_empty => None,
            None => self.base.get(key),
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    fn make_key(key: &[u8]) -> K {
        K::from_bytes(key)
            .unwrap_or_else(|| panic!("key of {} bytes does not fit this store", key.len()))
    }

    /// Insert or overwrite; returns whether the key already held a live value, and how to
    /// undo the change.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> (bool, Undo<K>) {
        let k = Self::make_key(key);
        let prev = self.delta.insert(k.clone(), Slot::value(value));
        let existed = match &prev {
            Some(slot) => slot.is_live(),
            None => !self.base_empty && self.base.get(key).is_some(),
        };
        let len_delta = if existed { 0 } else { 1 };
        self.len += len_delta as u64;
        (
            existed,
            Undo {
                key: k,
                prev,
                len_delta,
            },
        )
    }

    /// Delete; returns whether a live value was removed, and how to undo the change.
    pub fn delete(&mut self, key: &[u8]) -> (bool, Option<Undo<K>>) {
        let in_base = !self.base_empty && self.base.get(key).is_some();
        let k = Self::make_key(key);
        let prev = if in_base {
            self.delta.insert(k.clone(), Slot::Tombstone)
        } else {
            self.delta.remove::<K>(&k)
        };
        let existed = match &prev {
            Some(slot) => slot.is_live(),
            None => in_base,
        };
        if existed {
            self.len -= 1;
        }
        if prev.is_none() && !in_base {
            return (false, None);
        }
        (
            existed,
            Some(Undo {
                key: k,
                prev,
                len_delta: if existed { -1 } else { 0 },
            }),
        )
    }

    /// Reverse one change made by `put` or `delete` (changes are undone newest first).
    pub fn undo(&mut self, u: Undo<K>) {
        match u.prev {
            Some(slot) => {
                self.delta.insert(u.key, slot);
            }
            None => {
                self.delta.remove::<K>(&u.key);
            }
        }
        self.len = (self.len as i64 - u.len_delta) as u64;
    }

    /// Live entries with keys in `[lo, hi]` bounds, ascending or descending.
    pub fn range<'a>(
        &'a self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
    ) -> RangeIter<'a, K> {
        // Compare as `K` where the bounds convert for free (integer rowid comparisons).
        let probe = |b: Bound<&[u8]>| match b {
            Bound::Unbounded => Some(Bound::Unbounded),
            Bound::Included(k) => K::probe(k).map(Bound::Included),
            Bound::Excluded(k) => K::probe(k).map(Bound::Excluded),
        };
        let d = match (probe(lo), probe(hi)) {
            (Some(l), Some(h)) => self.delta.range::<K>(l.as_ref(), h.as_ref(), reverse),
            _ => self.delta.range::<[u8]>(lo, hi, reverse),
        };
        if self.base_empty {
            return RangeIter {
                inner: Inner::Delta(d),
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
    pub fn prefix<'a>(&'a self, prefix: &[u8], reverse: bool) -> RangeIter<'a, K> {
        match crate::codec::key::prefix_successor(prefix) {
            Some(end) => self.range(Bound::Included(prefix), Bound::Excluded(&end), reverse),
            None => self.range(Bound::Included(prefix), Bound::Unbounded, reverse),
        }
    }

    pub fn iter(&self, reverse: bool) -> RangeIter<'_, K> {
        self.range(Bound::Unbounded, Bound::Unbounded, reverse)
    }

    /// The greatest live key (a table's max rowid).
    pub fn last_key(&self) -> Option<&[u8]> {
        if self.base_empty {
            // Without a base there are no tombstones: the delta's maximum is live.
            return self.delta.get_max().map(|(k, _)| k.as_bytes());
        }
        self.iter(true).next().map(|(k, _)| k)
    }
}

type DeltaIter<'a, K> = pmap::Range<'a, K, Slot>;

pub struct RangeIter<'a, K: StoreKey> {
    inner: Inner<'a, K>,
}

enum Inner<'a, K: StoreKey> {
    Delta(DeltaIter<'a, K>),
    Merge {
        delta: DeltaIter<'a, K>,
        base: BaseIter<'a>,
        reverse: bool,
        dnext: Option<(&'a [u8], &'a Slot)>,
        bnext: Option<(&'a [u8], &'a [u8])>,
        started: bool,
    },
}

impl<'a, K: StoreKey> Iterator for RangeIter<'a, K> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Delta(it) => loop {
                let (k, s) = it.next()?;
                if let Some(v) = s.bytes() {
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
                    *dnext = delta.next().map(|(k, s)| (k.as_bytes(), s));
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
                        *dnext = delta.next().map(|(k, s)| (k.as_bytes(), s));
                        if let Some(v) = s.bytes() {
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
            let mut s: Layered<Key> = Layered::with_base(Arc::new(MapBase(model.clone())));
            let undo_model = model.clone();
            let mut undos = Vec::new();
            for o in &ops {
                match o {
                    Op::Put(k, v) => {
                        let (existed, u) = s.put(&[*k], &[*v]);
                        undos.push(Some(u));
                        prop_assert_eq!(existed, model.insert(vec![*k], vec![*v]).is_some());
                    }
                    Op::Del(k) => {
                        let (existed, u) = s.delete(&[*k]);
                        undos.push(u);
                        prop_assert_eq!(existed, model.remove(&vec![*k]).is_some());
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
            // Undoing every change, newest first, restores the original contents.
            for u in undos.into_iter().rev().flatten() {
                s.undo(u);
            }
            let back: Vec<_> = s.iter(false).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            let want: Vec<_> = undo_model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(back, want);
            prop_assert_eq!(s.len(), undo_model.len() as u64);
        }

        /// Rowid keys order as their byte encodings.
        #[test]
        fn rowid_keys_order_as_bytes(a in any::<i64>(), b in any::<i64>()) {
            let ka = RowKey::from_bytes(&crate::codec::key::rowid_key(a)).unwrap();
            let kb = RowKey::from_bytes(&crate::codec::key::rowid_key(b)).unwrap();
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        }
    }

    #[test]
    fn prefix_scans_both_directions() {
        let mut s: Layered<Key> = Layered::new();
        for k in [&[1u8, 1][..], &[1, 2], &[2, 0], &[2, 1], &[2, 0xFF], &[3]] {
            s.put(k, &[]);
        }
        let f: Vec<_> = s.prefix(&[2], false).map(|(k, _)| k.to_vec()).collect();
        assert_eq!(f, vec![vec![2, 0], vec![2, 1], vec![2, 0xFF]]);
        let b: Vec<_> = s.prefix(&[2], true).map(|(k, _)| k.to_vec()).collect();
        assert_eq!(b, vec![vec![2, 0xFF], vec![2, 1], vec![2, 0]]);
    }
}
