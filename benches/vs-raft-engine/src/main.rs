//! ReefDB's Raft log against TiKV's raft-engine, on the same disk, in one run.
//!
//! Both logs take the same two loads, in alternating rounds so that drift of this shared
//! machine's disk hits both alike:
//! - single: one appender, 1 KiB entries, each append durable before the next;
//! - group: 64 concurrent appenders, 1 KiB entries, each waiting for its own durability.
//!
//! Between rounds it measures the disk itself: 4 KiB O_DIRECT write + fdatasync and O_DSYNC
//! write with blocking syscalls, the same O_DSYNC write through glommio's io_uring (the path
//! ReefDB's log takes), and 64 KiB write + fdatasync (one group's worth), so each figure is
//! also shown against the floor. It prints percentiles and the per-round
//! ratios, and writes `<workspace target>/reef-bench/vs-raft-engine.json`.
//!
//! `cargo run --release --manifest-path benches/vs-raft-engine/Cargo.toml`
//! Environment: `ROUNDS` (8, after one unmeasured), `SINGLE_N` (appends per single round,
//! 1000), `EACH` (appends per appender per group round, 200).

mod load;
mod peer;
mod raw;
mod reef;

use hdrhistogram::Histogram;
use load::{hist, Run, TASKS};
use std::path::PathBuf;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn target_dir() -> PathBuf {
    std::env::var_os("REEF_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn line(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<40} n={:<6} p50={:>6}us p90={:>6}us p99={:>6}us p99.9={:>6}us max={:>7}us",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Runs both logs' phase of a round, in the given order: who goes first alternates, so
/// neither always follows the raw burst.
fn both(
    reef_first: bool,
    reef: impl FnOnce() -> Result<Run, reef::Error>,
    peer: impl FnOnce() -> Result<Run, reef::Error>,
) -> Result<(Run, Run), reef::Error> {
    if reef_first {
        let r = reef()?;
        Ok((r, peer()?))
    } else {
        let p = peer()?;
        Ok((reef()?, p))
    }
}

fn rounded(v: &[f64]) -> Vec<f64> {
    v.iter().map(|r| (r * 100.0).round() / 100.0).collect()
}

/// Everything one system did over the measured rounds.
#[derive(Default)]
struct Totals {
    single: Option<Histogram<u64>>,
    group: Option<Histogram<u64>>,
    single_p50s: Vec<f64>,
    group_rates: Vec<f64>,
    single_cpu: Vec<f64>,
    group_cpu: Vec<f64>,
}

impl Totals {
    fn add(slot: &mut Option<Histogram<u64>>, h: &Histogram<u64>) {
        slot.get_or_insert_with(hist)
            .add(h)
            .expect("same histogram bounds");
    }
    fn single(&mut self, r: &Run) {
        Self::add(&mut self.single, &r.hist);
        self.single_p50s.push(r.hist.value_at_quantile(0.5) as f64);
        self.single_cpu.push(r.cpu_us_per_append);
    }
    fn group(&mut self, r: &Run) {
        Self::add(&mut self.group, &r.hist);
        self.group_rates.push(r.entries_per_s);
        self.group_cpu.push(r.cpu_us_per_append);
    }
}

fn main() -> Result<(), reef::Error> {
    let rounds = env_u64("ROUNDS", 8);
    let single_n = env_u64("SINGLE_N", 1000);
    let each = env_u64("EACH", 200);
    let out = target_dir().join("reef-bench");
    let work = out.join("vs-raft-engine-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let mut raw = raw::Raw::create(&work.join("raw"), 256 << 20)?;
    let spin = match env_u64("SPIN_US", 0) {
        0 => None,
        us => Some(std::time::Duration::from_micros(us)),
    };
    println!(
        "reef executor: {}",
        match spin {
            Some(s) => format!(
                "pinned to CPU 0, polls {} us before sleeping",
                s.as_micros()
            ),
            None => "unpinned, sleeps at once".into(),
        }
    );
    let reef = reef::Reef::open(work.join("reef"), spin);
    let mut peer = peer::Peer::open(&work.join("raft-engine"))?;

    // Past the first segment before measuring: ReefDB's log zero-fills a spare segment in
    // the background the first time it rotates (later rotations recycle compacted segments),
    // a once-per-lifetime cost that would otherwise land in one measured round. raft-engine
    // gets the same warm-up. 64 × 1100 × 1 KiB is more than the 64 MiB first segment.
    reef.group(1100)?;
    peer.group(1100)?;
    std::thread::sleep(std::time::Duration::from_millis(1500));

    let (mut r, mut p) = (Totals::default(), Totals::default());
    let (mut raw4, mut raw4d, mut raw64, mut rawu) = (hist(), hist(), hist(), hist());
    let (mut raw4_p50s, mut bounds) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let measured = round > 0;
        let (mut h4, mut h4d) = (hist(), hist());
        raw.burst(4096, 300, false, &mut h4)?;
        raw.burst(4096, 300, true, &mut h4d)?;
        let hu = reef.raw(300)?.hist;
        let reef_first = round % 2 == 0;
        let (rs, ps) = both(
            reef_first,
            || reef.single(single_n),
            || Ok(peer.single(single_n)?),
        )?;
        let mut h64 = hist();
        raw.burst(65536, 60, false, &mut h64)?;
        let (rg, pg) = both(reef_first, || reef.group(each), || Ok(peer.group(each)?))?;
        if !measured {
            continue;
        }
        r.single(&rs);
        p.single(&ps);
        r.group(&rg);
        p.group(&pg);
        raw4.add(&h4)?;
        raw4d.add(&h4d)?;
        rawu.add(&hu)?;
        raw64.add(&h64)?;
        raw4_p50s.push(h4.value_at_quantile(0.5) as f64);
        bounds.push(TASKS as f64 * 1e6 / h64.value_at_quantile(0.5) as f64);
        println!(
            "round {round}: single p50 reef {} us, raft-engine {} us, raw 4K {} us, via io_uring {} us | group reef {:.0}/s, raft-engine {:.0}/s, raw bound {:.0}/s",
            rs.hist.value_at_quantile(0.5),
            ps.hist.value_at_quantile(0.5),
            h4.value_at_quantile(0.5),
            hu.value_at_quantile(0.5),
            rg.entries_per_s,
            pg.entries_per_s,
            bounds.last().copied().unwrap_or_default(),
        );
    }
    reef.close()?;
    drop(peer);
    let _ = std::fs::remove_dir_all(&work);

    let (rs, ps) = (r.single.unwrap_or_else(hist), p.single.unwrap_or_else(hist));
    let (rg, pg) = (r.group.unwrap_or_else(hist), p.group.unwrap_or_else(hist));
    println!();
    line("raw 4KiB O_DIRECT write+fdatasync", &raw4);
    line("raw 4KiB O_DIRECT|O_DSYNC write", &raw4d);
    line("raw 4KiB O_DSYNC write, glommio io_uring", &rawu);
    line("raw 64KiB O_DIRECT write+fdatasync", &raw64);
    line("reef single appender, 1KiB", &rs);
    line("raft-engine single appender, 1KiB", &ps);
    line("reef 64 appenders, per append", &rg);
    line("raft-engine 64 writers, per append", &pg);

    let single_ratios: Vec<f64> = r
        .single_p50s
        .iter()
        .zip(&p.single_p50s)
        .map(|(a, b)| a / b)
        .collect();
    let group_ratios: Vec<f64> = r
        .group_rates
        .iter()
        .zip(&p.group_rates)
        .map(|(a, b)| a / b)
        .collect();
    let (reef_rate, peer_rate) = (median(&r.group_rates), median(&p.group_rates));
    let bound = median(&bounds);
    println!(
        "single p50: reef {} us, raft-engine {} us: reef/raft-engine {:.2} (per round {:?}); raw 4K write+fdatasync p50 {} us, O_DSYNC write {} us (reef {:.2}x, raft-engine {:.2}x of the former)",
        rs.value_at_quantile(0.5),
        ps.value_at_quantile(0.5),
        rs.value_at_quantile(0.5) as f64 / ps.value_at_quantile(0.5) as f64,
        rounded(&single_ratios),
        raw4.value_at_quantile(0.5),
        raw4d.value_at_quantile(0.5),
        rs.value_at_quantile(0.5) as f64 / raw4.value_at_quantile(0.5) as f64,
        ps.value_at_quantile(0.5) as f64 / raw4.value_at_quantile(0.5) as f64,
    );
    println!(
        "group (median round): reef {reef_rate:.0} entries/s, raft-engine {peer_rate:.0} entries/s: reef/raft-engine {:.2} (per round {:?}); raw bound {bound:.0}/s (reef {:.2}, raft-engine {:.2} of it)",
        median(&group_ratios),
        rounded(&group_ratios),
        reef_rate / bound,
        peer_rate / bound,
    );
    println!(
        "CPU per append (whole process, median round): single reef {:.1} us, raft-engine {:.1} us; group reef {:.2} us, raft-engine {:.2} us",
        median(&r.single_cpu),
        median(&p.single_cpu),
        median(&r.group_cpu),
        median(&p.group_cpu),
    );

    let json = serde_json::json!({
        "rounds": rounds,
        "reef_spin_us": spin.map_or(0, |s| s.as_micros() as u64),
        "raw_p50_us": raw4.value_at_quantile(0.5),
        "raw_dsync_p50_us": raw4d.value_at_quantile(0.5),
        "raw_uring_dsync_p50_us": rawu.value_at_quantile(0.5),
        "raw64_p50_us": raw64.value_at_quantile(0.5),
        "raw_group_bound_entries_per_s": bound,
        "reef_single_p50_us": rs.value_at_quantile(0.5),
        "reef_single_p99_us": rs.value_at_quantile(0.99),
        "peer_single_p50_us": ps.value_at_quantile(0.5),
        "peer_single_p99_us": ps.value_at_quantile(0.99),
        "ratio_single_p50_reef_to_peer": rs.value_at_quantile(0.5) as f64 / ps.value_at_quantile(0.5) as f64,
        "ratio_single_p50_reef_to_peer_rounds": single_ratios,
        "reef_group_entries_per_s": reef_rate,
        "peer_group_entries_per_s": peer_rate,
        "reef_group_p99_us": rg.value_at_quantile(0.99),
        "peer_group_p99_us": pg.value_at_quantile(0.99),
        "ratio_group_reef_to_peer": median(&group_ratios),
        "ratio_group_reef_to_peer_rounds": group_ratios,
        "reef_single_cpu_us_per_append": median(&r.single_cpu),
        "peer_single_cpu_us_per_append": median(&p.single_cpu),
        "reef_group_cpu_us_per_append": median(&r.group_cpu),
        "peer_group_cpu_us_per_append": median(&p.group_cpu),
    });
    std::fs::create_dir_all(&out)?;
    let path = out.join("vs-raft-engine.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
