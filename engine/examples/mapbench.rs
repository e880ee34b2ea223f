use std::time::Instant;
fn main() {
    let n = 100_000u64;
    let q = 2_000_000u64;
    let mut m: imbl::OrdMap<u64, u64> = imbl::OrdMap::new();
    for i in 1..=n {
        m.insert(i, i);
    }
    let t = Instant::now();
    let mut s = 0;
    for i in 0..q {
        let k = i.wrapping_mul(2654435761) % n + 1;
        s += m.get(&k).unwrap();
    }
    eprintln!(
        "imbl u64 seq-insert: {} ns {}",
        t.elapsed().as_nanos() as u64 / q,
        s
    );
    let mut m2: imbl::OrdMap<u64, std::sync::Arc<[u8]>> = imbl::OrdMap::new();
    for i in 1..=n {
        m2.insert(i, std::sync::Arc::from(&b"abcdefghijklmnopqrstuvw"[..]));
    }
    let t = Instant::now();
    let mut s = 0;
    for i in 0..q {
        let k = i.wrapping_mul(2654435761) % n + 1;
        s += m2.get(&k).unwrap().len();
    }
    eprintln!(
        "imbl u64->arc: {} ns {}",
        t.elapsed().as_nanos() as u64 / q,
        s
    );
    let t = Instant::now();
    let mut s = 0u64;
    for i in 0..q {
        let k = i.wrapping_mul(2654435761) % n + 1;
        s += m2.get(&k).unwrap()[3] as u64;
    }
    eprintln!(
        "imbl u64->arc + deref: {} ns {}",
        t.elapsed().as_nanos() as u64 / q,
        s
    );
}
