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
    eprintln!("imbl u64: {} ns {}", t.elapsed().as_nanos() as u64 / q, s);
    let mut m3: imbl::OrdMap<u64, [u8; 24]> = imbl::OrdMap::new();
    for i in 1..=n {
        m3.insert(i, [i as u8; 24]);
    }
    let t = Instant::now();
    let mut s = 0u64;
    for i in 0..q {
        let k = i.wrapping_mul(2654435761) % n + 1;
        s += m3.get(&k).unwrap()[5] as u64;
    }
    eprintln!(
        "imbl u64->[u8;24]: {} ns {}",
        t.elapsed().as_nanos() as u64 / q,
        s
    );
    // interleave allocations like the engine does
    let mut m4: imbl::OrdMap<u64, [u8; 24]> = imbl::OrdMap::new();
    let mut junk = Vec::new();
    for i in 1..=n {
        m4.insert(i, [i as u8; 24]);
        junk.push(vec![0u8; 40]);
        if i % 1000 == 0 {
            let _ = m4.clone();
        }
    }
    let t = Instant::now();
    let mut s = 0u64;
    for i in 0..q {
        let k = i.wrapping_mul(2654435761) % n + 1;
        s += m4.get(&k).unwrap()[5] as u64;
    }
    eprintln!(
        "imbl u64->[u8;24] fragmented: {} ns {}",
        t.elapsed().as_nanos() as u64 / q,
        s
    );
}
