//! A persistent (copy-on-write, structurally shared) ordered map: a B+tree with wide nodes
//! behind `Arc`s. Cloning is O(1); a write copies only the nodes on the path it changes, and
//! only those still shared with a clone.
//!
//! Why not `imbl::OrdMap`: its nodes interleave keys with values, so a lookup in a
//! 100k-entry map walks several levels and touches many cache lines. Here a leaf holds up to
//! 64 keys in one contiguous array (values in another) and a leaf scan is a slice walk;
//! branches hold 16 children (see `BRANCH_CAP` for why narrower). Keys that map onto integers
//! (rowids) are found by interpolation ([`PMap::get_numeric`]), typically one probe per node.
//! Point lookups and range scans are what the engine does most.
//!
//! Deletion removes empty nodes and merges a leaf into a neighbour when both fit in one;
//! it does not otherwise rebalance, which keeps every operation simple and O(log n) in the
//! height the tree reached.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

/// Entries per leaf (small under test, so the property tests reach several levels).
const CAP: usize = if cfg!(test) { 6 } else { 64 };
/// Children per branch. Narrower than a leaf: a write after a clone copies every branch on
/// its path, and copying a branch bumps the reference count of each of its children, so the
/// cost of publishing a view between writes grows with this width. Leaves hold plain keys
/// and (mostly inline) values, which copy as memory.
const BRANCH_CAP: usize = if cfg!(test) { 4 } else { 16 };

#[derive(Clone)]
struct Leaf<K, V> {
    keys: Vec<K>,
    vals: Vec<V>,
}

#[derive(Clone)]
struct Branch<K, V> {
    /// `keys[i]` is the smallest key under `children[i + 1]`.
    keys: Vec<K>,
    children: Vec<Arc<Node<K, V>>>,
}

#[derive(Clone)]
enum Node<K, V> {
    Leaf(Leaf<K, V>),
    Branch(Branch<K, V>),
}

/// A persistent ordered map.
pub struct PMap<K, V> {
    root: Option<Arc<Node<K, V>>>,
    len: usize,
}

impl<K, V> Clone for PMap<K, V> {
    fn clone(&self) -> Self {
        PMap {
            root: self.root.clone(),
            len: self.len,
        }
    }
}

impl<K, V> Default for PMap<K, V> {
    fn default() -> Self {
        PMap { root: None, len: 0 }
    }
}

impl<K: Ord + Clone + std::fmt::Debug, V: Clone + std::fmt::Debug> std::fmt::Debug for PMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

enum Insert<K, V> {
    Done(Option<V>),
    Split(Option<V>, K, Arc<Node<K, V>>),
}

/// Index of the child of `b` that may hold `key`.
#[inline]
fn child_index<K: Borrow<Q>, Q: Ord + ?Sized>(keys: &[K], key: &Q) -> usize {
    keys.partition_point(|k| k.borrow() <= key)
}

/// The number of keys `<= x` in `keys` (sorted, ascending under `num`). `lo` and `hi` are
/// known bounds (every key `>= lo` and `< hi`, from the parent's separators) or are read from
/// the ends. The first probe is interpolated between them, which for dense keys lands on the
/// answer; then a short walk, then bisection.
#[inline]
fn interp_upper<K>(
    keys: &[K],
    x: u64,
    num: impl Fn(&K) -> u64,
    lo: Option<u64>,
    hi: Option<u64>,
) -> usize {
    let n = keys.len();
    if n == 0 {
        return 0;
    }
    let lo = lo.unwrap_or_else(|| num(&keys[0]));
    let hi = hi.unwrap_or_else(|| num(&keys[n - 1]).saturating_add(1));
    if x < lo {
        return 0;
    }
    if x >= hi {
        return n;
    }
    let (off, span) = (x - lo, hi - lo);
    let g = match off.checked_mul(n as u64) {
        Some(p) => (p / span) as usize,
        None => ((off as u128 * n as u128) / span as u128) as usize,
    }
    .min(n - 1);
    if num(&keys[g]) <= x {
        let mut a = g + 1;
        // Walk right a little: dense keys are found here.
        for _ in 0..2 {
            if a == n || num(&keys[a]) > x {
                return a;
            }
            a += 1;
        }
        a + keys[a..].partition_point(|k| num(k) <= x)
    } else {
        let mut b = g;
        for _ in 0..2 {
            if b == 0 || num(&keys[b - 1]) <= x {
                return b;
            }
            b -= 1;
        }
        keys[..b].partition_point(|k| num(k) <= x)
    }
}

impl<K: Ord + Clone, V: Clone> PMap<K, V> {
    pub fn new() -> PMap<K, V> {
        PMap { root: None, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        let mut node = self.root.as_deref()?;
        loop {
            match node {
                Node::Branch(b) => node = &b.children[child_index(&b.keys, key)],
                Node::Leaf(l) => {
                    return match l.keys.binary_search_by(|k| k.borrow().cmp(key)) {
                        Ok(i) => Some(&l.vals[i]),
                        Err(_) => None,
                    }
                }
            }
        }
    }

    /// `get` for keys that map monotonically onto integers (rowids): each node is searched
    /// by interpolation first, which for dense keys lands on the entry in one probe instead
    /// of the half-dozen dependent cache misses of a binary search.
    #[inline]
    pub fn get_numeric(&self, key: &K, num: impl Fn(&K) -> u64 + Copy) -> Option<&V> {
        let mut node = self.root.as_deref()?;
        let x = num(key);
        let (mut lo, mut hi) = (None, None);
        loop {
            match node {
                Node::Branch(b) => {
                    let i = interp_upper(&b.keys, x, num, lo, hi);
                    if i > 0 {
                        lo = Some(num(&b.keys[i - 1]));
                    }
                    if i < b.keys.len() {
                        hi = Some(num(&b.keys[i]));
                    }
                    node = &b.children[i];
                }
                Node::Leaf(l) => {
                    let i = interp_upper(&l.keys, x, num, lo, hi);
                    return (i > 0 && num(&l.keys[i - 1]) == x).then(|| &l.vals[i - 1]);
                }
            }
        }
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.get(key).is_some()
    }

    /// The greatest entry.
    pub fn get_max(&self) -> Option<(&K, &V)> {
        let mut node = self.root.as_deref()?;
        loop {
            match node {
                Node::Branch(b) => node = b.children.last()?,
                Node::Leaf(l) => return l.keys.last().zip(l.vals.last()),
            }
        }
    }

    /// The smallest entry.
    pub fn get_min(&self) -> Option<(&K, &V)> {
        let mut node = self.root.as_deref()?;
        loop {
            match node {
                Node::Branch(b) => node = b.children.first()?,
                Node::Leaf(l) => return l.keys.first().zip(l.vals.first()),
            }
        }
    }

    /// Insert or replace; returns the previous value.
    pub fn insert(&mut self, key: K, val: V) -> Option<V> {
        let Some(root) = self.root.as_mut() else {
            self.root = Some(Arc::new(Node::Leaf(Leaf {
                keys: vec![key],
                vals: vec![val],
            })));
            self.len = 1;
            return None;
        };
        let r = Self::insert_in(Arc::make_mut(root), key, val);
        let prev = match r {
            Insert::Done(p) => p,
            Insert::Split(p, sep, right) => {
                let left = self.root.take().expect("root exists");
                self.root = Some(Arc::new(Node::Branch(Branch {
                    keys: vec![sep],
                    children: vec![left, right],
                })));
                p
            }
        };
        if prev.is_none() {
            self.len += 1;
        }
        prev
    }

    fn insert_in(node: &mut Node<K, V>, key: K, val: V) -> Insert<K, V> {
        match node {
            Node::Leaf(l) => {
                match l.keys.binary_search(&key) {
                    Ok(i) => return Insert::Done(Some(std::mem::replace(&mut l.vals[i], val))),
                    Err(i) => {
                        l.keys.insert(i, key);
                        l.vals.insert(i, val);
                    }
                }
                if l.keys.len() <= CAP {
                    return Insert::Done(None);
                }
                // Appending at the end (rising keys) leaves the left node full.
                let at = if l.keys.len() == CAP + 1 && l.keys.last() > l.keys.get(CAP - 1) {
                    CAP
                } else {
                    l.keys.len() / 2
                };
                let keys = l.keys.split_off(at);
                let vals = l.vals.split_off(at);
                let sep = keys[0].clone();
                Insert::Split(None, sep, Arc::new(Node::Leaf(Leaf { keys, vals })))
            }
            Node::Branch(b) => {
                let i = child_index(&b.keys, &key);
                let at_end = i == b.children.len() - 1;
                match Self::insert_in(Arc::make_mut(&mut b.children[i]), key, val) {
                    Insert::Done(p) => Insert::Done(p),
                    Insert::Split(p, sep, right) => {
                        b.keys.insert(i, sep);
                        b.children.insert(i + 1, right);
                        if b.children.len() <= BRANCH_CAP {
                            return Insert::Done(p);
                        }
                        let at = if at_end {
                            BRANCH_CAP
                        } else {
                            b.children.len() / 2
                        };
                        let children = b.children.split_off(at);
                        let mut keys = b.keys.split_off(at - 1);
                        let sep = keys.remove(0);
                        Insert::Split(p, sep, Arc::new(Node::Branch(Branch { keys, children })))
                    }
                }
            }
        }
    }

    /// Remove; returns the removed value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        // Look first so a miss never copies shared nodes.
        self.get(key)?;
        let root = self.root.as_mut()?;
        let prev = Self::remove_in(Arc::make_mut(root), key);
        if prev.is_some() {
            self.len -= 1;
        }
        // Collapse an empty root or a branch with one child.
        loop {
            match self.root.as_deref() {
                Some(Node::Leaf(l)) if l.keys.is_empty() => self.root = None,
                Some(Node::Branch(b)) if b.children.len() == 1 => {
                    let only = b.children[0].clone();
                    self.root = Some(only);
                    continue;
                }
                Some(Node::Branch(b)) if b.children.is_empty() => self.root = None,
                _ => {}
            }
            break;
        }
        prev
    }

    fn node_len(n: &Node<K, V>) -> usize {
        match n {
            Node::Leaf(l) => l.keys.len(),
            Node::Branch(b) => b.children.len(),
        }
    }

    fn remove_in<Q: Ord + ?Sized>(node: &mut Node<K, V>, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        match node {
            Node::Leaf(l) => {
                let i = l.keys.binary_search_by(|k| k.borrow().cmp(key)).ok()?;
                l.keys.remove(i);
                Some(l.vals.remove(i))
            }
            Node::Branch(b) => {
                let i = child_index(&b.keys, key);
                let prev = Self::remove_in(Arc::make_mut(&mut b.children[i]), key)?;
                let n = Self::node_len(&b.children[i]);
                if n == 0 {
                    b.children.remove(i);
                    if !b.keys.is_empty() {
                        b.keys.remove(i.saturating_sub(1));
                    }
                } else if n < CAP / 4 {
                    Self::merge_small(b, i);
                }
                Some(prev)
            }
        }
    }

    /// Merge child `i` (a small leaf) into a neighbouring leaf when both fit in one node.
    fn merge_small(b: &mut Branch<K, V>, i: usize) {
        let j = if i > 0 {
            i - 1
        } else if i + 1 < b.children.len() {
            i + 1
        } else {
            return;
        };
        let (l, r) = if j < i { (j, i) } else { (i, j) };
        let fits = match (&*b.children[l], &*b.children[r]) {
            (Node::Leaf(a), Node::Leaf(c)) => a.keys.len() + c.keys.len() <= CAP,
            _ => false,
        };
        if !fits {
            return;
        }
        let right = b.children.remove(r);
        b.keys.remove(r - 1);
        let right = Arc::try_unwrap(right).unwrap_or_else(|a| (*a).clone());
        if let (Node::Leaf(a), Node::Leaf(c)) = (Arc::make_mut(&mut b.children[l]), right) {
            a.keys.extend(c.keys);
            a.vals.extend(c.vals);
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> Range<'_, K, V> {
        self.range::<K>(Bound::Unbounded, Bound::Unbounded, false)
    }

    /// Entries with keys within the bounds, ascending (or descending when `reverse`). Bounds
    /// that admit no key (low above high) give an empty walk.
    pub fn range<Q: Ord + ?Sized>(
        &self,
        lo: Bound<&Q>,
        hi: Bound<&Q>,
        reverse: bool,
    ) -> Range<'_, K, V>
    where
        K: Borrow<Q>,
    {
        let mut r = Range {
            stack: Vec::new(),
            leaf: None,
            idx: 0,
            end: None,
            reverse,
        };
        let Some(root) = self.root.as_deref() else {
            return r;
        };
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) =
            (lo, hi)
        {
            let empty = match a.cmp(b) {
                Ordering::Greater => true,
                Ordering::Equal => {
                    matches!(lo, Bound::Excluded(_)) || matches!(hi, Bound::Excluded(_))
                }
                Ordering::Less => false,
            };
            if empty {
                return r;
            }
        }
        // Descend to the first (last) leaf position, recording the path.
        let start = if reverse { hi } else { lo };
        let mut node = root;
        loop {
            match node {
                Node::Branch(b) => {
                    let i = match start {
                        Bound::Unbounded => {
                            if reverse {
                                b.children.len() - 1
                            } else {
                                0
                            }
                        }
                        Bound::Included(k) | Bound::Excluded(k) => child_index(&b.keys, k),
                    };
                    r.stack.push((b, i));
                    node = &b.children[i];
                }
                Node::Leaf(l) => {
                    r.leaf = Some(l);
                    r.idx = match (start, reverse) {
                        (Bound::Unbounded, false) => 0,
                        (Bound::Unbounded, true) => l.keys.len(),
                        (Bound::Included(k), false) => l.keys.partition_point(|x| x.borrow() < k),
                        (Bound::Excluded(k), false) => l.keys.partition_point(|x| x.borrow() <= k),
                        // In reverse, `idx` is one past the next entry to return.
                        (Bound::Included(k), true) => l.keys.partition_point(|x| x.borrow() <= k),
                        (Bound::Excluded(k), true) => l.keys.partition_point(|x| x.borrow() < k),
                    };
                    break;
                }
            }
        }
        // Resolve the far bound to a position now, so the walk keeps no reference to it:
        // the leaf that would hold the bound, and the index there at which the walk stops.
        let far = if reverse { lo } else { hi };
        if let Bound::Included(k) | Bound::Excluded(k) = far {
            let mut node = root;
            let leaf = loop {
                match node {
                    Node::Branch(b) => node = &b.children[child_index(&b.keys, k)],
                    Node::Leaf(l) => break l,
                }
            };
            let idx = match (far, reverse) {
                // Forward: stop at the first key past the bound.
                (Bound::Included(_), false) => leaf.keys.partition_point(|x| x.borrow() <= k),
                (_, false) => leaf.keys.partition_point(|x| x.borrow() < k),
                // Backward: stop once `idx` (one past the next entry) reaches the first key in
                // bounds.
                (Bound::Included(_), true) => leaf.keys.partition_point(|x| x.borrow() < k),
                (_, true) => leaf.keys.partition_point(|x| x.borrow() <= k),
            };
            r.end = Some((leaf, idx));
        }
        r
    }
}

/// An ordered walk over part of a map.
pub struct Range<'a, K, V> {
    stack: Vec<(&'a Branch<K, V>, usize)>,
    leaf: Option<&'a Leaf<K, V>>,
    idx: usize,
    /// Where the walk stops: a leaf and the index in it (see `PMap::range`).
    end: Option<(&'a Leaf<K, V>, usize)>,
    reverse: bool,
}

impl<'a, K, V> Range<'a, K, V> {
    /// Move to the next (previous) leaf; false at the end of the map.
    fn next_leaf(&mut self) -> bool {
        while let Some((b, i)) = self.stack.pop() {
            let next = if self.reverse {
                i.checked_sub(1)
            } else {
                Some(i + 1).filter(|n| *n < b.children.len())
            };
            if let Some(n) = next {
                self.stack.push((b, n));
                let mut node: &'a Node<K, V> = &b.children[n];
                loop {
                    match node {
                        Node::Branch(br) => {
                            let c = if self.reverse {
                                br.children.len() - 1
                            } else {
                                0
                            };
                            self.stack.push((br, c));
                            node = &br.children[c];
                        }
                        Node::Leaf(l) => {
                            self.leaf = Some(l);
                            self.idx = if self.reverse { l.keys.len() } else { 0 };
                            return true;
                        }
                    }
                }
            }
        }
        self.leaf = None;
        false
    }
}

impl<'a, K, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let l = self.leaf?;
            if let Some((el, ei)) = self.end {
                let done = std::ptr::eq(l, el)
                    && if self.reverse {
                        self.idx <= ei
                    } else {
                        self.idx >= ei
                    };
                if done {
                    self.leaf = None;
                    return None;
                }
            }
            if self.reverse {
                if self.idx > 0 {
                    self.idx -= 1;
                    return Some((&l.keys[self.idx], &l.vals[self.idx]));
                }
            } else if self.idx < l.keys.len() {
                self.idx += 1;
                return Some((&l.keys[self.idx - 1], &l.vals[self.idx - 1]));
            }
            if !self.next_leaf() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Put(u16, u32),
        Del(u16),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(
            prop_oneof![3 => (0u16..2000, any::<u32>()).prop_map(|(k, v)| Op::Put(k, v)), 2 => (0u16..2000).prop_map(Op::Del)],
            0..1500,
        )
    }

    fn bound(b: u8, k: u16) -> Bound<u16> {
        match b % 3 {
            0 => Bound::Unbounded,
            1 => Bound::Included(k),
            _ => Bound::Excluded(k),
        }
    }

    fn as_ref(b: &Bound<u16>) -> Bound<&u16> {
        match b {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(k) => Bound::Included(k),
            Bound::Excluded(k) => Bound::Excluded(k),
        }
    }

    proptest! {
        /// The map behaves like `BTreeMap` for every operation and range, and a clone taken
        /// before a batch of writes never sees them.
        #[test]
        fn matches_btreemap(first in ops(), second in ops(), lb in any::<u8>(), lk in 0u16..2000, hb in any::<u8>(), hk in 0u16..2000) {
            let mut m = PMap::new();
            let mut model = BTreeMap::new();
            for op in &first {
                match op {
                    Op::Put(k, v) => prop_assert_eq!(m.insert(*k, *v), model.insert(*k, *v)),
                    Op::Del(k) => prop_assert_eq!(m.remove(k), model.remove(k)),
                }
            }
            let frozen = m.clone();
            let frozen_model = model.clone();
            for op in &second {
                match op {
                    Op::Put(k, v) => prop_assert_eq!(m.insert(*k, *v), model.insert(*k, *v)),
                    Op::Del(k) => prop_assert_eq!(m.remove(k), model.remove(k)),
                }
            }
            for (mm, mo) in [(&m, &model), (&frozen, &frozen_model)] {
                prop_assert_eq!(mm.len(), mo.len());
                let all: Vec<(u16, u32)> = mm.iter().map(|(k, v)| (*k, *v)).collect();
                let want: Vec<(u16, u32)> = mo.iter().map(|(k, v)| (*k, *v)).collect();
                prop_assert_eq!(all, want);
                for k in [0u16, 1, 999, 1999, lk, hk] {
                    prop_assert_eq!(mm.get(&k), mo.get(&k));
                    prop_assert_eq!(mm.get_numeric(&k, |k| *k as u64), mo.get(&k));
                }
                for k in mo.keys() {
                    prop_assert_eq!(mm.get_numeric(k, |k| *k as u64), mo.get(k));
                }
                prop_assert_eq!(mm.get_max().map(|(k, _)| *k), mo.keys().next_back().copied());
                prop_assert_eq!(mm.get_min().map(|(k, _)| *k), mo.keys().next().copied());
                let (lo, hi) = (bound(lb, lk.min(hk)), bound(hb, lk.max(hk)));
                let valid = !matches!((&lo, &hi), (Bound::Excluded(a), Bound::Excluded(b)) if a == b);
                if valid {
                    let fwd: Vec<u16> = mm.range(as_ref(&lo), as_ref(&hi), false).map(|(k, _)| *k).collect();
                    let want: Vec<u16> = mo.range((lo, hi)).map(|(k, _)| *k).collect();
                    prop_assert_eq!(&fwd, &want);
                    let back: Vec<u16> = mm.range(as_ref(&lo), as_ref(&hi), true).map(|(k, _)| *k).collect();
                    let want_back: Vec<u16> = want.iter().rev().copied().collect();
                    prop_assert_eq!(back, want_back);
                }
                // Bounds the wrong way round admit nothing.
                if lk != hk && !matches!(lo, Bound::Unbounded) && !matches!(hi, Bound::Unbounded) {
                    prop_assert_eq!(mm.range(as_ref(&hi), as_ref(&lo), false).count(), 0);
                    prop_assert_eq!(mm.range(as_ref(&hi), as_ref(&lo), true).count(), 0);
                }
            }
        }
    }

    #[test]
    fn rising_keys_fill_nodes() {
        let mut m = PMap::new();
        for i in 0..100_000u64 {
            m.insert(i, i);
        }
        fn leaves(n: &Node<u64, u64>) -> usize {
            match n {
                Node::Leaf(_) => 1,
                Node::Branch(b) => b.children.iter().map(|c| leaves(c)).sum(),
            }
        }
        // Appending keeps every leaf but the last full.
        assert_eq!(
            leaves(m.root.as_deref().unwrap()),
            100_000usize.div_ceil(CAP)
        );
        assert_eq!(
            m.range(Bound::Included(&500u64), Bound::Excluded(&510u64), false)
                .count(),
            10
        );
        assert_eq!(
            m.range(Bound::Included(&510u64), Bound::Excluded(&500u64), false)
                .count(),
            0
        );
        assert_eq!(
            m.range(Bound::Excluded(&500u64), Bound::Excluded(&500u64), true)
                .count(),
            0
        );
        assert_eq!(
            m.range(Bound::Included(&500u64), Bound::Included(&500u64), true)
                .count(),
            1
        );
    }
}
